"""Move an installation from SQLite to PostgreSQL (or between any two databases) and prove nothing was lost.

``copy_database`` migrates the target to the latest schema, refuses a target
that already holds data, copies every table in foreign-key order inside one
read transaction of the source (a consistent snapshot even while the site
reads), resets PostgreSQL's id sequences, then ``verify`` compares every row of
every table by a digest: entries, balances, tallies, grades and the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select, text
from sqlmodel import SQLModel

import store.all_models  # noqa: F401  (every table on the metadata)
from store.db import is_postgres, make_engine
from store.migrate import upgrade
from store.seal import canonical

BATCH = 5000


class TargetNotEmpty(Exception):
    """The target database already holds rows; copying would mix two installations."""


@dataclass
class CopyReport:
    """Rows copied per table and whether every table's digest matched afterwards."""

    rows: dict[str, int] = field(default_factory=dict)
    mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every table matched."""
        return not self.mismatched


def tables() -> list[Table]:
    """Every table of the schema in foreign-key order."""
    return list(SQLModel.metadata.sorted_tables)


def _rows(conn: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    pk = list(table.primary_key.columns)
    result = conn.execution_options(yield_per=BATCH).execute(select(table).order_by(*pk))
    for part in result.mappings().partitions(BATCH):
        yield [dict(r) for r in part]


def copy_database(source_url: str, target_url: str) -> CopyReport:
    """Copy every row from source to target, then verify; raise ``TargetNotEmpty`` first if needed."""
    upgrade(target_url)
    src, dst = make_engine(source_url), make_engine(target_url)
    report = CopyReport()
    try:
        with dst.connect() as c:
            for table in tables():
                if c.execute(select(func.count()).select_from(table)).scalar():
                    raise TargetNotEmpty(table.name)
        with src.connect() as s, dst.begin() as d:
            for table in tables():
                n = 0
                for part in _rows(s, table):
                    d.execute(table.insert(), part)
                    n += len(part)
                report.rows[table.name] = n
            if is_postgres(d):
                _reset_sequences(d)
        if dst.dialect.name == "postgresql":
            # A bulk load leaves the planner without statistics: gather them before anyone reads.
            with dst.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("ANALYZE"))
        report.mismatched = verify(src, dst)
    finally:
        src.dispose()
        dst.dispose()
    return report


def _reset_sequences(conn: Connection) -> None:
    for table in tables():
        for col in table.primary_key.columns:
            if col.autoincrement is True or (col.autoincrement == "auto" and col.type.python_type is int and len(table.primary_key.columns) == 1):
                conn.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{col.name}'), "
                    f"COALESCE((SELECT MAX(\"{col.name}\") FROM \"{table.name}\"), 0) + 1, false)"
                ))


def digest(engine: Engine, table: Table) -> tuple[int, str]:
    """(rows, sha256 of every row in key order) of one table."""
    h = hashlib.sha256()
    n = 0
    cols = [c.name for c in table.columns]
    with engine.connect() as conn:
        for part in _rows(conn, table):
            for row in part:
                h.update("\x1f".join(canonical(row[c]) for c in cols).encode())
                h.update(b"\x1e")
                n += 1
    return n, h.hexdigest()


def verify(source: Engine, target: Engine) -> list[str]:
    """Names of the tables whose rows differ between two databases (empty when all match)."""
    return [t.name for t in tables() if digest(source, t) != digest(target, t)]


def copy_urls(source_url: str, target_url: str) -> CopyReport:
    """Entry point for the CLI."""
    return copy_database(source_url, target_url)
