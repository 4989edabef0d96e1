"""The weekly digest's claims and slots: one `DigestRow` per (group, week), claimed before sending.

The row moves claimed -> sent (text out) -> posted (chart out), or to skipped.
Lease, backoff and take-over follow `bot.store.claims`, like posts and reveals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from bot.domain import ChannelRef
from bot.schedule_spec import parse_time
from bot.store import claims, schema
from bot.store.db import as_utc
from bot.store.models import DigestRow, GroupRow, PostRow, SubscriptionRow
from bot.store.repo import Store

COLUMNS = claims.ClaimColumns(schema.digests)
UNFINISHED = ("claimed", "sent")
LIVE_POST = ("posted", "revealing", "revealed")


@dataclass(frozen=True)
class DigestSlot:
    """When one group's weekly digest is due: `weekday` 0 = Monday, local `at` in `timezone`."""

    group_id: int
    weekday: int
    at: time
    timezone: str


def slots(s: Session, default_weekday: int, default_time: str, now: datetime,
          group_id: int | None = None) -> list[tuple[DigestSlot, datetime]]:
    """Each group with an active, unpaused subscription: its digest slot and since when it runs.

    A group's own `digest_weekday`/`digest_time` win over the configured defaults.
    """
    query = (
        select(GroupRow.id, GroupRow.digest_weekday, GroupRow.digest_time, GroupRow.timezone,
               func.min(SubscriptionRow.effective_from))
        .join(SubscriptionRow, SubscriptionRow.group_id == GroupRow.id)  # type: ignore[arg-type]
        .where(SubscriptionRow.active == True,  # noqa: E712
               col(SubscriptionRow.paused_reason).is_(None))
        .group_by(GroupRow.id, GroupRow.digest_weekday, GroupRow.digest_time, GroupRow.timezone)  # type: ignore[arg-type]
        .order_by(GroupRow.id)  # type: ignore[arg-type]
    )
    if group_id is not None:
        query = query.where(GroupRow.id == group_id)
    out = []
    for gid, weekday, at, zone, since in s.exec(query).all():
        slot = DigestSlot(gid or 0, default_weekday if weekday is None else weekday,
                          parse_time(at or default_time), zone)
        out.append((slot, as_utc(since) or now))
    return out


def had_posts(s: Session, group_id: int, start: datetime, end: datetime) -> bool:
    """Whether any question went out in the channel between `start` and `end`."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # SQLite compares stored UTC text
    return s.exec(
        select(PostRow.id).where(
            PostRow.group_id == group_id, col(PostRow.status).in_(LIVE_POST),
            col(PostRow.scheduled_for) >= start, col(PostRow.scheduled_for) < end,
        ).limit(1)
    ).first() is not None


def record_skip(s: Session, group_id: int, week: date, moment: datetime, now: datetime, reason: str) -> bool:
    """Record that a week's digest will not be posted; False if its row exists already."""
    try:
        with s.begin_nested():
            s.add(DigestRow(group_id=group_id, week_start=week, status="skipped", claimed_at=now,
                            scheduled_for=moment, skip_reason=reason[:200]))
    except IntegrityError:
        return False
    return True


def claim(s: Session, group_id: int, week: date, scheduled_for: datetime, now: datetime) -> DigestRow | None:
    """Claim a week's digest; the row for exactly one caller, None for everyone else."""
    row = DigestRow(group_id=group_id, week_start=week, status="claimed", claimed_at=now,
                    scheduled_for=scheduled_for)
    try:
        with s.begin_nested():
            s.add(row)
    except IntegrityError:
        return None
    return row


def channel(s: Session, group_id: int) -> ChannelRef:
    group = s.get(GroupRow, group_id)
    assert group is not None, f"digest of a missing group {group_id}"
    return Store.channel_of(group)


def set_values(s: Session, digest_id: int, values: dict[str, Any]) -> None:
    s.execute(update(DigestRow).where(col(DigestRow.id) == digest_id).values(**values))


def defer(s: Session, digest_id: int, held_since: datetime, status: str, exc: BaseException,
          now: datetime) -> datetime | None:
    """Release our claim after a platform error until its backoff has passed (None: not ours any more)."""
    return claims.defer(s, COLUMNS, digest_id, held_since, exc, now, status=status)


def retryable(s: Session, now: datetime, group_id: int | None = None) -> list[DigestRow]:
    """Digests left claimed or sent by a crash or a platform error whose claim may be taken over."""
    query = select(DigestRow).where(col(DigestRow.status).in_(UNFINISHED), claims.retryable_where(COLUMNS, now))
    if group_id is not None:
        query = query.where(DigestRow.group_id == group_id)
    return list(s.exec(query.order_by(col(DigestRow.id))))


def renew(s: Session, digest_id: int, status: str, now: datetime) -> bool:
    """Take over a retryable digest still in `status`; True for exactly one caller."""
    return claims.renew(s, COLUMNS, digest_id, now, col(DigestRow.status) == status)

