"""The ingest benchmark's SQLite floor replays exactly the work of the ingest it recorded (bench/sqlreplay.py)."""

from __future__ import annotations

import io
import pickle
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bench import sqlreplay
from demo.generate import build_model, events, insert_directory, spec_for, write_jsonl
from services.ingest import ingest, read_jsonl
from store.db import create_all, make_engine
from store.ledger import Ledger
from store.rules_repo import publish

ROOT = Path(__file__).resolve().parent.parent
AFTER = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)


def _county(tmp_path: Path) -> tuple[Path, Path]:
    """A small county with rules published and a year's events in a JSONL file; nothing scored yet."""
    db, jsonl = tmp_path / "start.db", tmp_path / "events.jsonl"
    engine = make_engine(f"sqlite:///{db}")
    create_all(engine)
    model = build_model(spec_for("county", households=60, events=1500, seed=7))
    insert_directory(engine, model)
    publish(engine, (ROOT / "rules.yaml").read_text(encoding="utf-8"), date(2026, 1, 1), "test", datetime.now(UTC))
    write_jsonl(events(model), str(jsonl))
    engine.dispose()
    return db, jsonl


def _recorded_ingest(db: Path, jsonl: Path) -> bytes:
    """Score the events into ``db`` as ``jifen ingest`` does, 500 a transaction; the recording."""
    engine = make_engine(f"sqlite:///{db}")
    ledger = Ledger(engine, lambda: AFTER)
    out = io.BytesIO()
    with sqlreplay.recording(engine, out):
        ledger.versions()
        with open(jsonl, encoding="utf-8") as f, ledger.caching():
            report = ingest(ledger, read_jsonl(f), "import", "test", 500, keep_results=False)
    engine.dispose()
    assert report.counts["recorded"] > 1000
    return out.getvalue()


def test_the_replay_writes_the_ledger_the_ingest_wrote(tmp_path: Path) -> None:
    """Entries, balances, tallies and counters replayed with plain sqlite3 equal the real run's; a cut replay does not."""
    start, jsonl = _county(tmp_path)
    real, again, cut = tmp_path / "real.db", tmp_path / "again.db", tmp_path / "cut.db"
    for copy in (real, again, cut):
        shutil.copy(start, copy)
    recording = _recorded_ingest(real, jsonl)

    seconds, per_kind = sqlreplay.replay(again, io.BytesIO(recording))
    assert seconds > 0 and per_kind["INSERT entry"] > 0 and per_kind["INSERT tally"] > 0
    assert sqlreplay.ledger_digest(again) == sqlreplay.ledger_digest(real)
    assert sqlreplay.ledger_digest(again)[0][0] > 1000  # entries

    stream, transactions = io.BytesIO(recording), []
    while True:
        try:
            transactions.append(pickle.load(stream))
        except EOFError:
            break
    shortened = io.BytesIO()
    for t in transactions[:-1]:  # the last transaction of the import left out
        pickle.dump(t, shortened)
    shortened.seek(0)
    sqlreplay.replay(cut, shortened)
    assert sqlreplay.ledger_digest(cut) != sqlreplay.ledger_digest(real)


def test_each_storage_variant_replays_into_the_same_ledger(tmp_path: Path) -> None:
    """The schema variants the bench compares hold what the real run wrote: only the storage differs."""
    start, jsonl = _county(tmp_path)
    real = tmp_path / "real.db"
    shutil.copy(start, real)
    recording = _recorded_ingest(real, jsonl)
    for variant in sqlreplay.VARIANTS:
        copy = tmp_path / f"{variant}.db"
        shutil.copy(start, copy)
        cache_mb = sqlreplay.make_variant(copy, variant)
        sqlreplay.replay(copy, io.BytesIO(recording), cache_mb)
        assert sqlreplay.ledger_digest(copy) == sqlreplay.ledger_digest(real), variant
    with pytest.raises(ValueError, match="not empty"):  # a variant is made before the import, never over a ledger
        sqlreplay.make_variant(real, "without_rowid")


def test_statements_are_named_by_verb_and_table() -> None:
    """The per-kind figures name the table a statement writes or reads, not its ``WITH`` list."""
    assert sqlreplay._kind('INSERT INTO "tally" ("a") VALUES (?) ON CONFLICT DO UPDATE SET amount = 1') == "INSERT tally"
    assert sqlreplay._kind("WITH wanted(k, i) AS (VALUES (?, ?)) SELECT c.value FROM wanted JOIN counter AS c ON 1") \
        == "SELECT counter"
    assert sqlreplay._kind("SELECT code, id FROM person WHERE code IN (?)") == "SELECT person"
    assert sqlreplay._kind("COMMIT") == "COMMIT"
