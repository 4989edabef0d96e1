"""The weekly digest: posted once per group and week, at the group's own weekday and time.

A digest is claimed like a post: a `DigestRow` unique per (group, week) is
inserted before anything is sent, marked `sent` once the text is out and
`posted` once its chart is uploaded, so a retry after a crash or a platform
error repeats only the part that did not happen. A digest missed by less than
a day (the bot was down) is posted late; an older one is skipped and recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from bot import charts, render
from bot.ports import ChannelUnavailable, PlatformError
from bot.practice import Practice, backoff, retryable
from bot.runtime import Runtime
from bot.schedule_spec import local_occurrence, parse_time
from bot.standings import Standings
from bot.store.db import as_utc
from bot.store.models import DigestRow, GroupRow, PostRow, SubscriptionRow

log = logging.getLogger(__name__)

MISSED_LIMIT = timedelta(days=1)


@dataclass(frozen=True)
class DigestSlot:
    """When one group's weekly digest is due: `weekday` 0 = Monday, local `at` in `timezone`."""

    group_id: int
    weekday: int
    at: time
    timezone: str


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

    def slots(self, group_id: int | None = None) -> list[tuple[DigestSlot, datetime]]:
        """Each group with an active, unpaused subscription: its digest slot and since when it runs."""
        with self.rt.store.session() as s:
            query = (
                select(GroupRow, func.min(SubscriptionRow.effective_from))
                .join(SubscriptionRow, SubscriptionRow.group_id == GroupRow.id)  # type: ignore[arg-type]
                .where(SubscriptionRow.active == True,  # noqa: E712
                       col(SubscriptionRow.paused_reason).is_(None))
                .group_by(GroupRow.id)  # type: ignore[arg-type]
                .order_by(GroupRow.id)  # type: ignore[arg-type]
            )
            if group_id is not None:
                query = query.where(GroupRow.id == group_id)
            rows = s.exec(query).all()
        settings = self.rt.settings
        out = []
        for group, since in rows:
            weekday = settings.digest_weekday if group.digest_weekday is None else group.digest_weekday
            at = parse_time(group.digest_time or settings.digest_time)
            out.append((DigestSlot(group.id or 0, weekday, at, group.timezone), as_utc(since) or self.rt.clock.now()))
        return out

    async def digest_due(self, now: datetime | None = None, group_id: int | None = None) -> DigestReport:
        """Post (or skip) every digest that is due, and retry unfinished ones. Safe to call any time."""
        now = now or self.rt.clock.now()
        report = DigestReport()
        for slot, since in self.slots(group_id):
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
            if self._record_skip(slot.group_id, week, moment, now):
                report.skipped.append(slot.group_id)
            return
        if not self._had_posts(slot.group_id, week, zone):
            # A digest of an empty week is noise in the channel; the skip is recorded.
            if self._record_skip(slot.group_id, week, moment, now, "no questions were posted that week"):
                report.skipped.append(slot.group_id)
            return
        digest_id = await self.post(slot.group_id, week, moment)
        if digest_id is not None:
            report.posted.append(digest_id)

    def _had_posts(self, group_id: int, week: date, zone: ZoneInfo) -> bool:
        start = datetime.combine(week, time(0), tzinfo=zone)
        end = datetime.combine(week + timedelta(days=7), time(0), tzinfo=zone)
        with self.rt.store.session() as s:
            return s.exec(
                select(PostRow.id).where(
                    PostRow.group_id == group_id, col(PostRow.status).in_(("posted", "revealing", "revealed")),
                    col(PostRow.scheduled_for) >= start, col(PostRow.scheduled_for) < end,
                )
            ).first() is not None

    def _record_skip(self, group_id: int, week: date, moment: datetime, now: datetime,
                     reason: str | None = None) -> bool:
        hours = (now - moment).total_seconds() / 3600
        row = DigestRow(group_id=group_id, week_start=week, status="skipped", claimed_at=now, scheduled_for=moment,
                        skip_reason=reason or f"missed by {hours:.1f}h (the bot was not running)")
        try:
            with self.rt.store.session() as s:
                s.add(row)
        except IntegrityError:
            return False
        log.warning("skipped digest of group %s for week %s: %s", group_id, week, row.skip_reason)
        return True

    async def post(self, group_id: int, week: date, scheduled_for: datetime) -> int | None:
        """Claim and deliver one digest; None if it was claimed before (by anyone) or is not out yet."""
        row = DigestRow(group_id=group_id, week_start=week, status="claimed",
                        claimed_at=self.rt.clock.now(), scheduled_for=scheduled_for)
        try:
            with self.rt.store.session() as s:
                s.add(row)
        except IntegrityError:
            return None
        return row.id if await self._deliver(row) else None

    async def _deliver(self, row: DigestRow) -> bool:
        with self.rt.store.session() as s:
            group = s.get(GroupRow, row.group_id)
            assert group is not None
            channel = self.rt.store.channel_of(group)
        data = self.standings.digest(channel, week_of=row.week_start)
        try:
            port = self.rt.port(channel.platform)
            if row.status == "claimed":
                posted = await port.send(channel, render.digest(data))
                self._update(row, status="sent", message_id=posted.message_id, attempts=0, retry_at=None)
            chart = charts.digest_chart(data)
            await port.upload_image(channel, None, chart.png, chart.filename,
                                    f"Weekly digest, week of {row.week_start:%d %b %Y}")
        except ChannelUnavailable as exc:
            if row.status == "claimed":
                self._update(row, status="skipped", skip_reason=f"channel unavailable: {exc.reason}")
            else:
                self._update(row, status="posted", posted_at=self.rt.clock.now())
            self.practice.pause_channel(channel, exc.reason)
            return False
        except (PlatformError, LookupError) as exc:
            self._defer(row, exc)
            return False
        self._update(row, status="posted", posted_at=self.rt.clock.now(), retry_at=None)
        log.info("posted digest of week %s to %s (digest %s)", row.week_start, channel.channel, row.id)
        try:
            await self.practice.habits.send_weekly_summaries(row.group_id, row.week_start)
        except Exception:
            log.exception("weekly summaries of group %s not sent", row.group_id)
        return True

    def _update(self, row: DigestRow, **values: object) -> None:
        with self.rt.store.session() as s:
            s.execute(update(DigestRow).where(col(DigestRow.id) == row.id).values(**values))
        for name, value in values.items():
            setattr(row, name, value)

    def _defer(self, row: DigestRow, exc: Exception) -> None:
        attempts = row.attempts + 1
        retry_at = self.rt.clock.now() + backoff(attempts, getattr(exc, "retry_after", None))
        self._update(row, attempts=attempts, retry_at=retry_at, last_error=f"{type(exc).__name__}: {exc}"[:200])
        log.warning("digest %s of group %s not delivered yet (%s); retrying at %s",
                    row.id, row.group_id, exc, retry_at)

    async def _retry(self, now: datetime, report: DigestReport, group_id: int | None) -> None:
        """Digests left `claimed` or `sent` by a crash or a platform error: finish them within a day."""
        with self.rt.store.session() as s:
            query = select(DigestRow).where(
                col(DigestRow.status).in_(("claimed", "sent")),
                retryable(DigestRow.claimed_at, DigestRow.retry_at, now),
            )
            if group_id is not None:
                query = query.where(DigestRow.group_id == group_id)
            stale = list(s.exec(query))
        for row in stale:
            late = now - (as_utc(row.scheduled_for) or as_utc(row.claimed_at) or now)
            if late >= MISSED_LIMIT:  # give up: a day-old digest is news no more
                if row.status == "claimed":
                    self._update(row, status="skipped",
                                 skip_reason=f"not delivered within a day ({row.last_error})"[:200])
                    report.skipped.append(row.group_id)
                else:  # the text is out; only its chart never made it
                    self._update(row, status="posted", posted_at=now)
                continue
            if not self._renew(row, now):
                continue
            try:
                if await self._deliver(row):
                    report.posted.append(row.id or 0)
            except Exception as exc:
                log.exception("retrying digest %s of group %s failed", row.id, row.group_id)
                report.failed.append(f"digest {row.id}: {exc!r}")

    def _renew(self, row: DigestRow, now: datetime) -> bool:
        with self.rt.store.session() as s:
            result = s.execute(
                update(DigestRow)
                .where(col(DigestRow.id) == row.id, col(DigestRow.status) == row.status,
                       retryable(DigestRow.claimed_at, DigestRow.retry_at, now))
                .values(claimed_at=now, retry_at=None)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return False
        row.claimed_at, row.retry_at = now, None
        return True
