"""Turning one member's answer into points. Pure: no database, no clock."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.config import Scoring


@dataclass(frozen=True)
class Score:
    on_time: int
    coverage: int
    votes: int

    @property
    def total(self) -> int:
        return self.on_time + self.coverage + self.votes


def score_answer(scoring: Scoring, coverage: float, votes: int, late: bool) -> Score:
    """Default: 10 for answering on time, up to 10 for coverage, 1 a vote (max 5).

    `coverage` is the share of key points the grader credited (0..1).

    Late answers get `late_answer` points and nothing else: coverage is still
    shown to the member as feedback, but it would be unfair to score an answer
    written after others' answers and discussion were visible.
    """
    if late:
        return Score(on_time=scoring.late_answer, coverage=0, votes=0)
    return Score(
        on_time=scoring.on_time_answer,
        coverage=math.floor(scoring.coverage_max * coverage + 0.5),  # half up, not banker's
        votes=min(votes, scoring.max_votes) * scoring.per_vote,
    )
