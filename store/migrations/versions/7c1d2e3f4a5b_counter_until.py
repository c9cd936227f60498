"""counter.until: the last day a counter can matter

Revision ID: 7c1d2e3f4a5b
Revises: 21f0caff9bf3
Create Date: 2026-11-26 07:05:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7c1d2e3f4a5b'
down_revision: str | None = '21f0caff9bf3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: counters written before this revision keep NULL, read as "for ever", so they are
    # always loaded, exactly as before.
    with op.batch_alter_table('counter', schema=None) as batch_op:
        batch_op.add_column(sa.Column('until', sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('counter', schema=None) as batch_op:
        batch_op.drop_column('until')
