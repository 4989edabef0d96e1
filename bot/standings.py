"""Leaderboards, streaks, personal stats and the weekly digest's figures.

All of it is computed from the append-only ledger and the stored results, so a
window (week, month, all time) is just a different WHERE clause and nothing
here can drift from what actually happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case
from sqlmodel import Session, col, func, select

from bot.domain import ChannelRef, Topic
from bot.runtime import Runtime
from bot.store.db import as_utc
from bot.store.habits import AwayRow
from bot.store.models import (
    AnswerResultRow,
    GroupRow,
    LedgerRow,
    MemberRow,
    PostRow,
    QuizAttemptRow,
    ReplyRow,
)

WINDOWS = ("week", "month", "all")
LIVE_POST = ("posted", "revealing", "revealed")


@dataclass(frozen=True)
class Standing:
    rank: int
    user_id: str
    points: int


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


def week_start(now: datetime, zone: ZoneInfo) -> date:
    local = now.astimezone(zone).date()
    return local - timedelta(days=local.weekday())


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


class Standings:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def _since(self, window: str, group: GroupRow, now: datetime) -> datetime | None:
        zone = ZoneInfo(group.timezone)
        if window == "week":
            return _local_midnight(week_start(now, zone), zone)
        if window == "month":
            return _local_midnight(now.astimezone(zone).date().replace(day=1), zone)
        return None

    def leaderboard(
        self, channel: ChannelRef, window: str, caller: str | None, limit: int = 10
    ) -> Leaderboard:
        now = self.rt.clock.now()
        with self.rt.store.session() as s:
            group = self.rt.store.find_group(s, channel)
            if group is None:
                return Leaderboard(window, None, (), None)
            since = self._since(window, group, now)
            ranked = self._ranked(s, group.id or 0, since, None)
        top = tuple(ranked[:limit])
        mine = next((r for r in ranked if r.user_id == caller), None)
        return Leaderboard(window, since, top, mine)

    def _ranked(
        self, s: Session, group_id: int, since: datetime | None, until: datetime | None
    ) -> list[Standing]:
        query = (
            select(MemberRow.user_id, func.sum(LedgerRow.points))
            .join(MemberRow, MemberRow.id == LedgerRow.member_id)  # type: ignore[arg-type]
            .where(LedgerRow.group_id == group_id)
            .group_by(MemberRow.user_id)
        )
        if since is not None:
            query = query.where(col(LedgerRow.at) >= since)
        if until is not None:
            query = query.where(col(LedgerRow.at) < until)
        rows = sorted(
            ((uid, int(total)) for uid, total in s.exec(query).all() if total and total > 0),
            key=lambda r: (-r[1], r[0]),
        )
        out: list[Standing] = []
        for i, (uid, pts) in enumerate(rows):
            # Ties share a rank: 1, 2, 2, 4.
            rank = out[-1].rank if out and out[-1].points == pts else i + 1
            out.append(Standing(rank, uid, pts))
        return out

    # ------------------------------------------------------------------ streaks

    def streaks(self, s: Session, group_id: int, member_id: int, now: datetime) -> tuple[int, int]:
        """(current, best) run of consecutive scheduled posts answered on time.

        A post still open that the member has not answered yet does not break
        the run (they may still answer it), and neither does one scheduled
        while they were away (`/mlsd away`). Holidays post nothing, so they
        cannot break it either.
        """
        posts = s.exec(
            select(PostRow.id, PostRow.deadline, PostRow.status, PostRow.scheduled_for)
            .where(PostRow.group_id == group_id, col(PostRow.status).in_(LIVE_POST))
            .order_by(col(PostRow.scheduled_for), col(PostRow.id))
        ).all()
        answered = set(
            s.exec(
                select(ReplyRow.post_id).where(
                    ReplyRow.member_id == member_id,
                    ReplyRow.is_answer == True,  # noqa: E712
                    ReplyRow.late == False,  # noqa: E712
                    ReplyRow.deleted == False,  # noqa: E712
                )
            ).all()
        )
        away = [(as_utc(a.starts_at) or now, as_utc(a.ends_at) or now)
                for a in s.exec(select(AwayRow).where(AwayRow.member_id == member_id))]
        run = best = 0
        for post_id, deadline, status, scheduled in posts:
            at = as_utc(scheduled) or now
            if post_id in answered:
                run += 1
                best = max(best, run)
            elif status == "posted" and (as_utc(deadline) or now) > now:
                continue  # still open: they may answer yet
            elif any(start <= at < end for start, end in away):
                continue  # scheduled while they were away
            else:
                run = 0
        return run, best

    # -------------------------------------------------------------------- stats

    def member_stats(self, channel: ChannelRef, user_id: str) -> MemberStats:
        now = self.rt.clock.now()
        with self.rt.store.session() as s:
            group = self.rt.store.find_group(s, channel)
            member = self.rt.store.find_member(s, channel.platform, channel.workspace, user_id)
            if group is None or member is None:
                return MemberStats(user_id, tuple(TopicStats(t) for t in Topic), 0, 0, None, 0)
            results = s.exec(
                select(AnswerResultRow.topic, func.count(), func.avg(AnswerResultRow.coverage))
                .where(AnswerResultRow.group_id == group.id,
                       AnswerResultRow.member_id == member.id)
                .group_by(AnswerResultRow.topic)
            ).all()
            quiz = s.exec(
                select(QuizAttemptRow.topic, func.count(),
                       func.sum(case((col(QuizAttemptRow.correct), 1), else_=0)))
                .where(QuizAttemptRow.member_id == member.id,
                       QuizAttemptRow.group_id == group.id)
                .group_by(QuizAttemptRow.topic)
            ).all()
            streak, best = self.streaks(s, group.id or 0, member.id or 0, now)
            ranked = self._ranked(s, group.id or 0, None, None)
            weekly = self._weekly_coverage(s, group, member.id or 0, now)
        by_topic = {t: {"answers": 0, "cov": None, "qa": 0, "qc": 0} for t in Topic}
        for topic, count, avg in results:
            by_topic[Topic(topic)].update(answers=int(count), cov=float(avg))
        for topic, count, correct in quiz:
            by_topic[Topic(topic)].update(qa=int(count), qc=int(correct or 0))
        topics = tuple(
            TopicStats(t, v["answers"], v["cov"], v["qa"], v["qc"])  # type: ignore[arg-type]
            for t, v in by_topic.items()
        )
        mine = next((r for r in ranked if r.user_id == user_id), None)
        return MemberStats(user_id, topics, streak, best, mine, len(ranked), weekly)

    def _weekly_coverage(
        self, s: Session, group: GroupRow, member_id: int, now: datetime, weeks: int = 8
    ) -> tuple[tuple[date, float | None], ...]:
        zone = ZoneInfo(group.timezone)
        first = week_start(now, zone) - timedelta(weeks=weeks - 1)
        buckets: dict[date, list[float]] = {first + timedelta(weeks=i): [] for i in range(weeks)}
        rows = s.exec(
            select(AnswerResultRow.coverage, AnswerResultRow.at).where(
                AnswerResultRow.group_id == group.id, AnswerResultRow.member_id == member_id,
                AnswerResultRow.late == False,  # noqa: E712
                col(AnswerResultRow.at) >= _local_midnight(first, zone),
            )
        ).all()
        for cov, at in rows:
            key = week_start(as_utc(at) or now, zone)
            if key in buckets:
                buckets[key].append(cov)
        return tuple((k, sum(v) / len(v) if v else None) for k, v in sorted(buckets.items()))

    # ------------------------------------------------------------------- digest

    def digest(self, channel: ChannelRef, week_of: date | None = None) -> DigestData:
        """The weekly digest's figures for one channel (the week containing now by default)."""
        from bot.digest_figures import compute_digest  # a sibling module, kept apart for size

        return compute_digest(self, channel, week_of)

    def groups_for_member(self, platform: str, workspace: str, user_id: str) -> list[ChannelRef]:
        """Channels where a member has points: App Home shows a rank for each."""
        with self.rt.store.session() as s:
            member = self.rt.store.find_member(s, platform, workspace, user_id)
            if member is None:
                return []
            rows = s.exec(
                select(GroupRow).join(LedgerRow, LedgerRow.group_id == GroupRow.id)  # type: ignore[arg-type]
                .where(LedgerRow.member_id == member.id).distinct()
            ).all()
            return [self.rt.store.channel_of(g) for g in rows]

