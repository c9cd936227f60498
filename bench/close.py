"""Closing the year for every household: grades frozen, 20% of each moral balance carried.

``python -m bench.close [--quick]``

Works on a copy of the county that ``bench.ingest`` leaves in
``bench/out/ingest.db`` (built first when missing), so the other benchmarks
keep theirs: the SQLite file (and its WAL) is copied to ``bench/out/close.db``
while nothing writes it; for PostgreSQL (when a server is reachable) the
county is moved to a fresh database with ``services.dbcopy``. On each backend
``Ledger.close_period("moral", "2026")`` is timed: it freezes the grade of
every household with a 2026 tally (``gradesnapshot``) and writes one closing
entry per household whose balance is not zero (carry 20%, the kept share
rounded down to the step), in one transaction.

Checked after closing, untimed:

* every moral balance equals the sum of its ledger entries;
* every closing entry (key, amount, explanation, note, day) equals what
  ``scoring.grades.closing_delta`` and ``scoring.points.fmt`` give for the
  balance read before closing, and every frozen grade what
  ``scoring.grades.grade`` gives for the tallies;
* closing again returns ``already`` and changes no entry or balance.

Prints one JSON line per backend.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from bench.common import OUT, fresh_file, on_postgres, peak_rss_mb, quick_main
from scoring.grades import closing_delta, grade
from scoring.points import fmt
from store.db import make_engine
from store.ledger import Ledger

POINT_TYPE = "moral"
PERIOD = "2026"
GOAL_S = 20.0

MISMATCHED = """
SELECT COUNT(*) FROM balance AS b
LEFT JOIN (SELECT holder_kind, holder_id, SUM(amount) AS s FROM entry WHERE point_type = :pt
           GROUP BY holder_kind, holder_id) AS e
  ON e.holder_kind = b.holder_kind AND e.holder_id = b.holder_id
WHERE b.point_type = :pt AND b.amount <> COALESCE(e.s, 0)
"""
UNBALANCED = """
SELECT COUNT(*) FROM (SELECT holder_kind, holder_id, SUM(amount) AS s FROM entry WHERE point_type = :pt
                      GROUP BY holder_kind, holder_id) AS e
WHERE e.s <> 0 AND NOT EXISTS (SELECT 1 FROM balance AS b WHERE b.point_type = :pt
                               AND b.holder_kind = e.holder_kind AND b.holder_id = e.holder_id)
"""


def _state(engine: Engine) -> tuple[int, int, int, int]:
    """Entries, their sum, and the balances' count and sum: what a second close must not change."""
    with engine.connect() as conn:
        n, s = conn.execute(text("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM entry")).one()
        bn, bs = conn.execute(text("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM balance")).one()
    return int(n), int(s), int(bn), int(bs)


def measure(engine: Engine, backend: str) -> dict[str, Any]:
    """Close the year on one database; check the result against the Python definitions."""
    # The scheduler closes a year at 00:30 after it ends (a year not ended yet is refused).
    ledger = Ledger(engine, lambda: datetime(2026, 12, 31, 16, 30, tzinfo=UTC))
    ruleset = ledger.versions().latest()
    assert ruleset is not None
    pt = ruleset.point_types[POINT_TYPE]
    with engine.connect() as conn:
        before = {(k, int(i)): int(a) for k, i, a in conn.execute(
            text("SELECT holder_kind, holder_id, amount FROM balance WHERE point_type = :pt AND amount <> 0"), {"pt": POINT_TYPE})}
        tallies = {(k, int(i)): (int(s), int(v)) for k, i, s, v in conn.execute(text(
            "SELECT holder_kind, holder_id, SUM(amount), SUM(vetoes) FROM tally WHERE point_type = :pt AND period = :per "
            "GROUP BY holder_kind, holder_id"), {"pt": POINT_TYPE, "per": PERIOD})}
        households = conn.execute(text("SELECT COUNT(*) FROM household")).scalar()
    load = os.getloadavg()[0]
    t, cpu = time.perf_counter(), time.process_time()
    result = ledger.close_period(POINT_TYPE, PERIOD, actor="bench")
    seconds, cpu_s = time.perf_counter() - t, time.process_time() - cpu

    # Every closing entry as the Python definitions give it.
    note = f"carry {pt.year_end.carry_percent}%" if pt.year_end.policy == "carry" else "reset"
    expected = {}
    for (k, i), amount in before.items():
        delta = closing_delta(pt, amount)
        if delta:
            expected[f"close:{POINT_TYPE}:{PERIOD}:{k}{i}"] = (
                k, i, delta, json.dumps([["step_close", {"period": PERIOD, "policy": note, "before": fmt(amount)}]], ensure_ascii=False))
    with engine.connect() as conn:
        got = {r[0]: (r[1], int(r[2]), int(r[3]), r[4]) for r in conn.execute(text(
            "SELECT key, holder_kind, holder_id, amount, explanation FROM entry WHERE kind = 'close' AND point_type = :pt"),
            {"pt": POINT_TYPE})}
        days = {str(d)[:10] for (d,) in conn.execute(text("SELECT DISTINCT local_day FROM entry WHERE kind = 'close'"))}
        mismatched = conn.execute(text(MISMATCHED), {"pt": POINT_TYPE}).scalar()
        unbalanced = conn.execute(text(UNBALANCED), {"pt": POINT_TYPE}).scalar()
        snaps = {(k, int(i)): (int(s), g, bool(v)) for k, i, s, g, v in conn.execute(text(
            "SELECT holder_kind, holder_id, score, grade, vetoed FROM gradesnapshot WHERE point_type = :pt AND period = :per"),
            {"pt": POINT_TYPE, "per": PERIOD})}
    graded = {h: (s, grade(pt, s, bool(v)).key, bool(v)) for h, (s, v) in tallies.items()}
    entries_ok = got == expected and days == {f"{PERIOD}-12-31"}

    state = _state(engine)
    again = ledger.close_period(POINT_TYPE, PERIOD, actor="bench")
    second_ok = bool(again["already"]) and _state(engine) == state
    return {
        "name": "close", "backend": backend, "n": len(before), "point_type": POINT_TYPE, "period": PERIOD,
        "policy": note, "seconds": round(seconds, 2), "cpu_s": round(cpu_s, 2), "entries": result["entries"],
        "grades_frozen": len(snaps), "households": households,
        "checks": {"balances_equal_ledger": mismatched == 0 and unbalanced == 0, "entries_as_python": entries_ok,
                   "grades_as_python": snaps == graded, "second_close_changes_nothing": second_ok},
        "load_1m": round(load, 2), "cores": len(os.sched_getaffinity(0)), "peak_rss_mb": peak_rss_mb(),
        "goal_s": GOAL_S,
        "ok": bool(mismatched == 0 and unbalanced == 0 and entries_ok and snaps == graded and second_ok and seconds < GOAL_S),
    }


def _copy(quick: bool) -> tuple[str, str]:
    """The county's URL and a URL of a fresh copy of it (file copy: nothing writes the county meanwhile)."""
    src = OUT / "ingest.db"
    if not src.exists():
        from bench import ingest

        ingest.run(quick=quick)
    dst = fresh_file("close.db")
    for suffix in ("", "-wal"):
        if os.path.exists(f"{src}{suffix}"):
            shutil.copyfile(f"{src}{suffix}", f"{dst}{suffix}")
    return f"sqlite:///{src}", f"sqlite:///{dst}"


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Both backends (PostgreSQL when reachable); one result each."""
    source, copy = _copy(quick)
    engine = make_engine(copy)
    results = [measure(engine, "sqlite")]
    engine.dispose()
    fresh_file("close.db")  # the copy is spent
    try:
        with on_postgres(source) as moved:
            if moved:
                target, report = moved
                pg_engine = make_engine(target)
                result = measure(pg_engine, "postgresql")
                result["copied_ok"] = report.ok
                result["ok"] = result["ok"] and report.ok
                results.append(result)
                pg_engine.dispose()
    except Exception as exc:  # the county could not be moved there: say so on the line, keep SQLite's
        results.append({"name": "close", "backend": "postgresql", "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
                        "goal_s": GOAL_S, "ok": False})
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line: one JSON line per result."""
    return quick_main(run, "python -m bench.close", __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
