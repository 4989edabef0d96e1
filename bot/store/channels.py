"""What `/mlsd` commands read about one channel: its group, subscriptions and open questions.

Read-only views, each one unit of work; the writes (subscribe, unsubscribe,
post, reveal) belong to the daily loop's own store modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.domain import ChannelRef
from bot.store.db import as_utc
from bot.store.models import GroupRow, PostRow, SubscriptionRow
from bot.store.schema import groups
from bot.store.unit import Sql, Unit, sql_of


@dataclass(frozen=True)
class OpenPost:
    topic: str
    message_id: str
    deadline: datetime


@dataclass(frozen=True)
class ChannelSchedule:
    group: GroupRow | None
    subscriptions: list[SubscriptionRow] = field(default_factory=list)
    open_posts: list[OpenPost] = field(default_factory=list)  # soonest deadline first


def find_group(s: Session, ref: ChannelRef) -> GroupRow | None:
    return s.exec(select(GroupRow).where(
        GroupRow.platform == ref.platform, GroupRow.workspace == ref.workspace, GroupRow.channel == ref.channel,
    )).first()


# Built once: every answer, vote and subscribe asks it.
_GROUP_ID = select(groups.c.id).where(
    groups.c.platform == bindparam("platform"), groups.c.workspace == bindparam("workspace"),
    groups.c.channel == bindparam("channel"))


def group_id(s: Unit | Sql, ref: ChannelRef) -> int | None:
    """The channel's group id, None when the bot never saw the channel."""
    return sql_of(s).execute(
        _GROUP_ID, {"platform": ref.platform, "workspace": ref.workspace, "channel": ref.channel}).scalar()


def _subscriptions(s: Session, group: int) -> list[SubscriptionRow]:
    return list(s.exec(select(SubscriptionRow).where(SubscriptionRow.group_id == group)
                       .order_by(col(SubscriptionRow.id))))


def schedule(s: Session, ref: ChannelRef) -> ChannelSchedule:
    """The channel's subscriptions (active or not) and its questions still open."""
    group = find_group(s, ref)
    if group is None:
        return ChannelSchedule(None)
    posts = s.exec(
        select(PostRow.topic, PostRow.message_id, PostRow.deadline)
        .where(PostRow.group_id == group.id, PostRow.status == "posted").order_by(col(PostRow.deadline))
    ).all()
    return ChannelSchedule(group, _subscriptions(s, group.id or 0),
                           [OpenPost(t, m or "", as_utc(d) or d) for t, m, d in posts])


def active_subscriptions(s: Session, ref: ChannelRef) -> list[SubscriptionRow]:
    group = group_id(s, ref)
    return [sub for sub in _subscriptions(s, group) if sub.active] if group is not None else []


def open_post_ids(s: Session, ref: ChannelRef) -> list[int]:
    """Questions posted in this channel and not yet revealed."""
    group = group_id(s, ref)
    if group is None:
        return []
    return [pid for pid in s.exec(select(PostRow.id).where(
        PostRow.group_id == group, PostRow.status == "posted").order_by(col(PostRow.id))) if pid is not None]
