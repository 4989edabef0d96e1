"""The weekly digest's figures, computed from what was stored that week.

Weeks are local to the channel's time zone (Monday 00:00 to Monday 00:00), so a
DST change shortens or lengthens a week by an hour rather than moving answers
between weeks. Only on-time, non-deleted answers count toward participation:
the digest rewards the habit the bot is built to form.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from bot.domain import ChannelRef, Topic
from bot.selection import next_question
from bot.standings import DigestData, MissedPoint, _local_midnight, week_start
from bot.store.db import as_utc
from bot.store.models import AnswerResultRow, GroupRow, LedgerRow, MemberRow, PostRow, ReplyRow

if TYPE_CHECKING:
    from bot.standings import Standings

LIVE_POST = ("posted", "revealing", "revealed")


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


def _week(s: Session, group_id: int, zone: ZoneInfo, start: datetime, end: datetime) -> _Week:
    post_ids = frozenset(
        pid
        for pid in s.exec(
            select(PostRow.id).where(
                PostRow.group_id == group_id, col(PostRow.status).in_(LIVE_POST),
                col(PostRow.scheduled_for) >= start, col(PostRow.scheduled_for) < end,
            )
        ).all()
        if pid is not None
    )
    rows = s.exec(
        select(ReplyRow.post_id, ReplyRow.member_id, ReplyRow.at).where(
            col(ReplyRow.post_id).in_(post_ids),
            ReplyRow.is_answer == True,  # noqa: E712
            ReplyRow.deleted == False,  # noqa: E712
            ReplyRow.late == False,  # noqa: E712
        ).order_by(col(ReplyRow.at))
    ).all() if post_ids else []
    first_at: dict[tuple[int, int], datetime] = {}
    for post_id, member_id, at in rows:
        first_at.setdefault((post_id, member_id), as_utc(at) or start)
    by_day = [0] * 7
    for at in first_at.values():
        by_day[at.astimezone(zone).weekday()] += 1
    # Active members: anyone who answered in this channel in the four weeks to the week's end.
    active = frozenset(
        s.exec(
            select(ReplyRow.member_id)
            .join(PostRow, PostRow.id == ReplyRow.post_id)  # type: ignore[arg-type]
            .where(PostRow.group_id == group_id, col(ReplyRow.at) >= end - timedelta(days=28),
                   col(ReplyRow.at) < end, ReplyRow.is_answer == True)  # noqa: E712
        ).all()
    )
    return _Week(post_ids, frozenset(first_at), active, tuple(by_day))


def _coverage_by_topic(s: Session, group_id: int, start: datetime, end: datetime) -> dict[Topic, float]:
    rows = s.exec(
        select(AnswerResultRow.topic, func.avg(AnswerResultRow.coverage))
        .join(PostRow, PostRow.id == AnswerResultRow.post_id)  # type: ignore[arg-type]
        .where(AnswerResultRow.group_id == group_id, AnswerResultRow.late == False,  # noqa: E712
               col(PostRow.scheduled_for) >= start, col(PostRow.scheduled_for) < end)
        .group_by(AnswerResultRow.topic)
    ).all()
    return {Topic(t): float(a) for t, a in rows}


def _most_missed(
    standings: Standings, s: Session, group_id: int, start: datetime, end: datetime, limit: int = 3
) -> tuple[MissedPoint, ...]:
    """The key points the team's on-time answers missed most often this week."""
    bank = standings.rt.bank
    results = s.exec(
        select(AnswerResultRow.question_id, AnswerResultRow.covered)
        .join(PostRow, PostRow.id == AnswerResultRow.post_id)  # type: ignore[arg-type]
        .where(AnswerResultRow.group_id == group_id, AnswerResultRow.late == False,  # noqa: E712
               col(PostRow.scheduled_for) >= start, col(PostRow.scheduled_for) < end)
    ).all()
    missed: Counter[tuple[str, int]] = Counter()
    answers: Counter[str] = Counter()
    for question_id, covered in results:
        answers[question_id] += 1
        for index, flag in enumerate(covered.split(",") if covered else []):
            if flag == "0":
                missed[(question_id, index)] += 1
    out: list[MissedPoint] = []
    for (question_id, index), count in sorted(missed.items(), key=lambda kv: (-kv[1], kv[0])):
        question = bank.questions.get(question_id)
        if question is None or index >= len(question.key_points):
            continue
        out.append(MissedPoint(question_id, question.key_points[index].text, count, answers[question_id]))
        if len(out) == limit:
            break
    return tuple(out)


def _personal_bests(
    s: Session, group_id: int, start: datetime, end: datetime
) -> tuple[tuple[str, str], ...]:
    """Members who beat their own record this week: best week of points, or best coverage."""
    week_points: dict[int, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for member_id, points, at in s.exec(
        select(LedgerRow.member_id, LedgerRow.points, LedgerRow.at)
        .where(LedgerRow.group_id == group_id, col(LedgerRow.at) < end)
    ).all():
        moment = as_utc(at) or start
        week_points[member_id][(moment - start).days // 7] += points
    best_cov_before: dict[int, float] = defaultdict(float)
    best_cov_now: dict[int, float] = {}
    for member_id, coverage, at in s.exec(
        select(AnswerResultRow.member_id, AnswerResultRow.coverage, AnswerResultRow.at)
        .where(AnswerResultRow.group_id == group_id, AnswerResultRow.late == False,  # noqa: E712
               col(AnswerResultRow.at) < end)
    ).all():
        if (as_utc(at) or start) >= start:
            best_cov_now[member_id] = max(best_cov_now.get(member_id, 0.0), coverage)
        else:
            best_cov_before[member_id] = max(best_cov_before[member_id], coverage)
    names = {m.id: m.user_id for m in s.exec(select(MemberRow).where(
        col(MemberRow.id).in_(set(week_points) | set(best_cov_now)))).all()}
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


def compute_digest(standings: Standings, channel: ChannelRef, week_of: date | None) -> DigestData:
    rt = standings.rt
    now = rt.clock.now()
    with rt.store.session() as s:
        group: GroupRow | None = rt.store.find_group(s, channel)
        if group is None:
            return DigestData(week_start(now, ZoneInfo("UTC")), 0, None, (), ())
        gid = group.id or 0
        zone = ZoneInfo(group.timezone)
        start_day = week_of or week_start(now, zone)
        start = _local_midnight(start_day, zone)
        end = _local_midnight(start_day + timedelta(days=7), zone)
        this_week = _week(s, gid, zone, start, end)
        prev_start = _local_midnight(start_day - timedelta(days=7), zone)
        last_week = _week(s, gid, zone, prev_start, start)
        cov = _coverage_by_topic(s, gid, start, end)
        cov_4wk = _coverage_by_topic(s, gid, _local_midnight(start_day - timedelta(days=21), zone), end)
        weakest = min(cov, key=lambda t: (cov[t], t.value)) if cov else None
        upcoming = next_question(s, rt.bank, gid, weakest) if weakest else None
        streaks: list[tuple[str, int]] = []
        for member in s.exec(select(MemberRow).where(col(MemberRow.id).in_(this_week.active))).all():
            current, _ = standings.streaks(s, gid, member.id or 0, min(now, end))
            if current > 0:
                streaks.append((member.user_id, current))
        streaks.sort(key=lambda x: (-x[1], x[0]))
        return DigestData(
            week_start=start_day,
            posts=len(this_week.post_ids),
            participation=this_week.participation,
            top=tuple(standings._ranked(s, gid, start, end)[:5]),
            streak_leaders=tuple(streaks[:3]),
            coverage_by_topic=cov,
            weakest_topic=weakest,
            answers=len(this_week.answers),
            answers_by_day=this_week.by_day,
            participation_prev=last_week.participation,
            coverage_4wk=cov_4wk,
            personal_bests=_personal_bests(s, gid, start, end),
            most_missed=_most_missed(standings, s, gid, start, end),
            next_on_weakest=upcoming.prompt if upcoming else None,
        )
