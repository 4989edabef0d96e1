"""The one claim protocol for all claimed work: posts, reveals, digests and reminders.

A piece of work is *claimed* by a row write the database lets only one writer
win (a unique row, or a conditional UPDATE of its status), before anything is
sent. The claimant then sends and *confirms*. A claimant that hits a platform
error *defers*: it keeps the claim but sets `retry_at` after an exponential
backoff (never sooner than the platform's Retry-After). A claimant that dies
leaves the claim to expire after `CLAIM_LEASE`. Either way the work becomes
*retryable* and whoever *renews* the claim first takes it over.

Every claimed table names its columns here through a `ClaimColumns`: which
timestamp says since when the claim is held (`claimed_at`, or a post's
`reveal_claimed_at` while revealing), `retry_at`, `attempts` and `last_error`.
The scheduler's retry time (`retry_time`) mirrors `retryable` exactly, so a
job is due precisely when the SQL says the claim can be taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_, select, update

from bot.store.db import as_utc
from bot.store.unit import Unit

CLAIM_LEASE = timedelta(minutes=2)
RETRY_BASE = timedelta(seconds=15)
RETRY_CAP = timedelta(minutes=15)
ERROR_CHARS = 200


@dataclass(frozen=True)
class ClaimColumns:
    """Where one kind of claimed work keeps its claim (column names of its table)."""

    table: Table
    held_since: str = "claimed_at"
    retry_at: str = "retry_at"
    attempts: str = "attempts"
    last_error: str = "last_error"


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Wait after the `attempts`-th failure: 15s, 30s, 1m ... capped at 15m, never under Retry-After."""
    delay = min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_CAP)
    return max(delay, timedelta(seconds=retry_after or 0))


def retryable(held_since: Any, retry_at: Any, now: datetime) -> ColumnElement[bool]:
    """SQL condition on a claim's columns: it may be taken over (its sender released it, or died)."""
    return or_(
        and_(retry_at.is_not(None), retry_at <= now),
        and_(retry_at.is_(None), held_since <= now - CLAIM_LEASE),
    )


def retryable_where(cols: ClaimColumns, now: datetime) -> ColumnElement[bool]:
    return retryable(cols.table.c[cols.held_since], cols.table.c[cols.retry_at], now)


def retry_time(held_since: datetime | None, retry_at: datetime | None) -> datetime:
    """When `retryable` becomes true: retry_at once released, else when the claim's lease runs out."""
    if retry_at is not None:
        return as_utc(retry_at) or retry_at
    return (as_utc(held_since) or datetime.min.replace(tzinfo=UTC)) + CLAIM_LEASE


def renew(s: Unit, cols: ClaimColumns, row_id: int, now: datetime, *still: ColumnElement[bool]) -> bool:
    """Take over a retryable claim; True for exactly one of any number of concurrent callers.

    `still` adds conditions the row must still meet (typically its status), so a
    claim finished meanwhile is never taken again.
    """
    table = cols.table
    result = s.execute(
        update(table)
        .where(table.c.id == row_id, retryable_where(cols, now), *still)
        .values({cols.held_since: now, cols.retry_at: None})
    )
    return bool(result.rowcount == 1)


def defer(s: Unit, cols: ClaimColumns, row_id: int, held_since: datetime | None, exc: BaseException,
          now: datetime, **expected: Any) -> datetime | None:
    """Release our claim after a platform error until a backoff has passed; returns when.

    `expected` names columns the row must still hold (e.g. `status="claimed"`).
    None when the claim is no longer ours (taken over meanwhile, or finished):
    then it is the new holder's to finish and nothing is changed.
    """
    table = cols.table
    row = s.execute(select(table).where(table.c.id == row_id)).first()
    if row is None or as_utc(getattr(row, cols.held_since)) != as_utc(held_since):
        return None
    if any(getattr(row, name) != value for name, value in expected.items()):
        return None
    attempts = (getattr(row, cols.attempts) or 0) + 1
    retry_at = now + backoff(attempts, getattr(exc, "retry_after", None))
    s.execute(update(table).where(table.c.id == row_id).values({
        cols.attempts: attempts, cols.retry_at: retry_at,
        cols.last_error: f"{type(exc).__name__}: {exc}"[:ERROR_CHARS],
    }))
    return retry_at
