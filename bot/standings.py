"""Leaderboards, streaks, personal stats and the weekly digest's figures.

All of it is computed from the append-only ledger and the stored results, so a
window (week, month, all time) is just a different WHERE clause and nothing
here can drift from what actually happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain import ChannelRef, Topic
from bot.runtime import Runtime
from bot.store import ledger
from bot.store import standings as store
from bot.store.ledger import Standing, week_start

__all__ = ["Standing", "Standings", "week_start"]

WINDOWS = ("week", "month", "all")
LIVE_POST = ("posted", "revealing", "revealed")


@dataclass(frozen=True)
class Leaderboard:
    window: str
    since: datetime | None
    top: tuple[Standing, ...]
    caller: Standing | None


@dataclass(frozen=True)
class TopicStats:
    topic: Topic
    answers: int = 0
    avg_coverage: float | None = None
    quiz_attempts: int = 0
    quiz_correct: int = 0

    @property
    def quiz_accuracy(self) -> float | None:
        return self.quiz_correct / self.quiz_attempts if self.quiz_attempts else None


@dataclass(frozen=True)
class MemberStats:
    user_id: str
    topics: tuple[TopicStats, ...]
    streak: int
    best_streak: int
    rank: Standing | None
    members_ranked: int
    # Average coverage of on-time answers per local week, oldest first (None: no answers).
    weekly_coverage: tuple[tuple[date, float | None], ...] = ()

    @property
    def weakest_topic(self) -> Topic | None:
        scored = [t for t in self.topics if t.avg_coverage is not None]
        return min(scored, key=lambda t: t.avg_coverage or 0.0).topic if scored else None


@dataclass(frozen=True)
class MissedPoint:
    question_id: str
    text: str
    missed: int
    answers: int


@dataclass(frozen=True)
class DigestData:
    week_start: date
    posts: int
    participation: float | None
    top: tuple[Standing, ...]
    streak_leaders: tuple[tuple[str, int], ...]
    coverage_by_topic: dict[Topic, float] = field(default_factory=dict)
    weakest_topic: Topic | None = None
    answers: int = 0
    answers_by_day: tuple[int, ...] = (0, 0, 0, 0, 0, 0, 0)
    participation_prev: float | None = None
    coverage_4wk: dict[Topic, float] = field(default_factory=dict)
    personal_bests: tuple[tuple[str, str], ...] = ()
    most_missed: tuple[MissedPoint, ...] = ()
    next_on_weakest: str | None = None  # the prompt of the next question on the weakest topic

    @property
    def participation_change(self) -> float | None:
        if self.participation is None or self.participation_prev is None:
            return None
        return self.participation - self.participation_prev


class Standings:
    """Leaderboards and personal figures; every read is one unit of work off the event loop."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        # Ranked boards per (group, window start), reused until the group's ledger grows.
        self.boards = ledger.BoardCache()

    async def leaderboard(
        self, channel: ChannelRef, window: str, caller: str | None, limit: int = 10
    ) -> Leaderboard:
        board = await self.rt.store.run(ledger.board, channel, window, self.rt.clock.now(), self.boards)
        if board is None:
            return Leaderboard(window, None, (), None)
        mine = board.by_user.get(caller) if caller is not None else None
        return Leaderboard(window, board.since, board.ranked[:limit], mine)

    # -------------------------------------------------------------------- stats

    async def member_stats(self, channel: ChannelRef, user_id: str, weeks: int = 8) -> MemberStats:
        now = self.rt.clock.now()
        facts = await self.rt.store.run(store.member_stats, channel, user_id, now, weeks, self.boards)
        if facts is None:
            return MemberStats(user_id, tuple(TopicStats(t) for t in Topic), 0, 0, None, 0)
        by_topic = {t: TopicStats(t) for t in Topic}
        for topic, count, avg in facts.results:
            by_topic[Topic(topic)] = replace(by_topic[Topic(topic)], answers=count, avg_coverage=avg)
        for topic, count, correct in facts.quiz:
            by_topic[Topic(topic)] = replace(by_topic[Topic(topic)], quiz_attempts=count, quiz_correct=correct)
        streak, best = facts.streak
        return MemberStats(user_id, tuple(by_topic.values()), streak, best, facts.board.by_user.get(user_id),
                           len(facts.board.ranked), _weekly(facts, now, weeks))

    # ------------------------------------------------------------------- digest

    async def digest(self, channel: ChannelRef, week_of: date | None = None) -> DigestData:
        """The weekly digest's figures for one channel (the week containing now by default)."""
        from bot.digest_figures import compute_digest  # a sibling module, kept apart for size

        return await compute_digest(self, channel, week_of)

    async def groups_for_member(self, platform: str, workspace: str, user_id: str) -> list[ChannelRef]:
        """Channels where a member has points: App Home shows a rank for each."""
        return await self.rt.store.run(store.groups_of_member, platform, workspace, user_id)


def _weekly(facts: store.StatsFacts, now: datetime, weeks: int) -> tuple[tuple[date, float | None], ...]:
    """Average coverage of on-time answers per local week, oldest first (None: no answers that week)."""
    zone = ZoneInfo(facts.timezone)
    first = week_start(now, zone) - timedelta(weeks=weeks - 1)
    buckets: dict[date, list[float]] = {first + timedelta(weeks=i): [] for i in range(weeks)}
    for cov, at in facts.coverage:
        key = week_start(at, zone)
        if key in buckets:
            buckets[key].append(cov)
    return tuple((k, sum(v) / len(v) if v else None) for k, v in sorted(buckets.items()))
