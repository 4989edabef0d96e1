"""The tables, in SQLAlchemy Core: the one definition of the schema the running bot uses.

Core and not ORM classes because the running bot never needs an identity map
or lazy loading (every unit of work is a few prebuilt statements), and
importing `sqlalchemy.orm` with SQLModel costs about 10 MB of resident memory
in a process whose idle budget is 80 MB. Tests, benchmarks and scripts that
want ORM classes get them mapped onto these same tables in `bot.store.models`.

Uniqueness constraints carry the correctness rules: one post per subscription
and local date, one ledger row per (member, reason, ref), one processed row per
platform event. Application code relies on them instead of check-then-insert.
Alembic's migrations (`bot/migrations`) create the tables; a test compares them
with this metadata, so a change here needs a migration.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def _id() -> Column:  # type: ignore[type-arg]
    return Column("id", Integer, primary_key=True)


def _utc(name: str, nullable: bool = False) -> Column:  # type: ignore[type-arg]
    """A UTC time (SQLite hands it back naive: read it through `bot.store.db.as_utc`)."""
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _str(name: str, length: int | None = None, *, nullable: bool = False, **kw: object) -> Column:  # type: ignore[type-arg]
    return Column(name, String(length), nullable=nullable, **kw)


def _ref(name: str, target: str, **kw: object) -> Column:  # type: ignore[type-arg]
    return Column(name, Integer, ForeignKey(target), nullable=False, **kw)


def _flag(name: str, default: bool) -> Column:  # type: ignore[type-arg]
    return Column(name, Boolean, nullable=False, default=default)


def _count(name: str, default: int = 0) -> Column:  # type: ignore[type-arg]
    return Column(name, Integer, nullable=False, default=default)


# One channel on one workspace/guild. A NULL digest_weekday/digest_time means the
# configured default (settings.digest_weekday / digest_time); weekday 0 = Monday.
groups = Table(
    "groups", metadata,
    _id(),
    _str("platform", 20),
    _str("workspace", 64),
    _str("channel", 64),
    _str("timezone", 64, default="UTC"),
    Column("digest_weekday", Integer, nullable=True),
    _str("digest_time", 5, nullable=True),
    _utc("created_at"),
    UniqueConstraint("platform", "workspace", "channel"),
)

members = Table(
    "members", metadata,
    _id(),
    _str("platform", 20),
    _str("workspace", 64),
    _str("user_id", 64),
    _str("display_name", 200, default=""),
    UniqueConstraint("platform", "workspace", "user_id"),
)

subscriptions = Table(
    "subscriptions", metadata,
    _id(),
    _ref("group_id", "groups.id", index=True),
    _str("topic", 32),  # a topic slug or "all"
    _str("post_time", 5),  # HH:MM local
    _str("timezone", 64),
    _str("days", 40),  # "mon,tue,wed"
    _count("window_minutes", 1440),
    _flag("blind", False),
    _flag("active", True),
    _str("paused_reason", 200, nullable=True),
    _utc("effective_from"),
    _str("created_by", 64, default=""),
    _utc("updated_at"),
    UniqueConstraint("group_id", "topic"),
)

# One daily question in one channel: claimed -> posted -> revealing -> revealed, or skipped.
# After a platform error the sender releases its claim until `retry_at` (backoff, never
# before the platform's Retry-After); `attempts` counts the failures of the current stage.
posts = Table(
    "posts", metadata,
    _id(),
    _ref("subscription_id", "subscriptions.id", index=True),
    _ref("group_id", "groups.id"),
    _str("topic", 32),
    _str("question_id", 120, nullable=True),
    Column("local_date", Date, nullable=False),
    _utc("scheduled_for"),
    _utc("deadline"),
    _str("status", 16, default="claimed", index=True),
    _str("message_id", 64, nullable=True),
    _str("thread_id", 64, nullable=True, index=True),
    _utc("claimed_at"),
    _utc("posted_at", nullable=True),
    _utc("reveal_claimed_at", nullable=True),
    _utc("revealed_at", nullable=True),
    _str("skip_reason", 200, nullable=True),
    _flag("blind", False),
    _count("attempts"),
    _utc("retry_at", nullable=True),
    _str("last_error", 200, nullable=True),
    UniqueConstraint("subscription_id", "local_date"),
    # A channel's posts in schedule order with what a streak reads (covering; 0005).
    Index("ix_posts_group_scheduled", "group_id", "scheduled_for", "id", "status", "deadline"),
)

# Every message a member wrote in a question's thread (answers and discussion).
# Deleted replies are kept with `deleted` set: nothing a member wrote is lost.
replies = Table(
    "replies", metadata,
    _id(),
    _ref("post_id", "posts.id", index=True),
    _ref("member_id", "members.id"),
    _str("message_id", 64),
    _str("text"),
    _flag("is_answer", True),
    _flag("late", False),
    _flag("private", False),
    _flag("deleted", False),
    _flag("acknowledged", False),
    _utc("at"),
    _utc("edited_at", nullable=True),
    UniqueConstraint("post_id", "message_id"),
    # A member's on-time answers, found without reading the rows (streaks; 0005).
    Index("ix_replies_member_answers", "member_id", "is_answer", "late", "deleted", "post_id"),
)

votes = Table(
    "votes", metadata,
    _id(),
    _ref("post_id", "posts.id", index=True),
    _str("message_id", 64),
    _ref("voter_id", "members.id"),
    _ref("target_id", "members.id"),
    _str("reaction", 64),
    _utc("at"),
    UniqueConstraint("post_id", "message_id", "voter_id", "reaction"),
)

# A member's scored answer to one post, written once at the reveal. `covered` is "1,0,1,1"
# per key point; `grading` the grader's verdicts with the member's own quoted sentences
# (bot.grading.Grading JSON), NULL on rows written before evidence was kept.
answer_results = Table(
    "answer_results", metadata,
    _id(),
    _ref("post_id", "posts.id", index=True),
    _ref("group_id", "groups.id"),
    _ref("member_id", "members.id"),
    _str("question_id", 120),
    _str("topic", 32),
    _str("covered", 32, default=""),
    Column("coverage", Float, nullable=False, default=0.0),
    Column("grading", Text, nullable=True),
    _flag("late", False),
    _count("votes"),
    _count("points"),
    _utc("at"),
    UniqueConstraint("post_id", "member_id"),
    # A channel's results over a time range (the digest; 0005).
    Index("ix_answer_results_group_at", "group_id", "at"),
    # One member's results in one channel, over a time range or by topic, covering (/mlsd stats; 0005).
    Index("ix_answer_results_member_group", "member_id", "group_id", "at", "late", "topic", "coverage"),
)

# Append-only points. Every leaderboard is a query over this table.
ledger = Table(
    "ledger", metadata,
    _id(),
    _ref("group_id", "groups.id"),
    _ref("member_id", "members.id"),
    _str("reason", 32),
    Column("points", Integer, nullable=False),
    _utc("at"),
    _str("ref", 120),
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

# Platform event ids already handled: retries and replays stop here.
processed_events = Table(
    "processed_events", metadata,
    _str("key", 200, primary_key=True),
    _utc("at"),
)

quiz_sessions = Table(
    "quiz_sessions", metadata,
    _id(),
    _ref("group_id", "groups.id", index=True),
    _ref("member_id", "members.id", index=True),
    _str("mode", 16),  # "single" | "readiness"
    _str("item_ids"),  # comma-separated, in order
    _count("position"),
    _utc("created_at"),
    _utc("finished_at", nullable=True),
)

quiz_attempts = Table(
    "quiz_attempts", metadata,
    _id(),
    _ref("session_id", "quiz_sessions.id", index=True),
    _ref("group_id", "groups.id", index=True),
    _ref("member_id", "members.id"),
    _str("item_id", 120),
    _str("topic", 32),
    Column("choice", Integer, nullable=False),
    Column("correct", Boolean, nullable=False),
    Column("first_attempt", Boolean, nullable=False),
    _utc("at"),
    UniqueConstraint("session_id", "item_id"),
    # One member's attempts in one channel by topic, covering (/mlsd stats; 0005).
    Index("ix_quiz_attempts_member_group", "member_id", "group_id", "topic", "correct"),
)

# Spaced review of quiz items a member got wrong: due after 1, 3, 7, 21 days.
quiz_reviews = Table(
    "quiz_reviews", metadata,
    _id(),
    _ref("member_id", "members.id", index=True),
    _str("item_id", 120),
    _count("stage"),
    _utc("due_at"),
    _flag("done", False),
    UniqueConstraint("member_id", "item_id"),
)

# One weekly digest of one group, claimed like a post: claimed -> sent -> posted, or skipped.
# `week_start` is the Monday of the week it reports on; `sent` means the text is out and
# only the chart upload is left.
digests = Table(
    "digests", metadata,
    _id(),
    _ref("group_id", "groups.id", index=True),
    Column("week_start", Date, nullable=False),
    _str("status", 16, default="claimed"),
    _utc("claimed_at"),
    _utc("posted_at", nullable=True),
    _utc("scheduled_for", nullable=True),
    _str("message_id", 64, nullable=True),
    _str("skip_reason", 200, nullable=True),
    _count("attempts"),
    _utc("retry_at", nullable=True),
    _str("last_error", 200, nullable=True),
    UniqueConstraint("group_id", "week_start"),
)

# --- the team's habits: they only add behaviour around the daily loop; nothing in
# posting or scoring depends on them existing.

# A member's vacation: posts scheduled inside it neither extend nor break a streak.
away_periods = Table(
    "away_periods", metadata,
    _id(),
    _ref("member_id", "members.id", index=True),
    _utc("starts_at"),
    _utc("ends_at"),
)

# Per-member opt-ins; a missing row means every default.
member_prefs = Table(
    "member_prefs", metadata,
    Column("member_id", Integer, ForeignKey("members.id"), primary_key=True),
    _flag("weekly_summary", False),
)

# A holiday: the subscription posts nothing on this local date.
skip_dates = Table(
    "skip_dates", metadata,
    _id(),
    _ref("subscription_id", "subscriptions.id", index=True),
    Column("local_date", Date, nullable=False),
    UniqueConstraint("subscription_id", "local_date"),
)

# Opt-in channel features: the deadline reminder (this many minutes before each
# deadline; NULL: off) and the live standings message.
group_options = Table(
    "group_options", metadata,
    Column("group_id", Integer, ForeignKey("groups.id"), primary_key=True),
    Column("reminder_minutes", Integer, nullable=True),
    _flag("live_board", False),
    _str("live_board_message_id", 64, nullable=True),
)

# A one-time notice already given (e.g. a topic's questions running low), so it isn't repeated.
notices = Table(
    "notices", metadata,
    _id(),
    _ref("group_id", "groups.id", index=True),
    _str("key", 120),
    _utc("at"),
    UniqueConstraint("group_id", "key"),
)

# A deadline reminder claimed for a post: at most one per post.
reminders = Table(
    "reminders", metadata,
    Column("post_id", Integer, ForeignKey("posts.id"), primary_key=True),
    _utc("at"),
)
