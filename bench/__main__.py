"""Run every benchmark under ``bench/``: ``python -m bench [--quick] [--save] [--only NAME]``.

Each benchmark module has ``run(quick: bool) -> dict`` (or a list, one per backend) and is listed in
``BENCHMARKS``; each prints one JSON line. ``--quick`` uses a small county
(seconds, for a smoke run); the full run uses the county of issue 5 (600,000
persons, 200,000 households, 15,000 Party members, 600 grids, 1,000,000 events).
``--save`` appends the lines to ``bench/results/<name>.jsonl`` and writes the
machine's description beside them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from bench.common import RESULTS, machine, save

BENCHMARKS = ("ingest", "leaderboard", "redeem", "dryrun", "close", "load")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named (all by default); print one JSON line each."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small county (smoke run)")
    parser.add_argument("--save", action="store_true", help=f"append the lines to {RESULTS}/")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run only these")
    args = parser.parse_args(argv)
    failed = 0
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        outcome = module.run(quick=args.quick)
        for result in outcome if isinstance(outcome, list) else [outcome]:  # one line per backend
            print(json.dumps(result, ensure_ascii=False), flush=True)
            if args.save:
                save(name, result)
            failed += int(result.get("ok") is False)
    if args.save:
        (RESULTS / "machine.txt").write_text(machine(), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
