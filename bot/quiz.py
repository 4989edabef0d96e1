"""`/mlsd quiz`: one multiple-choice item (or a six-item readiness check) per caller.

Sessions live in the database and button values carry the session and item,
so a button on an old message still works after a restart, and a double click
is answered "already graded" instead of scoring twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import render
from bot.domain import ChannelRef, QuizItem, Reply, Topic
from bot.runtime import Runtime
from bot.store import quiz as store

QUIZ_ACTION = "mlsd_quiz"
REVIEW_INTERVALS = (timedelta(days=1), timedelta(days=3), timedelta(days=7), timedelta(days=21))


class QuizError(Exception):
    """Something the caller did that the quiz can't take; the message says what."""


@dataclass(frozen=True)
class Grade:
    item: QuizItem
    choice: int  # index into item.choices as written in the bank, whatever order it was shown in
    correct: bool
    points: int
    first_attempt: bool
    order: tuple[int, ...] = ()  # the order the member saw the choices in


def display_order(item_id: str, choices: int, user_id: str) -> tuple[int, ...]:
    """The order one member sees an item's choices in: shuffled, and the same every time.

    Where the right answer sits then says nothing (no "it's always B"), and a
    re-sent item looks as it did. Buttons carry the bank index, so grading
    follows the choice, never its position.
    """
    def rank(i: int) -> str:
        return hashlib.sha256(f"{user_id}\0{item_id}\0{i}".encode()).hexdigest()

    return tuple(sorted(range(choices), key=rank))


def button_value(session_id: int, item_id: str, choice: int) -> str:
    return f"{session_id}:{item_id}:{choice}"


def parse_button_value(value: str) -> tuple[int, str, int]:
    try:
        session_id, item_id, choice = value.split(":")
        return int(session_id), item_id, int(choice)
    except ValueError:
        raise QuizError("That quiz button is not one of ours any more. Try `/mlsd quiz`.") from None


class Quiz:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # -------------------------------------------------------------------- start

    async def start(self, channel: ChannelRef, user_id: str, topic: str | None, name: str = "") -> Reply:
        now = self.rt.clock.now()

        def choose(history: store.History) -> tuple[str, Sequence[str]]:
            if topic == "readiness":
                items = self.rt.bank.readiness_items()
            else:
                item = self._pick(history, Topic(topic) if topic else None, now)
                items = [item] if item else []
            if not items:
                raise QuizError(f"No quiz items are loaded for {topic or 'any topic'} yet.")
            return ("readiness" if topic == "readiness" else "single"), [i.id for i in items]

        started = await self.rt.store.run(store.start, channel, user_id, name, now, choose)
        first = self.rt.bank.quiz[started.item_ids[0]]
        reason = self._why(started.history, first, topic)
        order = display_order(first.id, len(first.choices), user_id)
        return Reply(render.quiz_item(first, started.session_id, 1, len(started.item_ids), reason, order),
                     private=True)

    def _pick(self, history: store.History, topic: Topic | None, now: datetime) -> QuizItem | None:
        bank = self.rt.bank
        if topic is None:
            for item_id in history.due:
                if item_id in bank.quiz:
                    return bank.quiz[item_id]
            topic = self._weakest_topic(history)
        items = bank.quiz_for(topic) if topic else list(bank.quiz.values())
        if not items:
            return None
        last_seen = history.last_seen
        unseen = [i for i in items if i.id not in last_seen]
        if unseen:
            return min(unseen, key=lambda i: hashlib.sha256(f"{history.member_id}:{i.id}".encode()).hexdigest())
        return min(items, key=lambda i: last_seen.get(i.id) or now)

    def _weakest_topic(self, history: store.History) -> Topic | None:
        """Lowest quiz accuracy; a topic never tried counts as weakest of all."""
        topics = [t for t in Topic if self.rt.bank.quiz_for(t)]
        if not topics:
            return None

        def accuracy(t: Topic) -> tuple[float, int]:
            tried, right = history.tally.get(t.value, (0, 0))
            return (right / tried if tried else -1.0, tried)

        return min(topics, key=accuracy)

    @staticmethod
    def _why(history: store.History, item: QuizItem, topic: str | None) -> str:
        if topic == "readiness":
            return "Readiness check: one question per topic."
        if topic:
            return f"Topic: {Topic(topic).title}"
        if item.id in history.due:
            return "Due for review: you missed this one before."
        return f"From your weakest quiz topic: {item.topic.title}"

    # ------------------------------------------------------------------- answer

    async def answer(self, channel: ChannelRef, user_id: str, value: str) -> Reply:
        session_id, item_id, choice = parse_button_value(value)
        item = self.rt.bank.quiz.get(item_id)
        if item is None:
            raise QuizError("That quiz item is no longer in the bank. Try `/mlsd quiz` for a new one.")
        if not 0 <= choice < len(item.choices):
            raise QuizError("That choice is not one of the options.")
        order = display_order(item_id, len(item.choices), user_id)
        correct = choice == item.answer
        graded = await self.rt.store.run(
            store.grade, channel, user_id, session_id, item_id, item.topic.value, choice, correct,
            self.rt.settings.scoring.quiz_correct, REVIEW_INTERVALS, self.rt.clock.now(),
        )
        if graded.kind == "foreign":
            raise QuizError("This quiz belongs to someone else: start your own with `/mlsd quiz`.")
        if graded.kind == "not_in_quiz":
            raise QuizError("That item is not part of this quiz.")
        grade = Grade(item, graded.choice, graded.correct, graded.points, graded.first_attempt, order)
        if graded.kind == "already":
            return Reply(render.quiz_already_answered(grade), private=True)
        item_ids, position = graded.item_ids, graded.position
        next_item = None if graded.finished else self.rt.bank.quiz.get(item_ids[position + 1])
        summary = _readiness_summary(graded.summary) if graded.summary else None
        next_order = display_order(next_item.id, len(next_item.choices), user_id) if next_item else ()
        message = render.quiz_result(
            grade, session_id, next_item, position + 2, len(item_ids), summary, next_order
        )
        return Reply(message, private=True, replace_original=True)


def _readiness_summary(attempts: Sequence[tuple[str, bool]]) -> render.ReadinessSummary:
    by_topic = {Topic(topic): ok for topic, ok in attempts}
    right = [t for t, ok in by_topic.items() if ok]
    wrong = [t for t, ok in by_topic.items() if not ok]
    order = list(Topic)
    return render.ReadinessSummary(
        correct=len(right), total=len(by_topic),
        strongest=min(right, key=order.index) if right else None,
        weakest=min(wrong, key=order.index) if wrong else None,
        missed=tuple(sorted(wrong, key=order.index)),
    )
