"""Ingest and score a year of events into SQLite through the real path, against bare inserts.

``python -m bench.ingest [--quick] [--events N] [--households N] [--batch N] [--floor]``

1. A fresh SQLite file (the product's own engine settings: WAL, synchronous=NORMAL,
   a 64 MiB page cache, foreign keys on); the county's directory inserted by
   ``demo.generate`` (timed apart: ``directory_s``); ``rules.yaml`` published
   from 2026-01-01. The county and its events are made in a child process, so
   the peak memory reported is the ingest's (``rss_before_ingest_mb``: the
   process before it starts).
2. The year's events written to a JSONL file (not timed), then read back with
   ``services.ingest.read_jsonl`` and scored by ``services.ingest.ingest`` →
   ``Ledger.record``, exactly as ``jifen ingest`` does: one call over the whole
   file inside ``Ledger.caching()`` (the directory is kept between batches),
   per-record results not kept, one transaction per ``--batch`` records
   (50,000, ``jifen ingest``'s default) scored 10,000 at a time.
3. In the same run, the same number of bare ledger rows (the entry table's
   columns and indexes) inserted into a fresh table of a fresh file with plain
   ``sqlite3`` ``executemany``, one transaction per batch.
4. Balances and earned points compared with ``services.queries.recompute_from_ledger``,
   and every period tally with a recomputation from the ledger in SQL.
5. With ``--floor``, SQLite's own share: the same ingest run again on a copy of the
   county as it was before step 2, every statement it sends recorded
   (``bench.sqlreplay``), then replayed with plain ``sqlite3`` into another copy
   (``floor_events_per_s``, ``floor_ratio``, seconds per kind of statement): the
   rate no Python front end could pass with the rows this schema writes. With
   ``--variants``, the recording replayed again against other schemas
   (``bench.sqlreplay.VARIANTS``: tables ``WITHOUT ROWID``, a 1 GiB page cache,
   the leaderboard indexes dropped): what storage tuning alone could give.

Prints one JSON line. No setting of the product is changed for the bench.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sqlite3
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, create_engine, select

from bench import sqlreplay
from bench.common import fresh_file, peak_rss_mb
from demo.generate import build_model, events, insert_directory, spec_for, write_jsonl
from services import consistency
from services.ingest import IMPORT_TRANSACTION, ingest, read_jsonl
from store.db import create_all, make_engine, sqlite_pragmas
from store.ledger import Ledger
from store.models import Entry
from store.rules_repo import publish

ROOT = Path(__file__).resolve().parent.parent
BATCH = IMPORT_TRANSACTION  # what `jifen ingest` uses
QUICK = {"households": 10_000, "events": 100_000}
AFTER_THE_YEAR = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 2027-01-01 00:30 in the county


def run(quick: bool = False, households: int | None = None, n_events: int | None = None,
        batch: int = BATCH, seed: int | None = None, floor: bool = False, variants: bool = False) -> dict[str, Any]:
    """Run the benchmark; return its JSON-ready result."""
    if quick:
        households = households or QUICK["households"]
        n_events = n_events or QUICK["events"]
    spec = spec_for("county", households, n_events, seed)
    db = fresh_file("ingest.db")
    events_file = fresh_file("events.jsonl")
    # The county and its events are made in a child process: the generator holds the whole county in
    # memory, and the peak memory reported must be the ingest's own, not the generator's.
    with multiprocessing.get_context("fork").Pool(1) as pool:
        directory_s, county = pool.apply(_make_county, (spec, str(db), str(events_file)))
    start = fresh_file("ingest-start.db")
    if floor:
        shutil.copy(db, start)
    engine = make_engine(f"sqlite:///{db}")
    rss_before = peak_rss_mb()

    # The year's events are scored after the year (the ledger refuses events dated after its clock).
    ledger = Ledger(engine, lambda: AFTER_THE_YEAR)
    ledger.versions()
    began = time.perf_counter()
    with open(events_file, encoding="utf-8") as f, ledger.caching():
        report = ingest(ledger, read_jsonl(f), "import", "bench", batch, keep_results=False)
    totals = dict(report.counts)
    seconds = time.perf_counter() - began
    rss = peak_rss_mb()
    n = sum(totals.values())
    with engine.connect() as conn:
        entries = conn.execute(select(Entry.id).order_by(Entry.id.desc()).limit(1)).scalar() or 0  # type: ignore[union-attr]

    bare_s = bare_insert(n, batch)
    balances_ok, tallies_ok = check(engine)
    after_check = peak_rss_mb()  # before the floor's second ingest, which holds its own recording
    engine.dispose()
    floor_result = sqlite_floor(start, events_file, batch, n, n / bare_s, db, variants) if floor else {}
    events_file.unlink()
    result = {
        "name": "ingest", "backend": "sqlite", "n": n, "seconds": round(seconds, 2),
        "events_per_s": round(n / seconds), "bare_rows_per_s": round(n / bare_s),
        "ratio": round((n / seconds) / (n / bare_s), 3), "peak_rss_mb": rss,
        "balances_match": balances_ok, "tallies_match": tallies_ok,
        "entries": entries, "outcomes": totals, "batch": batch, "directory_s": round(directory_s, 1),
        "county": county, "rss_before_ingest_mb": rss_before,
        "settings": "product defaults (WAL, synchronous=NORMAL); directory kept across batches (Ledger.caching)",
        "peak_rss_mb_after_check": after_check, **floor_result,
    }
    result["ok"] = bool(balances_ok and tallies_ok and not totals.get("rejected") and floor_result.get("floor_same_ledger", True))
    return result


def sqlite_floor(start: Path, events_file: Path, batch: int, n: int, bare_rate: float, real: Path,
                 variants: bool = False) -> dict[str, Any]:
    """The ingest again from ``start``, its statements recorded, then replayed with plain sqlite3 (step 5).

    ``floor_same_ledger``: the replayed file holds the real run's ledger (entries, balances and
    tallies summed), so the floor measures the same work.
    """
    recorded = fresh_file("ingest-sql.pickle")
    replayed = fresh_file("ingest-replay.db")
    pristine = fresh_file("ingest-pristine.db")
    shutil.copy(start, replayed)
    shutil.copy(start, pristine)
    engine = make_engine(f"sqlite:///{start}")
    ledger = Ledger(engine, lambda: AFTER_THE_YEAR)
    with open(recorded, "wb") as out, sqlreplay.recording(engine, out):
        ledger.versions()
        with open(events_file, encoding="utf-8") as f, ledger.caching():
            ingest(ledger, read_jsonl(f), "import", "bench", batch, keep_results=False)
    engine.dispose()
    with open(recorded, "rb") as f:
        seconds, per_kind = sqlreplay.replay(replayed, f)
    same = sqlreplay.ledger_digest(replayed) == sqlreplay.ledger_digest(real)
    tried: dict[str, Any] = {}
    for variant in sqlreplay.VARIANTS if variants else ():
        # The county as it was before the import is the recording's start: ``replayed`` no longer is.
        fresh_file(replayed.name)
        shutil.copy(pristine, replayed)
        cache_mb = sqlreplay.make_variant(replayed, variant)
        with open(recorded, "rb") as f:
            spent, _ = sqlreplay.replay(replayed, f, cache_mb)
        tried[variant] = {"seconds": round(spent, 2), "events_per_s": round(n / spent)}
    for path in (recorded, replayed, start, pristine):
        fresh_file(path.name)  # removes the file and its WAL
    rate = n / seconds
    result = {"floor_seconds": round(seconds, 2), "floor_events_per_s": round(rate), "floor_ratio": round(rate / bare_rate, 3),
              "floor_same_ledger": same,
              "floor_us_per_event": {k: round(1e6 * v / n, 1) for k, v in sorted(per_kind.items(), key=lambda kv: -kv[1]) if v * 1e6 / n >= 0.1}}
    if tried:
        result["floor_variants"] = tried
    return result


def _make_county(spec: Any, db: str, events_file: str) -> tuple[float, dict[str, Any]]:
    """Insert the county's directory into ``db``, publish rules.yaml, write the year's events (child process)."""
    engine = make_engine(f"sqlite:///{db}")
    create_all(engine)
    started = time.perf_counter()
    model = build_model(spec)
    counts = insert_directory(engine, model)
    directory_s = time.perf_counter() - started
    publish(engine, (ROOT / "rules.yaml").read_text(encoding="utf-8"), date(2026, 1, 1), "bench", datetime.now(UTC))
    write_jsonl(events(model), events_file)
    engine.dispose()
    county = {**spec.describe(), "persons": model.n_persons, "members": len(model.members), "links": counts.get("linkage", 0)}
    return directory_s, county


def bare_insert(n: int, batch: int) -> float:
    """Seconds to insert ``n`` entry-shaped rows with plain sqlite3 executemany (same indexes)."""
    path = fresh_file("bare.db")
    table = Entry.__table__.to_metadata(MetaData(), name="bare_entry")  # type: ignore[attr-defined]
    setup = create_engine(f"sqlite:///{path}")
    table.metadata.create_all(setup)
    setup.dispose()
    cols = [c.name for c in table.c if c.name != "id"]
    sql = f"INSERT INTO bare_entry ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in sqlite_pragmas():  # the product's journal and cache settings
        conn.execute(pragma)
    template = {
        "point_type": "party_work", "holder_kind": "p", "person_id": None, "amount": 200, "kind": "award",
        "rule_id": "LH-01", "rules_version": "aaae56cf4304", "category": "linkage",
        "occurred_at": "2026-03-01 02:00:00.000000", "local_day": "2026-03-01", "recorded_at": "2026-06-01 00:00:00.000000",
        "actor": "app:P0000001", "approver": "", "source": "import", "reverses_id": None, "grid_id": 17, "village_id": 9,
        "township_id": 2, "branch_id": 3, "veto": 0, "expires_on": None, "note": "",
        "explanation": '[["step_fixed", {"amount": "+1"}], ["step_multiplier", {"attr": "tier", "value": "red", "factor": "2", "amount": "+2"}]]',
    }
    spent = 0.0
    for start in range(0, n, batch):
        rows = []
        for i in range(start, min(n, start + batch)):
            row = dict(template, key=f"ev-{i:07d}/LH-01", event_key=f"ev-{i:07d}", holder_id=i % 15_000 + 1, person_id=i % 15_000 + 1)
            rows.append(tuple(row[c] for c in cols))
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        spent += time.perf_counter() - t0
    conn.close()
    return spent


def check(engine: Any) -> tuple[bool, bool]:
    """Kept balances and tallies against the slow recomputation from the ledger (``services.consistency``)."""
    found = consistency.check(engine)
    return found.balances_ok, found.tallies_ok


def main(argv: list[str] | None = None) -> int:
    """Command line: print the result as one JSON line."""
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--households", type=int)
    p.add_argument("--events", type=int)
    p.add_argument("--batch", type=int, default=BATCH)
    p.add_argument("--seed", type=int)
    p.add_argument("--floor", action="store_true", help="also measure SQLite's own share (runs the ingest twice)")
    p.add_argument("--variants", action="store_true", help="with --floor: replay the recording against other schemas too")
    a = p.parse_args(argv)
    result = run(a.quick, a.households, a.events, a.batch, a.seed, a.floor or a.variants, a.variants)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
