"""What is scheduled, read from the database: the scheduler builds its jobs from this.

It is a read model only. Nothing here decides whether something is due: the
jobs built from it call the core's use cases, which decide and claim. It can
be read for some groups, so that a change to one channel (or a job that ran
for it) rebuilds that channel's jobs alone; every entry says whose it is.
The read runs on a database thread (`Store.run`), never on the event loop.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from bot.config import Settings
from bot.digests import DigestSlot
from bot.runtime import Runtime
from bot.schedule_spec import parse_time
from bot.store import timetable as rows_store
from bot.store.claims import retry_time
from bot.store.db import as_utc


@dataclass(frozen=True)
class PostSlot:
    """A subscription's daily post: local `at` in `timezone` on `days` ("mon" ... "sun")."""

    subscription_id: int
    at: time
    timezone: str
    days: tuple[str, ...]
    group_id: int = 0


@dataclass(frozen=True)
class Timetable:
    posts: tuple[PostSlot, ...]
    reveals: tuple[tuple[int, datetime], ...]  # (post id, deadline) of every open post
    digests: tuple[DigestSlot, ...]
    # The earliest moment a claim released after a platform error (or left by a
    # crashed sender) may be retried; None when nothing waits.
    next_retry: datetime | None
    # (post id, when) of each open post's deadline reminder, where the channel wants one.
    reminders: tuple[tuple[int, datetime], ...] = ()
    # The group of each open post (whose reveal and reminder jobs these are).
    post_groups: Mapping[int, int] = field(default_factory=dict)
    # (group id, earliest retry time) of each group with claimed work waiting.
    retries: tuple[tuple[int, datetime], ...] = ()
    # The groups this was read for; None: every group.
    group_ids: frozenset[int] | None = None


def digest_slot(group_id: int, weekday: int | None, at: str | None, timezone: str,
                settings: Settings) -> DigestSlot:
    """A group's weekly digest slot: its own weekday and time, else the configured default."""
    return DigestSlot(group_id, settings.digest_weekday if weekday is None else weekday,
                      parse_time(at or settings.digest_time), timezone)


def assemble(rows: rows_store.TimetableRows, settings: Settings,
             group_ids: frozenset[int] | None = None) -> Timetable:
    """The timetable from its rows (pure)."""
    earliest: dict[int, datetime] = {}
    for claim in rows.claims:
        when = retry_time(claim.held_since, claim.retry_at)
        if claim.group_id not in earliest or when < earliest[claim.group_id]:
            earliest[claim.group_id] = when
    return Timetable(
        posts=tuple(PostSlot(sub.id, parse_time(sub.post_time), sub.timezone, tuple(sub.days.split(",")),
                             sub.group_id) for sub in rows.subscriptions),
        reveals=tuple((post_id, as_utc(deadline) or deadline) for post_id, _g, deadline in rows.open_posts),
        digests=tuple(digest_slot(d.group_id, d.weekday, d.at, d.timezone, settings) for d in rows.digests),
        next_retry=min(earliest.values(), default=None),
        reminders=tuple((post_id, (as_utc(deadline) or deadline) - timedelta(minutes=minutes))
                        for post_id, deadline, minutes in rows.reminders),
        post_groups={post_id: g for post_id, g, _d in rows.open_posts},
        retries=tuple(sorted(earliest.items())),
        group_ids=group_ids,
    )


async def build_timetable(rt: Runtime, group_ids: Collection[int] | None = None) -> Timetable:
    """Read the timetable of these groups or of all (None), off the event loop."""
    scope = frozenset(group_ids) if group_ids is not None else None
    return await rt.store.run(_read, scope, rt.settings)


def _read(s: Any, group_ids: frozenset[int] | None, settings: Settings) -> Timetable:
    """One unit of work on the database thread, assembly included: turning a thousand
    channels' rows into slots takes milliseconds the event loop should not spend."""
    return assemble(rows_store.read_timetable(s, group_ids), settings, group_ids)
