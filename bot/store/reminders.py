"""Deadline reminders: which open posts want one now, and the claim.

The scheduler reads when each reminder falls due itself (`bot.store.timetable`).

A reminder is claimed by inserting its row in `reminders` (one per post, the
primary key decides) before it is sent. It is deliberately fire-once: a reminder that
cannot be sent is dropped, not retried, because a late "1 hour left" is wrong
and the table has no retry columns. Posts, reveals and digests, which must
arrive, use the lease/backoff protocol of `bot.store.claims`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select

from bot.domain import ChannelRef
from bot.store import conflicts, schema
from bot.store.db import as_utc
from bot.store.unit import Unit


@dataclass(frozen=True)
class DueReminder:
    post_id: int
    channel: ChannelRef
    thread_id: str
    deadline: datetime


def _due(one_post: bool) -> Any:
    """Open posts of channels that want a reminder, not claimed yet, deadline after `now`
    (of the post bound as `post_id` when `one_post`)."""
    posts, options, groups, claimed = schema.posts, schema.group_options, schema.groups, schema.reminders
    query = (
        select(posts.c.id, posts.c.thread_id, posts.c.deadline, options.c.reminder_minutes,
               groups.c.platform, groups.c.workspace, groups.c.channel)
        .join(options, options.c.group_id == posts.c.group_id)
        .join(groups, groups.c.id == posts.c.group_id)
        .outerjoin(claimed, claimed.c.post_id == posts.c.id)
        .where(posts.c.status == "posted", options.c.reminder_minutes.is_not(None),
               posts.c.deadline > bindparam("now"), claimed.c.post_id.is_(None))
        .order_by(posts.c.id)
    )
    return query.where(posts.c.id == bindparam("post_id")) if one_post else query


# Built once: the scheduler asks at every reminder slot and after every post.
_DUE_ALL = _due(one_post=False)
_DUE_ONE = _due(one_post=True)


def due(s: Unit, now: datetime, post_id: int | None = None) -> list[DueReminder]:
    """Open posts whose channel wants a reminder that falls due at or before `now` and is not claimed yet."""
    if post_id is None:
        rows = s.execute(_DUE_ALL, {"now": now})
    else:
        rows = s.execute(_DUE_ONE, {"now": now, "post_id": post_id})
    out: list[DueReminder] = []
    for pid, thread_id, deadline, minutes, platform, workspace, channel in rows.all():
        deadline = as_utc(deadline) or now
        if pid is None or deadline - timedelta(minutes=minutes or 0) > now:
            continue
        out.append(DueReminder(pid, ChannelRef(platform, workspace, channel), thread_id or "", deadline))
    return out


def claim(s: Unit, post_id: int, now: datetime) -> bool:
    """Claim a post's one reminder; True for exactly one caller."""
    return conflicts.inserted(s, schema.reminders, {"post_id": post_id, "at": now})
