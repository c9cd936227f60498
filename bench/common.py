"""What every benchmark shares: where output goes, peak memory, the machine's description."""

from __future__ import annotations

import json
import os
import platform
import resource
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"  # scratch databases and event files (gitignored)
RESULTS = ROOT / "bench" / "results"


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def fresh_file(name: str) -> Path:
    """A path under bench/out with no database (or WAL files) left from an earlier run."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()
    return path


def save(name: str, result: dict[str, Any]) -> None:
    """Append one result line to bench/results/<name>.jsonl, with the day and the machine it ran on.

    machine.txt describes the last run saved; each line says its own machine, so a
    line saved later on another machine is never read against the wrong one.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    line = {**result, "saved_on": date.today().isoformat(), "machine": machine().strip().replace("\n", "; ")}
    with open(RESULTS / f"{name}.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(line, ensure_ascii=False) + "\n")


def machine() -> str:
    """CPU model, cores, memory, Python and SQLite versions, as text."""
    lines = []
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.split(":")[0].strip() in ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "CPU MHz"):
                lines.append(" ".join(line.split()))
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            lines.append(" ".join(f.readline().split()))
    except OSError:
        pass
    lines.append(f"cores available: {len(os.sched_getaffinity(0))}")
    lines.append(f"python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}")
    lines.append(f"sqlite {sqlite3.sqlite_version}")
    return "\n".join(lines) + "\n"


@contextmanager
def on_postgres(sqlite_url: str) -> Iterator[tuple[str, Any] | None]:
    """The SQLite county moved with ``services.dbcopy`` into a fresh PostgreSQL database, dropped after.

    Yields (URL, copy report), or None when no PostgreSQL server is reachable.
    """
    try:
        from tests import pg
    except ImportError:
        pg = None  # type: ignore[assignment]
    server = pg.server_url() if pg else None
    if not server:
        yield None
        return
    from services.dbcopy import copy_database

    target, drop = pg.fresh_database(server)
    try:
        yield target, copy_database(sqlite_url, target)
    finally:
        drop()


def quick_main(run: Any, prog: str, doc: str, argv: list[str] | None = None) -> int:
    """The command line of a benchmark whose only option is ``--quick``: print its lines, 1 if any missed."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    outcome = run(parser.parse_args(argv).quick)
    ok = True
    for result in outcome if isinstance(outcome, list) else [outcome]:
        print(json.dumps(result, ensure_ascii=False), flush=True)
        ok = ok and result.get("ok") is not False
    return 0 if ok else 1
