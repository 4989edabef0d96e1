"""Answers and peer votes arriving from a question's thread.

Each event is applied in one transaction together with the record that its id
was seen, so a retried or replayed delivery changes nothing and triggers no
platform call, and a crash can never mark an event seen without applying it.
Deleted replies are kept (flagged): nothing a member wrote is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from bot.domain import (
    ChannelRef,
    PrivateAnswer,
    ReactionAdded,
    ReactionRemoved,
    ReplyDeleted,
    ReplyEdited,
    ThreadReply,
)
from bot.ports import ACK_REACTION, PlatformError
from bot.runtime import Runtime
from bot.store.db import as_utc
from bot.store.models import PostRow, ReplyRow, VoteRow

log = logging.getLogger(__name__)

LATE_REACTION = "hourglass"
OPEN_STATUSES = ("posted",)


@dataclass(frozen=True)
class Recorded:
    """What an answer event did, for the caller's reply and for tests."""

    kind: str  # "answer" | "late" | "discussion" | "ignored" | "duplicate" | "closed"
    post_id: int | None = None
    detail: str = ""


def _event_key(channel: ChannelRef, event_id: str) -> str:
    return f"{channel.platform}:{channel.workspace}:{event_id}"


class Answers:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def _is_answer(self, text: str) -> bool:
        return len(text.strip()) >= self.rt.settings.min_answer_chars

    async def _ack(self, channel: ChannelRef, message_id: str, late: bool) -> None:
        try:
            await self.rt.port(channel.platform).react(
                channel, message_id, LATE_REACTION if late else ACK_REACTION
            )
        except (PlatformError, LookupError) as exc:
            # The answer is stored; a missing tick is cosmetic and must not lose it.
            log.warning("could not acknowledge %s in %s: %s", message_id, channel.channel, exc)

    # ------------------------------------------------------------------ replies

    async def on_reply(self, event: ThreadReply) -> Recorded:
        if event.from_bot:
            return Recorded("ignored", detail="bot message")
        now = self.rt.clock.now()
        store = self.rt.store
        with store.session() as s:
            post = store.post_by_thread(s, event.channel, event.thread_id)
            if post is None or post.status in ("claimed", "skipped"):
                return Recorded("ignored", detail="not a tracked thread")
            if not store.first_delivery(s, _event_key(event.channel, event.event_id), now):
                return Recorded("duplicate", post.id)
            if s.exec(select(ReplyRow).where(
                ReplyRow.post_id == post.id, ReplyRow.message_id == event.message_id
            )).first():
                return Recorded("duplicate", post.id)
            member = store.member(s, event.channel, event.user_id, event.user_name)
            is_answer = self._is_answer(event.text)
            late = now > (as_utc(post.deadline) or now) or post.status != "posted"
            reply = ReplyRow(
                post_id=post.id or 0, member_id=member.id or 0, message_id=event.message_id,
                text=event.text, is_answer=is_answer, late=late, at=now,
                acknowledged=is_answer,
            )
            s.add(reply)
            post_id = post.id
        if not is_answer:
            return Recorded("discussion", post_id)
        await self._ack(event.channel, event.message_id, late)
        return Recorded("late" if late else "answer", post_id)

    async def on_private_answer(self, event: PrivateAnswer) -> Recorded:
        """Blind mode: one private answer per member, replaced on each resubmission."""
        now = self.rt.clock.now()
        store = self.rt.store
        text = event.text.strip()
        if not self._is_answer(text):
            return Recorded(
                "discussion", event.post_id,
                f"answers need at least {self.rt.settings.min_answer_chars} characters",
            )
        with store.session() as s:
            post = s.get(PostRow, event.post_id)
            group = store.find_group(s, event.channel)
            if post is None or group is None or post.group_id != group.id:
                return Recorded("ignored", detail="that question is not open in this channel")
            if not store.first_delivery(s, _event_key(event.channel, event.event_id), now):
                return Recorded("duplicate", post.id)
            if post.status != "posted" or now > (as_utc(post.deadline) or now):
                return Recorded("closed", post.id, "this question's deadline has passed")
            member = store.member(s, event.channel, event.user_id, event.user_name)
            message_id = f"private:{member.id}"
            existing = s.exec(select(ReplyRow).where(
                ReplyRow.post_id == post.id, ReplyRow.message_id == message_id
            )).first()
            if existing:
                existing.text, existing.edited_at, existing.deleted = text, now, False
                s.add(existing)
                detail = "updated"
            else:
                s.add(ReplyRow(post_id=post.id or 0, member_id=member.id or 0,
                               message_id=message_id, text=text, private=True, at=now,
                               acknowledged=True))
                detail = "recorded"
            return Recorded("answer", post.id, detail)

    async def on_edit(self, event: ReplyEdited) -> Recorded:
        """An edit before the deadline replaces that reply; later edits don't rescore it."""
        now = self.rt.clock.now()
        store = self.rt.store
        with store.session() as s:
            found = self._first_event_on_reply(s, event.channel, event.message_id, event.event_id, now)
            if isinstance(found, Recorded):
                return found
            reply, post = found
            if post.status != "posted" or now > (as_utc(post.deadline) or now):
                return Recorded("closed", post.id, "edited after the deadline: not rescored")
            was_answer = reply.is_answer
            reply.text = event.text
            reply.is_answer = self._is_answer(event.text)
            reply.edited_at = now
            needs_ack = reply.is_answer and not reply.acknowledged
            reply.acknowledged = reply.acknowledged or reply.is_answer
            s.add(reply)
            post_id = post.id
            late = reply.late
        if needs_ack:
            await self._ack(event.channel, event.message_id, late)
        kind = "answer" if reply.is_answer else "discussion"
        return Recorded(kind, post_id, "edited" if was_answer else "edited into an answer")

    async def on_delete(self, event: ReplyDeleted) -> Recorded:
        now = self.rt.clock.now()
        store = self.rt.store
        with store.session() as s:
            found = self._first_event_on_reply(s, event.channel, event.message_id, event.event_id, now)
            if isinstance(found, Recorded):
                return found
            reply, post = found
            if post.status in ("revealing", "revealed"):
                return Recorded("closed", post.id, "deleted after the reveal: score kept")
            reply.deleted = True
            s.add(reply)
            return Recorded("deleted", post.id)

    def _first_event_on_reply(
        self, s: Session, channel: ChannelRef, message_id: str, event_id: str, now: datetime
    ) -> tuple[ReplyRow, PostRow] | Recorded:
        """The recorded reply an edit or delete is about, unless it isn't one or the event is a repeat."""
        found = self._find_reply(s, channel, message_id)
        if found is None:
            return Recorded("ignored", detail="not a recorded reply")
        if not self.rt.store.first_delivery(s, _event_key(channel, event_id), now):
            return Recorded("duplicate", found[1].id)
        return found

    def _find_reply(
        self, s: Session, channel: ChannelRef, message_id: str
    ) -> tuple[ReplyRow, PostRow] | None:
        group = self.rt.store.find_group(s, channel)
        if group is None:
            return None
        row = s.exec(
            select(ReplyRow, PostRow)
            .join(PostRow, PostRow.id == ReplyRow.post_id)  # type: ignore[arg-type]
            .where(PostRow.group_id == group.id, ReplyRow.message_id == message_id)
        ).first()
        return (row[0], row[1]) if row else None

    # -------------------------------------------------------------------- votes

    async def on_reaction(self, event: ReactionAdded | ReactionRemoved) -> Recorded:
        if event.from_bot:
            return Recorded("ignored", detail="bot reaction")
        now = self.rt.clock.now()
        store = self.rt.store
        with store.session() as s:
            found = self._find_reply(s, event.channel, event.message_id)
            if found is None:
                return Recorded("ignored", detail="not on an answer")
            reply, post = found
            if not reply.is_answer or reply.deleted:
                return Recorded("ignored", post.id, "not on an answer")
            if not store.first_delivery(s, _event_key(event.channel, event.event_id), now):
                return Recorded("duplicate", post.id)
            if post.status != "posted":
                return Recorded("closed", post.id, "votes close at the reveal")
            voter = store.member(s, event.channel, event.user_id)
            if voter.id == reply.member_id:
                return Recorded("ignored", post.id, "self-votes don't count")
            existing = s.exec(select(VoteRow).where(
                VoteRow.post_id == post.id, VoteRow.message_id == event.message_id,
                VoteRow.voter_id == voter.id, VoteRow.reaction == event.reaction,
            )).first()
            if isinstance(event, ReactionAdded):
                if existing is None:
                    s.add(VoteRow(post_id=post.id or 0, message_id=event.message_id,
                                  voter_id=voter.id or 0, target_id=reply.member_id,
                                  reaction=event.reaction, at=now))
                return Recorded("vote", post.id)
            if existing is not None:
                s.delete(existing)
            return Recorded("unvote", post.id)
