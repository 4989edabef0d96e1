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
from bot.store import answers as stored
from bot.store.unit import Unit

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
        is_answer = self._is_answer(event.text)

        def record(s: Unit) -> Recorded:
            post = stored.thread_post(s, event.channel, event.thread_id)
            if post is None or post.status in ("claimed", "skipped"):
                return Recorded("ignored", detail="not a tracked thread")
            if not stored.first_delivery(s, _event_key(event.channel, event.event_id), now):
                return Recorded("duplicate", post.id)
            late = now > post.deadline or post.status != "posted"
            member_id = stored.member_id(s, event.channel, event.user_id, event.user_name)
            if not stored.add_reply(s, post_id=post.id, member_id=member_id, message_id=event.message_id,
                                    text=event.text, is_answer=is_answer, late=late, at=now):
                return Recorded("duplicate", post.id)
            if not is_answer:
                return Recorded("discussion", post.id)
            return Recorded("late" if late else "answer", post.id)

        recorded = await self.rt.store.run(record)
        if recorded.kind in ("answer", "late"):
            await self._ack(event.channel, event.message_id, recorded.kind == "late")
        return recorded

    async def on_private_answer(self, event: PrivateAnswer) -> Recorded:
        """Blind mode: one private answer per member, replaced on each resubmission."""
        now = self.rt.clock.now()
        text = event.text.strip()
        if not self._is_answer(text):
            return Recorded(
                "discussion", event.post_id,
                f"answers need at least {self.rt.settings.min_answer_chars} characters",
            )

        def record(s: Unit) -> Recorded:
            post = stored.post_in_channel(s, event.channel, event.post_id)
            if post is None:
                return Recorded("ignored", detail="that question is not open in this channel")
            if not stored.first_delivery(s, _event_key(event.channel, event.event_id), now):
                return Recorded("duplicate", post.id)
            if post.status != "posted" or now > post.deadline:
                return Recorded("closed", post.id, "this question's deadline has passed")
            member_id = stored.member_id(s, event.channel, event.user_id, event.user_name)
            message_id = f"private:{member_id}"
            if stored.replace_private_answer(s, post.id, message_id, text, now):
                return Recorded("answer", post.id, "updated")
            stored.add_reply(s, post_id=post.id, member_id=member_id, message_id=message_id, text=text,
                             is_answer=True, late=False, at=now, private=True)
            return Recorded("answer", post.id, "recorded")

        return await self.rt.store.run(record)

    async def on_edit(self, event: ReplyEdited) -> Recorded:
        """An edit before the deadline replaces that reply; later edits don't rescore it."""
        now = self.rt.clock.now()
        is_answer = self._is_answer(event.text)

        def record(s: Unit) -> tuple[Recorded, bool, bool]:
            found = self._first_event_on_reply(s, event.channel, event.message_id, event.event_id, now)
            if isinstance(found, Recorded):
                return found, False, False
            post = found.post
            if post.status != "posted" or now > post.deadline:
                return Recorded("closed", post.id, "edited after the deadline: not rescored"), False, False
            needs_ack = is_answer and not found.acknowledged
            stored.edit_reply(s, found.id, event.text, is_answer, found.acknowledged or is_answer, now)
            kind = "answer" if is_answer else "discussion"
            detail = "edited" if found.is_answer else "edited into an answer"
            return Recorded(kind, post.id, detail), needs_ack, found.late

        recorded, needs_ack, late = await self.rt.store.run(record)
        if needs_ack:
            await self._ack(event.channel, event.message_id, late)
        return recorded

    async def on_delete(self, event: ReplyDeleted) -> Recorded:
        now = self.rt.clock.now()

        def record(s: Unit) -> Recorded:
            found = self._first_event_on_reply(s, event.channel, event.message_id, event.event_id, now)
            if isinstance(found, Recorded):
                return found
            if found.post.status in ("revealing", "revealed"):
                return Recorded("closed", found.post.id, "deleted after the reveal: score kept")
            stored.flag_deleted(s, found.id)
            return Recorded("deleted", found.post.id)

        return await self.rt.store.run(record)

    @staticmethod
    def _first_event_on_reply(
        s: Unit, channel: ChannelRef, message_id: str, event_id: str, now: datetime
    ) -> stored.StoredReply | Recorded:
        """The recorded reply an edit or delete is about, unless it isn't one or the event is a repeat."""
        found = stored.find_reply(s, channel, message_id)
        if found is None:
            return Recorded("ignored", detail="not a recorded reply")
        if not stored.first_delivery(s, _event_key(channel, event_id), now):
            return Recorded("duplicate", found.post.id)
        return found

    # -------------------------------------------------------------------- votes

    async def on_reaction(self, event: ReactionAdded | ReactionRemoved) -> Recorded:
        if event.from_bot:
            return Recorded("ignored", detail="bot reaction")
        now = self.rt.clock.now()

        def record(s: Unit) -> Recorded:
            reply = stored.find_reply(s, event.channel, event.message_id)
            if reply is None:
                return Recorded("ignored", detail="not on an answer")
            post = reply.post
            if not reply.is_answer or reply.deleted:
                return Recorded("ignored", post.id, "not on an answer")
            if not stored.first_delivery(s, _event_key(event.channel, event.event_id), now):
                return Recorded("duplicate", post.id)
            if post.status != "posted":
                return Recorded("closed", post.id, "votes close at the reveal")
            voter_id = stored.member_id(s, event.channel, event.user_id)
            if voter_id == reply.member_id:
                return Recorded("ignored", post.id, "self-votes don't count")
            if isinstance(event, ReactionAdded):
                stored.add_vote(s, post_id=post.id, message_id=event.message_id, voter_id=voter_id,
                                target_id=reply.member_id, reaction=event.reaction, at=now)
                return Recorded("vote", post.id)
            stored.remove_vote(s, post_id=post.id, message_id=event.message_id, voter_id=voter_id,
                               reaction=event.reaction)
            return Recorded("unvote", post.id)

        return await self.rt.store.run(record)
