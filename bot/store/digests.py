"""The weekly digest's claims and slots: one `digests` row per (group, week), claimed before sending.

The row moves claimed -> sent (text out) -> posted (chart out), or to skipped.
Lease, backoff and take-over follow `bot.store.claims`, like posts and reveals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select, update

from bot.domain import ChannelRef
from bot.schedule_spec import parse_time
from bot.store import claims, conflicts, schema
from bot.store.db import as_utc
from bot.store.records import Digest, records
from bot.store.unit import Unit

COLUMNS = claims.ClaimColumns(schema.digests)
UNFINISHED = ("claimed", "sent")
LIVE_POST = ("posted", "revealing", "revealed")

_digests, _groups, _posts, _subs = schema.digests, schema.groups, schema.posts, schema.subscriptions


@dataclass(frozen=True)
class DigestSlot:
    """When one group's weekly digest is due: `weekday` 0 = Monday, local `at` in `timezone`."""

    group_id: int
    weekday: int
    at: time
    timezone: str


def slots(s: Unit, default_weekday: int, default_time: str, now: datetime,
          group_id: int | None = None) -> list[tuple[DigestSlot, datetime]]:
    """Each group with an active, unpaused subscription: its digest slot and since when it runs.

    A group's own `digest_weekday`/`digest_time` win over the configured defaults.
    """
    g = _groups.c
    query = (
        select(g.id, g.digest_weekday, g.digest_time, g.timezone, func.min(_subs.c.effective_from))
        .join(_subs, _subs.c.group_id == g.id)
        .where(_subs.c.active == True,  # noqa: E712
               _subs.c.paused_reason.is_(None))
        .group_by(g.id, g.digest_weekday, g.digest_time, g.timezone)
        .order_by(g.id)
    )
    if group_id is not None:
        query = query.where(g.id == group_id)
    out = []
    for gid, weekday, at, zone, since in s.execute(query).all():
        slot = DigestSlot(gid or 0, default_weekday if weekday is None else weekday,
                          parse_time(at or default_time), zone)
        out.append((slot, as_utc(since) or now))
    return out


def had_posts(s: Unit, group_id: int, start: datetime, end: datetime) -> bool:
    """Whether any question went out in the channel between `start` and `end`."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # SQLite compares stored UTC text
    p = _posts.c
    return s.execute(
        select(p.id).where(
            p.group_id == group_id, p.status.in_(LIVE_POST),
            p.scheduled_for >= start, p.scheduled_for < end,
        ).limit(1)
    ).first() is not None


def record_skip(s: Unit, group_id: int, week: date, moment: datetime, now: datetime, reason: str) -> bool:
    """Record that a week's digest will not be posted; False if its row exists already."""
    return conflicts.inserted(s, _digests, dict(group_id=group_id, week_start=week, status="skipped",
                                                claimed_at=now, scheduled_for=moment,
                                                skip_reason=reason[:200]))


def claim(s: Unit, group_id: int, week: date, scheduled_for: datetime, now: datetime) -> Digest | None:
    """Claim a week's digest; the row for exactly one caller, None for everyone else."""
    values: dict[str, Any] = dict(group_id=group_id, week_start=week, status="claimed", claimed_at=now,
                                  scheduled_for=scheduled_for, attempts=0)
    digest_id = s.execute(conflicts.insert_new(s, _digests, returning=_digests.c.id), values).scalar()
    if digest_id is None:
        return None
    return Digest(id=digest_id, **values)


def channel(s: Unit, group_id: int) -> ChannelRef:
    g = _groups.c
    row = s.execute(select(g.platform, g.workspace, g.channel).where(g.id == group_id)).first()
    assert row is not None, f"digest of a missing group {group_id}"
    return ChannelRef(row.platform, row.workspace, row.channel)


def set_values(s: Unit, digest_id: int, values: dict[str, Any]) -> None:
    s.execute(update(_digests).where(_digests.c.id == digest_id).values(**values))


def defer(s: Unit, digest_id: int, held_since: datetime, status: str, exc: BaseException,
          now: datetime) -> datetime | None:
    """Release our claim after a platform error until its backoff has passed (None: not ours any more)."""
    return claims.defer(s, COLUMNS, digest_id, held_since, exc, now, status=status)


def retryable(s: Unit, now: datetime, group_id: int | None = None) -> list[Digest]:
    """Digests left claimed or sent by a crash or a platform error whose claim may be taken over."""
    query = select(_digests).where(_digests.c.status.in_(UNFINISHED), claims.retryable_where(COLUMNS, now))
    if group_id is not None:
        query = query.where(_digests.c.group_id == group_id)
    return records(Digest, s.execute(query.order_by(_digests.c.id)))


def renew(s: Unit, digest_id: int, status: str, now: datetime) -> bool:
    """Take over a retryable digest still in `status`; True for exactly one caller."""
    return claims.renew(s, COLUMNS, digest_id, now, _digests.c.status == status)
