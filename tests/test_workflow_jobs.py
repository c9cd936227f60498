"""The scheduler: explicit job ids, replace_existing, coalesced catch-up of missed runs, the CLI."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner

from services import claims, cli, jobs
from services.actors import Actor
from services.appraisal import trimmed_mean
from services.cli import main
from services.context import AppContext
from store.ledger import Ledger
from tests.builders import County


def test_every_job_is_registered_once_with_its_id(ledger: Ledger) -> None:
    runner = jobs.Runner(ledger, jobs.Leadership(ledger.engine))
    sched = BackgroundScheduler(timezone="Asia/Shanghai")
    sched.start(paused=True)
    try:
        jobs.build_scheduler(runner, "Asia/Shanghai", sched)
        jobs.build_scheduler(runner, "Asia/Shanghai", sched)  # a second registration replaces, never doubles
        got = sched.get_jobs()
    finally:
        sched.shutdown(wait=False)
    assert sorted(j.id for j in got) == sorted(jobs.JOBS)
    for job in got:
        assert job.coalesce and job.misfire_grace_time >= 3600 and job.max_instances == 1


def test_a_missed_run_is_caught_up_once() -> None:
    """Three missed hourly runs within the grace time run once (coalesce), as soon as the scheduler is up."""
    ran: list[datetime] = []
    done = threading.Event()

    def tick() -> None:
        ran.append(datetime.now(UTC))
        done.set()

    sched = BackgroundScheduler(timezone="UTC")
    sched.add_job(tick, "interval", hours=1, id="tick", replace_existing=True, coalesce=True, misfire_grace_time=6 * 3600,
                  next_run_time=datetime.now(UTC) - timedelta(hours=3))
    sched.start()
    try:
        assert done.wait(10)
    finally:
        sched.shutdown(wait=True)
    assert len(ran) == 1


def test_jobs_run_from_the_command_line(ledger: Ledger, county: County, clock, tmp_path: Path, monkeypatch, request) -> None:
    monkeypatch.setenv("JIFEN_UPLOAD_DIR", str(tmp_path / "up"))
    cid = claims.submit(ledger, Actor("grid1", "grid_worker", village_id=county.ids["V1"]), "MB-09", person="P2").claim.id
    claims.approve(ledger, Actor("com1", "committee", village_id=county.ids["V1"]), cid)
    url = str(ledger.engine.url.render_as_string(hide_password=False))
    made: list[AppContext] = []

    @dataclass
    class Tracked(AppContext):
        def __post_init__(self) -> None:
            made.append(self)

    monkeypatch.setattr(cli, "AppContext", Tracked)
    request.addfinalizer(lambda: [a.engine.dispose() for a in made if "engine" in a.__dict__])
    runner = CliRunner()
    listed = runner.invoke(main, ["--db", url, "--lang", "en", "claims", "list", "--status", "on_notice"])
    assert listed.exit_code == 0 and f"#{cid}\ton notice\tMB-09" in listed.output
    shown = runner.invoke(main, ["--db", url, "claims", "show", str(cid), "--by", "com1", "--role", "committee",
                                 "--actor-village", "V1"])
    # submitted at 00:00 UTC: 08:00 in the county, as the site shows it; the notice ends 7 days on
    assert shown.exit_code == 0 and "2026-06-01 08:00  grid1" in shown.output and "2026-06-08 08:00" in shown.output, shown.output
    refused = runner.invoke(main, ["--db", url, "claims", "approve", str(cid), "--by", "com1", "--role", "committee",
                                   "--actor-village", "V1"])
    assert refused.exit_code == 1 and "公示中" in refused.output
    # the CLI's own clock is real time (after 2026-06-08 in CI or not): run the job directly with ours
    clock.advance(days=7)
    assert jobs.run_job(ledger, "post_due_claims")["posted"] == [cid]
    listed = runner.invoke(main, ["--db", url, "jobs", "list"])
    assert listed.exit_code == 0 and "post_due_claims" in listed.output
    unknown = runner.invoke(main, ["--db", url, "--lang", "en", "jobs", "run", "nope"])
    assert unknown.exit_code == 1 and "no job nope" in unknown.output


def test_trimmed_mean_is_exact() -> None:
    assert trimmed_mean([9000, 8500, 7000, 9500, 6000]) == (Fraction(24500, 3), 9500, 6000)
    assert trimmed_mean([8000, 9000]) == (Fraction(8500), None, None)
    assert trimmed_mean([]) == (None, None, None)


def test_the_scheduler_log_gives_lists_by_their_length() -> None:
    from services.jobs import brief

    report = {"day": "2026-11-26", "already": False, "members": [{"code": f"P{i}"} for i in range(300)]}
    assert brief(report) == "day=2026-11-26, already=False, members=300"


@pytest.mark.postgres
def test_a_leader_whose_session_was_lost_stops_leading_and_one_scheduler_leads(pg_engine) -> None:
    """A restart, idle timeout or dropped connection ends the lock with its session: never two leaders."""
    import time

    from sqlalchemy import text as sql

    first, second = jobs.Leadership(pg_engine), jobs.Leadership(pg_engine)
    try:
        assert first.acquire() and not second.acquire()
        pid = first._conn.execute(sql("SELECT pg_backend_pid()")).scalar()
        with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sql("SELECT pg_terminate_backend(:p)"), {"p": pid})
            for _ in range(100):  # termination is asynchronous: wait until that session is gone
                if not c.execute(sql("SELECT 1 FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).first():
                    break
                time.sleep(0.05)
        assert second.acquire()  # the lock went with the session: the standby leads now
        assert not first.acquire()  # and the old leader sees it no longer holds it
        first.release()  # nothing to unlock: no error at shutdown
        second.release()
        assert first.acquire()
    finally:
        first.release()
        second.release()
