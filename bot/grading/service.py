"""The grading seam the core calls: (question, answer) -> Grading, never on the event loop.

It picks the grader the settings name, remembers each (question, answer text)
grading so an unchanged answer is graded once (an edit is new text, so it is
graded again), keeps the LLM grader to its daily cap and its time budget, and
falls back to the local grader whenever the LLM grader cannot be trusted: the
fallback grading says `local`, so the reveal can say who decided.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Protocol

from bot.domain import Question
from bot.grading.local import LocalGrader
from bot.grading.verdict import LLM, LOCAL, Grading

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

REVEAL_BUDGET_SECONDS = 30.0  # grading never holds a reveal longer than this


class RemoteGrader(Protocol):
    name: str

    async def grade(self, question: Question, answer: str) -> Grading: ...


class DailyCap:
    """Calls to a paid endpoint per UTC day; the count lives in memory.

    A restart resets it, which at worst allows one more day's cap on a day the
    bot restarts: acceptable for a cost guard, and it keeps grading free of
    database writes.
    """

    def __init__(self, limit: int, today: Callable[[], date]) -> None:
        self.limit = limit
        self._today = today
        self._day: date | None = None
        self._used = 0

    def take(self) -> bool:
        day = self._today()
        if day != self._day:
            self._day, self._used = day, 0
        if self._used >= self.limit:
            return False
        self._used += 1
        return True


class GradingService:
    def __init__(
        self,
        local: LocalGrader,
        remote: RemoteGrader | None = None,
        cap: DailyCap | None = None,
        cache_size: int = 2048,
    ) -> None:
        self.local = local
        self.remote = remote
        self.cap = cap
        self._cache: OrderedDict[str, Grading] = OrderedDict()
        self._cache_size = cache_size

    @property
    def sends_answers_out(self) -> bool:
        """True when answers leave this process (the help and schedule say so)."""
        return self.remote is not None

    async def grade(self, question: Question, answer: str) -> Grading:
        key = _key(question, answer)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        grading = await self._grade_uncached(question, answer)
        self._cache[key] = grading
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return grading

    async def grade_many(
        self, question: Question, answers: Sequence[str], budget: float = REVEAL_BUDGET_SECONDS
    ) -> list[Grading]:
        """Grade a reveal's answers; past the budget, whatever is left is graded locally."""
        tasks = [asyncio.ensure_future(self.grade(question, a)) for a in answers]
        done, pending = await asyncio.wait(tasks, timeout=budget) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        results: list[Grading] = []
        for task, answer in zip(tasks, answers, strict=True):
            if task in done and task.exception() is None:
                results.append(task.result())
            else:
                if task in done:
                    log.warning("grading failed (%r); the local grader decides", task.exception())
                results.append(await self.grade_locally(question, answer))
        return results

    async def grade_locally(self, question: Question, answer: str) -> Grading:
        return await asyncio.to_thread(self.local.grade, question, answer)

    async def _grade_uncached(self, question: Question, answer: str) -> Grading:
        if self.remote is not None and answer.strip():
            if self.cap is None or self.cap.take():
                try:
                    return await self.remote.grade(question, answer)
                except Exception as exc:  # any failure: the local grader decides
                    log.warning("LLM grader unavailable for %s (%s); the local grader decides",
                                question.id, exc)
            else:
                log.info("LLM grader's daily cap reached; the local grader decides")
        return await self.grade_locally(question, answer)


def _key(question: Question, answer: str) -> str:
    digest = hashlib.sha256()
    for part in (question.id, question.sample_answer, *(p.text for p in question.key_points), answer):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def build_grading(settings: Settings, today: Callable[[], date]) -> GradingService:
    """The grader the settings ask for; `llm` needs a base URL and a model."""
    local = LocalGrader()
    if settings.grader != LLM:
        return GradingService(local)
    from bot.grading.llm import LlmGrader

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    remote = LlmGrader(
        base_url=settings.llm_base_url or "", model=settings.llm_model or "", api_key=key,
        timeout=settings.llm_timeout,
    )
    return GradingService(local, remote, DailyCap(settings.llm_daily_cap, today))


__all__ = ["LLM", "LOCAL", "GradingService", "build_grading"]
