"""Queries and writes behind the team's habits: vacations, opt-ins, channel options,
holidays, the live board's message and one-time notices.

Plain synchronous functions taking the session first, run by `Store.run` as one
unit of work each. Those that must find or create a group or member take the
`Store` too, for its race-safe `group`/`member` helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.content import Bank
from bot.domain import ChannelRef, Topic
from bot.store.models import AwayRow, GroupOptionRow, MemberPrefRow, NoticeRow, SkipDateRow
from bot.store.models import GroupRow, MemberRow, PostRow, ReplyRow, SubscriptionRow
from bot.store.posts import unused_count
from bot.store.repo import Store

# ------------------------------------------------------------------ member side


def current_away(s: Session, member_id: int, now: datetime) -> AwayRow | None:
    return s.exec(
        select(AwayRow).where(AwayRow.member_id == member_id, col(AwayRow.starts_at) <= now,
                              col(AwayRow.ends_at) > now)
    ).first()


def set_away(s: Session, store: Store, channel: ChannelRef, user_id: str, days: int,
             now: datetime) -> datetime | None:
    """Start, extend or (days=0) end a member's vacation; returns when it ends."""
    member = store.member(s, channel, user_id)
    current = current_away(s, member.id or 0, now)
    if days == 0:
        if current is not None:
            current.ends_at = now
            s.add(current)
        return None
    ends = now + timedelta(days=days)
    if current is not None:
        current.ends_at = ends
        s.add(current)
    else:
        s.add(AwayRow(member_id=member.id or 0, starts_at=now, ends_at=ends))
    return ends


def set_weekly_summary(s: Session, store: Store, channel: ChannelRef, user_id: str, on: bool) -> None:
    member = store.member(s, channel, user_id)
    pref = s.get(MemberPrefRow, member.id) or MemberPrefRow(member_id=member.id or 0)
    pref.weekly_summary = on
    s.add(pref)


def summary_recipients(s: Session, group_id: int) -> tuple[ChannelRef, list[str]] | None:
    """The channel, and the members who opted in to a weekly summary and have answered there."""
    group = s.get(GroupRow, group_id)
    if group is None:
        return None
    users = s.exec(
        select(MemberRow.user_id)
        .join(MemberPrefRow, MemberPrefRow.member_id == MemberRow.id)  # type: ignore[arg-type]
        .join(ReplyRow, ReplyRow.member_id == MemberRow.id)  # type: ignore[arg-type]
        .join(PostRow, PostRow.id == ReplyRow.post_id)  # type: ignore[arg-type]
        .where(MemberPrefRow.weekly_summary == True, PostRow.group_id == group_id)  # noqa: E712
        .distinct()
        .order_by(MemberRow.user_id)
    ).all()
    return Store.channel_of(group), list(users)


# ----------------------------------------------------------------- channel side


def options(s: Session, group_id: int) -> GroupOptionRow:
    """A channel's opt-in features; a missing row means every default."""
    return s.get(GroupOptionRow, group_id) or GroupOptionRow(group_id=group_id)


def set_reminder(s: Session, store: Store, channel: ChannelRef, minutes: int | None, now: datetime) -> int:
    """Remind `minutes` before each deadline (None: off); returns the group id."""
    group = store.group(s, channel, now)
    opts = options(s, group.id or 0)
    opts.reminder_minutes = minutes
    s.add(opts)
    return group.id or 0


def set_digest_slot(s: Session, store: Store, channel: ChannelRef, weekday: int, at: str | None,
                    now: datetime) -> int:
    """Move the channel's weekly digest (the time stays when `at` is None); returns the group id."""
    group = store.group(s, channel, now)
    group.digest_weekday = weekday
    if at is not None:
        group.digest_time = at
    s.add(group)
    return group.id or 0


def set_live_board(s: Session, store: Store, channel: ChannelRef, on: bool, now: datetime) -> int:
    group = store.group(s, channel, now)
    opts = options(s, group.id or 0)
    opts.live_board = on
    if not on:
        opts.live_board_message_id = None
    s.add(opts)
    return group.id or 0


@dataclass(frozen=True)
class LiveBoard:
    channel: ChannelRef
    message_id: str | None  # None until the board was first posted


def live_board(s: Session, group_id: int) -> LiveBoard | None:
    """Where the channel's live standings message is, if the channel wants one."""
    opts = s.get(GroupOptionRow, group_id)
    group = s.get(GroupRow, group_id)
    if opts is None or not opts.live_board or group is None:
        return None
    return LiveBoard(Store.channel_of(group), opts.live_board_message_id)


def save_live_board(s: Session, group_id: int, message_id: str) -> None:
    opts = s.get(GroupOptionRow, group_id)
    if opts is not None:
        opts.live_board_message_id = message_id
        s.add(opts)


def add_skip_dates(s: Session, subscription_id: int, dates: tuple[date, ...]) -> None:
    existing = skip_dates(s, subscription_id)
    for day in dict.fromkeys(dates):
        if day not in existing:
            s.add(SkipDateRow(subscription_id=subscription_id, local_date=day))


def skip_dates(s: Session, subscription_id: int) -> set[date]:
    """A subscription's holidays (local dates with no post)."""
    return set(s.exec(select(SkipDateRow.local_date).where(
        SkipDateRow.subscription_id == subscription_id)).all())


# ---------------------------------------------------------------- notices


def claim_notice(s: Session, group_id: int, key: str, now: datetime) -> bool:
    """Claim a one-time notice; True for exactly one caller (the unique (group, key) decides)."""
    try:
        with s.begin_nested():
            s.add(NoticeRow(group_id=group_id, key=key, at=now))
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class BankLeft:
    group_id: int
    channel: ChannelRef
    admin: str | None  # who subscribed the channel
    left: int  # questions of the topic not posted in this channel yet


def bank_left(s: Session, bank: Bank, subscription_id: int, topic: Topic) -> BankLeft | None:
    sub = s.get(SubscriptionRow, subscription_id)
    if sub is None:
        return None
    group = s.get(GroupRow, sub.group_id)
    if group is None:
        return None
    return BankLeft(sub.group_id, Store.channel_of(group), sub.created_by,
                    unused_count(s, bank, sub.group_id, topic))
