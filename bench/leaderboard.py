"""Leaderboards: top 50 and one holder's rank from kept tallies, against summing the ledger at read time.

``python -m bench.leaderboard [--quick]``

Uses the county that ``bench.ingest`` leaves in ``bench/out/ingest.db`` (built
first when missing). For SQLite it reads that file; for PostgreSQL (when a
server is reachable) it moves the same data there with ``services.dbcopy``,
which also proves the move loses nothing. For every point type × scope
(county, township, village, grid, branch) × period (month, quarter, year) it
picks a place and one holder there, then times:

* **kept**: ``services.queries.leaderboard`` (top 50 and the holder's rank),
  read from the tally table's indexes, ``REPEAT`` times per case;
* **ledger**: the same board computed the way scoreboards are often built,
  summing the ledger's entries of the period at read time (with the same
  "ranked where it was on its latest day" rule), a few times per case.

Both answers are compared row by row (holder, score, rank) and the holder's rank.
Prints one JSON line per backend.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from typing import Any

from sqlalchemy import Connection, Engine, text

from bench.common import OUT, on_postgres, quick_main
from services.queries import leaderboard
from store.db import make_engine

REPEAT = 50
LEDGER_REPEAT = 3
SCOPES = ("county", "township", "village", "grid", "branch")
PERIODS = ("2026-06", "2026-Q2", "2026")
POINT_TYPES = (("moral", "h"), ("party_work", "p"), ("volunteer_hours", "p"))
PLACE = {"county": None, "township": "township_id", "village": "village_id", "grid": "grid_id", "branch": "branch_id"}

LEDGER_SQL = """
WITH e AS (
  SELECT holder_kind, holder_id, amount, {place} AS place, local_day, id FROM entry
  WHERE point_type = :pt AND local_day >= :start AND local_day < :end
    AND (kind = 'award' OR (kind = 'reversal' AND rule_id <> ''))
), s AS (
  SELECT holder_kind, holder_id, SUM(amount) AS score FROM e GROUP BY holder_kind, holder_id
), latest AS (
  SELECT holder_kind, holder_id, place FROM (
    SELECT holder_kind, holder_id, place,
           ROW_NUMBER() OVER (PARTITION BY holder_kind, holder_id ORDER BY local_day DESC, id DESC) AS rn
    FROM e) AS x
  WHERE rn = 1
)
SELECT s.holder_kind, s.holder_id, s.score FROM s
JOIN latest ON s.holder_kind = latest.holder_kind AND s.holder_id = latest.holder_id
{where}
"""


def _bounds(period: str) -> tuple[str, str]:
    from scoring.periods import parse_period

    p = parse_period(period)
    return p.start.isoformat(), p.end.isoformat()


def ledger_board(conn: Connection, pt: str, period: str, scope: str, scope_id: int | None,
                 me: tuple[str, int], top: int = 50) -> tuple[list[tuple[str, int, int, int]], int | None]:
    """The board summed from entries at read time: top rows (kind, id, score, rank) and the holder's rank."""
    place = f"COALESCE({PLACE[scope]}, 0)" if PLACE[scope] else "0"
    where = "WHERE latest.place = :scope_id" if scope_id is not None else ""
    start, end = _bounds(period)
    rows = conn.execute(text(LEDGER_SQL.format(place=place, where=where)),
                        {"pt": pt, "start": start, "end": end, "scope_id": scope_id}).all()
    ordered = sorted(((str(k), int(i), int(s)) for k, i, s in rows), key=lambda r: (-r[2], r[1], r[0]))
    out: list[tuple[str, int, int, int]] = []
    for n, (k, i, s) in enumerate(ordered[:top]):
        rank = out[n - 1][3] if n and out[n - 1][2] == s else n + 1
        out.append((k, i, s, rank))
    mine = next((s for k, i, s in ordered if (k, i) == me), None)
    rank = None if mine is None else sum(1 for r in ordered if r[2] > mine) + 1
    return out, rank


def _cases(conn: Connection, rng: random.Random) -> list[tuple[str, str, str, str, int | None, tuple[str, int]]]:
    cases = []
    for pt, kind in POINT_TYPES:
        for period in PERIODS:
            for scope in SCOPES:
                col = PLACE[scope]
                q = f"SELECT {col or '0'}, holder_id FROM tally WHERE point_type = :pt AND period = :per AND holder_kind = :k"
                rows = conn.execute(text(q), {"pt": pt, "per": period, "k": kind}).all()
                if not rows:
                    continue
                place, holder = rows[rng.randrange(len(rows))]
                cases.append((pt, kind, period, scope, None if scope == "county" else int(place), (kind, int(holder))))
    return cases


def measure(engine: Engine, backend: str, quick: bool) -> dict[str, Any]:
    """Time both ways over every case on one database; compare their answers."""
    rng = random.Random(7)
    kept: list[float] = []
    slow: list[float] = []
    identical = True
    with engine.connect() as conn:
        cases = _cases(conn, rng)
        for pt, _kind, period, scope, scope_id, me in cases:
            board = None
            for _ in range(REPEAT if not quick else 10):
                t = time.perf_counter()
                board = leaderboard(conn, pt, period, scope, scope_id, 50, me)
                kept.append(time.perf_counter() - t)
            assert board is not None
            for _ in range(LEDGER_REPEAT if not quick else 1):
                t = time.perf_counter()
                rows, rank = ledger_board(conn, pt, period, scope, scope_id, me)
                slow.append(time.perf_counter() - t)
            fast_rows = [(r["kind"], r["id"], r["score"], r["rank"]) for r in board.rows]
            fast_rank = board.mine["rank"] if board.mine else None
            if fast_rows != rows or fast_rank != rank:
                identical = False
    kept.sort()
    slow.sort()

    def pct(xs: list[float], p: float) -> float:
        return round(xs[min(len(xs) - 1, int(len(xs) * p))] * 1000, 3)

    with engine.connect() as conn:
        n_tally = conn.execute(text("SELECT COUNT(*) FROM tally")).scalar()
        n_entry = conn.execute(text("SELECT COUNT(*) FROM entry")).scalar()
    return {
        "name": "leaderboard", "backend": backend, "n": len(kept), "cases": len(cases),
        "p50_ms": pct(kept, 0.5), "p95_ms": pct(kept, 0.95), "p99_ms": pct(kept, 0.99),
        "ledger_p50_ms": pct(slow, 0.5), "ledger_p95_ms": pct(slow, 0.95),
        "ratio": round(statistics.median(slow) / statistics.median(kept), 1),
        "identical": identical, "tally_rows": n_tally, "entries": n_entry,
        "ok": identical and pct(kept, 0.95) < 10,
    }


def _sqlite_db(quick: bool) -> str:
    db = OUT / "ingest.db"
    if not db.exists():
        from bench import ingest

        ingest.run(quick=quick)
    return f"sqlite:///{db}"


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Both backends (PostgreSQL when reachable); one result each."""
    url = _sqlite_db(quick)
    sqlite_engine = make_engine(url)
    results = [measure(sqlite_engine, "sqlite", quick)]
    with on_postgres(url) as moved:
        if moved:
            target, report = moved
            pg_engine = make_engine(target)
            result = measure(pg_engine, "postgresql", quick)
            result["copied_ok"] = report.ok
            results.append(result)
            pg_engine.dispose()
    sqlite_engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line: one JSON line per result."""
    return quick_main(run, "python -m bench.leaderboard", __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
