"""answer results keep the grader's verdicts and the member's quoted evidence

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 18:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('answer_results', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grading', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('answer_results', schema=None) as batch_op:
        batch_op.drop_column('grading')
