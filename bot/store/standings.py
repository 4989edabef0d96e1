"""A member's standing in a channel: streaks, stats by topic, weekly coverage, their channels.

Every query filters by group and member (or by a time range), so its cost
follows one member's history in one channel, never the whole table. Rows come
back as plain tuples through SQLAlchemy Core: nothing here builds ORM objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, exists, false, func, select

from bot.domain import ChannelRef
from bot.store import ledger
from bot.store.db import as_utc
from bot.store.schema import answer_results as _A
from bot.store.schema import away_periods as _W
from bot.store.schema import groups as _G
from bot.store.schema import ledger as _L
from bot.store.schema import members as _M
from bot.store.schema import posts as _P
from bot.store.schema import quiz_attempts as _Q
from bot.store.schema import replies as _R
from bot.store.unit import Unit

LIVE_POST = ("posted", "revealing", "revealed")


_MEMBER_ID = select(_M.c.id).where(
    _M.c.platform == bindparam("platform"), _M.c.workspace == bindparam("workspace"),
    _M.c.user_id == bindparam("user_id"))

# Posts that count for streaks, in schedule order (index: posts (group_id, scheduled_for)), each
# with the two facts the rule needs about it: still open at `now`, and scheduled while the
# member was away. Decided in SQL: a busy channel has years of posts, and turning each row's
# two timestamps into Python datetimes cost more than the rest of the streak. Most members
# were never away: for them the per-post EXISTS (a third of the query) is left out.
def _timeline(away: bool) -> Any:
    was_away = (exists().where(_W.c.member_id == bindparam("member_id"), _W.c.starts_at <= _P.c.scheduled_for,
                               _P.c.scheduled_for < _W.c.ends_at) if away else false())
    return (
        select(_P.c.id, and_(_P.c.status == "posted", _P.c.deadline > bindparam("now")).label("open"),
               was_away.label("away"))
        .where(_P.c.group_id == bindparam("group_id"), _P.c.status.in_(LIVE_POST))
        .order_by(_P.c.scheduled_for, _P.c.id)
    )


_TIMELINE = {True: _timeline(away=True), False: _timeline(away=False)}
_EVER_AWAY = select(exists().where(_W.c.member_id == bindparam("member_id")))
# The posts the member answered on time, in any channel: read from the index alone
# (replies (member_id, is_answer, late, deleted, post_id)); the timeline below is this
# channel's, so answers elsewhere never match. Joining posts to keep this channel's
# would look up every answer's post, which cost more than the whole rest of a streak.
_ANSWERED = select(_R.c.post_id).where(
    _R.c.member_id == bindparam("member_id"), _R.c.is_answer.is_(True), _R.c.late.is_(False),
    _R.c.deleted.is_(False))

_RESULTS_BY_TOPIC = (
    select(_A.c.topic, func.count(), func.avg(_A.c.coverage))
    .where(_A.c.group_id == bindparam("group_id"), _A.c.member_id == bindparam("member_id"))
    .group_by(_A.c.topic)
)
_QUIZ_BY_TOPIC = (
    select(_Q.c.topic, func.count(), func.sum(case((_Q.c.correct, 1), else_=0)))
    .where(_Q.c.member_id == bindparam("member_id"), _Q.c.group_id == bindparam("group_id"))
    .group_by(_Q.c.topic)
)
_COVERAGE_SINCE = (
    select(_A.c.coverage, _A.c.at)
    .where(_A.c.group_id == bindparam("group_id"), _A.c.member_id == bindparam("member_id"),
           _A.c.late.is_(False), _A.c.at >= bindparam("since"))
)
_GROUPS_OF_MEMBER = (
    select(_G.c.platform, _G.c.workspace, _G.c.channel)
    .where(_G.c.id.in_(select(_L.c.group_id).where(_L.c.member_id == bindparam("member_id"))
                       .distinct().scalar_subquery()))
    .order_by(_G.c.id)
)


def member_id(s: Unit, platform: str, workspace: str, user_id: str) -> int | None:
    return s.execute(
        _MEMBER_ID, {"platform": platform, "workspace": workspace, "user_id": user_id}).scalar()


# ------------------------------------------------------------------ streaks


def streak_run(posts: Iterable[tuple[int, bool, bool]], answered: set[int]) -> tuple[int, int]:
    """(current, best) run of consecutive scheduled posts answered on time.

    `posts` are (id, still open, scheduled while the member was away) in schedule
    order. A post still open that the member has not answered yet does not break
    the run (they may still answer it), and neither does one scheduled while they
    were away (`/mlsd away`). Holidays post nothing, so they cannot break it.
    """
    run = best = 0
    for post_id, still_open, away in posts:
        if post_id in answered:
            run += 1
            best = max(best, run)
        elif still_open or away:
            continue
        else:
            run = 0
    return run, best


def streaks(s: Unit, group_id: int, member: int, now: datetime) -> tuple[int, int]:
    """(current, best) streak of one member in one group: three indexed queries."""
    params = {"group_id": group_id, "member_id": member, "now": now.astimezone(UTC)}
    # .all(): one fetchall, where iterating a result fetches row by row (a busy channel's
    # member has thousands of answers).
    answered = set(s.execute(_ANSWERED, params).scalars().all())
    away = bool(s.execute(_EVER_AWAY, params).scalar())
    return streak_run(s.execute(_TIMELINE[away], params).all(), answered)


# -------------------------------------------------------------------- stats


@dataclass(frozen=True)
class StatsFacts:
    """What `/mlsd stats` shows, as stored: the use case shapes it."""

    results: list[tuple[str, int, float]]  # (topic, answers, average coverage)
    quiz: list[tuple[str, int, int]]  # (topic, attempts, correct)
    streak: tuple[int, int]
    board: ledger.Board  # all-time standings of the channel
    timezone: str
    coverage: list[tuple[float, datetime]]  # on-time answers' coverage since `coverage_since`
    coverage_since: datetime


def member_stats(
    s: Unit, ref: ChannelRef, user_id: str, now: datetime, weeks: int,
    cache: ledger.BoardCache | None = None,
) -> StatsFacts | None:
    """One member's figures in one channel (None: the channel or the member is unknown)."""
    board = ledger.board(s, ref, "all", now, cache)
    mid = member_id(s, ref.platform, ref.workspace, user_id)
    if board is None or mid is None:
        return None
    gid = board.group_id
    zone = ZoneInfo(board.timezone)
    since = ledger.local_midnight(ledger.week_start(now, zone) - timedelta(weeks=weeks - 1), zone)
    params = {"group_id": gid, "member_id": mid}
    return StatsFacts(
        results=[(t, int(n), float(avg)) for t, n, avg in s.execute(_RESULTS_BY_TOPIC, params).all()],
        quiz=[(t, int(n), int(ok or 0)) for t, n, ok in s.execute(_QUIZ_BY_TOPIC, params).all()],
        streak=streaks(s, gid, mid, now),
        board=board,
        timezone=board.timezone,
        coverage=[(float(cov), as_utc(at) or now) for cov, at in s.execute(
            _COVERAGE_SINCE, {**params, "since": since.astimezone(UTC)}).all()],
        coverage_since=since,
    )


def groups_of_member(s: Unit, platform: str, workspace: str, user_id: str) -> list[ChannelRef]:
    """Channels where a member has points (index: ledger (member_id, group_id))."""
    mid = member_id(s, platform, workspace, user_id)
    if mid is None:
        return []
    return [ChannelRef(p, w, c) for p, w, c in s.execute(_GROUPS_OF_MEMBER, {"member_id": mid})]
