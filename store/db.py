"""Database engines, sessions and the few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

# The project's instance/ folder (where Flask keeps the site's instance files too), as an absolute
# path: a relative one would put a fresh, empty database in whatever folder a command runs from.
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "instance" / "jifen.db"
DEFAULT_URL = f"sqlite:///{DEFAULT_PATH.as_posix()}"
# SQLite's page cache per connection, in MiB (``JIFEN_SQLITE_CACHE_MB``). SQLite's own default is
# 2 MiB, while a county's ledger is a gigabyte whose hot index pages (tallies, entries) each batch of
# an import rewrites; 32 MiB keeps an import of the full bench county under 300 MB of memory
# (bench/README.md has the runs with 64 MiB and this).
SQLITE_CACHE_MB = 32


def sqlite_pragmas() -> list[str]:
    """The PRAGMAs every SQLite connection of the product runs (benchmarks copy them)."""
    cache_mb = int(os.environ.get("JIFEN_SQLITE_CACHE_MB", SQLITE_CACHE_MB))
    return ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", f"PRAGMA cache_size=-{cache_mb * 1024}"]


def aware(moment: datetime | None) -> datetime | None:
    """A stored moment as an aware datetime: SQLite hands back naive ones for what was stored in UTC."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_minute(moment: datetime, tz: tzinfo) -> str:
    """A stored moment in the county's time to the minute, 2026-03-01 09:30, as pages and the CLI show it."""
    return aware(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M")  # type: ignore[union-attr]


def database_url() -> str:
    """The URL from ``JIFEN_DATABASE_URL``, SQLite in the project's ``instance/`` by default (wherever the command runs)."""
    return os.environ.get("JIFEN_DATABASE_URL", DEFAULT_URL)


def read_database_url() -> str | None:
    """``JIFEN_READ_DATABASE_URL``: a read replica for the public pages, or None (read the primary)."""
    return os.environ.get("JIFEN_READ_DATABASE_URL") or None


def make_engine(url: str | None = None, **kw: Any) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout and foreign keys, PostgreSQL a pool check."""
    url = url or database_url()
    # A failed statement's message never carries its parameters: they can hold ID and phone numbers
    # (a roll's person), and the message reaches logs.
    kw.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kw)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # SQLAlchemy must not let pysqlite issue BEGIN itself: _begin below does, so that a
            # write transaction takes the write lock before it reads any balance or counter.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            for pragma in sqlite_pragmas():
                cur.execute(pragma)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Readers begin DEFERRED and run beside a writer (WAL); writers begin IMMEDIATE.
            immediate = conn.get_execution_options().get("immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, **kw)


def writer(engine: Engine) -> Engine:
    """The same engine, its transactions taking SQLite's write lock at BEGIN (no-op elsewhere)."""
    return engine.execution_options(immediate=True)


def is_postgres(conn: Connection | Engine) -> bool:
    """Whether the connection speaks PostgreSQL."""
    return conn.dialect.name == "postgresql"


def create_all(engine: Engine) -> None:
    """Create every table directly (tests only; Alembic owns real databases)."""
    import store.all_models  # noqa: F401  (tables of every module)

    SQLModel.metadata.create_all(engine)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session committed on success and rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def _insert(conn: Connection, table: Table) -> Any:
    return (postgresql.insert if is_postgres(conn) else sqlite.insert)(table)


def upsert_add(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str], add: Sequence[str]) -> None:
    """Insert rows, or add their ``add`` columns to the row already there (one statement, no race)."""
    if not rows:
        return
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: table.c[c] + stmt.excluded[c] for c in add},
    )
    conn.execute(stmt, list(rows))


def upsert_set(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str], cols: Sequence[str]) -> None:
    """Insert rows, or overwrite their ``cols`` (the caller holds the holder's lock)."""
    if not rows:
        return
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols})
    conn.execute(stmt, list(rows))


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, skipping any whose key exists already."""
    if rows:
        conn.execute(_insert(conn, table).on_conflict_do_nothing(), list(rows))


def lock_holders(conn: Connection, holders: Sequence[tuple[str, int]]) -> None:
    """Serialise writers per account holder.

    On PostgreSQL each holder gets a transaction-scoped advisory lock, taken in
    sorted order so two batches never deadlock; caps, floors and balances are then
    read and written by one transaction at a time per holder. SQLite needs
    nothing more: ``BEGIN IMMEDIATE`` already holds the database's write lock.
    """
    if not is_postgres(conn) or not holders:
        return
    keys = sorted({hid * 2 + (1 if kind == "h" else 0) for kind, hid in holders})
    conn.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k"), {"keys": keys})
