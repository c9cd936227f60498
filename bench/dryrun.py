"""Dry run of a rules change over a year of events, with the standings diff.

``python -m bench.dryrun [--quick]``

Uses the county that ``bench.ingest`` leaves in ``bench/out/ingest.db`` (built
first when missing); nothing is written to it. The change is one an
administrator would make: 走访联系户 (LH-01, the commonest rule) raised from 1
to 2 points and capped at 20 points a month. ``services.rules_admin.dry_run``
re-scores every event of the period ``2026`` under the edited text (counters in
memory) and compares with the kept tallies; that call is what is timed.

Checks, in the same run (untimed against the goal):

* **full**: the same change scored again over *every* event of the year
  (``full=True``) gives the very same diff, holder by holder: what the change
  cannot reach may be taken from the ledger as kept (``full_s`` and ``ratio``
  compare the two ways);
* **identity**: a dry run of the live text itself changes no holder (the kept
  entries add up to the kept tallies);
* **scope**: the change touches only ``party_work``; the other point types'
  totals are unchanged, and old total + Σ delta == new total.

Prints one JSON line.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import OUT, peak_rss_mb, quick_main
from services import rules_admin
from services.context import AppContext

ROOT = Path(__file__).resolve().parent.parent
PERIOD = "2026"
GOAL_S = 30.0
OLD_RULE = """    points: {fixed: 1}
    multiplier: {by: tier, values: {yellow: 1, orange: 1.5, red: 2}}
    cooldown: {hours: 24, per: household}      # one visit a day per household counts"""
NEW_RULE = """    points: {fixed: 2}
    multiplier: {by: tier, values: {yellow: 1, orange: 1.5, red: 2}}
    cooldown: {hours: 24, per: household}      # one visit a day per household counts
    caps:
      - {window: month, max: 20}"""


def changed_rules(live: str) -> str:
    """The live rules with LH-01 raised to 2 points and capped at 20 a month."""
    if live.count(OLD_RULE) != 1:
        raise SystemExit("rules.yaml no longer has LH-01 as the bench expects")
    return live.replace(OLD_RULE, NEW_RULE)


def _sqlite_db(quick: bool) -> Path:
    db = OUT / "ingest.db"
    if not db.exists():
        from bench import ingest

        ingest.run(quick=quick)
    return db


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def run(quick: bool = False) -> dict[str, Any]:
    """Time the dry run of the change; check it against the live text's own dry run."""
    db = _sqlite_db(quick)
    ctx = AppContext(f"sqlite:///{db}")
    live = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    edited = changed_rules(live)
    load_before = _load()

    cpu_s = time.process_time()
    t = time.perf_counter()
    result = rules_admin.dry_run(ctx, edited, PERIOD)
    seconds = time.perf_counter() - t
    cpu_s = time.process_time() - cpu_s
    load_after = _load()

    same = rules_admin.dry_run(ctx, live, PERIOD)
    t = time.perf_counter()
    full = rules_admin.dry_run(ctx, edited, PERIOD, full=True)
    full_s = time.perf_counter() - t
    full_same = (full.changes, full.totals, full.holders) == (result.changes, result.totals, result.holders)

    changed_types = sorted({c.point_type for c in result.changes})
    unchanged_totals = all(old == new for pt, (old, new) in result.totals.items() if pt != "party_work")
    old_pw, new_pw = result.totals.get("party_work", (0, 0))
    deltas_add_up = old_pw + sum(c.delta for c in result.changes if c.point_type == "party_work") == new_pw
    scored_changed = sum(1 for c in result.changes if c.delta)
    ok_checks = full_same and not same.changes and changed_types == ["party_work"] and unchanged_totals and deltas_add_up
    ctx.engine.dispose()
    return {
        "name": "dryrun", "backend": "sqlite", "n": result.events + result.kept_events, "period": PERIOD,
        "seconds": round(seconds, 2), "cpu_s": round(cpu_s, 2), "events_rescored": result.events,
        "events_kept": result.kept_events, "holders": result.holders, "holders_changed": len(result.changes),
        "scores_changed": scored_changed, "totals": {pt: [old / 100, new / 100] for pt, (old, new) in result.totals.items()},
        "full_s": round(full_s, 2), "full_events": full.events, "ratio": round(full_s / seconds, 2) if seconds else None,
        "change": "LH-01 走访联系户 1 → 2 points, capped at 20 a month",
        "checks": {"same_as_full": full_same, "identity": not same.changes, "only_party_work": changed_types == ["party_work"],
                   "other_totals_unchanged": unchanged_totals, "deltas_add_up": deltas_add_up},
        "peak_rss_mb": peak_rss_mb(), "load_1m_before": load_before, "load_1m_after": load_after,
        "cores": len(os.sched_getaffinity(0)), "goal_s": GOAL_S, "ok": bool(ok_checks and seconds < GOAL_S),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: one JSON line per result."""
    return quick_main(run, "python -m bench.dryrun", __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
