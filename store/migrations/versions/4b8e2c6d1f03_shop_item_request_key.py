"""Catalog items remember the one-time key that created them

Revision ID: 4b8e2c6d1f03
Revises: 9d3b7e1f4a62
Create Date: 2026-11-26 14:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '4b8e2c6d1f03'
down_revision: str | None = '9d3b7e1f4a62'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Items made before this step have none (NULL, which a unique index never compares equal).
    with op.batch_alter_table('shop_item') as batch:
        batch.add_column(sa.Column('request_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.create_unique_constraint('uq_shop_item_request_key', ['request_key'])


def downgrade() -> None:
    with op.batch_alter_table('shop_item') as batch:
        batch.drop_constraint('uq_shop_item_request_key', type_='unique')
        batch.drop_column('request_key')
