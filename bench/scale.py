"""Leaderboards, streaks and stats at 1M ledger rows, 10k members, 1k channels, beside the floor.

    python bench/scale.py [--db sqlite|postgres|both] [--calls 500] [--baseline] [--rebuild]
                          [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/mlsd_bench_scale]

Builds (once; cached in bench/.cache/ for SQLite and in its own PostgreSQL
database) two years of skewed history at the 0004 schema (see bench/_scale_data.py),
then opens it with `Store.open`, so the upgrade to the newest migration runs on
a populated database and is timed. Each figure is the project's real code
(`Core(...).standings`, awaited when async, on the Store's database thread)
called on random channels and members, and beside it the floor: raw SELECTs
through the driver returning the same answer on the same data (checked equal),
as a ratio. The SQL the project emitted is captured and its plan printed
(`EXPLAIN QUERY PLAN` / `EXPLAIN`), with any full scan of a big table flagged.

`--baseline` first downgrades to 0004 (the indexes this bench motivated are
dropped), measures, then upgrades again and measures: before and after, one run.
Targets (SQLite): p50 <= 5 ms and p99 <= 20 ms for each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import math
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alembic import command
from sqlalchemy import create_engine, event, text

from bench._scale_data import NOW, Shape, generate, write
from bot.clock import FakeClock
from bot.config import Settings
from bot.content import load_bank
from bot.core import Core
from bot.domain import ChannelRef
from bot.runtime import Runtime
from bot.store.db import alembic_config, make_engine
from bot.store.repo import Store

CACHE = Path(__file__).resolve().parent / ".cache"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/mlsd_bench_scale"
BASE_REVISION = "0004"  # the schema the history is generated at; Store.open upgrades from there
BIG_TABLES = ("ledger", "replies", "posts", "answer_results", "quiz_attempts")
LIVE = ("posted", "revealing", "revealed")


# ------------------------------------------------------------------ the database


def _sqlite_url(shape: Shape) -> str:
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    key = f"c{shape.channels}-m{shape.members}-l{shape.ledger}-z{shape.zipf}-s{shape.seed}"
    return f"sqlite:///{CACHE / f'scale-{key}.db'}"


def _populated(url: str, shape: Shape) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ledger = conn.execute(text("SELECT count(*) FROM ledger")).scalar()
            groups = conn.execute(text("SELECT count(*) FROM groups")).scalar()
            return ledger == shape.ledger and groups == shape.channels
    except Exception:
        return False
    finally:
        engine.dispose()


def _reset(url: str) -> None:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            p.unlink(missing_ok=True)
        return
    name = url.rsplit("/", 1)[1]
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _migrate(url: str, revision: str, down: bool = False) -> float:
    engine = make_engine(url)
    started = time.perf_counter()
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    engine.dispose()
    return time.perf_counter() - started


def build(url: str, shape: Shape, rebuild: bool) -> None:
    if not rebuild and _populated(url, shape):
        return
    print(f"building {url.split(':')[0]} history (once; cached) ...", flush=True)
    _reset(url)
    _migrate(url, BASE_REVISION)
    started = time.perf_counter()
    tables = generate(shape)
    generated = time.perf_counter() - started
    engine = make_engine(url)
    write(engine, tables)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does soon after a load
    engine.dispose()
    sizes = ", ".join(f"{t} {len(r):,}" for t, r in tables.rows.items())
    print(f"  generated in {generated:.1f} s, written in {time.perf_counter() - started - generated:.1f} s: "
          f"{sizes}", flush=True)


# --------------------------------------------------------------------- sampling


@dataclass(frozen=True)
class Pick:
    group_id: int
    channel: ChannelRef
    member_id: int
    user_id: str


def picks(url: str, n: int, seed: int) -> tuple[list[Pick], Pick]:
    """`n` random (channel, member with points there) pairs, channels uniform; and the busiest."""
    engine = create_engine(url)
    with engine.connect() as conn:
        groups = {gid: ChannelRef(p, w, c) for gid, p, w, c in conn.execute(
            text("SELECT id, platform, workspace, channel FROM groups"))}
        users = dict(conn.execute(text("SELECT id, user_id FROM members")).all())
        members: dict[int, list[int]] = {}
        for gid, mid in conn.execute(text("SELECT DISTINCT group_id, member_id FROM ledger")):
            members.setdefault(gid, []).append(mid)
        busiest, top_member = conn.execute(text(
            "SELECT group_id, member_id FROM ledger GROUP BY group_id, member_id "
            "ORDER BY count(*) DESC LIMIT 1")).one()
    engine.dispose()
    rng = random.Random(seed)
    ids = sorted(members)
    out = []
    for _ in range(n):
        gid = rng.choice(ids)
        mid = rng.choice(members[gid])
        out.append(Pick(gid, groups[gid], mid, users[mid]))
    return out, Pick(busiest, groups[busiest], top_member, users[top_member])


# ---------------------------------------------------------------------- floors


class Floor:
    """The same answers from raw SELECTs through the driver: what the database itself costs."""

    def __init__(self, engine: Any) -> None:
        self.raw = engine.raw_connection()
        self.conn = self.raw.driver_connection
        self.sqlite = engine.dialect.name == "sqlite"

    def close(self) -> None:
        self.raw.close()

    def _q(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        params = tuple(self._v(p) for p in params)
        cur = self.conn.cursor()
        cur.execute(sql, params)
        rows = cur.fetchall()
        cur.close()
        if not self.sqlite:
            self.conn.rollback()  # end the read transaction, as a unit of work would
        return rows

    def _v(self, value: Any) -> Any:
        if self.sqlite and isinstance(value, datetime):  # SQLAlchemy's SQLite storage format
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def ranking(self, group_id: int, since: datetime | None) -> list[tuple[str, int]]:
        where = "group_id = ? AND at >= ?" if since else "group_id = ?"
        params = (group_id, since) if since else (group_id,)
        return [(u, int(p)) for u, p in self._q(
            "SELECT m.user_id, t.pts FROM (SELECT member_id, SUM(points) AS pts FROM ledger "
            f"WHERE {where} GROUP BY member_id) t JOIN members m ON m.id = t.member_id "
            "WHERE t.pts > 0 ORDER BY t.pts DESC, m.user_id", *params)]

    def streak(self, group_id: int, member_id: int) -> tuple[int, int]:
        posts = self._q("SELECT id, deadline, status, scheduled_for FROM posts WHERE group_id = ? "
                        "AND status IN ('posted', 'revealing', 'revealed') ORDER BY scheduled_for, id",
                        group_id)
        answered = {r[0] for r in self._q(
            "SELECT post_id FROM replies WHERE member_id = ? AND is_answer AND NOT late AND NOT deleted",
            member_id)}
        away = self._q("SELECT starts_at, ends_at FROM away_periods WHERE member_id = ?", member_id)
        now = self._v(NOW)
        run = best = 0
        for post_id, deadline, status, scheduled in posts:
            if post_id in answered:
                run += 1
                best = max(best, run)
            elif (status == "posted" and deadline > now) or any(start <= scheduled < end for start, end in away):
                continue
            else:
                run = 0
        return run, best

    def stats(self, p: Pick) -> tuple[Any, ...]:
        self._q("SELECT id, timezone FROM groups WHERE platform = ? AND workspace = ? AND channel = ?",
                p.channel.platform, p.channel.workspace, p.channel.channel)
        self._q("SELECT id FROM members WHERE platform = ? AND workspace = ? AND user_id = ?",
                p.channel.platform, p.channel.workspace, p.user_id)
        topics = self._q("SELECT topic, count(*), avg(coverage) FROM answer_results "
                         "WHERE group_id = ? AND member_id = ? GROUP BY topic", p.group_id, p.member_id)
        self._q("SELECT topic, count(*), sum(CASE WHEN correct THEN 1 ELSE 0 END) FROM quiz_attempts "
                "WHERE member_id = ? AND group_id = ? GROUP BY topic", p.member_id, p.group_id)
        streak = self.streak(p.group_id, p.member_id)
        ranked = self.ranking(p.group_id, None)
        first = _week_start(NOW) - timedelta(weeks=7)
        self._q("SELECT coverage, at FROM answer_results WHERE group_id = ? AND member_id = ? "
                "AND NOT late AND at >= ?", p.group_id, p.member_id, first)
        rank = _rank_of(ranked, p.user_id)
        return streak, rank, len(ranked), sorted((t, int(c)) for t, c, _ in topics)


def _week_start(now: datetime) -> datetime:
    day = now.date() - timedelta(days=now.weekday())
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _since(window: str) -> datetime | None:
    if window == "week":
        return _week_start(NOW)
    if window == "month":
        return datetime(NOW.year, NOW.month, 1, tzinfo=UTC)
    return None


def _rank_of(ranked: list[tuple[str, int]], user_id: str) -> int | None:
    rank = 0
    for i, (uid, pts) in enumerate(ranked):
        if i == 0 or pts != ranked[i - 1][1]:
            rank = i + 1
        if uid == user_id:
            return rank
    return None


# --------------------------------------------------------------- the project side


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Public use-case methods are becoming async: take either."""
    out = fn(*args)
    return await out if inspect.isawaitable(out) else out


class Project:
    """The project's real code on the Store's own database thread."""

    def __init__(self, url: str, migrate: bool = True) -> None:
        started = time.perf_counter()
        self.store = Store.open(url, migrate=migrate)  # upgrades a 0004 database to the newest one
        self.upgrade_s = time.perf_counter() - started
        bank, _ = load_bank()
        self.core = Core(Runtime(Settings(database_url=url), self.store, bank, FakeClock(NOW), {}))
        self.cache = getattr(self.core.standings, "boards", None)  # the board cache, if any
        self.use_cache(False)
        self.captured: list[tuple[str, Any]] | None = None
        event.listen(self.store.engine, "before_cursor_execute", self._capture)

    def _capture(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.captured is not None:
            self.captured.append((statement, parameters))

    def use_cache(self, on: bool) -> None:
        """Off: every call runs its queries (the cost after each reveal moves the ledger)."""
        if self.cache is not None:
            self.core.standings.boards = self.cache if on else None
            self.cache._boards.clear()

    async def leaderboard(self, p: Pick, window: str) -> list[tuple[str, int]]:
        board = await _call(self.core.standings.leaderboard, p.channel, window, p.user_id)
        return [(s.user_id, s.points) for s in board.top]

    async def streak(self, p: Pick) -> tuple[int, int]:
        return tuple(await _streak_call(self.core, self.store, p.group_id, p.member_id))  # type: ignore[return-value]

    async def stats(self, p: Pick) -> tuple[Any, ...]:
        st = await _call(self.core.standings.member_stats, p.channel, p.user_id)
        rank = st.rank.rank if st.rank else None
        topics = sorted((t.topic.value, t.answers) for t in st.topics if t.answers)
        return (st.streak, st.best_streak), rank, st.members_ranked, topics


def _streak_call(core: Core, store: Store, group_id: int, member_id: int) -> Awaitable[Any]:
    """Wherever the streak query lives now: bot.store.standings, else Standings.streaks(session, ...)."""
    try:
        from bot.store import standings as store_standings  # type: ignore[attr-defined]
    except ImportError:
        store_standings = None
    fn = getattr(store_standings, "streaks", None)
    if fn is not None:
        return store.run(fn, group_id, member_id, NOW)
    return store.run(lambda s: core.standings.streaks(s, group_id, member_id, NOW))


# ------------------------------------------------------------------- measuring


@dataclass
class Figure:
    name: str
    project: list[float] = field(default_factory=list)  # wall ms
    cpu: list[float] = field(default_factory=list)  # process CPU ms (both threads): load-proof
    floor: list[float] = field(default_factory=list)
    mismatches: int = 0

    async def sample(self, mine: Callable[[], Any], base: Callable[[], Any]) -> None:
        cpu = time.process_time()
        ms, got = await _time(mine)
        self.cpu.append((time.process_time() - cpu) * 1000)
        fms, want = await _time(base)
        self.project.append(ms)
        self.floor.append(fms)
        self.mismatches += got != want


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def _time(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    if inspect.isawaitable(out):
        out = await out
    return (time.perf_counter() - started) * 1000, out


def operations(project: Project, floor: Floor) -> dict[str, tuple[Callable[[Pick], Any], Callable[[Pick], Any]]]:
    ops: dict[str, tuple[Callable[[Pick], Any], Callable[[Pick], Any]]] = {}
    for window in ("week", "month", "all"):
        ops[f"leaderboard {window}"] = (
            lambda p, w=window: project.leaderboard(p, w),
            lambda p, w=window: floor.ranking(p.group_id, _since(w))[:10],
        )
    ops["streak"] = (project.streak, lambda p: floor.streak(p.group_id, p.member_id))
    ops["stats"] = (project.stats, floor.stats)
    return ops


async def measure(project: Project, floor: Floor, sample: list[Pick], busiest: Pick) -> list[Figure]:
    """Every figure with the board cache off (each call queries), then the cache's hit path."""
    figures = []
    ops = operations(project, floor)
    warm = sample[: max(20, len(sample) // 10)]
    for name, (mine, base) in ops.items():
        for p in warm:  # warm the page cache and the thread pool
            await _time(lambda p=p, mine=mine: mine(p))
            base(p)
        fig = Figure(name)
        for p in sample:
            await fig.sample(lambda p=p, mine=mine: mine(p), lambda p=p, base=base: base(p))
        figures.append(fig)
    for name in ("leaderboard all", "streak", "stats"):
        mine, base = ops[name]
        fig = Figure(f"{name} (busiest channel)")
        for _ in warm:
            await fig.sample(lambda mine=mine: mine(busiest), lambda base=base: base(busiest))
        figures.append(fig)
    if project.cache is not None:
        project.use_cache(True)
        mine, base = ops["leaderboard week"]
        fig = Figure("leaderboard week, cache hit")
        for p in sample:
            await mine(p)  # fills the cache; the timed call below is served from it
            await fig.sample(lambda p=p, mine=mine: mine(p), lambda p=p, base=base: base(p))
        figures.append(fig)
        project.use_cache(False)
    return figures


def report(db: str, label: str, figures: list[Figure]) -> None:
    print(f"\n{db} · {label}")
    print(f"  {'figure':<34}{'n':>5}{'p50 ms':>8}{'p99 ms':>8}{'cpu p50':>9}{'floor p50':>10}"
          f"{'floor p99':>10}{'× p50':>7}{'× p99':>7}  target")
    for f in figures:
        p50, p99 = statistics.median(f.project), _pct(f.project, 0.99)
        f50, f99 = statistics.median(f.floor), _pct(f.floor, 0.99)
        ok = "ok" if p50 <= 5 and p99 <= 20 else "MISSED"
        note = ok if db == "sqlite" else "-"
        if f.mismatches:
            note += f"  ({f.mismatches} answers differ from the floor!)"
        print(f"  {f.name:<34}{len(f.project):>5}{p50:>8.2f}{p99:>8.2f}{statistics.median(f.cpu):>9.2f}"
              f"{f50:>10.2f}{f99:>10.2f}{p50 / f50:>7.1f}{p99 / f99:>7.1f}  {note}")


# --------------------------------------------------------------------- explain


async def explain(project: Project, sample: Pick) -> None:
    """Capture each figure's SQL and print its plan; flag full scans of the big tables."""
    sqlite = project.store.engine.dialect.name == "sqlite"
    runs: dict[str, Callable[[], Any]] = {
        "leaderboard week": lambda: project.leaderboard(sample, "week"),
        "leaderboard all": lambda: project.leaderboard(sample, "all"),
        "streak": lambda: project.streak(sample),
        "stats": lambda: project.stats(sample),
    }
    seen: set[str] = set()
    print(f"\nplans ({'EXPLAIN QUERY PLAN' if sqlite else 'EXPLAIN'}) of the SQL the project emitted")
    for name, run in runs.items():
        project.captured = []
        await _time(run)
        statements, project.captured = project.captured, None
        for sql, params in statements:
            if not sql.lstrip().upper().startswith("SELECT") or sql in seen:
                continue
            seen.add(sql)
            with project.store.engine.connect() as conn:
                prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
                rows = conn.exec_driver_sql(prefix + sql, params).all()
            lines = [r[-1] if sqlite else r[0] for r in rows]
            flat = " ".join(sql.split())
            print(f"  [{name}] {flat[:160]}{' ...' if len(flat) > 160 else ''}")
            for line in lines:
                scan = _full_scan(line, sqlite)
                print(f"      {line}{'   <-- FULL SCAN' if scan else ''}")


def _full_scan(line: str, sqlite: bool) -> bool:
    if sqlite:
        words = line.split()
        return (len(words) >= 2 and words[0] == "SCAN" and words[1] in BIG_TABLES
                and "INDEX" not in line)
    return "Seq Scan on" in line and any(f" {t} " in f"{line} " for t in BIG_TABLES)


# ------------------------------------------------------------------------ main


def _settle_heap() -> None:
    """Freeze what is alive now out of the garbage collector's full passes, as `mlsd-bot run`
    does once started (bot/cli.py). Without it every full collection rescans this bench's own
    data (the picks over 10,000 members), a 30 ms pause the bot does not have, and the
    busiest channel's 50 calls (thousands of rows each) trigger several."""
    gc.collect()
    gc.freeze()


async def run_db(db: str, url: str, args: argparse.Namespace) -> None:
    shape = Shape()
    build(url, shape, args.rebuild)
    sample, busiest = picks(url, args.calls, seed=7)
    print(f"\n=== {db}: busiest channel id {busiest.group_id}; {len(sample)} random (channel, member) calls")
    if args.baseline:
        took = _migrate(url, BASE_REVISION, down=True)
        print(f"downgraded to {BASE_REVISION} in {took:.1f} s (baseline: the indexes before this bench)")
        base = Project(url, migrate=False)  # measure the old schema as it is
        floor = Floor(base.store.engine)
        _settle_heap()
        report(db, f"schema {BASE_REVISION} (before)", await measure(base, floor, sample, busiest))
        if args.explain:
            await explain(base, busiest)
        floor.close()
        base.store.close()
    project = Project(url)
    print(f"Store.open: upgrade to head on the populated database took {project.upgrade_s:.1f} s")
    floor = Floor(project.store.engine)
    _settle_heap()
    report(db, "schema head (after)", await measure(project, floor, sample, busiest))
    if args.explain:
        await explain(project, busiest)
    floor.close()
    project.store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--calls", type=int, default=500, help="random calls per figure")
    parser.add_argument("--baseline", action="store_true", help="measure at 0004 first, then upgrade")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the cached history")
    parser.add_argument("--no-explain", dest="explain", action="store_false")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args()
    targets = {"sqlite": _sqlite_url(Shape()), "postgres": args.pg_url}
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        asyncio.run(run_db(db, targets[db], args))


if __name__ == "__main__":
    main()
