"""ledger seals (hash chain) and append-only triggers on the ledger's tables

Revision ID: 7c1e5a9d2b40
Revises: 21f0caff9bf3
Create Date: 2026-11-26 12:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '7c1e5a9d2b40'
down_revision: str | None = '21f0caff9bf3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here (not imported from store.models) so this step stays what it was when the models move on.
APPEND_ONLY = ("entry", "eventrecord", "seal")
SQLITE_GUARD = ("CREATE TRIGGER {t}_no_{op} BEFORE {OP} ON {t} "
                "BEGIN SELECT RAISE(ABORT, '{t} is append-only: write a correcting entry instead'); END")
PG_GUARD_FUNCTION = ("CREATE OR REPLACE FUNCTION jifen_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "RAISE EXCEPTION '% is append-only: write a correcting entry instead', TG_TABLE_NAME; END $$")
PG_GUARD = "CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION jifen_append_only()"


def upgrade() -> None:
    op.create_table('seal',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('upto_entry_id', sa.Integer(), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('prev_digest', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sealed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('upto_entry_id')
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_GUARD_FUNCTION)
        for t in APPEND_ONLY:
            op.execute(PG_GUARD.format(t=t))
    else:
        for t in APPEND_ONLY:
            for o in ("UPDATE", "DELETE"):
                op.execute(SQLITE_GUARD.format(t=t, op=o.lower(), OP=o))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for t in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}")
        op.execute("DROP FUNCTION IF EXISTS jifen_append_only()")
    else:
        for t in APPEND_ONLY:
            for o in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {t}_no_{o}")
    op.drop_table('seal')
