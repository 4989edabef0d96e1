"""A member's standing in a channel: streaks, stats by topic, weekly coverage, their channels.

Every query filters by group and member (or by a time range), so its cost
follows one member's history in one channel, never the whole table. Rows come
back as plain tuples through SQLAlchemy Core: nothing here builds ORM objects.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, exists, func, or_, select

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

# Posts that count for streaks, in schedule order, read from the index alone (posts
# (group_id, scheduled_for, id, status, deadline)): a busy channel has years of posts,
# and one column per row is what keeps reading them cheap.
_POST_IDS = (select(_P.c.id).where(_P.c.group_id == bindparam("group_id"), _P.c.status.in_(LIVE_POST))
             .order_by(_P.c.scheduled_for, _P.c.id))
# Those still open at `now`: not answered yet is not a miss (the member may still answer).
_STILL_OPEN = select(_P.c.id).where(_P.c.group_id == bindparam("group_id"), _P.c.status == "posted",
                                    _P.c.deadline > bindparam("now"))
# For a member who was ever away (few are), each post with whether it is passed over: still
# open, or scheduled while they were away. Decided in SQL, where comparing each post's time
# with the away periods costs less than turning the timestamps into Python datetimes.
_PASSED_OVER_AWAY = (
    select(_P.c.id, or_(
        and_(_P.c.status == "posted", _P.c.deadline > bindparam("now")),
        exists().where(_W.c.member_id == bindparam("member_id"), _W.c.starts_at <= _P.c.scheduled_for,
                       _P.c.scheduled_for < _W.c.ends_at)).label("passed_over"))
    .where(_P.c.group_id == bindparam("group_id"), _P.c.status.in_(LIVE_POST))
    .order_by(_P.c.scheduled_for, _P.c.id)
)
_EVER_AWAY = select(exists().where(_W.c.member_id == bindparam("member_id")))
# The posts the member answered on time, in any channel: read from the index alone
# (replies (member_id, is_answer, late, deleted, post_id)); the posts above are this
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


def streak_run(post_ids: Iterable[int], answered: Container[int], passed_over: Container[int]) -> tuple[int, int]:
    """(current, best) run of consecutive scheduled posts answered on time.

    `post_ids` are in schedule order. A post passed over (still open and not
    answered yet: they may still answer it; or scheduled while the member was
    away, `/mlsd away`) neither extends nor breaks the run. Holidays post
    nothing, so they cannot break it either.
    """
    run = best = 0
    for post_id in post_ids:
        if post_id in answered:
            run += 1
            best = max(best, run)
        elif post_id not in passed_over:
            run = 0
    return run, best


def streaks(s: Unit, group_id: int, member: int, now: datetime) -> tuple[int, int]:
    """(current, best) streak of one member in one group: four indexed queries."""
    params = {"group_id": group_id, "member_id": member, "now": now.astimezone(UTC)}
    # .all(): one fetchall, where iterating a result fetches row by row (a busy channel's
    # member has thousands of answers).
    answered = set(s.execute(_ANSWERED, params).scalars().all())
    if s.execute(_EVER_AWAY, params).scalar():
        rows = s.execute(_PASSED_OVER_AWAY, params).all()
        return streak_run([r[0] for r in rows], answered, {r[0] for r in rows if r[1]})
    still_open = set(s.execute(_STILL_OPEN, params).scalars().all())
    return streak_run(s.execute(_POST_IDS, params).scalars().all(), answered, still_open)


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
