"""The weekly digest's figures, read in ONE unit of work with a fixed number of queries.

However many members a channel has, the digest reads: the week's posts and
on-time answers (this week and last), the active members, coverage by topic,
the missed key points, the ledger window and history for personal bests, and,
for every active member at once, the streak inputs (posts, answers, away
periods). Nothing here runs a query per member.

Weeks are local to the channel's time zone (Monday 00:00 to Monday 00:00), so a
DST change shortens or lengthens a week by an hour rather than moving answers
between weeks. Only on-time, non-deleted answers count toward participation:
the digest rewards the habit the bot is built to form.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, cast, extract, func, select

from bot.content import Bank
from bot.domain import ChannelRef, Topic
from bot.store import channels, ledger, schema
from bot.store.db import as_utc
from bot.store.ledger import Standing
from bot.store.posts import next_question
from bot.store.unit import Unit

LIVE_POST = ("posted", "revealing", "revealed")
ACTIVE_WINDOW = timedelta(days=28)
STREAK_WINDOW = 64  # posts read per round when following current streaks back
BUCKET_BIAS = 100_000  # weeks; keeps CAST's truncation a floor for weeks before `start`
TOP = 5

_posts, _replies, _away = schema.posts.c, schema.replies.c, schema.away_periods.c
_results, _ledger, _members = schema.answer_results.c, schema.ledger.c, schema.members.c


@dataclass(frozen=True)
class Window:
    """The local week a digest reports on, and the ones it compares with."""

    start_day: date
    start: datetime
    end: datetime
    prev_start: datetime
    four_weeks_start: datetime

    @classmethod
    def of(cls, start_day: date, zone: ZoneInfo) -> Window:
        def midnight(day: date) -> datetime:
            # Bound as UTC: SQLite stores UTC text and compares it with a bound value's own wall clock.
            return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)

        return cls(start_day, midnight(start_day), midnight(start_day + timedelta(days=7)),
                   midnight(start_day - timedelta(days=7)), midnight(start_day - timedelta(days=21)))


@dataclass(frozen=True)
class Missed:
    question_id: str
    text: str
    missed: int
    answers: int


@dataclass(frozen=True)
class DigestFigures:
    posts: int
    answers: int
    participation: float | None
    participation_prev: float | None
    answers_by_day: tuple[int, ...]
    top: tuple[Standing, ...]  # the week's best by points, ties sharing a rank
    streaks: list[tuple[str, int]]  # (user id, current streak > 0), longest first
    coverage: dict[Topic, float]
    coverage_4wk: dict[Topic, float]
    most_missed: tuple[Missed, ...]
    personal_bests: tuple[tuple[str, str], ...]
    next_on_weakest: str | None = None
    weakest: Topic | None = None


@dataclass(frozen=True)
class _Week:
    post_ids: frozenset[int]
    answers: frozenset[tuple[int, int]]  # (post, member) on time
    active: frozenset[int]
    by_day: tuple[int, ...]

    @property
    def participation(self) -> float | None:
        if not self.post_ids or not self.active:
            return None
        return len(self.answers) / (len(self.post_ids) * len(self.active))


def figures(s: Unit, bank: Bank, group_id: int, zone: ZoneInfo, window: Window, now: datetime) -> DigestFigures:
    """Every figure of one channel's digest for `window`, as of `now`."""
    this_week = _week(s, group_id, zone, window.start, window.end)
    last_week = _week(s, group_id, zone, window.prev_start, window.start)
    cov = _coverage_by_topic(s, group_id, window.start, window.end)
    weakest = min(cov, key=lambda t: (cov[t], t.value)) if cov else None
    upcoming = next_question(s, bank, group_id, weakest) if weakest else None
    return DigestFigures(
        posts=len(this_week.post_ids),
        answers=len(this_week.answers),
        participation=this_week.participation,
        participation_prev=last_week.participation,
        answers_by_day=this_week.by_day,
        top=ledger.ranked(s, group_id, window.start, window.end)[:TOP],
        streaks=current_streaks(s, group_id, this_week.active, min(now, window.end)),
        coverage=cov,
        coverage_4wk=_coverage_by_topic(s, group_id, window.four_weeks_start, window.end),
        most_missed=_most_missed(s, bank, group_id, window.start, window.end),
        personal_bests=_personal_bests(s, group_id, window.start, window.end),
        next_on_weakest=upcoming.prompt if upcoming else None,
        weakest=weakest,
    )


def for_channel(s: Unit, bank: Bank, channel: ChannelRef, week_of: date | None,
                now: datetime) -> tuple[date, DigestFigures] | None:
    """The digest of `channel` for the local week starting `week_of` (default: the week of `now`).

    None when the channel has never been seen.
    """
    group = channels.find_group(s, channel)
    if group is None:
        return None
    zone = ZoneInfo(group.timezone)
    local = now.astimezone(zone).date()
    start_day = week_of or local - timedelta(days=local.weekday())
    return start_day, figures(s, bank, group.id, zone, Window.of(start_day, zone), now)


def _week(s: Unit, group_id: int, zone: ZoneInfo, start: datetime, end: datetime) -> _Week:
    post_ids = frozenset(
        pid
        for pid in s.execute(
            select(_posts.id).where(
                _posts.group_id == group_id, _posts.status.in_(LIVE_POST),
                _posts.scheduled_for >= start, _posts.scheduled_for < end,
            )
        ).scalars()
        if pid is not None
    )
    rows = s.execute(
        select(_replies.post_id, _replies.member_id, _replies.at).where(
            _replies.post_id.in_(post_ids),
            _replies.is_answer == True,  # noqa: E712
            _replies.deleted == False,  # noqa: E712
            _replies.late == False,  # noqa: E712
        ).order_by(_replies.at)
    ).all() if post_ids else []
    first_at: dict[tuple[int, int], datetime] = {}
    for post_id, member_id, at in rows:
        first_at.setdefault((post_id, member_id), as_utc(at) or start)
    by_day = [0] * 7
    for at in first_at.values():
        by_day[at.astimezone(zone).weekday()] += 1
    # Active members: anyone who answered in this channel in the four weeks to the week's end.
    active = frozenset(
        s.execute(
            select(_replies.member_id).distinct()
            .join(schema.posts, _posts.id == _replies.post_id)
            .where(_posts.group_id == group_id, _replies.at >= end - ACTIVE_WINDOW,
                   _replies.at < end, _replies.is_answer == True)  # noqa: E712
        ).scalars()
    )
    return _Week(post_ids, frozenset(first_at), active, tuple(by_day))


# ------------------------------------------------------------------ streaks


def current_streaks(s: Unit, group_id: int, member_ids: Iterable[int], now: datetime) -> list[tuple[str, int]]:
    """(user id, current streak) of every listed member with a streak, longest first.

    The rule of `bot.store.standings.streak_run`, read from the newest post
    back: answered posts count, a post still open or scheduled while the member
    was away is passed over, and the first miss ends the run. Answers are read
    for all members at once, `STREAK_WINDOW` posts at a time and only for
    members whose run has not ended yet, so the work follows the longest
    current streak, not the channel's whole history or its member count.
    """
    ids = sorted(set(member_ids))
    if not ids:
        return []
    posts = [(pid, as_utc(deadline) or now, status, as_utc(scheduled) or now) for pid, deadline, status, scheduled
             in s.execute(select(_posts.id, _posts.deadline, _posts.status, _posts.scheduled_for)
                             .where(_posts.group_id == group_id, _posts.status.in_(LIVE_POST))
                             .order_by(_posts.scheduled_for.desc(), _posts.id.desc()))]
    away: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for member_id, starts, ends in s.execute(
        select(_away.member_id, _away.starts_at, _away.ends_at).where(_away.member_id.in_(ids))
    ):
        away[member_id].append((as_utc(starts) or now, as_utc(ends) or now))
    run = dict.fromkeys(ids, 0)
    running = set(ids)
    for offset in range(0, len(posts), STREAK_WINDOW):
        if not running:
            break
        window = posts[offset:offset + STREAK_WINDOW]
        answered: dict[int, set[int]] = defaultdict(set)
        for member_id, post_id in s.execute(
            select(_replies.member_id, _replies.post_id).where(
                _replies.post_id.in_([p[0] for p in window]), _replies.member_id.in_(sorted(running)),
                _replies.is_answer == True, _replies.late == False, _replies.deleted == False)  # noqa: E712
        ):
            answered[member_id].add(post_id)
        for member_id in list(running):
            mine, spans = answered.get(member_id, set()), away.get(member_id, ())
            for post_id, deadline, status, scheduled in window:
                if post_id in mine:
                    run[member_id] += 1
                elif status == "posted" and deadline > now:
                    continue  # still open: they may answer yet
                elif any(start <= scheduled < end for start, end in spans):
                    continue  # scheduled while they were away
                else:
                    running.discard(member_id)
                    break
    names = dict(s.execute(select(_members.id, _members.user_id).where(
        _members.id.in_([m for m in ids if run[m] > 0]))).all())
    out = [(names[m], n) for m, n in run.items() if n > 0 and m in names]
    out.sort(key=lambda x: (-x[1], x[0]))
    return out


# ------------------------------------------------------------ coverage and bests


def _coverage_by_topic(s: Unit, group_id: int, start: datetime, end: datetime) -> dict[Topic, float]:
    rows = s.execute(
        select(_results.topic, func.avg(_results.coverage))
        .join(schema.posts, _posts.id == _results.post_id)
        .where(_results.group_id == group_id, _results.late == False,  # noqa: E712
               _posts.scheduled_for >= start, _posts.scheduled_for < end)
        .group_by(_results.topic)
    ).all()
    return {Topic(t): float(a) for t, a in rows}


def _most_missed(s: Unit, bank: Bank, group_id: int, start: datetime, end: datetime,
                 limit: int = 3) -> tuple[Missed, ...]:
    """The key points the team's on-time answers missed most often this week."""
    results = s.execute(
        select(_results.question_id, _results.covered)
        .join(schema.posts, _posts.id == _results.post_id)
        .where(_results.group_id == group_id, _results.late == False,  # noqa: E712
               _posts.scheduled_for >= start, _posts.scheduled_for < end)
    ).all()
    missed: Counter[tuple[str, int]] = Counter()
    answers: Counter[str] = Counter()
    for question_id, covered in results:
        answers[question_id] += 1
        for index, flag in enumerate(covered.split(",") if covered else []):
            if flag == "0":
                missed[(question_id, index)] += 1
    out: list[Missed] = []
    for (question_id, index), count in sorted(missed.items(), key=lambda kv: (-kv[1], kv[0])):
        question = bank.questions.get(question_id)
        if question is None or index >= len(question.key_points):
            continue
        out.append(Missed(question_id, question.key_points[index].text, count, answers[question_id]))
        if len(out) == limit:
            break
    return tuple(out)


def _week_bucket(s: Unit, at: Any, start: datetime) -> Any:
    """SQL: whole weeks from `start` to `at`, rounded down (0 = the digest's week, -1 the one before...)."""
    if s.dialect.name == "sqlite":  # stored as UTC text; julianday() reads it
        start_jd = start.timestamp() / 86400 + 2440587.5
        return cast((func.julianday(at) - start_jd) / 7 + BUCKET_BIAS, Integer) - BUCKET_BIAS
    return func.floor((extract("epoch", at) - start.timestamp()) / (7 * 86400))


def _personal_bests(s: Unit, group_id: int, start: datetime, end: datetime) -> tuple[tuple[str, str], ...]:
    """Members who beat their own record this week: best week of points, or best coverage.

    Summed and maximised in SQL, so the rows read are one per member and week, not one per ledger entry.
    """
    bucket = _week_bucket(s, _ledger.at, start).label("week")
    week_points: dict[int, dict[int, int]] = defaultdict(dict)
    for member_id, week, points in s.execute(
        select(_ledger.member_id, bucket, func.sum(_ledger.points))
        .where(_ledger.group_id == group_id, _ledger.at < end)
        .group_by(_ledger.member_id, bucket)
    ):
        week_points[member_id][int(week)] = int(points or 0)

    def best_coverage(*when: Any) -> dict[int, float]:
        return {m: float(c) for m, c in s.execute(
            select(_results.member_id, func.max(_results.coverage))
            .where(_results.group_id == group_id, _results.late == False, *when)  # noqa: E712
            .group_by(_results.member_id))}

    best_cov_now = best_coverage(_results.at >= start, _results.at < end)
    best_cov_before = best_coverage(_results.at < start)
    names = dict(s.execute(select(_members.id, _members.user_id).where(
        _members.id.in_(set(week_points) | set(best_cov_now)))).all())
    bests: list[tuple[str, str]] = []
    for member_id, weeks in week_points.items():
        this_week = weeks.get(0, 0)
        earlier = [pts for offset, pts in weeks.items() if offset < 0]
        if this_week and earlier and this_week > max(earlier):
            bests.append((names[member_id], f"best week yet: {this_week} pts"))
    for member_id, cov in best_cov_now.items():
        if member_id in best_cov_before and cov > best_cov_before[member_id]:
            bests.append((names[member_id], f"best coverage yet: {round(cov * 100)}%"))
    return tuple(sorted(bests))
