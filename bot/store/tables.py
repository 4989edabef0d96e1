"""The tables as SQLAlchemy Core sees them, named once for the store's prebuilt statements.

The SQLModel classes (`bot.store.models`, `bot.store.habits`) define the schema;
the statements on the busy paths are written in Core over these tables, so
nothing on those paths builds ORM objects.
"""

from __future__ import annotations

from sqlalchemy import Table

from bot.store.habits import AwayRow, SkipDateRow
from bot.store.models import (
    AnswerResultRow,
    GroupRow,
    LedgerRow,
    MemberRow,
    PostRow,
    ProcessedEventRow,
    QuizAttemptRow,
    QuizReviewRow,
    QuizSessionRow,
    ReplyRow,
    SubscriptionRow,
    VoteRow,
)

groups: Table = GroupRow.__table__  # type: ignore[attr-defined]
members: Table = MemberRow.__table__  # type: ignore[attr-defined]
subscriptions: Table = SubscriptionRow.__table__  # type: ignore[attr-defined]
posts: Table = PostRow.__table__  # type: ignore[attr-defined]
replies: Table = ReplyRow.__table__  # type: ignore[attr-defined]
votes: Table = VoteRow.__table__  # type: ignore[attr-defined]
processed_events: Table = ProcessedEventRow.__table__  # type: ignore[attr-defined]
answer_results: Table = AnswerResultRow.__table__  # type: ignore[attr-defined]
ledger: Table = LedgerRow.__table__  # type: ignore[attr-defined]
quiz_sessions: Table = QuizSessionRow.__table__  # type: ignore[attr-defined]
quiz_attempts: Table = QuizAttemptRow.__table__  # type: ignore[attr-defined]
quiz_reviews: Table = QuizReviewRow.__table__  # type: ignore[attr-defined]
skip_dates: Table = SkipDateRow.__table__  # type: ignore[attr-defined]
away_periods: Table = AwayRow.__table__  # type: ignore[attr-defined]
