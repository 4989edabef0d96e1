"""What a grader says about one answer: a verdict per key point, with the member's own words.

Verdicts are what the reveal shows, what scoring multiplies and what is stored,
so they are plain frozen data that round-trips through JSON unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

LOCAL = "local"
LLM = "llm"


@dataclass(frozen=True)
class PointVerdict:
    """One key point: covered or not, and the sentence of the answer that made it."""

    covered: bool
    evidence: str = ""
    feedback: str = ""


@dataclass(frozen=True)
class Grading:
    """A whole answer's grading; `grader` names who decided (`local` after an LLM fallback)."""

    points: tuple[PointVerdict, ...]
    grader: str = LOCAL
    summary: str = ""

    @property
    def covered(self) -> tuple[bool, ...]:
        return tuple(p.covered for p in self.points)

    @property
    def count(self) -> int:
        return sum(self.covered)

    @property
    def total(self) -> int:
        return len(self.points)

    @property
    def ratio(self) -> float:
        return self.count / self.total if self.total else 0.0

    def to_json(self) -> str:
        return json.dumps({
            "grader": self.grader,
            "summary": self.summary,
            "points": [{"covered": p.covered, "evidence": p.evidence, "feedback": p.feedback} for p in self.points],
        }, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Grading:
        data = json.loads(raw)
        return cls(
            points=tuple(PointVerdict(bool(p["covered"]), p.get("evidence", ""), p.get("feedback", ""))
                         for p in data["points"]),
            grader=data.get("grader", LOCAL),
            summary=data.get("summary", ""),
        )

    @classmethod
    def from_flags(cls, covered: tuple[bool, ...], grader: str = LOCAL) -> Grading:
        """A grading known only by its flags (rows stored before evidence was kept)."""
        return cls(points=tuple(PointVerdict(c) for c in covered), grader=grader)
