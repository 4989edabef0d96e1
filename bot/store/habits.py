"""Tables for the team's habits: vacations, holidays, reminders, opt-ins, notices.

Kept apart from the core tables because they only ever add behaviour around
the daily loop; nothing in posting or scoring depends on them existing.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.models import utc_column


class AwayRow(SQLModel, table=True):
    """A member's vacation: posts scheduled inside it neither extend nor break a streak."""

    __tablename__ = "away_periods"

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    starts_at: datetime = Field(sa_column=utc_column(nullable=False))
    ends_at: datetime = Field(sa_column=utc_column(nullable=False))


class MemberPrefRow(SQLModel, table=True):
    """Per-member opt-ins; a missing row means every default."""

    __tablename__ = "member_prefs"

    member_id: int = Field(foreign_key="members.id", primary_key=True)
    weekly_summary: bool = False


class SkipDateRow(SQLModel, table=True):
    """A holiday: the subscription posts nothing on this local date."""

    __tablename__ = "skip_dates"
    __table_args__ = (UniqueConstraint("subscription_id", "local_date"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="subscriptions.id", index=True)
    local_date: date


class GroupOptionRow(SQLModel, table=True):
    """Opt-in channel features: the deadline reminder and the live standings message."""

    __tablename__ = "group_options"

    group_id: int = Field(foreign_key="groups.id", primary_key=True)
    reminder_minutes: int | None = None  # remind this long before each deadline; None: off
    live_board: bool = False
    live_board_message_id: str | None = Field(default=None, max_length=64)


class NoticeRow(SQLModel, table=True):
    """A one-time notice already given (e.g. a topic's questions running low), so it isn't repeated."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("group_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    key: str = Field(max_length=120)
    at: datetime = Field(sa_column=utc_column(nullable=False))


class ReminderRow(SQLModel, table=True):
    """A deadline reminder claimed for a post: at most one per post."""

    __tablename__ = "reminders"

    post_id: int = Field(foreign_key="posts.id", primary_key=True)
    at: datetime = Field(sa_column=utc_column(nullable=False))
