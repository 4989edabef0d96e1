"""indexes for leaderboards, streaks and stats at a million ledger rows

Each new index covers the query it serves (bench/scale.py prints their plans):
a leaderboard window is a range of one group's ledger, the all-time board a
member-ordered walk of it, a streak one channel's posts in schedule order plus
one member's on-time answers, the stats one member's rows in one channel. The
single-column indexes they start with are dropped: each new one serves their
queries too, and the ledger takes fewer writes per point.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 10:00:00
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# (table, new index, its columns)
NEW = (
    ('ledger', 'ix_ledger_group_version', ['group_id', 'id']),
    ('ledger', 'ix_ledger_group_at', ['group_id', 'at', 'member_id', 'points']),
    ('ledger', 'ix_ledger_group_member', ['group_id', 'member_id', 'points']),
    ('ledger', 'ix_ledger_member_group', ['member_id', 'group_id']),
    ('posts', 'ix_posts_group_scheduled', ['group_id', 'scheduled_for', 'id', 'status', 'deadline']),
    ('replies', 'ix_replies_member_answers', ['member_id', 'is_answer', 'late', 'deleted', 'post_id']),
    ('answer_results', 'ix_answer_results_group_at', ['group_id', 'at']),
    ('answer_results', 'ix_answer_results_member_group',
     ['member_id', 'group_id', 'at', 'late', 'topic', 'coverage']),
    ('quiz_attempts', 'ix_quiz_attempts_member_group', ['member_id', 'group_id', 'topic', 'correct']),
)
# (table, old index, its column): each is the first column of a new index above.
OLD = (
    ('ledger', 'ix_ledger_group_id', 'group_id'),
    ('ledger', 'ix_ledger_member_id', 'member_id'),
    ('posts', 'ix_posts_group_id', 'group_id'),
    ('replies', 'ix_replies_member_id', 'member_id'),
    ('answer_results', 'ix_answer_results_group_id', 'group_id'),
    ('answer_results', 'ix_answer_results_member_id', 'member_id'),
    ('quiz_attempts', 'ix_quiz_attempts_member_id', 'member_id'),
)


def upgrade() -> None:
    for table, name, columns in NEW:
        op.create_index(name, table, columns, unique=False)
    for table, name, _column in OLD:
        op.drop_index(name, table_name=table)
    if op.get_bind().dialect.name == 'postgresql':
        # Plans need statistics on the new indexes' columns; autovacuum would get there later.
        for table in sorted({t for t, _, _ in NEW}):
            op.execute(f'ANALYZE {table}')


def downgrade() -> None:
    for table, name, column in OLD:
        op.create_index(name, table, [column], unique=False)
    for table, name, _columns in NEW:
        op.drop_index(name, table_name=table)
