"""Units of work on a channel's subscriptions: subscribe, unsubscribe, pause, and reading them.

Each function is one unit of work run by `Store.run`; the use case tells the
scheduler about the change (`Runtime.schedule_changed`) after it commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, select, update

from bot.domain import ChannelRef
from bot.selection import ALL
from bot.store import channels
from bot.store.records import Subscription, record, records
from bot.store.schema import groups
from bot.store.schema import subscriptions as subs
from bot.store.unit import Unit


class Schedule(Protocol):
    """What a subscription's schedule is made of (the use case's ScheduleSpec)."""

    @property
    def at(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def days(self) -> tuple[str, ...]: ...
    @property
    def window_minutes(self) -> int: ...
    @property
    def blind(self) -> bool: ...


# `/mlsd subscribe` is what an admin runs in channel after channel: its statements are
# built once, in SQLAlchemy Core (building an ORM query per call cost more than SQLite).
_SUBSCRIPTION = select(subs).where(subs.c.group_id == bindparam("gid"), subs.c.topic == bindparam("topic"))
_SET_GROUP_ZONE = update(groups).where(groups.c.id == bindparam("b_gid")).values(timezone=bindparam("b_tz"))
# (An UPDATE's bind names must differ from its columns' names, hence the `b_` prefixes.)
_UPDATE = update(subs).where(subs.c.id == bindparam("b_id")).values(
    post_time=bindparam("b_post_time"), timezone=bindparam("b_timezone"), days=bindparam("b_days"),
    window_minutes=bindparam("b_window_minutes"), blind=bindparam("b_blind"), active=True,
    paused_reason=None, effective_from=bindparam("b_effective_from"), updated_at=bindparam("b_updated_at"))
_OF_GROUP = select(subs).where(subs.c.group_id == bindparam("gid")).order_by(subs.c.id)


def _of_group(s: Unit, group_id: int) -> list[Any]:
    return records(Subscription, s.execute(_OF_GROUP, {"gid": group_id}))


def subscribe(
    s: Unit, channel: ChannelRef, topic: str, spec_for: Callable[[Any], Schedule], *,
    by: str, now: datetime,
) -> tuple[Any, str]:
    """Create, update or resume; returns the subscription and what happened ("subscribed", "resumed", "updated").

    `spec_for` is the use case's rule for the schedule, given the channel's current
    subscription to the topic (None: none yet); it runs inside this unit, so the read
    and the write are one transaction.
    """
    gid = channels.ensure_group_id(s, channel, now)
    found = s.execute(_SUBSCRIPTION, {"gid": gid, "topic": topic}).first()
    existing = record(Subscription, found) if found is not None else None
    spec = spec_for(existing)
    if existing is None:
        what = "subscribed"
    elif not existing.active or existing.paused_reason:
        what = "resumed"
    else:
        what = "updated"
    # Only occurrences from now on: subscribing never posts a past slot.
    effective_from = existing.effective_from if existing is not None and what == "updated" else now
    values = {"post_time": spec.at, "timezone": spec.timezone, "days": ",".join(spec.days),
              "window_minutes": spec.window_minutes, "blind": spec.blind, "active": True,
              "paused_reason": None, "effective_from": effective_from, "updated_at": now}
    if existing is None:
        new_id = s.execute(insert(subs).returning(subs.c.id), {
            "group_id": gid, "topic": topic, "created_by": by, **values}).scalar_one()
        row = Subscription(id=new_id, group_id=gid, topic=topic, created_by=by, **values)
    else:
        s.execute(_UPDATE, {"b_id": existing.id, **{f"b_{k}": v for k, v in values.items()
                                                      if k not in ("active", "paused_reason")}})
        row = Subscription(id=existing.id, group_id=gid, topic=topic, created_by=existing.created_by, **values)
    s.execute(_SET_GROUP_ZONE, {"b_gid": gid, "b_tz": spec.timezone})
    return row, what


def unsubscribe(s: Unit, channel: ChannelRef, topic: str, now: datetime) -> tuple[list[Any], int | None]:
    """Stop the channel's active subscriptions to `topic` (or all); those stopped (as they are now)
    and the group id."""
    group_id = channels.group_id(s, channel)
    if group_id is None:
        return [], None
    rows = [replace(r, active=False, updated_at=now)
            for r in _of_group(s, group_id) if r.active and (topic == ALL or r.topic == topic)]
    if rows:
        s.execute(update(subs).where(subs.c.id.in_([r.id for r in rows]))
                          .values(active=False, updated_at=now))
    return rows, group_id


def pause(s: Unit, subscription_id: int, reason: str, now: datetime) -> int | None:
    """Pause an active subscription with its reason; the group id, or None when there is no such row."""
    group_id = s.execute(select(subs.c.group_id).where(subs.c.id == subscription_id)).scalar()
    if group_id is None:
        return None
    s.execute(update(subs).where(subs.c.id == subscription_id, subs.c.active == True)  # noqa: E712
                 .values(paused_reason=reason[:200], updated_at=now))
    return int(group_id)


def pause_channel(s: Unit, channel: ChannelRef, reason: str, now: datetime) -> tuple[int | None, list[int]]:
    """Pause every subscription of a channel that is gone; the group id and the subscription ids."""
    group_id = channels.group_id(s, channel)
    if group_id is None:
        return None, []
    ids: list[int] = []
    for row in _of_group(s, group_id):
        pause(s, row.id, reason, now)
        ids.append(row.id)
    return group_id, ids


def active_in_workspace(s: Unit, platform: str, workspace: str) -> list[tuple[Any, str]]:
    """Each active, unpaused subscription of a workspace with its channel id."""
    rows = s.execute(
        select(subs, groups.c.channel.label("channel_id"))
        .join(groups, groups.c.id == subs.c.group_id)
        .where(groups.c.platform == platform, groups.c.workspace == workspace,
               subs.c.active == True,  # noqa: E712
               subs.c.paused_reason.is_(None))
    ).all()
    return [(Subscription(**{k: v for k, v in row._mapping.items() if k != "channel_id"}), row.channel_id)
            for row in rows]
