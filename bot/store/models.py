"""SQLModel tables. The database is the source of truth for everything the bot does.

Uniqueness constraints carry the correctness rules: one post per subscription
and local date, one ledger row per (member, reason, ref), one processed row per
platform event. Application code relies on them instead of check-then-insert.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utc_column(nullable: bool = True) -> Column:  # type: ignore[type-arg]
    return Column(DateTime(timezone=True), nullable=nullable)


class GroupRow(SQLModel, table=True):
    """One channel on one workspace/guild."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("platform", "workspace", "channel"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    workspace: str = Field(max_length=64)
    channel: str = Field(max_length=64)
    timezone: str = Field(default="UTC", max_length=64)
    # When this group's weekly digest is due (0 = Monday, local HH:MM in `timezone`);
    # None: the configured default (settings.digest_weekday / digest_time).
    digest_weekday: int | None = None
    digest_time: str | None = Field(default=None, max_length=5)
    created_at: datetime = Field(sa_column=utc_column(nullable=False))


class MemberRow(SQLModel, table=True):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=20)
    workspace: str = Field(max_length=64)
    user_id: str = Field(max_length=64)
    display_name: str = Field(default="", max_length=200)


class SubscriptionRow(SQLModel, table=True):
    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("group_id", "topic"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    topic: str = Field(max_length=32)  # a topic slug or "all"
    post_time: str = Field(max_length=5)  # HH:MM local
    timezone: str = Field(max_length=64)
    days: str = Field(max_length=40)  # "mon,tue,wed"
    window_minutes: int = 1440
    blind: bool = False
    active: bool = True
    paused_reason: str | None = Field(default=None, max_length=200)
    effective_from: datetime = Field(sa_column=utc_column(nullable=False))
    created_by: str = Field(default="", max_length=64)
    updated_at: datetime = Field(sa_column=utc_column(nullable=False))


class PostRow(SQLModel, table=True):
    """One daily question in one channel: claimed, then posted, then revealed."""

    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("subscription_id", "local_date"),
        # A channel's posts in schedule order with what a streak reads (covering; 0005).
        Index("ix_posts_group_scheduled", "group_id", "scheduled_for", "id", "status", "deadline"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="subscriptions.id", index=True)
    group_id: int = Field(foreign_key="groups.id")
    topic: str = Field(max_length=32)
    question_id: str | None = Field(default=None, max_length=120)
    local_date: date
    scheduled_for: datetime = Field(sa_column=utc_column(nullable=False))
    deadline: datetime = Field(sa_column=utc_column(nullable=False))
    status: str = Field(default="claimed", max_length=16, index=True)
    # claimed -> posted -> revealing -> revealed ; or skipped
    message_id: str | None = Field(default=None, max_length=64)
    thread_id: str | None = Field(default=None, max_length=64, index=True)
    claimed_at: datetime = Field(sa_column=utc_column(nullable=False))
    posted_at: datetime | None = Field(default=None, sa_column=utc_column())
    reveal_claimed_at: datetime | None = Field(default=None, sa_column=utc_column())
    revealed_at: datetime | None = Field(default=None, sa_column=utc_column())
    skip_reason: str | None = Field(default=None, max_length=200)
    blind: bool = False
    # After a platform error the sender releases its claim until `retry_at`
    # (backoff, never before the platform's Retry-After); `attempts` counts the
    # failures of the current stage (posting, then revealing).
    attempts: int = 0
    retry_at: datetime | None = Field(default=None, sa_column=utc_column())
    last_error: str | None = Field(default=None, max_length=200)


class ReplyRow(SQLModel, table=True):
    """Every message a member wrote in a question's thread (answers and discussion).

    Deleted replies are kept with `deleted` set: nothing a member wrote is lost.
    """

    __tablename__ = "replies"
    __table_args__ = (
        UniqueConstraint("post_id", "message_id"),
        # A member's on-time answers, found without reading the rows (streaks; 0005).
        Index("ix_replies_member_answers", "member_id", "is_answer", "late", "deleted", "post_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="posts.id", index=True)
    member_id: int = Field(foreign_key="members.id")
    message_id: str = Field(max_length=64)
    text: str
    is_answer: bool = True
    late: bool = False
    private: bool = False
    deleted: bool = False
    acknowledged: bool = False
    at: datetime = Field(sa_column=utc_column(nullable=False))
    edited_at: datetime | None = Field(default=None, sa_column=utc_column())


class VoteRow(SQLModel, table=True):
    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("post_id", "message_id", "voter_id", "reaction"),)

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="posts.id", index=True)
    message_id: str = Field(max_length=64)
    voter_id: int = Field(foreign_key="members.id")
    target_id: int = Field(foreign_key="members.id")
    reaction: str = Field(max_length=64)
    at: datetime = Field(sa_column=utc_column(nullable=False))


class AnswerResultRow(SQLModel, table=True):
    """A member's scored answer to one post, written once at the reveal."""

    __tablename__ = "answer_results"
    __table_args__ = (
        UniqueConstraint("post_id", "member_id"),
        # A channel's results over a time range (the digest; 0005).
        Index("ix_answer_results_group_at", "group_id", "at"),
        # One member's results in one channel, over a time range or by topic, covering (/mlsd stats; 0005).
        Index("ix_answer_results_member_group", "member_id", "group_id", "at", "late", "topic", "coverage"),
    )

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="posts.id", index=True)
    group_id: int = Field(foreign_key="groups.id")
    member_id: int = Field(foreign_key="members.id")
    question_id: str = Field(max_length=120)
    topic: str = Field(max_length=32)
    covered: str = Field(default="", max_length=32)  # "1,0,1,1" per key point
    coverage: float = 0.0
    # The grader's verdicts with the member's own quoted sentences (bot.grading.Grading JSON);
    # NULL on rows written before evidence was kept.
    grading: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    late: bool = False
    votes: int = 0
    points: int = 0
    at: datetime = Field(sa_column=utc_column(nullable=False))


class LedgerRow(SQLModel, table=True):
    """Append-only points. Every leaderboard is a query over this table."""

    __tablename__ = "ledger"
    __table_args__ = (
        UniqueConstraint("group_id", "member_id", "reason", "ref"),
        # Indexes of 0005, each covering the query it serves, so no leaderboard reads a row:
        # the newest id of a group (the leaderboard cache's version),
        Index("ix_ledger_group_version", "group_id", "id"),
        # week/month boards and the digest (a range of one group's time),
        Index("ix_ledger_group_at", "group_id", "at", "member_id", "points"),
        # the all-time board (summed in member order, no sort),
        Index("ix_ledger_group_member", "group_id", "member_id", "points"),
        # and the channels a member has points in.
        Index("ix_ledger_member_group", "member_id", "group_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    member_id: int = Field(foreign_key="members.id")
    reason: str = Field(max_length=32)
    points: int
    at: datetime = Field(sa_column=utc_column(nullable=False))
    ref: str = Field(max_length=120)


class ProcessedEventRow(SQLModel, table=True):
    """Platform event ids already handled: retries and replays stop here."""

    __tablename__ = "processed_events"

    key: str = Field(primary_key=True, max_length=200)
    at: datetime = Field(sa_column=utc_column(nullable=False))


class QuizSessionRow(SQLModel, table=True):
    __tablename__ = "quiz_sessions"

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    mode: str = Field(max_length=16)  # "single" | "readiness"
    item_ids: str  # comma-separated, in order
    position: int = 0
    created_at: datetime = Field(sa_column=utc_column(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=utc_column())


class QuizAttemptRow(SQLModel, table=True):
    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint("session_id", "item_id"),
        # One member's attempts in one channel by topic, covering (/mlsd stats; 0005).
        Index("ix_quiz_attempts_member_group", "member_id", "group_id", "topic", "correct"),
    )

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="quiz_sessions.id", index=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    member_id: int = Field(foreign_key="members.id")
    item_id: str = Field(max_length=120)
    topic: str = Field(max_length=32)
    choice: int
    correct: bool
    first_attempt: bool
    at: datetime = Field(sa_column=utc_column(nullable=False))


class QuizReviewRow(SQLModel, table=True):
    """Spaced review of quiz items a member got wrong: due after 1, 3, 7, 21 days."""

    __tablename__ = "quiz_reviews"
    __table_args__ = (UniqueConstraint("member_id", "item_id"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="members.id", index=True)
    item_id: str = Field(max_length=120)
    stage: int = 0
    due_at: datetime = Field(sa_column=utc_column(nullable=False))
    done: bool = False


class DigestRow(SQLModel, table=True):
    """One weekly digest of one group, claimed like a post: claimed -> sent -> posted, or skipped.

    `week_start` is the Monday of the week the digest reports on; `sent` means the
    text is out and only the chart upload is left.
    """

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("group_id", "week_start"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    week_start: date
    status: str = Field(default="claimed", max_length=16)
    claimed_at: datetime = Field(sa_column=utc_column(nullable=False))
    posted_at: datetime | None = Field(default=None, sa_column=utc_column())
    scheduled_for: datetime | None = Field(default=None, sa_column=utc_column())
    message_id: str | None = Field(default=None, max_length=64)
    skip_reason: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    retry_at: datetime | None = Field(default=None, sa_column=utc_column())
    last_error: str | None = Field(default=None, max_length=200)
