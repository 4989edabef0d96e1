"""The timetable's reads: what the scheduler needs to build its jobs, for one group or for all.

Plain rows, no rules: `bot.timetable` turns them into slots and retry times.
Every query is filtered by `group_id` when one group is asked for, so a
group's read costs the same however many channels are subscribed (each table
here has an index on `group_id`; reading all uses `posts.status`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.store.models import GroupOptionRow, ReminderRow
from bot.store.models import DigestRow, GroupRow, PostRow, SubscriptionRow

OPEN = "posted"
# Claimed work that is held or released for a retry (see bot.store.claims).
HELD_POSTS = ("claimed", "revealing")
HELD_DIGESTS = ("claimed", "sent")


@dataclass(frozen=True)
class SubscriptionTimes:
    id: int
    group_id: int
    post_time: str  # HH:MM local
    timezone: str
    days: str  # "mon,tue,wed"


@dataclass(frozen=True)
class DigestTimes:
    """A group with an active, unpaused subscription, and its own digest settings (None: the default)."""

    group_id: int
    weekday: int | None
    at: str | None
    timezone: str


@dataclass(frozen=True)
class HeldClaim:
    group_id: int
    held_since: datetime | None
    retry_at: datetime | None


@dataclass(frozen=True)
class TimetableRows:
    subscriptions: Sequence[SubscriptionTimes]
    open_posts: Sequence[tuple[int, int, datetime]]  # (post id, group id, deadline)
    reminders: Sequence[tuple[int, datetime, int]]  # (post id, deadline, minutes before it)
    digests: Sequence[DigestTimes]
    claims: Sequence[HeldClaim]


def _statements(scoped: bool) -> tuple[Any, ...]:
    """The timetable's queries, built once: of the group bound as `group_id` (scoped) or of all."""

    def by(query: Any, column: Any) -> Any:
        return query.where(column == bindparam("group_id")) if scoped else query

    live = (SubscriptionRow.active == True, col(SubscriptionRow.paused_reason).is_(None))  # noqa: E712
    return (
        by(select(SubscriptionRow.id, SubscriptionRow.group_id, SubscriptionRow.post_time,
                  SubscriptionRow.timezone, SubscriptionRow.days)
           .where(*live).order_by(col(SubscriptionRow.id)), SubscriptionRow.group_id),
        by(select(PostRow.id, PostRow.group_id, PostRow.deadline)
           .where(PostRow.status == OPEN).order_by(col(PostRow.id)), PostRow.group_id),
        by(select(PostRow.id, PostRow.deadline, GroupOptionRow.reminder_minutes)
           .join(GroupOptionRow, GroupOptionRow.group_id == PostRow.group_id)  # type: ignore[arg-type]
           .outerjoin(ReminderRow, ReminderRow.post_id == PostRow.id)  # type: ignore[arg-type]
           .where(PostRow.status == OPEN, col(GroupOptionRow.reminder_minutes).is_not(None),
                  col(ReminderRow.post_id).is_(None))
           .order_by(col(PostRow.id)), PostRow.group_id),
        by(select(GroupRow.id, GroupRow.digest_weekday, GroupRow.digest_time, GroupRow.timezone)
           .where(col(GroupRow.id).in_(by(select(SubscriptionRow.group_id).where(*live),
                                          SubscriptionRow.group_id)))
           .order_by(col(GroupRow.id)), GroupRow.id),
        by(select(PostRow.group_id, PostRow.status, PostRow.claimed_at, PostRow.reveal_claimed_at,
                  PostRow.retry_at)
           .where(col(PostRow.status).in_(HELD_POSTS)), PostRow.group_id),
        by(select(DigestRow.group_id, DigestRow.claimed_at, DigestRow.retry_at)
           .where(col(DigestRow.status).in_(HELD_DIGESTS)), DigestRow.group_id),
    )


# Built once at import: a group's read is run many times a minute under load, and
# building SQLAlchemy statements costs far more than SQLite takes to answer them.
_ALL = _statements(scoped=False)
_ONE = _statements(scoped=True)


def read_timetable(s: Session, group_id: int | None = None) -> TimetableRows:
    """Everything scheduled: of one group (`group_id`), or of every group (None)."""
    conn = s.connection()
    params = {} if group_id is None else {"group_id": group_id}
    subs, open_posts, reminders, digest_groups, held_posts, held_digests = (
        conn.execute(stmt, params).all() for stmt in (_ALL if group_id is None else _ONE))
    claims = [HeldClaim(g, claimed_at if status == "claimed" else reveal_claimed_at, retry_at)
              for g, status, claimed_at, reveal_claimed_at, retry_at in held_posts]
    claims.extend(HeldClaim(g, claimed_at, retry_at) for g, claimed_at, retry_at in held_digests)
    return TimetableRows(
        subscriptions=[SubscriptionTimes(i or 0, g, t, z, d) for i, g, t, z, d in subs],
        open_posts=[(i or 0, g, d) for i, g, d in open_posts],
        reminders=[(i or 0, d, m or 0) for i, d, m in reminders],
        digests=[DigestTimes(i or 0, w, t, z) for i, w, t, z in digest_groups],
        claims=claims,
    )
