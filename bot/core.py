"""The core's front door: adapters hand in domain events, the scheduler asks for due work.

`Core.handle` never raises for bad input or a platform hiccup: it logs with
context and, where a person is waiting, answers politely. That is what keeps
one bad event from taking a handler (or the process) down.

The one exception is an event that carries a member's words (a thread reply,
an edit, a delete, a vote) which could not be stored: `handle` raises
`NotRecorded`, so the adapter does not tell the platform it arrived. Slack then
redelivers it; Discord, which never redelivers, retries and tells the member.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

from bot import render
from bot.answers import Answers
from bot.commands import Commands
from bot.digests import DigestReport, Digests
from bot.domain import (
    ButtonPressed,
    InboundEvent,
    Message,
    Outcome,
    PrivateAnswer,
    ReactionAdded,
    ReactionRemoved,
    Reply,
    ReplyDeleted,
    ReplyEdited,
    SlashCommand,
    ThreadReply,
)
from bot.practice import DueReport, Practice
from bot.quiz import QUIZ_ACTION, Quiz, QuizError
from bot.render import ANSWER_PRIVATELY_ACTION
from bot.runtime import Runtime
from bot.standings import Standings
from bot.timetable import Timetable, build_timetable

log = logging.getLogger(__name__)

# Events whose effect is a member's own words or votes: losing one silently is worse than failing loudly.
RECORDED_EVENTS = (ThreadReply, ReplyEdited, ReplyDeleted, ReactionAdded, ReactionRemoved)


class NotRecorded(RuntimeError):
    """A member's answer (or edit, delete, vote) could not be stored; nothing of it was kept.

    The adapter must not acknowledge the event to the platform as delivered.
    """

    def __init__(self, event: InboundEvent) -> None:
        super().__init__(f"{type(event).__name__} {getattr(event, 'event_id', '')} in {event.channel} "
                         "was not recorded")
        self.event = event


class Core:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.practice = Practice(rt)
        self.answers = Answers(rt)
        self.quiz = Quiz(rt)
        self.standings = Standings(rt)
        self.digests = Digests(rt, self.standings, self.practice)
        self.commands = Commands(rt, self.practice, self.quiz, self.standings)

    async def handle(self, event: InboundEvent) -> Outcome:
        try:
            return await self._dispatch(event)
        except Exception as exc:
            log.exception("error handling %s in %s", type(event).__name__, event.channel)
            if isinstance(event, RECORDED_EVENTS):
                raise NotRecorded(event) from exc
            if isinstance(event, SlashCommand | ButtonPressed | PrivateAnswer):
                return Outcome(Reply(render.error(
                    "Sorry, something went wrong on my side. Nothing was changed; please try again."
                )))
            return Outcome()

    async def _dispatch(self, event: InboundEvent) -> Outcome:
        match event:
            case ThreadReply():
                recorded = await self.answers.on_reply(event)
                return Outcome(duplicate=recorded.kind == "duplicate", notes=[recorded.kind])
            case ReplyEdited():
                recorded = await self.answers.on_edit(event)
                return Outcome(duplicate=recorded.kind == "duplicate", notes=[recorded.kind])
            case ReplyDeleted():
                recorded = await self.answers.on_delete(event)
                return Outcome(duplicate=recorded.kind == "duplicate", notes=[recorded.kind])
            case ReactionAdded() | ReactionRemoved():
                recorded = await self.answers.on_reaction(event)
                return Outcome(duplicate=recorded.kind == "duplicate", notes=[recorded.kind])
            case SlashCommand():
                return Outcome(await self.commands.run(event))
            case ButtonPressed():
                return Outcome(await self._button(event))
            case PrivateAnswer():
                recorded = await self.answers.on_private_answer(event)
                return Outcome(Reply(render.notice(_private_answer_text(recorded.kind, recorded.detail))),
                               duplicate=recorded.kind == "duplicate", notes=[recorded.kind])
        log.debug("ignored event %r", event)
        return Outcome()

    async def _button(self, event: ButtonPressed) -> Reply | None:
        if event.action_id == QUIZ_ACTION:
            try:
                return await self.quiz.answer(event.channel, event.user_id, event.value)
            except QuizError as exc:
                return Reply(render.error(str(exc)))
        if event.action_id == ANSWER_PRIVATELY_ACTION:
            # The adapter opens its own form for this; the core has nothing to add.
            return None
        return Reply(render.error("That button is no longer active."))

    async def home_view(self, platform: str, workspace: str, user_id: str) -> Message:
        """A member's personal page (Slack's App Home): stats and rank per channel, next questions."""
        now = self.rt.clock.now()
        channels = await self.standings.groups_for_member(platform, workspace, user_id)
        per_channel = [(ch, await self.standings.member_stats(ch, user_id)) for ch in channels]
        upcoming = await self.practice.upcoming(platform, workspace, now)
        return render.home(user_id, per_channel, upcoming)

    # ------------------------------------------------ what the scheduler calls

    async def run_due(self, now: datetime | None = None) -> DueReport:
        """Everything due: posts (or skips), retries, reveals and weekly digests. Safe to repeat."""
        now = now or self.rt.clock.now()
        report = await self.practice.run_due(now)
        report.reminded.extend(await self.practice.habits.send_due_reminders(now))
        digests = await self.digests.digest_due(now)
        report.digests.extend(digests.posted)
        report.failed.extend(digests.failed)
        return report

    async def post_due(self, *subscription_ids: int) -> DueReport:
        """These subscriptions' scheduled posts, those due now (their jobs fired together)."""
        return await self.practice.post_due(self.rt.clock.now(), subscription_ids)

    async def reveal_due(self, post_id: int) -> list[int]:
        """One post's reveal, if its deadline has passed."""
        return await self.practice.reveal_due(self.rt.clock.now(), post_id=post_id)

    async def remind_due(self, post_id: int) -> list[int]:
        """One open post's deadline reminder, if its channel wants one and it is time."""
        return await self.practice.habits.send_due_reminders(self.rt.clock.now(), post_id=post_id)

    async def digest_due(self, group_id: int) -> DigestReport:
        """One group's weekly digest, if it is due now."""
        return await self.digests.digest_due(group_id=group_id)

    async def timetable(self, group_ids: Collection[int] | None = None) -> Timetable:
        """What is scheduled (of these groups, or of all), read off the loop: the scheduler's jobs."""
        return await build_timetable(self.rt, group_ids)


def _private_answer_text(kind: str, detail: str) -> str:
    if kind == "answer":
        return ("Your answer is updated. " if detail == "updated" else "Your answer is recorded. ") + (
            "It stays private until the reveal; submit again to change it before the deadline."
        )
    if kind == "duplicate":
        return "Your answer is recorded."
    if kind == "closed":
        return "This question's deadline has passed, so the answer was not recorded."
    if kind == "discussion":
        return f"That is too short to count as an answer: {detail}."
    return f"Not recorded: {detail}."
