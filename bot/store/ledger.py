"""Points over time: the ledger's windows, totals and ranked boards.

A leaderboard is one aggregate over `ledger` filtered by group and time
(served by an index on `(group_id, at)`), with member ids turned into user ids
by a join, never a lookup per member. It is written in SQLAlchemy Core with
statements built once, so a command pays for neither ORM objects nor query
compilation.

The ledger is append-only, so the newest ledger id of a group is a version of
everything in it: a `BoardCache` keeps the last ranked board per (group,
window start) and serves it again until that version moves. Checking it costs
one indexed lookup, which the same query that finds the group also does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select

from bot.domain import ChannelRef
from bot.store.schema import groups as _G
from bot.store.schema import ledger as _L
from bot.store.schema import members as _M
from bot.store.unit import Unit

WINDOWS = ("week", "month", "all")



# ------------------------------------------------------------------- windows


def week_start(now: datetime, zone: ZoneInfo) -> date:
    """The Monday of `now`'s week in the channel's zone."""
    local = now.astimezone(zone).date()
    return local - timedelta(days=local.weekday())


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def window_since(window: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    """Where a leaderboard window starts (local midnight in the channel's zone); None: all time."""
    if window == "week":
        return local_midnight(week_start(now, zone), zone)
    if window == "month":
        return local_midnight(now.astimezone(zone).date().replace(day=1), zone)
    return None


def _utc(moment: datetime | None) -> datetime | None:
    # SQLite stores UTC wall time and compares text: a zone-aware bound must be UTC first.
    return None if moment is None else moment.astimezone(UTC)


# ---------------------------------------------------------------- standings


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    user_id: str
    points: int


def rank(totals: list[tuple[str, int]] | tuple[tuple[str, int], ...]) -> tuple[Standing, ...]:
    """Best first (ties by user id), ties sharing a rank: 1, 2, 2, 4. Zero or less is not ranked."""
    out: list[Standing] = []
    prev_points, prev_rank = None, 0
    for i, (uid, pts) in enumerate(sorted(((u, int(p)) for u, p in totals if p and p > 0),
                                          key=lambda r: (-r[1], r[0]))):
        prev_rank = prev_rank if pts == prev_points else i + 1
        prev_points = pts
        out.append(Standing(prev_rank, uid, pts))
    return tuple(out)


@dataclass(frozen=True)
class Board:
    """One group's ranked points in one window, as of ledger version `version`."""

    group_id: int
    timezone: str
    since: datetime | None
    version: int
    ranked: tuple[Standing, ...]
    by_user: dict[str, Standing] = field(default_factory=dict)


class BoardCache:
    """The last board per (group, window start); stale as soon as the group's ledger grows.

    Shared by the database worker threads, hence the lock (held for dict
    operations only, never for a query).
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._boards: dict[tuple[int, datetime | None], Board] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, group_id: int, since: datetime | None, version: int) -> Board | None:
        with self._lock:
            board = self._boards.get((group_id, since))
        if board is not None and board.version == version:
            self.hits += 1
            return board
        self.misses += 1
        return None

    def put(self, board: Board) -> None:
        with self._lock:
            if len(self._boards) >= self.size:
                self._boards.pop(next(iter(self._boards)))
            self._boards[(board.group_id, board.since)] = board


# ------------------------------------------------------------------ queries

_HEAD = select(
    _G.c.id, _G.c.timezone,
    select(func.max(_L.c.id)).where(_L.c.group_id == _G.c.id).scalar_subquery(),
).where(_G.c.platform == bindparam("platform"), _G.c.workspace == bindparam("workspace"),
        _G.c.channel == bindparam("channel"))


def _totals_statement(since: bool, until: bool):  # type: ignore[no-untyped-def]
    # Sum per member id first (an index walk, no join per ledger row), then name the few totals.
    total = func.sum(_L.c.points)
    per_member = select(_L.c.member_id, total.label("points")).where(_L.c.group_id == bindparam("group_id"))
    if since:
        per_member = per_member.where(_L.c.at >= bindparam("since"))
    if until:
        per_member = per_member.where(_L.c.at < bindparam("until"))
    sums = per_member.group_by(_L.c.member_id).having(total > 0).subquery()
    return select(_M.c.user_id, sums.c.points).select_from(sums.join(_M, _M.c.id == sums.c.member_id))


_TOTALS = {(a, b): _totals_statement(a, b) for a in (False, True) for b in (False, True)}


def head(s: Unit, ref: ChannelRef) -> tuple[int, str, int] | None:
    """(group id, time zone, ledger version) of a channel, or None if the bot never saw it."""
    row = s.execute(
        _HEAD, {"platform": ref.platform, "workspace": ref.workspace, "channel": ref.channel}
    ).first()
    return None if row is None else (row[0], row[1], row[2] or 0)


def totals(
    s: Unit, group_id: int, since: datetime | None = None, until: datetime | None = None
) -> list[tuple[str, int]]:
    """(user id, points) of every member with points in [since, until) in one group."""
    params: dict[str, object] = {"group_id": group_id}
    if since is not None:
        params["since"] = _utc(since)
    if until is not None:
        params["until"] = _utc(until)
    return [(uid, int(pts)) for uid, pts in
            s.execute(_TOTALS[(since is not None, until is not None)], params)]


def ranked(
    s: Unit, group_id: int, since: datetime | None = None, until: datetime | None = None
) -> tuple[Standing, ...]:
    """A group's standings in [since, until): what the digest's "top this week" shows."""
    return rank(totals(s, group_id, since, until))


def board(
    s: Unit, ref: ChannelRef, window: str, now: datetime, cache: BoardCache | None = None
) -> Board | None:
    """A channel's ranked board for a window; one small query when the cache is current."""
    found = head(s, ref)
    if found is None:
        return None
    group_id, timezone, version = found
    since = window_since(window, ZoneInfo(timezone), now)
    if cache is not None and (hit := cache.get(group_id, since, version)) is not None:
        return hit
    standings = ranked(s, group_id, since) if version else ()
    made = Board(group_id, timezone, since, version, standings, {st.user_id: st for st in standings})
    if cache is not None:
        cache.put(made)
    return made
