"""Synthetic history for bench/scale.py: 1,000 channels, 10,000 members, 1,000,000 ledger rows.

The rows are consistent with the schema and with how the bot writes them
(a post per scheduled day, one reply and one result per answer, ledger rows
"answer"/"coverage"/"votes" at the reveal with ref "post:<id>", quiz rows
with their attempts), so the real queries see real shapes. Activity is skewed:
channel busyness follows a Zipf law (s=0.7, ranks shuffled over ids), so the
busiest channel holds ~4% of the ledger and the median one ~0.05%; inside a
channel, a few members answer most days and most rarely do.

Rows are bulk-written through the driver (sqlite3 `executemany`, psycopg
`COPY`), never the ORM one row at a time: the whole set takes well under a
minute on SQLite.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

NOW = datetime(2026, 6, 18, 10, 0, tzinfo=UTC)  # a Thursday: week and month windows differ
DAYS = 730
TOPICS = ("formulation", "data", "modeling", "serving", "experimentation", "monitoring")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Shape:
    channels: int = 1000
    workspaces: int = 100  # members are per workspace: 100 members in each
    members: int = 10_000
    ledger: int = 1_000_000
    zipf: float = 0.7
    seed: int = 12


@dataclass
class Tables:
    """Rows per table, as tuples in the column order of COLUMNS."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.rows.setdefault(table, []).append(row)


COLUMNS: dict[str, tuple[str, ...]] = {
    "groups": ("id", "platform", "workspace", "channel", "timezone", "created_at"),
    "members": ("id", "platform", "workspace", "user_id", "display_name"),
    "subscriptions": ("id", "group_id", "topic", "post_time", "timezone", "days", "window_minutes",
                      "blind", "active", "effective_from", "created_by", "updated_at"),
    "posts": ("id", "subscription_id", "group_id", "topic", "question_id", "local_date",
              "scheduled_for", "deadline", "status", "message_id", "thread_id", "claimed_at",
              "posted_at", "reveal_claimed_at", "revealed_at", "skip_reason", "blind", "attempts"),
    "replies": ("id", "post_id", "member_id", "message_id", "text", "is_answer", "late", "private",
                "deleted", "acknowledged", "at"),
    "answer_results": ("id", "post_id", "group_id", "member_id", "question_id", "topic", "covered",
                       "coverage", "late", "votes", "points", "at"),
    "ledger": ("id", "group_id", "member_id", "reason", "points", "at", "ref"),
    "quiz_sessions": ("id", "group_id", "member_id", "mode", "item_ids", "position", "created_at",
                      "finished_at"),
    "quiz_attempts": ("id", "session_id", "group_id", "member_id", "item_id", "topic", "choice",
                      "correct", "first_attempt", "at"),
    "away_periods": ("id", "member_id", "starts_at", "ends_at"),
}
ORDER = tuple(COLUMNS)  # parents before children (foreign keys are on in SQLite)


@dataclass
class Channel:
    id: int
    workspace: int
    weight: float
    pool: list[int] = field(default_factory=list)  # member ids
    activity: list[float] = field(default_factory=list)  # per pool member, chance to answer a post


def _channels(shape: Shape, rng: random.Random) -> list[Channel]:
    ranks = list(range(1, shape.channels + 1))
    rng.shuffle(ranks)
    per_ws = shape.channels // shape.workspaces
    return [Channel(i + 1, i // per_ws, ranks[i] ** -shape.zipf) for i in range(shape.channels)]


def _schedule(weight_share: float, rng: random.Random) -> tuple[list[str], tuple[int, ...]]:
    """Busier channels subscribe to more topics on more days."""
    if weight_share > 0.004:
        return rng.sample(TOPICS, 3), (0, 1, 2, 3, 4, 5, 6)
    if weight_share > 0.001:
        return rng.sample(TOPICS, 2), (0, 1, 2, 3, 4)
    if weight_share > 0.0004:
        return rng.sample(TOPICS, 1), (0, 1, 2, 3, 4)
    return rng.sample(TOPICS, 1), tuple(sorted(rng.sample(range(7), rng.choice((1, 2, 3)))))


def generate(shape: Shape) -> Tables:
    """Build every row in memory (about 3.5M tuples; ~1.5 GB peak), ids assigned here."""
    rng = random.Random(shape.seed)
    out = Tables()
    start = NOW - timedelta(days=DAYS)
    per_ws_members = shape.members // shape.workspaces
    for m in range(shape.members):
        ws = m // per_ws_members
        out.add("members", (m + 1, "slack", f"T{ws:03d}", f"U{m:05d}", f"member {m}"))
    for m in range(1, shape.members + 1, 25):  # one member in 25 took a week off once
        begin = start + timedelta(days=rng.randrange(DAYS - 7))
        out.add("away_periods", (len(out.rows.get("away_periods", [])) + 1, m, begin,
                                 begin + timedelta(days=7)))
    channels = _channels(shape, rng)
    total_weight = sum(c.weight for c in channels)
    answer_rows = 0
    ids = {"subscriptions": 0, "posts": 0, "replies": 0, "answer_results": 0, "ledger": 0}

    def next_id(table: str) -> int:
        ids[table] += 1
        return ids[table]

    plans: list[tuple[Channel, list[str], tuple[int, ...], float]] = []
    for ch in channels:
        share = ch.weight / total_weight
        topics, days = _schedule(share, rng)
        posts = len(topics) * sum(1 for d in range(DAYS) if (start + timedelta(days=d)).weekday() in days)
        # ~2.2 ledger rows per answer; 90% of the ledger is answers, the rest quiz.
        answers_per_post = shape.ledger * share * 0.9 / 2.2 / max(posts, 1)
        pool = min(per_ws_members, max(3, int(answers_per_post * 2.5) + 2))
        first = ch.workspace * per_ws_members + 1
        ch.pool = rng.sample(range(first, first + per_ws_members), pool)
        raw = [(i + 1) ** -0.8 for i in range(pool)]
        scale = answers_per_post / sum(raw)
        ch.activity = [min(0.97, r * scale) for r in raw]
        plans.append((ch, topics, days, share))
        out.add("groups", (ch.id, "slack", f"T{ch.workspace:03d}", f"C{ch.id:05d}", "UTC", start))

    for ch, topics, days, _share in plans:
        for topic in topics:
            sub_id = next_id("subscriptions")
            out.add("subscriptions", (sub_id, ch.id, topic, "09:00", "UTC",
                                      ",".join(WEEKDAYS[d] for d in days), 480, False, True, start,
                                      "lead", start))
            for d in range(DAYS + 1):
                day = (start + timedelta(days=d)).date()
                if day.weekday() not in days:
                    continue
                answer_rows += _post(out, rng, ch, sub_id, topic, day, next_id)
    _quiz(out, rng, plans, shape.ledger - answer_rows, total_weight)
    return out


def _post(out: Tables, rng: random.Random, ch: Channel, sub_id: int, topic: str, day: date,
          next_id: Any) -> int:
    """One scheduled post with its answers; returns the ledger rows written."""
    post_id = next_id("posts")
    scheduled = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    deadline = scheduled + timedelta(hours=8)
    qid = f"{topic}-q{rng.randrange(12):02d}"
    if scheduled > NOW:
        return 0
    if rng.random() < 0.02:  # a holiday or the bot was down: skipped, never breaks a streak
        out.add("posts", (post_id, sub_id, ch.id, topic, None, day, scheduled, deadline, "skipped",
                          None, None, scheduled, None, None, None, "holiday (a skip date)", False, 0))
        return 0
    open_ = deadline > NOW
    revealed = None if open_ else deadline + timedelta(minutes=1)
    out.add("posts", (post_id, sub_id, ch.id, topic, qid, day, scheduled, deadline,
                      "posted" if open_ else "revealed", f"t{post_id}", f"t{post_id}", scheduled,
                      scheduled, revealed, revealed, None, False, 0))
    ledger = 0
    for member, p in zip(ch.pool, ch.activity, strict=True):
        if rng.random() >= p:
            continue
        late = rng.random() < 0.05
        at = (deadline + timedelta(minutes=rng.randrange(1, 600)) if late
              else scheduled + timedelta(minutes=rng.randrange(1, 479)))
        deleted = rng.random() < 0.01
        rid = next_id("replies")
        out.add("replies", (rid, post_id, member, f"m{rid}", "I would split the latency budget per stage",
                            True, late, False, deleted, True, at))
        if rng.random() < 0.1:
            did = next_id("replies")
            out.add("replies", (did, post_id, member, f"m{did}", "+1, and cache the candidates",
                                False, False, False, False, True, at + timedelta(minutes=5)))
        if open_ or deleted:
            continue
        coverage = rng.choice((0.0, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0))
        votes = rng.choice((0, 0, 0, 0, 1, 1, 2, 3))
        pts = (0, 0, 0) if late else (10, int(10 * coverage + 0.5), min(votes, 5))
        out.add("answer_results", (next_id("answer_results"), post_id, ch.id, member, qid, topic,
                                   "1,0,1,1", coverage, late, votes, sum(pts), revealed))
        for reason, points in zip(("answer", "coverage", "votes"), pts, strict=True):
            if points:
                out.add("ledger", (next_id("ledger"), ch.id, member, reason, points, revealed,
                                   f"post:{post_id}"))
                ledger += 1
    return ledger


def _quiz(out: Tables, rng: random.Random, plans: list[Any], rows: int, total_weight: float) -> None:
    """Fill the ledger to its exact size with quiz points, each backed by an attempt."""
    if rows <= 0:
        return
    ledger_id = len(out.rows["ledger"])
    attempt_id = 0
    weights = [ch.weight for ch, *_ in plans]
    for session_id, (ch, *_) in enumerate(rng.choices(plans, weights=weights, k=rows), start=1):
        member = rng.choices(ch.pool, weights=ch.activity)[0]
        at = NOW - timedelta(minutes=rng.randrange(DAYS * 1440))
        topic = rng.choice(TOPICS)
        attempt_id += 1
        item = f"{topic}-i{attempt_id}"
        out.add("quiz_sessions", (session_id, ch.id, member, "single", item, 1, at, at))
        out.add("quiz_attempts", (attempt_id, session_id, ch.id, member, item, topic, 0, True, True, at))
        ledger_id += 1
        out.add("ledger", (ledger_id, ch.id, member, "quiz", 2, at, f"quiz:{item}"))
        if rng.random() < 0.4:  # a wrong answer in the same session: an attempt, no points
            attempt_id += 1
            out.add("quiz_attempts", (attempt_id, session_id, ch.id, member, f"{topic}-w{attempt_id}",
                                      topic, 1, False, True, at))


# ------------------------------------------------------------------------- writing


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, datetime):  # SQLAlchemy's SQLite DATETIME storage format (naive UTC)
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, date):
        return v.isoformat()
    return v


def _sqlite_rows(rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        yield tuple(_sqlite_value(v) for v in row)


def write(engine: Engine, tables: Tables) -> None:
    """Bulk-write every table through the driver, parents first."""
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        if engine.dialect.name == "sqlite":
            # A bench database, built once: no fsync, a big page cache for the index inserts,
            # and no foreign-key checks (the rows are consistent by construction).
            for pragma in ("synchronous=OFF", "cache_size=-1000000", "foreign_keys=OFF"):
                conn.execute(f"PRAGMA {pragma}")
            for table in ORDER:
                cols = COLUMNS[table]
                sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                conn.executemany(sql, _sqlite_rows(tables.rows.get(table, [])))
            conn.commit()
            return
        with conn.cursor() as cur:
            for table in ORDER:
                cols = COLUMNS[table]
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in tables.rows.get(table, []):
                        copy.write_row(row)
                if "id" in cols:
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT max(id) FROM {table}))")
        conn.commit()
    finally:
        raw.close()
