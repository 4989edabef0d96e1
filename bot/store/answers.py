"""Queries and writes for answers and votes arriving in a question's thread.

This is the busiest write path (every reply in every thread), so it speaks
SQLAlchemy Core over the tables rather than loading ORM objects: one indexed
lookup per fact, inserts that let a unique constraint reject a repeat
(`ON CONFLICT DO NOTHING`) instead of a check-then-insert or a savepoint.
Everything here runs inside one unit of work per event (`Store.run`), so an event's "seen" mark and its effect
commit together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from bot.domain import ChannelRef
from bot.store import channels
from bot.store.conflicts import insert_new, inserted
from bot.store.db import as_utc
from bot.store.schema import groups, members, posts, replies, votes
from bot.store.schema import processed_events as processed
from bot.store.unit import Unit


@dataclass(frozen=True)
class ThreadPost:
    """What an answer event needs to know about the question it answers."""

    id: int
    group_id: int
    status: str
    deadline: datetime


@dataclass(frozen=True)
class StoredReply:
    """A recorded reply, with the question it belongs to."""

    id: int
    member_id: int
    is_answer: bool
    deleted: bool
    acknowledged: bool
    late: bool
    post: ThreadPost


# Statements are built once: building and cache-keying a statement costs more CPU than
# SQLite spends running it, and this path runs for every reply in every thread.
_THREAD_POST = (
    select(posts.c.id, posts.c.group_id, posts.c.status, posts.c.deadline)
    .join(groups, groups.c.id == posts.c.group_id)
    .where(groups.c.platform == bindparam("platform"), groups.c.workspace == bindparam("workspace"),
           groups.c.channel == bindparam("channel"), posts.c.thread_id == bindparam("thread_id"))
    .limit(1)
)
_POST_IN_GROUP = select(posts.c.id, posts.c.group_id, posts.c.status, posts.c.deadline).where(
    posts.c.id == bindparam("post_id"), posts.c.group_id == bindparam("group_id"))
_MEMBER = select(members.c.id, members.c.display_name).where(
    members.c.platform == bindparam("platform"), members.c.workspace == bindparam("workspace"),
    members.c.user_id == bindparam("user_id"))
# (An UPDATE's bind names must differ from its columns' names, hence the `b_` prefixes.)
_RENAME = update(members).where(members.c.id == bindparam("b_member_id")).values(
    display_name=bindparam("b_display_name"))
_REPLACE_PRIVATE = update(replies).where(
    replies.c.post_id == bindparam("b_post_id"), replies.c.message_id == bindparam("b_message_id")
).values(text=bindparam("b_text"), edited_at=bindparam("b_edited_at"), deleted=False)
_FIND_REPLY = (
    select(replies.c.id, replies.c.member_id, replies.c.is_answer, replies.c.deleted, replies.c.acknowledged,
           replies.c.late, posts.c.id.label("post_id"), posts.c.group_id, posts.c.status, posts.c.deadline)
    .join(posts, posts.c.id == replies.c.post_id)
    .where(posts.c.group_id == bindparam("group_id"), replies.c.message_id == bindparam("message_id"))
    .limit(1)
)
def first_delivery(s: Unit, key: str, now: datetime) -> bool:
    """Mark a platform event handled; False when it was handled before (a retry or a replay)."""
    return inserted(s, processed, {"key": key, "at": now})


def _where(ref: ChannelRef) -> dict[str, str]:
    return {"platform": ref.platform, "workspace": ref.workspace, "channel": ref.channel}


def thread_post(s: Unit, ref: ChannelRef, thread_id: str) -> ThreadPost | None:
    """The question whose thread this is, in this channel; None for any other thread."""
    row = s.execute(_THREAD_POST, {**_where(ref), "thread_id": thread_id}).first()
    return _thread_post(row) if row else None


def post_in_channel(s: Unit, ref: ChannelRef, post_id: int) -> ThreadPost | None:
    """A question by id, only if it belongs to this channel (a form can't reach across channels)."""
    group_id = channels.group_id(s, ref)
    if group_id is None:
        return None
    row = s.execute(_POST_IN_GROUP, {"post_id": post_id, "group_id": group_id}).first()
    return _thread_post(row) if row else None


def _thread_post(row: Any) -> ThreadPost:
    return ThreadPost(row.id, row.group_id, row.status, as_utc(row.deadline) or row.deadline)


def member_id(s: Unit, ref: ChannelRef, user_id: str, name: str = "") -> int:
    """The member's id, created on first sight; a changed display name is kept up to date."""
    who = {"platform": ref.platform, "workspace": ref.workspace, "user_id": user_id}
    row = s.execute(_MEMBER, who).first()
    if row is None:
        new_id = s.execute(insert_new(s, members, returning=members.c.id), {**who, "display_name": name}).scalar()
        if new_id is not None:
            return int(new_id)
        row = s.execute(_MEMBER, who).one()  # created meanwhile by a concurrent event
    if name and row.display_name != name:
        s.execute(_RENAME, {"b_member_id": row.id, "b_display_name": name})
    return int(row.id)


def add_reply(s: Unit, *, post_id: int, member_id: int, message_id: str, text: str, is_answer: bool,
              late: bool, at: datetime, private: bool = False) -> bool:
    """Record a reply; False when this message is already recorded for this question."""
    return inserted(s, replies, {
        "post_id": post_id, "member_id": member_id, "message_id": message_id, "text": text,
        "is_answer": is_answer, "late": late, "private": private, "deleted": False,
        "acknowledged": is_answer, "at": at, "edited_at": None,
    })


def replace_private_answer(s: Unit, post_id: int, message_id: str, text: str, now: datetime) -> bool:
    """Blind mode: overwrite a member's earlier private answer; False when there was none."""
    result = s.execute(_REPLACE_PRIVATE, {"b_post_id": post_id, "b_message_id": message_id,
                                                      "b_text": text, "b_edited_at": now})
    return bool(result.rowcount)


def find_reply(s: Unit, ref: ChannelRef, message_id: str) -> StoredReply | None:
    """The recorded reply a later edit, delete or vote is about, in this channel."""
    group_id = channels.group_id(s, ref)
    if group_id is None:
        return None
    row = s.execute(_FIND_REPLY, {"group_id": group_id, "message_id": message_id}).first()
    if row is None:
        return None
    post = ThreadPost(row.post_id, row.group_id, row.status, as_utc(row.deadline) or row.deadline)
    return StoredReply(row.id, row.member_id, bool(row.is_answer), bool(row.deleted), bool(row.acknowledged),
                       bool(row.late), post)


def edit_reply(s: Unit, reply_id: int, text: str, is_answer: bool, acknowledged: bool, now: datetime) -> None:
    s.execute(update(replies).where(replies.c.id == reply_id).values(
        text=text, is_answer=is_answer, acknowledged=acknowledged, edited_at=now))


def flag_deleted(s: Unit, reply_id: int) -> None:
    """Deleted replies are kept, flagged: nothing a member wrote is lost."""
    s.execute(update(replies).where(replies.c.id == reply_id).values(deleted=True))


def add_vote(s: Unit, *, post_id: int, message_id: str, voter_id: int, target_id: int, reaction: str,
             at: datetime) -> None:
    inserted(s, votes, {"post_id": post_id, "message_id": message_id, "voter_id": voter_id,
                                       "target_id": target_id, "reaction": reaction, "at": at})


def remove_vote(s: Unit, *, post_id: int, message_id: str, voter_id: int, reaction: str) -> None:
    s.execute(delete(votes).where(
        votes.c.post_id == post_id, votes.c.message_id == message_id, votes.c.voter_id == voter_id,
        votes.c.reaction == reaction))
