"""What is scheduled, read from the database: the scheduler builds its jobs from this.

It is a read model only. Nothing here decides whether something is due: the
jobs built from it call the core's use cases, which decide and claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlmodel import col, select

from bot.digests import Digests, DigestSlot
from bot.habits import Habits
from bot.practice import CLAIM_LEASE
from bot.runtime import Runtime
from bot.schedule_spec import parse_time
from bot.store.db import as_utc
from bot.store.models import DigestRow, PostRow, SubscriptionRow


@dataclass(frozen=True)
class PostSlot:
    """A subscription's daily post: local `at` in `timezone` on `days` ("mon" ... "sun")."""

    subscription_id: int
    at: time
    timezone: str
    days: tuple[str, ...]


@dataclass(frozen=True)
class Timetable:
    posts: tuple[PostSlot, ...]
    reveals: tuple[tuple[int, datetime], ...]  # (post id, deadline) of every open post
    digests: tuple[DigestSlot, ...]
    # The earliest moment a claim released after a platform error (or left by a
    # crashed sender) may be retried; None when nothing waits.
    next_retry: datetime | None
    # (post id, when) of each open post's deadline reminder, where the channel wants one.
    reminders: tuple[tuple[int, datetime], ...] = ()


def build_timetable(rt: Runtime, digests: Digests) -> Timetable:
    with rt.store.session() as s:
        subs = s.exec(
            select(SubscriptionRow)
            .where(SubscriptionRow.active == True,  # noqa: E712
                   col(SubscriptionRow.paused_reason).is_(None))
            .order_by(col(SubscriptionRow.id))
        ).all()
        open_posts = s.exec(
            select(PostRow.id, PostRow.deadline).where(PostRow.status == "posted").order_by(col(PostRow.id))
        ).all()
        pending_posts = s.exec(
            select(PostRow.status, PostRow.claimed_at, PostRow.reveal_claimed_at, PostRow.retry_at)
            .where(col(PostRow.status).in_(("claimed", "revealing")))
        ).all()
        reminders = Habits(rt).reminder_times(s)
        pending_digests = s.exec(
            select(DigestRow.claimed_at, DigestRow.retry_at).where(col(DigestRow.status).in_(("claimed", "sent")))
        ).all()
    waits: list[datetime] = []
    for status, claimed_at, reveal_claimed_at, retry_at in pending_posts:
        held_since = claimed_at if status == "claimed" else reveal_claimed_at
        waits.append(_retry_time(held_since, retry_at))
    waits.extend(_retry_time(claimed_at, retry_at) for claimed_at, retry_at in pending_digests)
    return Timetable(
        posts=tuple(
            PostSlot(sub.id or 0, parse_time(sub.post_time), sub.timezone, tuple(sub.days.split(",")))
            for sub in subs
        ),
        reveals=tuple((post_id or 0, as_utc(deadline) or deadline) for post_id, deadline in open_posts),
        digests=tuple(slot for slot, _since in digests.slots()),
        next_retry=min(waits, default=None),
        reminders=tuple(reminders),
    )


def _retry_time(held_since: datetime | None, retry_at: datetime | None) -> datetime:
    """Mirrors practice.retryable(): retry_at once released, else when the claim's lease runs out."""
    if retry_at is not None:
        return as_utc(retry_at) or retry_at
    return (as_utc(held_since) or datetime.min.replace(tzinfo=UTC)) + CLAIM_LEASE
