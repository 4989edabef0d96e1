"""Units of work on a channel's subscriptions: subscribe, unsubscribe, pause, and reading them.

Each function is one unit of work run by `Store.run`; the use case tells the
scheduler about the change (`Runtime.schedule_changed`) after it commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from bot.domain import ChannelRef
from bot.selection import ALL
from bot.store.answers import insert_ignoring_repeats
from bot.store.models import GroupRow, SubscriptionRow


def find_group(s: Session, ref: ChannelRef) -> GroupRow | None:
    return s.exec(select(GroupRow).where(
        GroupRow.platform == ref.platform, GroupRow.workspace == ref.workspace,
        GroupRow.channel == ref.channel)).first()


def _group(s: Session, ref: ChannelRef, now: datetime) -> GroupRow:
    """The channel's group, created on first use (a concurrent creator's row wins, never an error)."""
    found = find_group(s, ref)
    if found is None:
        insert_ignoring_repeats(s, GroupRow.__table__,  # type: ignore[attr-defined]
                                {"platform": ref.platform, "workspace": ref.workspace,
                                 "channel": ref.channel, "timezone": "UTC", "created_at": now})
        found = find_group(s, ref)
    assert found is not None
    return found


def _of_group(s: Session, group_id: int) -> list[SubscriptionRow]:
    return list(s.exec(select(SubscriptionRow).where(SubscriptionRow.group_id == group_id)
                       .order_by(SubscriptionRow.id)))  # type: ignore[arg-type]


def subscribe(
    s: Session, channel: ChannelRef, topic: str, *, at: str, timezone: str, days: str,
    window_minutes: int, blind: bool, by: str, now: datetime,
) -> tuple[SubscriptionRow, str]:
    """Create, update or resume; returns the row and what happened ("subscribed", "resumed", "updated")."""
    group = _group(s, channel, now)
    existing = s.exec(select(SubscriptionRow).where(
        SubscriptionRow.group_id == group.id, SubscriptionRow.topic == topic)).first()
    row = existing or SubscriptionRow(
        group_id=group.id or 0, topic=topic, post_time=at, timezone=timezone, days=days,
        effective_from=now, updated_at=now, created_by=by,
    )
    if existing is None:
        what = "subscribed"
    elif not existing.active or existing.paused_reason:
        what = "resumed"
    else:
        what = "updated"
    row.post_time, row.timezone, row.days = at, timezone, days
    row.window_minutes = window_minutes
    row.blind = blind
    if what != "updated":
        # Only occurrences from now on: subscribing never posts a past slot.
        row.effective_from = now
    row.active = True
    row.paused_reason = None
    row.updated_at = now
    group.timezone = timezone
    s.add(group)
    s.add(row)
    s.flush()
    return row, what


def unsubscribe(s: Session, channel: ChannelRef, topic: str, now: datetime) -> tuple[list[SubscriptionRow], int | None]:
    """Stop the channel's active subscriptions to `topic` (or all); the rows stopped and the group id."""
    group = find_group(s, channel)
    if group is None:
        return [], None
    rows = [r for r in _of_group(s, group.id or 0) if r.active and (topic == ALL or r.topic == topic)]
    for r in rows:
        r.active = False
        r.updated_at = now
        s.add(r)
    return rows, group.id


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
    group = find_group(s, channel)
    if group is None:
        return None, []
    ids: list[int] = []
    for row in _of_group(s, group.id or 0):
        pause(s, row.id or 0, reason, now)
        ids.append(row.id or 0)
    return group.id, ids


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
