"""The timetable's reads: what the scheduler needs to build its jobs, for some groups or for all.

Plain rows, no rules: `bot.timetable` turns them into slots and retry times.
Every query is filtered by `group_id IN (...)` when some groups are asked for,
so their read costs what their rows cost however many channels are subscribed
(each table here has an index on `group_id`; reading all uses `posts.status`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from bot.store import schema
from bot.store.unit import Unit

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


# Groups bound per read: well under SQLite's and PostgreSQL's limits on bound parameters.
GROUPS_PER_READ = 500


def _statements(scoped: bool) -> tuple[Any, ...]:
    """The timetable's queries, built once: of the groups bound as `group_ids` (scoped) or of all."""

    def by(query: Any, column: Any) -> Any:
        return query.where(column.in_(bindparam("group_ids", expanding=True))) if scoped else query

    subs, posts, options, groups, digests = (schema.subscriptions, schema.posts, schema.group_options,
                                             schema.groups, schema.digests)
    live = (subs.c.active == True, subs.c.paused_reason.is_(None))  # noqa: E712
    return (
        by(select(subs.c.id, subs.c.group_id, subs.c.post_time, subs.c.timezone, subs.c.days)
           .where(*live).order_by(subs.c.id), subs.c.group_id),
        by(select(posts.c.id, posts.c.group_id, posts.c.deadline)
           .where(posts.c.status == OPEN).order_by(posts.c.id), posts.c.group_id),
        by(select(posts.c.id, posts.c.deadline, options.c.reminder_minutes)
           .join(options, options.c.group_id == posts.c.group_id)
           .outerjoin(schema.reminders, schema.reminders.c.post_id == posts.c.id)
           .where(posts.c.status == OPEN, options.c.reminder_minutes.is_not(None),
                  schema.reminders.c.post_id.is_(None))
           .order_by(posts.c.id), posts.c.group_id),
        by(select(groups.c.id, groups.c.digest_weekday, groups.c.digest_time, groups.c.timezone)
           .where(groups.c.id.in_(by(select(subs.c.group_id).where(*live), subs.c.group_id)))
           .order_by(groups.c.id), groups.c.id),
        by(select(posts.c.group_id, posts.c.status, posts.c.claimed_at, posts.c.reveal_claimed_at,
                  posts.c.retry_at)
           .where(posts.c.status.in_(HELD_POSTS)), posts.c.group_id),
        by(select(digests.c.group_id, digests.c.claimed_at, digests.c.retry_at)
           .where(digests.c.status.in_(HELD_DIGESTS)), digests.c.group_id),
    )


# Built once at import: a group's read is run many times a minute under load, and
# building SQLAlchemy statements costs far more than SQLite takes to answer them.
_ALL = _statements(scoped=False)
_SOME = _statements(scoped=True)


def read_timetable(s: Unit, group_ids: Collection[int] | None = None) -> TimetableRows:
    """Everything scheduled: of these groups, or of every group (None)."""
    if group_ids is None:
        results = [s.execute(stmt).all() for stmt in _ALL]
    else:
        ids = sorted(set(group_ids))
        chunks = [{"group_ids": ids[i:i + GROUPS_PER_READ]} for i in range(0, len(ids), GROUPS_PER_READ)]
        results = [[row for params in chunks for row in s.execute(stmt, params).all()] for stmt in _SOME]
    subs, open_posts, reminders, digest_groups, held_posts, held_digests = results
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
