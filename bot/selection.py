"""Which question a group gets next, and which topic an `all` subscription posts.

Never repeat a question in a group while the topic has unused ones; once the
bank is exhausted, bring back the questions the group covered worst, because
that is where practice pays.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

from sqlmodel import Session, col, func, select

from bot.content import Bank
from bot.domain import Question, Topic
from bot.store.models import AnswerResultRow, PostRow

USED_STATUSES = ("claimed", "posted", "revealing", "revealed")


def _shuffle_key(group_id: int, question_id: str) -> str:
    """A stable per-group order, so two channels don't walk the bank in lockstep."""
    return hashlib.sha256(f"{group_id}:{question_id}".encode()).hexdigest()


def next_question(session: Session, bank: Bank, group_id: int, topic: Topic) -> Question | None:
    candidates = bank.questions_for(topic)
    if not candidates:
        return None
    history = session.exec(
        select(PostRow.question_id, PostRow.id)
        .where(
            PostRow.group_id == group_id,
            PostRow.topic == topic.value,
            col(PostRow.status).in_(USED_STATUSES),
        )
        .order_by(col(PostRow.id))
    ).all()
    used = {qid for qid, _ in history}
    unused = [q for q in candidates if q.id not in used]
    if unused:
        return min(unused, key=lambda q: _shuffle_key(group_id, q.id))
    coverage_rows = session.exec(
        select(AnswerResultRow.question_id, func.avg(AnswerResultRow.coverage))
        .where(AnswerResultRow.group_id == group_id, AnswerResultRow.topic == topic.value)
        .group_by(AnswerResultRow.question_id)
    ).all()
    avg_coverage: dict[str, float] = defaultdict(float)
    avg_coverage.update({qid: float(avg) for qid, avg in coverage_rows})
    last_posted = {qid: post_id for qid, post_id in history}
    most_recent = history[-1][0] if history else None
    pool = [q for q in candidates if q.id != most_recent] or candidates
    # Worst-covered first (a question nobody answered counts as 0), then least recent.
    return min(pool, key=lambda q: (avg_coverage[q.id], last_posted.get(q.id, 0)))


def rotation_topic(session: Session, bank: Bank, subscription_id: int) -> Topic | None:
    """An `all` subscription walks the six topics in order, one per post."""
    made = session.exec(
        select(func.count())
        .select_from(PostRow)
        .where(PostRow.subscription_id == subscription_id, col(PostRow.status).in_(USED_STATUSES))
    ).one()
    topics = [t for t in Topic if bank.questions_for(t)]
    if not topics:
        return None
    return topics[int(made) % len(topics)]


def unused_count(session: Session, bank: Bank, group_id: int, topic: Topic) -> int:
    used = set(
        session.exec(
            select(PostRow.question_id).where(
                PostRow.group_id == group_id,
                PostRow.topic == topic.value,
                col(PostRow.status).in_(USED_STATUSES),
            )
        ).all()
    )
    return sum(1 for q in bank.questions_for(topic) if q.id not in used)
