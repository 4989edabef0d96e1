"""What `/mlsd` commands read about one channel: its group, subscriptions and open questions.

Read-only views, each one unit of work; the writes (subscribe, unsubscribe,
post, reveal) belong to the daily loop's own store modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from bot.domain import ChannelRef
from bot.store.conflicts import insert_new
from bot.store.db import as_utc
from bot.store.records import Group, Subscription, record, records
from bot.store.schema import groups, posts, subscriptions
from bot.store.unit import Unit


@dataclass(frozen=True)
class OpenPost:
    topic: str
    message_id: str
    deadline: datetime


@dataclass(frozen=True)
class ChannelSchedule:
    group: Group | None
    subscriptions: list[Any] = field(default_factory=list)
    open_posts: list[OpenPost] = field(default_factory=list)  # soonest deadline first


# Built once: every answer, vote and subscribe asks for the group id.
_WHERE_CHANNEL = (groups.c.platform == bindparam("platform"), groups.c.workspace == bindparam("workspace"),
                  groups.c.channel == bindparam("channel"))
_GROUP = select(groups).where(*_WHERE_CHANNEL)
_GROUP_ID = select(groups.c.id).where(*_WHERE_CHANNEL)
_SUBSCRIPTIONS = (select(subscriptions).where(subscriptions.c.group_id == bindparam("gid"))
                  .order_by(subscriptions.c.id))


def _channel_params(ref: ChannelRef) -> dict[str, str]:
    return {"platform": ref.platform, "workspace": ref.workspace, "channel": ref.channel}


def find_group(s: Unit, ref: ChannelRef) -> Group | None:
    row = s.execute(_GROUP, _channel_params(ref)).first()
    return record(Group, row) if row else None


def group_id(s: Unit, ref: ChannelRef) -> int | None:
    """The channel's group id, None when the bot never saw the channel."""
    return s.execute(_GROUP_ID, _channel_params(ref)).scalar()


def ensure_group_id(s: Unit, ref: ChannelRef, now: datetime) -> int:
    """The channel's group id, the group created on first sight (a concurrent creator's row
    wins, never an error)."""
    found = group_id(s, ref)
    if found is None:
        found = s.execute(insert_new(s, groups, returning=groups.c.id), {
            **_channel_params(ref), "timezone": "UTC", "created_at": now}).scalar()
    if found is None:  # created meanwhile by a concurrent command
        found = group_id(s, ref)
    assert found is not None
    return int(found)


def _subscriptions(s: Unit, group: int) -> list[Any]:
    return records(Subscription, s.execute(_SUBSCRIPTIONS, {"gid": group}))


def schedule(s: Unit, ref: ChannelRef) -> ChannelSchedule:
    """The channel's subscriptions (active or not) and its questions still open."""
    group = find_group(s, ref)
    if group is None:
        return ChannelSchedule(None)
    open_posts = s.execute(
        select(posts.c.topic, posts.c.message_id, posts.c.deadline)
        .where(posts.c.group_id == group.id, posts.c.status == "posted").order_by(posts.c.deadline)
    ).all()
    return ChannelSchedule(group, _subscriptions(s, group.id),
                           [OpenPost(t, m or "", as_utc(d) or d) for t, m, d in open_posts])


def active_subscriptions(s: Unit, ref: ChannelRef) -> list[Any]:
    group = group_id(s, ref)
    return [sub for sub in _subscriptions(s, group) if sub.active] if group is not None else []


def open_post_ids(s: Unit, ref: ChannelRef) -> list[int]:
    """Questions posted in this channel and not yet revealed."""
    group = group_id(s, ref)
    if group is None:
        return []
    return list(s.execute(select(posts.c.id).where(
        posts.c.group_id == group, posts.c.status == "posted").order_by(posts.c.id)).scalars())
