"""`/mlsd quiz`: one multiple-choice item (or a six-item readiness check) per caller.

Sessions live in the database and button values carry the session and item,
so a button on an old message still works after a restart, and a double click
is answered "already graded" instead of scoring twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot import render
from bot.domain import ChannelRef, QuizItem, Reply, Topic
from bot.runtime import Runtime
from bot.store.db import as_utc
from bot.store.models import LedgerRow, MemberRow, QuizAttemptRow, QuizReviewRow, QuizSessionRow

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

    def start(self, channel: ChannelRef, user_id: str, topic: str | None, name: str = "") -> Reply:
        now = self.rt.clock.now()
        store = self.rt.store
        with store.session() as s:
            group = store.group(s, channel, now)
            member = store.member(s, channel, user_id, name)
            if topic == "readiness":
                items = self.rt.bank.readiness_items()
                mode = "readiness"
            else:
                item = self._pick(s, member, Topic(topic) if topic else None, now)
                items = [item] if item else []
                mode = "single"
            if not items:
                raise QuizError(f"No quiz items are loaded for {topic or 'any topic'} yet.")
            row = QuizSessionRow(
                group_id=group.id or 0, member_id=member.id or 0, mode=mode,
                item_ids=",".join(i.id for i in items), created_at=now,
            )
            s.add(row)
            s.flush()
            session_id = row.id or 0
            reason = self._why(s, member, items[0], topic, now)
        order = display_order(items[0].id, len(items[0].choices), user_id)
        return Reply(render.quiz_item(items[0], session_id, 1, len(items), reason, order), private=True)

    def _pick(self, s: Session, member: MemberRow, topic: Topic | None, now: datetime) -> QuizItem | None:
        bank = self.rt.bank
        if topic is None:
            due = s.exec(
                select(QuizReviewRow)
                .where(QuizReviewRow.member_id == member.id, QuizReviewRow.done == False,  # noqa: E712
                       col(QuizReviewRow.due_at) <= now)
                .order_by(col(QuizReviewRow.due_at))
            ).all()
            for review in due:
                if review.item_id in bank.quiz:
                    return bank.quiz[review.item_id]
            topic = self._weakest_topic(s, member)
        items = bank.quiz_for(topic) if topic else list(bank.quiz.values())
        if not items:
            return None
        attempts = s.exec(
            select(QuizAttemptRow.item_id, QuizAttemptRow.at)
            .where(QuizAttemptRow.member_id == member.id)
            .order_by(col(QuizAttemptRow.at))
        ).all()
        last_seen = {item_id: as_utc(at) for item_id, at in attempts}
        unseen = [i for i in items if i.id not in last_seen]
        if unseen:
            return min(unseen, key=lambda i: hashlib.sha256(f"{member.id}:{i.id}".encode()).hexdigest())
        return min(items, key=lambda i: last_seen[i.id] or now)

    def _weakest_topic(self, s: Session, member: MemberRow) -> Topic | None:
        """Lowest quiz accuracy; a topic never tried counts as weakest of all."""
        topics = [t for t in Topic if self.rt.bank.quiz_for(t)]
        if not topics:
            return None
        rows = s.exec(
            select(QuizAttemptRow.topic, QuizAttemptRow.correct)
            .where(QuizAttemptRow.member_id == member.id)
        ).all()
        tally: dict[str, list[int]] = {}
        for topic, correct in rows:
            tally.setdefault(topic, [0, 0])
            tally[topic][0] += 1
            tally[topic][1] += int(correct)

        def accuracy(t: Topic) -> tuple[float, int]:
            tried, right = tally.get(t.value, [0, 0])
            return (right / tried if tried else -1.0, tried)

        return min(topics, key=accuracy)

    def _why(self, s: Session, member: MemberRow, item: QuizItem, topic: str | None, now: datetime) -> str:
        if topic == "readiness":
            return "Readiness check: one question per topic."
        if topic:
            return f"Topic: {Topic(topic).title}"
        review = s.exec(
            select(QuizReviewRow).where(QuizReviewRow.member_id == member.id,
                                        QuizReviewRow.item_id == item.id,
                                        QuizReviewRow.done == False)  # noqa: E712
        ).first()
        if review and (as_utc(review.due_at) or now) <= now:
            return "Due for review: you missed this one before."
        return f"From your weakest quiz topic: {item.topic.title}"

    # ------------------------------------------------------------------- answer

    def answer(self, channel: ChannelRef, user_id: str, value: str) -> Reply:
        session_id, item_id, choice = parse_button_value(value)
        now = self.rt.clock.now()
        store = self.rt.store
        item = self.rt.bank.quiz.get(item_id)
        if item is None:
            raise QuizError("That quiz item is no longer in the bank. Try `/mlsd quiz` for a new one.")
        if not 0 <= choice < len(item.choices):
            raise QuizError("That choice is not one of the options.")
        order = display_order(item_id, len(item.choices), user_id)
        with store.session() as s:
            quiz_session = s.get(QuizSessionRow, session_id)
            member = store.find_member(s, channel.platform, channel.workspace, user_id)
            if quiz_session is None or member is None or quiz_session.member_id != member.id:
                raise QuizError("This quiz belongs to someone else: start your own with `/mlsd quiz`.")
            item_ids = quiz_session.item_ids.split(",")
            if item_id not in item_ids:
                raise QuizError("That item is not part of this quiz.")
            already = s.exec(select(QuizAttemptRow).where(
                QuizAttemptRow.session_id == session_id, QuizAttemptRow.item_id == item_id
            )).first()
            if already:
                grade = Grade(item, already.choice, already.correct, 0, already.first_attempt, order)
                return Reply(render.quiz_already_answered(grade), private=True)
            first = s.exec(select(QuizAttemptRow.id).where(
                QuizAttemptRow.member_id == member.id, QuizAttemptRow.item_id == item_id
            )).first() is None
            correct = choice == item.answer
            points = self.rt.settings.scoring.quiz_correct if (first and correct) else 0
            try:
                with s.begin_nested():
                    s.add(QuizAttemptRow(
                        session_id=session_id, group_id=quiz_session.group_id,
                        member_id=member.id or 0, item_id=item_id, topic=item.topic.value,
                        choice=choice, correct=correct, first_attempt=first, at=now,
                    ))
            except IntegrityError:
                grade = Grade(item, choice, correct, 0, first, order)
                return Reply(render.quiz_already_answered(grade), private=True)
            if points:
                s.add(LedgerRow(group_id=quiz_session.group_id, member_id=member.id or 0,
                                reason="quiz", points=points, at=now, ref=f"quiz:{item_id}"))
            self._schedule_review(s, member.id or 0, item_id, correct, now)
            grade = Grade(item, choice, correct, points, first, order)
            position = item_ids.index(item_id)
            quiz_session.position = position + 1
            next_item: QuizItem | None = None
            summary = None
            if quiz_session.mode == "readiness":
                if position + 1 < len(item_ids):
                    next_item = self.rt.bank.quiz.get(item_ids[position + 1])
                else:
                    quiz_session.finished_at = now
                    summary = self._readiness_summary(s, session_id)
            else:
                quiz_session.finished_at = now
            s.add(quiz_session)
        next_order = display_order(next_item.id, len(next_item.choices), user_id) if next_item else ()
        message = render.quiz_result(
            grade, session_id, next_item, position + 2, len(item_ids), summary, next_order
        )
        return Reply(message, private=True, replace_original=True)

    def _schedule_review(
        self, s: Session, member_id: int, item_id: str, correct: bool, now: datetime
    ) -> None:
        """Wrong answers come back after 1, 3, 7 and 21 days, until answered right."""
        review = s.exec(select(QuizReviewRow).where(
            QuizReviewRow.member_id == member_id, QuizReviewRow.item_id == item_id
        )).first()
        if correct:
            if review and not review.done:
                review.done = True
                s.add(review)
            return
        if review is None:
            review = QuizReviewRow(member_id=member_id, item_id=item_id, stage=0,
                                   due_at=now + REVIEW_INTERVALS[0])
        else:
            stage = 0 if review.done else min(review.stage + 1, len(REVIEW_INTERVALS) - 1)
            review.stage, review.done = stage, False
            review.due_at = now + REVIEW_INTERVALS[stage]
        s.add(review)

    def _readiness_summary(self, s: Session, session_id: int) -> render.ReadinessSummary:
        attempts = s.exec(select(QuizAttemptRow).where(QuizAttemptRow.session_id == session_id)).all()
        by_topic = {Topic(a.topic): a.correct for a in attempts}
        right = [t for t, ok in by_topic.items() if ok]
        wrong = [t for t, ok in by_topic.items() if not ok]
        order = list(Topic)
        return render.ReadinessSummary(
            correct=len(right), total=len(by_topic),
            strongest=min(right, key=order.index) if right else None,
            weakest=min(wrong, key=order.index) if wrong else None,
            missed=tuple(sorted(wrong, key=order.index)),
        )
