"""SQLite's own share of a run: record every statement a run sends, then replay them with plain sqlite3.

The ingest benchmark's ratio compares the whole product (Python and SQLite) with bare
``executemany``. Replaying the very statements an ingest sent, with its parameters as bound,
transaction by transaction, into a copy of the database it started from, measures what SQLite
alone spends on that ingest: the rate no Python front end, however fast, could pass with the
rows this schema writes (entries, event records, tallies, counters, balances).
"""

from __future__ import annotations

import collections
import pickle
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

import store.directory
import store.ledger
from store.db import sqlite_pragmas

Statement = tuple[str, Any, bool]  # SQL, parameters as sent to the driver, executemany?


@contextmanager
def recording(engine: Engine, out: IO[bytes]) -> Iterator[None]:
    """Within the block, write each transaction's statements to ``out`` (a pickle stream), at its end."""
    current: list[Statement] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        current.append((statement, parameters, executemany))

    def end(kind: str) -> Any:
        def listener(conn: Any) -> None:
            pickle.dump((kind, list(current)), out, protocol=5)
            current.clear()
        return listener

    on_commit, on_rollback = end("COMMIT"), end("ROLLBACK")
    # Directory reads go through the driver's own cursor (store.directory.select_in), which
    # SQLAlchemy's events do not see: record them here, as they will be sent.
    plain = store.directory.select_in

    def select_in(conn: Any, sql: str, values: Any, *before_args: Any, width: int = 1) -> list[Any]:
        current.extend((text, params, False) for text, params in store.directory.statements_in(sql, values, before_args, width, "?"))
        return plain(conn, sql, values, *before_args, width=width)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "commit", on_commit)
    event.listen(engine, "rollback", on_rollback)
    store.directory.select_in = select_in
    store.ledger.select_in = select_in  # type: ignore[attr-defined]
    try:
        yield
    finally:
        store.directory.select_in = plain
        store.ledger.select_in = plain  # type: ignore[attr-defined]
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "rollback", on_rollback)


def replay(db: Path, recorded: IO[bytes], cache_mb: int | None = None) -> tuple[float, dict[str, float]]:
    """Run the recorded transactions against ``db`` with plain sqlite3; seconds in all, and per kind of statement.

    ``cache_mb``: another page cache than the product's (a variant, ``VARIANTS``).
    """
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in sqlite_pragmas():  # the product's journal, sync and cache settings
        conn.execute(pragma)
    if cache_mb is not None:
        conn.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
    conn.execute("PRAGMA foreign_keys=ON")
    spent: dict[str, float] = collections.defaultdict(float)
    total = 0.0
    while True:
        try:
            end, statements = pickle.load(recorded)
        except EOFError:
            break
        began = time.perf_counter()
        if not (statements and statements[0][0].lstrip().upper().startswith("BEGIN")):
            conn.execute("BEGIN")
        for sql, params, many in statements:
            t0 = time.perf_counter()
            if many:
                conn.executemany(sql, params)
            else:
                conn.execute(sql, params).fetchall()
            spent[_kind(sql)] += time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(end)
        spent["COMMIT"] += time.perf_counter() - t0
        total += time.perf_counter() - began
    conn.close()
    return total, dict(spent)


# Schemas the same recording is replayed against (``python -m bench.ingest --floor --variants``): what
# storage tuning alone could give. (tables rebuilt WITHOUT ROWID, leaderboard indexes dropped, page cache MiB)
VARIANTS: dict[str, tuple[tuple[str, ...], bool, int | None]] = {
    "without_rowid": (("tally", "counter", "balance"), False, None),
    "cache_1gib": ((), False, 1024),
    "without_rowid_no_board_indexes_cache_1gib": (("tally", "counter", "balance"), True, 1024),
}
BOARD_INDEXES = ("ix_tally_county", "ix_tally_township", "ix_tally_village", "ix_tally_grid", "ix_tally_branch")


def make_variant(db: Path, variant: str) -> int | None:
    """Change ``db`` (a county before its import: these tables are empty) into ``variant``; its page cache in MiB."""
    tables, no_boards, cache_mb = VARIANTS[variant]
    conn = sqlite3.connect(db)
    try:
        for table in tables:
            if conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]:
                raise ValueError(f"{table} is not empty: a variant is made before the import")
            ddl = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
            others = [r[0] for r in conn.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type != 'table' AND sql IS NOT NULL", (table,))]
            conn.execute(f'DROP TABLE "{table}"')
            conn.execute(ddl.rstrip() + " WITHOUT ROWID")
            for sql in others:  # its indexes and triggers, as they were
                conn.execute(sql)
        if no_boards:
            for index in BOARD_INDEXES:
                conn.execute(f"DROP INDEX {index}")
        conn.commit()
    finally:
        conn.close()
    return cache_mb


def ledger_digest(db: Path) -> tuple[Any, ...]:
    """Counts and sums of the entries, balances and tallies in ``db``: two runs that wrote the same ledger agree."""
    conn = sqlite3.connect(db)
    try:
        return tuple(conn.execute(sql).fetchone() for sql in (
            "SELECT count(*), sum(amount), sum(length(explanation)), max(key) FROM entry",
            "SELECT count(*), sum(amount), sum(earned) FROM balance",
            "SELECT count(*), sum(amount), sum(vetoes), sum(holder_id * amount) FROM tally",
            "SELECT count(*), sum(value) FROM counter",
        ))
    finally:
        conn.close()


def _kind(sql: str) -> str:
    """``INSERT tally``, ``SELECT counter``…: the verb and the first table a statement names (not its ``WITH`` list)."""
    words = sql.replace('"', " ").replace("(", " ").split()
    upper = [w.upper() for w in words]
    if not words:
        return "?"
    verb = "SELECT" if upper[0] == "WITH" else upper[0]
    lists = {words[1].lower()} if upper[0] == "WITH" and len(words) > 1 else set()
    for i, w in enumerate(upper[:-1]):
        if w in ("INTO", "FROM", "JOIN", "UPDATE") and words[i + 1].lower() not in lists:
            return f"{verb} {words[i + 1].lower()}"
    return verb
