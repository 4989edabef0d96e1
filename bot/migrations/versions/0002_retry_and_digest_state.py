"""retry state for posts and digests; digest delivery state; per-group digest time optional

A group's digest_weekday/digest_time become optional overrides of the configured
default. Nothing set them before this revision, so existing values are cleared.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _retry_columns(batch_op) -> None:  # type: ignore[no-untyped-def]
    batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
    batch_op.add_column(sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
    batch_op.add_column(sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def upgrade() -> None:
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.alter_column('digest_weekday', existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column('digest_time', existing_type=sqlmodel.sql.sqltypes.AutoString(length=5),
                              nullable=True)
    op.execute("UPDATE groups SET digest_weekday = NULL, digest_time = NULL")
    with op.batch_alter_table('posts', schema=None) as batch_op:
        _retry_columns(batch_op)
    with op.batch_alter_table('digests', schema=None) as batch_op:
        _retry_columns(batch_op)
        batch_op.add_column(sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('skip_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('digests', schema=None) as batch_op:
        for name in ('skip_reason', 'message_id', 'scheduled_for', 'last_error', 'retry_at', 'attempts'):
            batch_op.drop_column(name)
    with op.batch_alter_table('posts', schema=None) as batch_op:
        for name in ('last_error', 'retry_at', 'attempts'):
            batch_op.drop_column(name)
    op.execute("UPDATE groups SET digest_weekday = COALESCE(digest_weekday, 0), "
               "digest_time = COALESCE(digest_time, '09:00')")
    with op.batch_alter_table('groups', schema=None) as batch_op:
        batch_op.alter_column('digest_time', existing_type=sqlmodel.sql.sqltypes.AutoString(length=5),
                              nullable=False)
        batch_op.alter_column('digest_weekday', existing_type=sa.Integer(), nullable=False)
