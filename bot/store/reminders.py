"""Deadline reminders: which open posts want one now, and the claim.

The scheduler reads when each reminder falls due itself (`bot.store.timetable`).

A reminder is claimed by inserting its `ReminderRow` (one per post, the primary
key decides) before it is sent. It is deliberately fire-once: a reminder that
cannot be sent is dropped, not retried, because a late "1 hour left" is wrong
and the table has no retry columns. Posts, reveals and digests, which must
arrive, use the lease/backoff protocol of `bot.store.claims`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.domain import ChannelRef
from bot.store.db import as_utc
from bot.store.models import GroupOptionRow, ReminderRow
from bot.store.models import GroupRow, PostRow
from bot.store.repo import Store


@dataclass(frozen=True)
class DueReminder:
    post_id: int
    channel: ChannelRef
    thread_id: str
    deadline: datetime


def due(s: Session, now: datetime, post_id: int | None = None) -> list[DueReminder]:
    """Open posts whose channel wants a reminder that falls due at or before `now` and is not claimed yet."""
    query = (
        select(PostRow.id, PostRow.thread_id, PostRow.deadline, GroupOptionRow.reminder_minutes, GroupRow)
        .join(GroupOptionRow, GroupOptionRow.group_id == PostRow.group_id)  # type: ignore[arg-type]
        .join(GroupRow, GroupRow.id == PostRow.group_id)  # type: ignore[arg-type]
        .outerjoin(ReminderRow, ReminderRow.post_id == PostRow.id)  # type: ignore[arg-type]
        .where(PostRow.status == "posted", col(GroupOptionRow.reminder_minutes).is_not(None),
               col(PostRow.deadline) > now, col(ReminderRow.post_id).is_(None))
        .order_by(col(PostRow.id))
    )
    if post_id is not None:
        query = query.where(PostRow.id == post_id)
    out: list[DueReminder] = []
    for pid, thread_id, deadline, minutes, group in s.exec(query).all():
        deadline = as_utc(deadline) or now
        if pid is None or deadline - timedelta(minutes=minutes or 0) > now:
            continue
        out.append(DueReminder(pid, Store.channel_of(group), thread_id or "", deadline))
    return out


def claim(s: Session, post_id: int, now: datetime) -> bool:
    """Claim a post's one reminder; True for exactly one caller."""
    try:
        with s.begin_nested():
            s.add(ReminderRow(post_id=post_id, at=now))
    except IntegrityError:
        return False
    return True

