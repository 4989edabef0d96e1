"""The weekly digest: posted once per group and week, at the group's own weekday and time.

A digest is claimed like a post: a `digests` row unique per (group, week) is
inserted before anything is sent, marked `sent` once the text is out and
`posted` once its chart is uploaded, so a retry after a crash or a platform
error repeats only the part that did not happen. A digest missed by less than
a day (the bot was down) is posted late; an older one is skipped and recorded.
The claim protocol (lease, backoff, take-over) is `bot.store.claims`; queries
live in `bot.store.digests`, and the chart is drawn off the event loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot import charts, render
from bot.ports import ChannelUnavailable, PlatformError
from bot.practice import Practice
from bot.runtime import Runtime
from bot.schedule_spec import local_occurrence
from bot.standings import Standings
from bot.store import digests as store
from bot.store.db import as_utc
from bot.store.digests import DigestSlot
from bot.store.records import Digest

__all__ = ["DigestReport", "DigestSlot", "Digests", "covered_week", "last_slot"]

log = logging.getLogger(__name__)

MISSED_LIMIT = timedelta(days=1)


@dataclass
class DigestReport:
    posted: list[int] = field(default_factory=list)  # digest ids
    skipped: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def last_slot(slot: DigestSlot, now: datetime) -> datetime:
    """The latest moment at or before `now` when this slot's digest was due."""
    zone = ZoneInfo(slot.timezone)
    today = now.astimezone(zone).date()
    for back in range(8):
        day = today - timedelta(days=back)
        if day.weekday() == slot.weekday:
            moment = local_occurrence(day, slot.at, zone)
            if moment <= now:
                return moment
    raise AssertionError("a weekday recurs within eight days")  # pragma: no cover


def covered_week(local_day: date) -> date:
    """The Monday of the week a digest posted on `local_day` reports on.

    Early in the week (Monday to Wednesday) it is the week before; from
    Thursday on, the week in progress.
    """
    shifted = local_day - timedelta(days=3)
    return shifted - timedelta(days=shifted.weekday())


class Digests:
    """The weekly digest use case. A group's slot is its own `digest_weekday`/`digest_time`
    in its time zone, else the configured default (Monday 09:00)."""

    def __init__(self, rt: Runtime, standings: Standings, practice: Practice) -> None:
        self.rt = rt
        self.standings = standings
        self.practice = practice

    async def slots(self, group_id: int | None = None) -> list[tuple[DigestSlot, datetime]]:
        """Each group with an active, unpaused subscription: its digest slot and since when it runs."""
        settings = self.rt.settings
        return await self.rt.store.run(store.slots, settings.digest_weekday, settings.digest_time,
                                       self.rt.clock.now(), group_id)

    async def digest_due(self, now: datetime | None = None, group_id: int | None = None) -> DigestReport:
        """Post (or skip) every digest that is due, and retry unfinished ones. Safe to call any time."""
        now = now or self.rt.clock.now()
        report = DigestReport()
        for slot, since in await self.slots(group_id):
            try:
                await self._due_for(slot, since, now, report)
            except Exception as exc:  # one broken group must not stop the others
                log.exception("digest of group %s failed", slot.group_id)
                report.failed.append(f"digest of group {slot.group_id}: {exc!r}")
        await self._retry(now, report, group_id)
        return report

    async def _due_for(self, slot: DigestSlot, since: datetime, now: datetime, report: DigestReport) -> None:
        moment = last_slot(slot, now)
        zone = ZoneInfo(slot.timezone)
        week = covered_week(moment.astimezone(zone).date())
        week_end = datetime.combine(week + timedelta(days=7), time(0), tzinfo=zone)
        if moment < since or week_end <= since:
            return  # the channel was not subscribed then: nothing to report
        if now - moment >= MISSED_LIMIT:
            hours = (now - moment).total_seconds() / 3600
            if await self._record_skip(slot.group_id, week, moment, now,
                                       f"missed by {hours:.1f}h (the bot was not running)"):
                report.skipped.append(slot.group_id)
            return
        week_start = datetime.combine(week, time(0), tzinfo=zone)
        if not await self.rt.store.run(store.had_posts, slot.group_id, week_start, week_end):
            # A digest of an empty week is noise in the channel; the skip is recorded.
            if await self._record_skip(slot.group_id, week, moment, now, "no questions were posted that week"):
                report.skipped.append(slot.group_id)
            return
        digest_id = await self.post(slot.group_id, week, moment)
        if digest_id is not None:
            report.posted.append(digest_id)

    async def _record_skip(self, group_id: int, week: date, moment: datetime, now: datetime, reason: str) -> bool:
        if not await self.rt.store.run(store.record_skip, group_id, week, moment, now, reason):
            return False
        log.warning("skipped digest of group %s for week %s: %s", group_id, week, reason)
        return True

    async def post(self, group_id: int, week: date, scheduled_for: datetime) -> int | None:
        """Claim and deliver one digest; None if it was claimed before (by anyone) or is not out yet."""
        row = await self.rt.store.run(store.claim, group_id, week, scheduled_for, self.rt.clock.now())
        if row is None:
            return None
        return row.id if await self._deliver(row) else None

    async def _deliver(self, row: Digest) -> bool:
        channel = await self.rt.store.run(store.channel, row.group_id)
        data = await self.standings.digest(channel, week_of=row.week_start)
        try:
            port = self.rt.port(channel.platform)
            if row.status == "claimed":
                posted = await port.send(channel, render.digest(data))
                row = await self._update(row, status="sent", message_id=posted.message_id, attempts=0,
                                         retry_at=None)
            chart = await charts.digest_chart(data)
            await port.upload_image(channel, None, chart.png, chart.filename,
                                    f"Weekly digest, week of {row.week_start:%d %b %Y}")
        except ChannelUnavailable as exc:
            if row.status == "claimed":
                await self._update(row, status="skipped", skip_reason=f"channel unavailable: {exc.reason}"[:200])
            else:
                await self._update(row, status="posted", posted_at=self.rt.clock.now())
            await self.practice.pause_channel(channel, exc.reason)
            return False
        except (PlatformError, LookupError) as exc:
            await self._defer(row, exc)
            return False
        await self._update(row, status="posted", posted_at=self.rt.clock.now(), retry_at=None)
        log.info("posted digest of week %s to %s (digest %s)", row.week_start, channel.channel, row.id)
        try:
            await self.practice.habits.send_weekly_summaries(row.group_id, row.week_start)
        except Exception:
            log.exception("weekly summaries of group %s not sent", row.group_id)
        return True

    async def _update(self, row: Digest, **values: object) -> Digest:
        """Write `values` to the digest's row; the record as it now stands."""
        await self.rt.store.run(store.set_values, row.id or 0, values)
        return replace(row, **values)

    async def _defer(self, row: Digest, exc: Exception) -> None:
        now = self.rt.clock.now()
        retry_at = await self.rt.store.run(store.defer, row.id or 0, row.claimed_at, row.status, exc, now)
        log.warning("digest %s of group %s not delivered yet (%s); retrying at %s",
                    row.id, row.group_id, exc, retry_at)

    async def _retry(self, now: datetime, report: DigestReport, group_id: int | None) -> None:
        """Digests left `claimed` or `sent` by a crash or a platform error: finish them within a day."""
        for row in await self.rt.store.run(store.retryable, now, group_id):
            late = now - (as_utc(row.scheduled_for) or as_utc(row.claimed_at) or now)
            if late >= MISSED_LIMIT:  # give up: a day-old digest is news no more
                if row.status == "claimed":
                    await self._update(row, status="skipped",
                                       skip_reason=f"not delivered within a day ({row.last_error})"[:200])
                    report.skipped.append(row.group_id)
                else:  # the text is out; only its chart never made it
                    await self._update(row, status="posted", posted_at=now)
                continue
            if not await self.rt.store.run(store.renew, row.id or 0, row.status, now):
                continue
            row = replace(row, claimed_at=now, retry_at=None)
            try:
                if await self._deliver(row):
                    report.posted.append(row.id or 0)
            except Exception as exc:
                log.exception("retrying digest %s of group %s failed", row.id, row.group_id)
                report.failed.append(f"digest {row.id}: {exc!r}")
