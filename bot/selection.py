"""Which question a group gets next, and which topic an `all` subscription posts.

Never repeat a question in a group while the topic has unused ones; once the
bank is exhausted, bring back the questions the group covered worst, because
that is where practice pays.

These are the rules only, over a group's history as the store hands it in
(`bot.store.posts` reads it), so choosing costs no query of its own.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

from bot.content import Bank
from bot.domain import Question, Topic

ALL = "all"  # a subscription's topic meaning: every topic, in rotation

# A post in one of these states has used its question (a skipped slot has none).
USED_STATUSES = ("claimed", "posted", "revealing", "revealed")


def _shuffle_key(group_id: int, question_id: str) -> str:
    """A stable per-group order, so two channels don't walk the bank in lockstep."""
    return hashlib.sha256(f"{group_id}:{question_id}".encode()).hexdigest()


def choose_question(
    bank: Bank, group_id: int, topic: Topic, history: Mapping[str, int],
    coverage: Callable[[], Mapping[str, float]],
) -> Question | None:
    """The group's next question on `topic`.

    `history` maps each question the group has used on this topic to the id of
    its latest post there (ids grow with time). `coverage` gives the group's
    average coverage per question; it is only called once the bank is exhausted.
    """
    candidates = bank.questions_for(topic)
    if not candidates:
        return None
    unused = [q for q in candidates if q.id not in history]
    if unused:
        return min(unused, key=lambda q: _shuffle_key(group_id, q.id))
    avg_coverage: dict[str, float] = defaultdict(float)
    avg_coverage.update(coverage())
    most_recent = max(history, key=lambda qid: history[qid]) if history else None
    pool = [q for q in candidates if q.id != most_recent] or candidates
    # Worst-covered first (a question nobody answered counts as 0), then least recent.
    return min(pool, key=lambda q: (avg_coverage[q.id], history.get(q.id, 0)))


def rotation_topic(bank: Bank, made: int) -> Topic | None:
    """An `all` subscription walks the topics that have questions in order, one per post made."""
    topics = [t for t in Topic if bank.questions_for(t)]
    if not topics:
        return None
    return topics[made % len(topics)]


def unused_left(bank: Bank, topic: Topic, used: Iterable[str]) -> int:
    """How many of the topic's questions the group has not been asked yet."""
    seen = set(used)
    return sum(1 for q in bank.questions_for(topic) if q.id not in seen)

