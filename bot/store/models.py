"""ORM classes over the schema's tables, for tests, benchmarks and one-off scripts.

The running bot never imports this module: its store works in SQLAlchemy Core
over `bot.store.schema` (see there for why). A test that wants to read or
seed rows as objects does it here, through `Store.session()`; each class is
declarative over the very `Table` the bot uses, so there is one schema.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from bot.store import schema


class Base(DeclarativeBase):
    metadata = schema.metadata


class GroupRow(Base):
    __table__ = schema.groups


class MemberRow(Base):
    __table__ = schema.members


class SubscriptionRow(Base):
    __table__ = schema.subscriptions


class PostRow(Base):
    __table__ = schema.posts


class ReplyRow(Base):
    __table__ = schema.replies


class VoteRow(Base):
    __table__ = schema.votes


class AnswerResultRow(Base):
    __table__ = schema.answer_results


class LedgerRow(Base):
    __table__ = schema.ledger


class ProcessedEventRow(Base):
    __table__ = schema.processed_events


class QuizSessionRow(Base):
    __table__ = schema.quiz_sessions


class QuizAttemptRow(Base):
    __table__ = schema.quiz_attempts


class QuizReviewRow(Base):
    __table__ = schema.quiz_reviews


class DigestRow(Base):
    __table__ = schema.digests


class AwayRow(Base):
    __table__ = schema.away_periods


class MemberPrefRow(Base):
    __table__ = schema.member_prefs


class SkipDateRow(Base):
    __table__ = schema.skip_dates


class GroupOptionRow(Base):
    __table__ = schema.group_options


class NoticeRow(Base):
    __table__ = schema.notices


class ReminderRow(Base):
    __table__ = schema.reminders
