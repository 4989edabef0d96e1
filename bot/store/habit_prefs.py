"""Queries and writes behind the team's habits: vacations, opt-ins, channel options,
holidays, the live board's message and one-time notices.

Plain synchronous functions in SQLAlchemy Core taking the unit of work first
(`Unit`), run by `Store.run` as one unit of work each. A group or member seen
for the first time is created as every other path creates it
(`channels.ensure_group_id`, `answers.member_id`). Rows that may not exist yet
(a channel's options, a member's opt-ins) are created by an INSERT that the
primary key refuses to twin, then updated, so two concurrent writers never collide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, select, update

from bot.content import Bank
from bot.domain import ChannelRef, Topic
from bot.store import channels, conflicts, schema
from bot.store.answers import member_id
from bot.store.posts import unused_count
from bot.store.unit import Unit

_away = schema.away_periods
_groups = schema.groups
_options = schema.group_options
_prefs = schema.member_prefs

_CURRENT_AWAY = select(_away).where(_away.c.member_id == bindparam("mid"),
                                    _away.c.starts_at <= bindparam("now"),
                                    _away.c.ends_at > bindparam("now"))
_END_AWAY = update(_away).where(_away.c.id == bindparam("aid")).values(ends_at=bindparam("ends"))
_CHANNEL = select(_groups.c.platform, _groups.c.workspace, _groups.c.channel).where(
    _groups.c.id == bindparam("gid"))
_OPTIONS = select(_options).where(_options.c.group_id == bindparam("gid"))
_LIVE_BOARD = (
    select(_options.c.live_board_message_id, _groups.c.platform, _groups.c.workspace, _groups.c.channel)
    .join(_groups, _groups.c.id == _options.c.group_id)
    .where(_options.c.group_id == bindparam("gid"), _options.c.live_board == True)  # noqa: E712
)
_SAVE_LIVE_BOARD = (update(_options).where(_options.c.group_id == bindparam("gid"))
                    .values(live_board_message_id=bindparam("mid")))


def _channel(row: Any) -> ChannelRef:
    return ChannelRef(row.platform, row.workspace, row.channel)


# ------------------------------------------------------------------ member side


def current_away(s: Unit, member_id: int, now: datetime) -> Row[Any] | None:
    """The member's vacation running at `now` (an `away_periods` row), if any."""
    return s.execute(_CURRENT_AWAY, {"mid": member_id, "now": now}).first()


def set_away(s: Unit, channel: ChannelRef, user_id: str, days: int, now: datetime) -> datetime | None:
    """Start, extend or (days=0) end a member's vacation; returns when it ends."""
    member = member_id(s, channel, user_id)
    current = current_away(s, member, now)
    if days == 0:
        if current is not None:
            s.execute(_END_AWAY, {"aid": current.id, "ends": now})
        return None
    ends = now + timedelta(days=days)
    if current is not None:
        s.execute(_END_AWAY, {"aid": current.id, "ends": ends})
    else:
        s.execute(_away.insert(), {"member_id": member, "starts_at": now, "ends_at": ends})
    return ends


def set_weekly_summary(s: Unit, channel: ChannelRef, user_id: str, on: bool) -> None:
    member = member_id(s, channel, user_id)
    values = {"weekly_summary": on}
    if not conflicts.inserted(s, _prefs, {"member_id": member, **values}):
        s.execute(update(_prefs).where(_prefs.c.member_id == member).values(**values))


def summary_recipients(s: Unit, group_id: int) -> tuple[ChannelRef, list[str]] | None:
    """The channel, and the members who opted in to a weekly summary and have answered there."""
    group = s.execute(_CHANNEL, {"gid": group_id}).first()
    if group is None:
        return None
    members, replies, posts = schema.members, schema.replies, schema.posts
    users = s.execute(
        select(members.c.user_id)
        .join(_prefs, _prefs.c.member_id == members.c.id)
        .join(replies, replies.c.member_id == members.c.id)
        .join(posts, posts.c.id == replies.c.post_id)
        .where(_prefs.c.weekly_summary == True, posts.c.group_id == group_id)  # noqa: E712
        .distinct()
        .order_by(members.c.user_id)
    ).scalars().all()
    return _channel(group), list(users)


# ----------------------------------------------------------------- channel side


@dataclass(frozen=True)
class Options:
    """A channel's opt-in features (the `group_options` columns)."""

    group_id: int
    reminder_minutes: int | None = None  # None: no deadline reminder
    live_board: bool = False
    live_board_message_id: str | None = None


def options(s: Unit, group_id: int) -> Options:
    """A channel's opt-in features; a missing row means every default."""
    row = s.execute(_OPTIONS, {"gid": group_id}).first()
    return Options(**row._mapping) if row is not None else Options(group_id=group_id)


def _set_options(s: Unit, group_id: int, values: dict[str, Any]) -> None:
    """Write some of a channel's options, creating its row (the other columns at their defaults) on first use."""
    if not conflicts.inserted(s, _options, {"group_id": group_id, **values}):
        s.execute(update(_options).where(_options.c.group_id == group_id).values(**values))


def set_reminder(s: Unit, channel: ChannelRef, minutes: int | None, now: datetime) -> int:
    """Remind `minutes` before each deadline (None: off); returns the group id."""
    group = channels.ensure_group_id(s, channel, now)
    _set_options(s, group, {"reminder_minutes": minutes})
    return group


def set_digest_slot(s: Unit, channel: ChannelRef, weekday: int, at: str | None, now: datetime) -> int:
    """Move the channel's weekly digest (the time stays when `at` is None); returns the group id."""
    group = channels.ensure_group_id(s, channel, now)
    values: dict[str, Any] = {"digest_weekday": weekday}
    if at is not None:
        values["digest_time"] = at
    s.execute(update(_groups).where(_groups.c.id == group).values(**values))
    return group


def set_live_board(s: Unit, channel: ChannelRef, on: bool, now: datetime) -> int:
    group = channels.ensure_group_id(s, channel, now)
    values: dict[str, Any] = {"live_board": on}
    if not on:
        values["live_board_message_id"] = None
    _set_options(s, group, values)
    return group


@dataclass(frozen=True)
class LiveBoard:
    channel: ChannelRef
    message_id: str | None  # None until the board was first posted


def live_board(s: Unit, group_id: int) -> LiveBoard | None:
    """Where the channel's live standings message is, if the channel wants one."""
    row = s.execute(_LIVE_BOARD, {"gid": group_id}).first()
    if row is None:
        return None
    return LiveBoard(_channel(row), row.live_board_message_id)


def save_live_board(s: Unit, group_id: int, message_id: str) -> None:
    s.execute(_SAVE_LIVE_BOARD, {"gid": group_id, "mid": message_id})


def add_skip_dates(s: Unit, subscription_id: int, dates: tuple[date, ...]) -> None:
    """Add holidays; one already there is kept (the unique (subscription, date) refuses its twin)."""
    if dates:
        s.execute(conflicts.insert_new(s, schema.skip_dates),
                          [{"subscription_id": subscription_id, "local_date": day}
                           for day in dict.fromkeys(dates)])


def skip_dates(s: Unit, subscription_id: int) -> set[date]:
    """A subscription's holidays (local dates with no post)."""
    table = schema.skip_dates
    return set(s.execute(select(table.c.local_date).where(
        table.c.subscription_id == subscription_id)).scalars().all())


# ---------------------------------------------------------------- notices


def claim_notice(s: Unit, group_id: int, key: str, now: datetime) -> bool:
    """Claim a one-time notice; True for exactly one caller (the unique (group, key) decides)."""
    return conflicts.inserted(s, schema.notices, {"group_id": group_id, "key": key, "at": now})


@dataclass(frozen=True)
class BankLeft:
    group_id: int
    channel: ChannelRef
    admin: str | None  # who subscribed the channel
    left: int  # questions of the topic not posted in this channel yet


def bank_left(s: Unit, bank: Bank, subscription_id: int, topic: Topic) -> BankLeft | None:
    subs = schema.subscriptions
    row = s.execute(
        select(subs.c.group_id, subs.c.created_by, _groups.c.platform, _groups.c.workspace, _groups.c.channel)
        .join(_groups, _groups.c.id == subs.c.group_id)
        .where(subs.c.id == subscription_id)
    ).first()
    if row is None:
        return None
    return BankLeft(row.group_id, _channel(row), row.created_by,
                    unused_count(s, bank, row.group_id, topic))
