"""Quiz sessions, attempts, spaced reviews and quiz points: the quiz's units of work.

Starting a quiz reads what the picker needs (reviews due, when each item was
last seen, accuracy per topic) and opens the session in the same unit, so the
session row and the member it belongs to commit together. Grading a button
press is one unit too: the attempt, its points and the next review commit
together, and the unique (session, item) constraint turns a double click into
"already answered" instead of a second score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update

from bot.domain import ChannelRef
from bot.store import channels
from bot.store.answers import member_id
from bot.store.conflicts import inserted
from bot.store.db import as_utc
from bot.store.schema import ledger, members
from bot.store.schema import quiz_attempts as attempts
from bot.store.schema import quiz_reviews as reviews
from bot.store.schema import quiz_sessions as sessions
from bot.store.unit import Unit


@dataclass(frozen=True)
class History:
    """What the picker knows about one member's quizzing."""

    member_id: int
    due: tuple[str, ...]  # item ids whose review is due, soonest first
    last_seen: dict[str, datetime] = field(default_factory=dict)  # item id -> last attempt
    tally: dict[str, tuple[int, int]] = field(default_factory=dict)  # topic -> (tried, right)


@dataclass(frozen=True)
class Started:
    session_id: int
    mode: str
    item_ids: tuple[str, ...]
    history: History


@dataclass(frozen=True)
class Graded:
    """What recording a button press did. kind: recorded | already | foreign | not_in_quiz."""

    kind: str
    choice: int = 0
    correct: bool = False
    first_attempt: bool = False
    points: int = 0
    position: int = 0  # the item's index in the session
    item_ids: tuple[str, ...] = ()
    finished: bool = False
    summary: tuple[tuple[str, bool], ...] = ()  # (topic, correct) of a finished readiness check


def history(s: Unit, member: int, now: datetime) -> History:
    due = tuple(s.execute(
        select(reviews.c.item_id)
        .where(reviews.c.member_id == member, reviews.c.done.is_(False), reviews.c.due_at <= now)
        .order_by(reviews.c.due_at)
    ).scalars())
    last_seen: dict[str, datetime] = {}
    tally: dict[str, tuple[int, int]] = {}
    for item_id, topic, correct, at in s.execute(
        select(attempts.c.item_id, attempts.c.topic, attempts.c.correct, attempts.c.at)
        .where(attempts.c.member_id == member).order_by(attempts.c.at)
    ):
        last_seen[item_id] = as_utc(at) or now
        tried, right = tally.get(topic, (0, 0))
        tally[topic] = (tried + 1, right + int(bool(correct)))
    return History(member, due, last_seen, tally)


def start(
    s: Unit, ref: ChannelRef, user_id: str, name: str, now: datetime,
    choose: Callable[[History], tuple[str, Sequence[str]]],
) -> Started:
    """Open a quiz session with the items `choose` picks from the member's history (mode, item ids).

    `choose` is pure and may raise to refuse; then nothing is written.
    """
    gid = channels.ensure_group_id(s, ref, now)
    member = member_id(s, ref, user_id, name)
    seen = history(s, member, now)
    mode, item_ids = choose(seen)
    session_id = s.execute(insert(sessions).values(
        group_id=gid, member_id=member, mode=mode, item_ids=",".join(item_ids), position=0, created_at=now,
    )).inserted_primary_key[0]
    return Started(int(session_id), mode, tuple(item_ids), seen)


def grade(
    s: Unit, ref: ChannelRef, user_id: str, session_id: int, item_id: str, topic: str, choice: int,
    correct: bool, first_points: int, intervals: Sequence[timedelta], now: datetime,
) -> Graded:
    """Record one answer to one quiz item, once; `first_points` go to a first attempt that is right."""
    row = s.execute(select(sessions.c.group_id, sessions.c.member_id, sessions.c.mode, sessions.c.item_ids)
                       .where(sessions.c.id == session_id)).first()
    member = s.execute(select(members.c.id).where(
        members.c.platform == ref.platform, members.c.workspace == ref.workspace, members.c.user_id == user_id,
    )).scalar()
    if row is None or member is None or row.member_id != member:
        return Graded("foreign")
    item_ids = tuple(row.item_ids.split(","))
    if item_id not in item_ids:
        return Graded("not_in_quiz")
    already = s.execute(select(attempts.c.choice, attempts.c.correct, attempts.c.first_attempt).where(
        attempts.c.session_id == session_id, attempts.c.item_id == item_id)).first()
    if already:
        return Graded("already", already.choice, bool(already.correct), bool(already.first_attempt))
    first = s.execute(select(attempts.c.id).where(
        attempts.c.member_id == member, attempts.c.item_id == item_id).limit(1)).first() is None
    points = first_points if (first and correct) else 0
    if not inserted(s, attempts, {
        "session_id": session_id, "group_id": row.group_id, "member_id": member, "item_id": item_id,
        "topic": topic, "choice": choice, "correct": correct, "first_attempt": first, "at": now,
    }):
        return Graded("already", choice, correct, first)
    if points:
        inserted(s, ledger, {"group_id": row.group_id, "member_id": member, "reason": "quiz",
                                            "points": points, "at": now, "ref": f"quiz:{item_id}"})
    _schedule_review(s, member, item_id, correct, intervals, now)
    position = item_ids.index(item_id)
    finished = row.mode != "readiness" or position + 1 >= len(item_ids)
    s.execute(update(sessions).where(sessions.c.id == session_id).values(
        position=position + 1, **({"finished_at": now} if finished else {})))
    summary: tuple[tuple[str, bool], ...] = ()
    if finished and row.mode == "readiness":
        summary = tuple((t, bool(ok)) for t, ok in s.execute(
            select(attempts.c.topic, attempts.c.correct).where(attempts.c.session_id == session_id)
            .order_by(attempts.c.id)))
    return Graded("recorded", choice, correct, first, points, position, item_ids, finished, summary)


def _schedule_review(
    s: Unit, member: int, item_id: str, correct: bool, intervals: Sequence[timedelta], now: datetime
) -> None:
    """Wrong answers come back after each interval in turn, until answered right."""
    where = (reviews.c.member_id == member, reviews.c.item_id == item_id)
    review = s.execute(select(reviews.c.id, reviews.c.stage, reviews.c.done).where(*where)).first()
    if correct:
        if review is not None and not review.done:
            s.execute(update(reviews).where(reviews.c.id == review.id).values(done=True))
        return
    if review is None:
        s.execute(insert(reviews).values(member_id=member, item_id=item_id, stage=0, done=False,
                                            due_at=now + intervals[0]))
        return
    stage = 0 if review.done else min(review.stage + 1, len(intervals) - 1)
    s.execute(update(reviews).where(reviews.c.id == review.id).values(
        stage=stage, done=False, due_at=now + intervals[stage]))

