"""Crash tests: an import killed outright (power cut, kill -9) leaves a ledger that adds up, and sent again counts each event once.

Each test runs ``jifen ingest`` in a process of its own, kills it with SIGKILL while it is writing
(after its first transactions have committed), then checks what a county office would: every balance
and tally equals its entries (``services.consistency``), the hash chain verifies, and importing the same
file again ends in exactly the ledger of an import that was never interrupted.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from services import consistency
from store.db import make_engine
from store.models import Balance, Entry

JIFEN = [sys.executable, "-m", "services.cli"]
ROOT = Path(__file__).resolve().parent.parent


def jifen(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JIFEN, "--db", f"sqlite:///{db}", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def entries(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as c:  # a reader beside the writer (WAL)
        return int(c.execute("SELECT COUNT(*) FROM entry").fetchone()[0])


def ledger_state(db: Path) -> tuple[list[tuple[str, int]], list[tuple[str, str, int, int]]]:
    """Every entry (key, amount) and every balance: two imports of one file must agree on all of them."""
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        rows = sorted((k, int(a)) for k, a in c.execute(select(Entry.key, Entry.amount)))
        balances = sorted((pt, hk, int(hid), int(a)) for pt, hk, hid, a in c.execute(
            select(Balance.point_type, Balance.holder_kind, Balance.holder_id, Balance.amount)))
    engine.dispose()
    return rows, balances


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A demo county's directory and rules (nothing ingested), and a year of its events as JSONL."""
    folder = tmp_path_factory.mktemp("crash")
    db, events = folder / "county.db", folder / "events.jsonl"
    made = jifen(db, "demo", "generate", "--size", "small", "--events", "30000", "--no-ingest", "--events-out", str(events))
    assert made.returncode == 0, made.stderr
    return db, events


@pytest.mark.parametrize("when", [1, 3])
def test_an_import_killed_mid_write_adds_up_and_resumes_to_the_uninterrupted_ledger(county: tuple[Path, Path], tmp_path: Path,
                                                                                  when: int) -> None:
    directory, events = county
    clean, crashed = tmp_path / "clean.db", tmp_path / "crashed.db"
    shutil.copy(directory, clean)
    shutil.copy(directory, crashed)
    done = jifen(clean, "ingest", str(events), "--batch", "1000")
    assert "退回 0 条" in done.stdout, done.stdout + done.stderr

    # Kill the import once ``when`` transactions of 1,000 events are in (and it is writing the next).
    proc = subprocess.Popen([*JIFEN, "--db", f"sqlite:///{crashed}", "ingest", str(events), "--batch", "1000"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and entries(crashed) < when * 900:
        time.sleep(0.01)
    assert proc.poll() is None, "the import finished before it could be killed: give it more events"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    kept = entries(crashed)
    assert 0 < kept < len(ledger_state(clean)[0])  # killed part-way: some transactions in, the rest not
    with sqlite3.connect(crashed) as c:
        recorded_before = int(c.execute("SELECT COUNT(*) FROM eventrecord").fetchone()[0])
    assert recorded_before % 1000 == 0  # whole transactions only: none of the one being written when killed

    engine = make_engine(f"sqlite:///{crashed}")
    after_kill = consistency.check(engine)
    engine.dispose()
    assert after_kill.ok, (after_kill.balance_diffs, after_kill.tally_diffs)  # nothing half-written survives the kill

    again = jifen(crashed, "ingest", str(events), "--batch", "1000")
    assert again.returncode == 0, again.stderr
    assert f"已记录过 {recorded_before} 条" in again.stdout  # the events already in are recognised, not scored again
    assert ledger_state(crashed) == ledger_state(clean)
    verified = jifen(crashed, "ledger", "verify")
    assert verified.returncode == 0 and "余额与分期汇总都等于流水合计" in verified.stdout, verified.stdout + verified.stderr
