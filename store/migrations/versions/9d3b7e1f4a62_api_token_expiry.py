"""API tokens expire

Revision ID: 9d3b7e1f4a62
Revises: 7c1e5a9d2b40
Create Date: 2026-11-26 12:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '9d3b7e1f4a62'
down_revision: str | None = '7c1e5a9d2b40'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Tokens issued before this step keep working without an end (NULL); new ones get one.
    with op.batch_alter_table('api_token') as batch:
        batch.add_column(sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_token') as batch:
        batch.drop_column('expires_at')
