"""Units of work on a channel's subscriptions: subscribe, unsubscribe, pause, and reading them.

Each function is one unit of work run by `Store.run`; the use case tells the
scheduler about the change (`Runtime.schedule_changed`) after it commits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, select

from bot.domain import ChannelRef
from bot.selection import ALL
from bot.store import channels
from bot.store.conflicts import insert_new
from bot.store.models import GroupRow, SubscriptionRow
from bot.store.schema import groups
from bot.store.schema import subscriptions as subs
from bot.store.unit import Sql, Unit, sql_of


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


def _of_group(s: Session, group_id: int) -> list[SubscriptionRow]:
    return list(s.exec(select(SubscriptionRow).where(SubscriptionRow.group_id == group_id)
                       .order_by(SubscriptionRow.id)))  # type: ignore[arg-type]


# `/mlsd subscribe` is what an admin runs in channel after channel: its statements are
# built once, in SQLAlchemy Core (building an ORM query per call cost more than SQLite).
_SUBSCRIPTION = select(subs).where(subs.c.group_id == bindparam("gid"), subs.c.topic == bindparam("topic"))
_SET_GROUP_ZONE = update(groups).where(groups.c.id == bindparam("b_gid")).values(timezone=bindparam("b_tz"))
# (An UPDATE's bind names must differ from its columns' names, hence the `b_` prefixes.)
_UPDATE = update(subs).where(subs.c.id == bindparam("b_id")).values(
    post_time=bindparam("b_post_time"), timezone=bindparam("b_timezone"), days=bindparam("b_days"),
    window_minutes=bindparam("b_window_minutes"), blind=bindparam("b_blind"), active=True,
    paused_reason=None, effective_from=bindparam("b_effective_from"), updated_at=bindparam("b_updated_at"))


def _group_id(s: Unit | Sql, ref: ChannelRef, now: datetime) -> int:
    """The channel's group, created on first use (a concurrent creator's row wins, never an error)."""
    found = channels.group_id(s, ref)
    if found is None:
        found = sql_of(s).execute(insert_new(s, groups, returning=groups.c.id), {
            "platform": ref.platform, "workspace": ref.workspace, "channel": ref.channel,
            "timezone": "UTC", "created_at": now}).scalar()
    if found is None:  # created meanwhile by a concurrent command
        found = channels.group_id(s, ref)
    assert found is not None
    return int(found)


def subscribe(
    s: Unit | Sql, channel: ChannelRef, topic: str, spec_for: Callable[[SubscriptionRow | None], Schedule], *,
    by: str, now: datetime,
) -> tuple[SubscriptionRow, str]:
    """Create, update or resume; returns the row and what happened ("subscribed", "resumed", "updated").

    `spec_for` is the use case's rule for the schedule, given the channel's current
    subscription to the topic (None: none yet); it runs inside this unit, so the read
    and the write are one transaction.
    """
    conn = sql_of(s)
    gid = _group_id(s, channel, now)
    found = conn.execute(_SUBSCRIPTION, {"gid": gid, "topic": topic}).first()
    existing = SubscriptionRow(**found._mapping) if found is not None else None
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
        row = SubscriptionRow(group_id=gid, topic=topic, created_by=by, **values)
        row.id = conn.execute(insert(subs).returning(subs.c.id), {
            "group_id": gid, "topic": topic, "created_by": by, **values}).scalar_one()
    else:
        conn.execute(_UPDATE, {"b_id": existing.id, **{f"b_{k}": v for k, v in values.items()
                                                      if k not in ("active", "paused_reason")}})
        row = SubscriptionRow(id=existing.id, group_id=gid, topic=topic, created_by=existing.created_by, **values)
    conn.execute(_SET_GROUP_ZONE, {"b_gid": gid, "b_tz": spec.timezone})
    return row, what


def unsubscribe(s: Session, channel: ChannelRef, topic: str, now: datetime) -> tuple[list[SubscriptionRow], int | None]:
    """Stop the channel's active subscriptions to `topic` (or all); the rows stopped and the group id."""
    group_id = channels.group_id(s, channel)
    if group_id is None:
        return [], None
    rows = [r for r in _of_group(s, group_id) if r.active and (topic == ALL or r.topic == topic)]
    for r in rows:
        r.active = False
        r.updated_at = now
        s.add(r)
    return rows, group_id


def pause(s: Session, subscription_id: int, reason: str, now: datetime) -> int | None:
    """Pause an active subscription with its reason; the group id, or None when there is no such row."""
    row = s.get(SubscriptionRow, subscription_id)
    if row is None:
        return None
    if row.active:
        row.paused_reason = reason[:200]
        row.updated_at = now
        s.add(row)
    return row.group_id


def pause_channel(s: Session, channel: ChannelRef, reason: str, now: datetime) -> tuple[int | None, list[int]]:
    """Pause every subscription of a channel that is gone; the group id and the subscription ids."""
    group_id = channels.group_id(s, channel)
    if group_id is None:
        return None, []
    ids: list[int] = []
    for row in _of_group(s, group_id):
        pause(s, row.id or 0, reason, now)
        ids.append(row.id or 0)
    return group_id, ids


def active_in_workspace(s: Session, platform: str, workspace: str) -> list[tuple[SubscriptionRow, str]]:
    """Each active, unpaused subscription of a workspace with its channel id."""
    rows = s.exec(
        select(SubscriptionRow, GroupRow.channel)
        .join(GroupRow, GroupRow.id == SubscriptionRow.group_id)  # type: ignore[arg-type]
        .where(GroupRow.platform == platform, GroupRow.workspace == workspace,
               SubscriptionRow.active == True,  # noqa: E712
               SubscriptionRow.paused_reason == None)  # noqa: E711
    ).all()
    return [(sub, channel) for sub, channel in rows]
