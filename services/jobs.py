"""Scheduled jobs, and the scheduler process that triggers them (APScheduler 3).

Start it with one command, in a process of its own (never inside the web workers)::

    jifen scheduler            # or: JIFEN_DATABASE_URL=… jifen scheduler

Jobs (explicit ids, ``replace_existing=True``; each can also be run by hand with
``jifen jobs run JOB_ID``):

========================  ==========================  ==============================================
id                        when                        what
========================  ==========================  ==============================================
``post_due_claims``       every 10 minutes            post claims whose notice ended without objection
``expire_entries``        daily 00:20                 expiry entries for points past their validity
``close_periods``         daily 00:30                 close every ended year (each point type) and
                                                      ended quarters/months of types kept by them:
                                                      grades frozen as a snapshot, reset or carry
``recompute_grades``      hourly at :45               grades of the running period (``grade_standing``)
``visit_backlog``         daily 07:00                 members behind on red-household visits (report)
``seal_ledger``           hourly at :05               seal settled entries into the ledger's hash chain
                                                      (``store.seal``; checked by ``jifen ledger verify``)
========================  ==========================  ==============================================

Safety:

* every job computes what is due *as of now* (not "at this tick"), so a run missed during
  downtime is caught up by the next one; the scheduler also runs all jobs once at start,
  and triggers use ``coalesce=True`` with a generous ``misfire_grace_time``;
* every job is idempotent: running it twice changes nothing the second time (claims move
  only from the state they are in, periods close once, expiries are keyed by entry, grades
  are written only where they changed, a report is written once per day);
* one scheduler leads: on PostgreSQL it holds a session advisory lock for its lifetime (a
  second scheduler started by mistake waits as a standby and takes over if the leader dies);
  on SQLite a file lock beside the database does the same. Each run also takes a per-job lock.

Every job function takes the ledger (whose clock tells the time) and an optional ``now``, so
tests call them directly with a clock they control; the scheduler only triggers them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text

from scoring.grades import grade
from scoring.periods import local_date, parse_period, period_key
from services.actors import SYSTEM
from services.claims import (
    ON_NOTICE,
    Invalid,
    WorkflowConfig,
    _load,
    aware,
    county_tz,
    due_claims,
    post_claim,
)
from services.errors import Conflict
from services.linkage import visit_backlog
from store.db import insert_ignore, is_postgres, upsert_set
from store.ledger import Ledger
from store.models import PeriodClose, Tally
from store.models_workflow import GradeStanding, JobReport
from store.seal import seal

log = logging.getLogger("jifen.jobs")
STANDING = GradeStanding.__table__  # type: ignore[attr-defined]
REPORT = JobReport.__table__  # type: ignore[attr-defined]
LEADER_KEY = 0x6A6966656E  # "jifen": the scheduler leader's advisory lock


# ---------------------------------------------------------------- the jobs
def post_due_claims(ledger: Ledger, now: datetime | None = None, config: WorkflowConfig | None = None) -> dict[str, Any]:
    """Post every claim whose notice ended (as of now) with no open objection."""
    now = now or ledger.clock()
    config = config or WorkflowConfig.from_env()
    with ledger.engine.connect() as conn:
        ids = due_claims(conn, now)
    posted, failed = [], []
    for cid in ids:
        try:
            with ledger.write_engine.begin() as conn:
                claim = _load(conn, cid)
                until = aware(claim["notice_until"])
                if claim["status"] != ON_NOTICE or until is None or until > now:
                    continue  # moved on since we looked
                post_claim(conn, ledger, claim, SYSTEM, now, config)
                posted.append(cid)
        except Conflict:
            continue  # another scheduler (or a person) was first
        except Invalid as exc:  # e.g. the person left the county: keep it on notice, report it
            failed.append({"claim": cid, "problems": [p.message("zh") for p in exc.problems]})
            log.warning("claim %s could not post: %s", cid, exc.problems)
    return {"posted": posted, "failed": failed}


def _first_day(ledger: Ledger) -> Any:
    versions = ledger.versions().versions
    return versions[0].effective if versions else None


def close_periods(ledger: Ledger, now: datetime | None = None) -> dict[str, Any]:
    """Close every period that ended before today and is not closed yet, oldest first.

    Years for every point type; quarters or months for a point type whose period is one.
    """
    now = now or ledger.clock()
    latest = ledger.versions().latest()
    first = _first_day(ledger)
    if latest is None or first is None:
        return {"closed": []}
    today = local_date(now, latest.timezone)
    with ledger.engine.connect() as conn:
        done = {(r[0], r[1]) for r in conn.execute(select(PeriodClose.point_type, PeriodClose.period))}  # type: ignore[call-overload]
    closed = []
    for pt in latest.point_types.values():
        kinds = ["year"] + ([pt.period] if pt.period in ("quarter", "month") else [])
        for kind in kinds:
            p = parse_period(period_key(kind, first))
            while p.end <= today:
                if (pt.key, p.key) not in done:
                    result = ledger.close_period(pt.key, p.key, actor="scheduler")
                    if not result["already"]:
                        closed.append({"point_type": pt.key, "period": p.key, "entries": result["entries"]})
                p = parse_period(period_key(kind, p.end))
    return {"closed": closed}


def expire_entries(ledger: Ledger, now: datetime | None = None) -> dict[str, Any]:
    """Write expiry entries for points whose validity ended before today (once each)."""
    now = now or ledger.clock()
    return {"expired": ledger.expire(local_date(now, county_tz(ledger)), actor="scheduler")}


def seal_ledger(ledger: Ledger, now: datetime | None = None) -> dict[str, Any]:
    """Seal the entries recorded since the last seal (and settled) into the ledger's hash chain."""
    return {"links": seal(ledger.write_engine, now or ledger.clock(), actor="scheduler")}


def recompute_grades(ledger: Ledger, now: datetime | None = None) -> dict[str, Any]:
    """Grades of the running period from the kept tallies; only rows whose grade or score changed are written."""
    now = now or ledger.clock()
    latest = ledger.versions().latest()
    if latest is None:
        return {"changed": 0}
    today = local_date(now, latest.timezone)
    changed = 0
    with ledger.write_engine.begin() as conn:
        for pt in latest.point_types.values():
            if not pt.grades:
                continue
            period = period_key(pt.period, today)
            changed += _regrade(conn, pt, period, now)
    return {"changed": changed}


def _regrade(conn: Connection, pt: Any, period: str, now: datetime) -> int:
    kept = {(r.holder_kind, r.holder_id): (int(r.score), r.grade, bool(r.vetoed)) for r in conn.execute(
        select(STANDING.c.holder_kind, STANDING.c.holder_id, STANDING.c.score, STANDING.c.grade, STANDING.c.vetoed)
        .where(STANDING.c.point_type == pt.key, STANDING.c.period == period))}
    rows = conn.execute(select(Tally.holder_kind, Tally.holder_id, func.sum(Tally.amount), func.sum(Tally.vetoes))
                        .where(Tally.point_type == pt.key, Tally.period == period)
                        .group_by(Tally.holder_kind, Tally.holder_id)).all()  # type: ignore[call-overload]
    out = []
    for hk, hid, score, vetoes in rows:
        g = grade(pt, int(score), bool(vetoes))
        value = (int(score), g.key, g.vetoed)
        if kept.get((hk, hid)) != value:
            out.append({"point_type": pt.key, "period": period, "holder_kind": hk, "holder_id": hid,
                        "score": value[0], "grade": value[1], "vetoed": value[2], "computed_at": now})
    upsert_set(conn, STANDING, out, ("point_type", "period", "holder_kind", "holder_id"), ("score", "grade", "vetoed", "computed_at"))
    return len(out)


def visit_backlog_report(ledger: Ledger, now: datetime | None = None, days: int | None = None) -> dict[str, Any]:
    """List the members behind on visits to red households today; the day's report is written once."""
    now = now or ledger.clock()
    days = days if days is not None else int(os.environ.get("JIFEN_VISIT_DAYS", "30"))
    today = local_date(now, county_tz(ledger))
    key = today.isoformat()
    with ledger.engine.connect() as conn:
        if conn.execute(select(REPORT.c.run_key).where(REPORT.c.job_id == "visit_backlog", REPORT.c.run_key == key)).first():
            return {"day": key, "already": True}
    behind = [
        {"member_id": m.member_id, "code": m.code, "name": m.name, "red_overdue": m.red_overdue,
         "households": [{"code": h.code, "tier": h.tier, "days_since": h.days_since} for h in m.overdue if h.tier == "red"]}
        for m in visit_backlog(ledger, SYSTEM, days=days, today=today) if m.red_overdue
    ]
    with ledger.write_engine.begin() as conn:
        insert_ignore(conn, REPORT, [{"job_id": "visit_backlog", "run_key": key, "created_at": now,
                                      "body": json.dumps({"days": days, "members": behind}, ensure_ascii=False)}])
    return {"day": key, "already": False, "members": behind}


def latest_report(ledger: Ledger, job_id: str = "visit_backlog") -> dict[str, Any] | None:
    """The newest report of a reporting job (for the branch desk)."""
    with ledger.engine.connect() as conn:
        row = conn.execute(select(REPORT).where(REPORT.c.job_id == job_id).order_by(REPORT.c.run_key.desc())).mappings().first()
    return {"day": row["run_key"], **json.loads(row["body"])} if row else None


@dataclass(frozen=True)
class JobSpec:
    """A job: its id, its function, when it runs, and what it does in both languages."""

    id: str
    func: Callable[..., dict[str, Any]]
    trigger: dict[str, Any]  # APScheduler trigger kind and its arguments
    zh: str
    en: str


# Catch-up runs them in this order: claims post before their period closes.
JOBS: dict[str, JobSpec] = {s.id: s for s in (
    JobSpec("post_due_claims", post_due_claims, {"trigger": "interval", "minutes": 10}, "公示期满的申报入账", "post claims whose notice ended"),
    JobSpec("expire_entries", expire_entries, {"trigger": "cron", "hour": 0, "minute": 20}, "到期积分失效", "expire entries past their validity"),
    JobSpec("close_periods", close_periods, {"trigger": "cron", "hour": 0, "minute": 30}, "期末结转(冻结等级、清零或结转)", "close ended periods (freeze grades, reset or carry)"),
    JobSpec("recompute_grades", recompute_grades, {"trigger": "cron", "minute": 45}, "重算本期等级", "recompute this period's grades"),
    JobSpec("visit_backlog", visit_backlog_report, {"trigger": "cron", "hour": 7, "minute": 0}, "红色户走访滞后提醒", "members behind on red-household visits"),
    JobSpec("seal_ledger", seal_ledger, {"trigger": "cron", "minute": 5}, "账本封存(哈希链)", "seal the ledger (hash chain)"),
)}


# ---------------------------------------------------------------- locks
def _lock_key(name: str) -> int:
    return zlib.crc32(f"jifen-job:{name}".encode())


@contextmanager
def job_lock(engine: Engine, job_id: str) -> Iterator[bool]:
    """Hold a job's lock while it runs: True if this process got it (always on SQLite)."""
    if not is_postgres(engine):
        yield True
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _lock_key(job_id)}).scalar())
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _lock_key(job_id)})


def run_job(ledger: Ledger, job_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Run one job now under its lock; ``{"skipped": "locked"}`` when another process is running it."""
    spec = JOBS[job_id]
    with job_lock(ledger.engine, job_id) as got:
        if not got:
            return {"skipped": "locked"}
        result = spec.func(ledger, now)
    log.info("job %s: %s", job_id, result)
    return result


class Leadership:
    """Which scheduler leads: a PostgreSQL session advisory lock, or a file lock beside a SQLite file."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._conn: Any = None
        self._file: Any = None
        self.held = False

    def acquire(self) -> bool:
        """Try to become the leader (again); True while this process leads.

        On PostgreSQL the lock lives as long as its session: a restart of the server, an idle
        timeout or a dropped connection ends it and lets a standby lead. So a leader asks its
        session each time whether it still holds the lock, and stops leading when it does not.
        """
        if self.held and self._conn is not None and not self._still_held():
            log.warning("the leader's database session was lost: no longer leading")
            self._drop_session()
        if self.held:
            return True
        if is_postgres(self.engine):
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_KEY}).scalar():
                self._conn, self.held = conn, True
            else:
                conn.close()
            return self.held
        path = self._lock_path()
        if path is None:
            self.held = True
            return True
        import fcntl

        f = open(path, "a+")  # noqa: SIM115 (held open for the life of the process)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file, self.held = f, True
        return True

    def _lock_path(self) -> Path | None:
        db = self.engine.url.database
        if not db or db == ":memory:":
            return None
        return Path(f"{db}.scheduler.lock")

    def _still_held(self) -> bool:
        """Whether this process's session is alive and holds the leader's lock."""
        try:
            return bool(self._conn.execute(text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
                "AND objid = :lo AND classid = :hi AND objsubid = 1)"), {"lo": LEADER_KEY & 0xFFFFFFFF, "hi": LEADER_KEY >> 32}).scalar())
        except Exception:  # the session is gone (server restarted, connection dropped): it holds nothing
            return False

    def _drop_session(self) -> None:
        with contextlib.suppress(Exception):  # already broken
            self._conn.close()
        self._conn, self.held = None, False

    def release(self) -> None:
        """Stop leading (on shutdown); a session already lost has nothing to unlock."""
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_KEY})
            except Exception:  # the session is gone, and its lock with it
                log.info("leader's session already closed at shutdown")
            finally:
                self._drop_session()
        if self._file is not None:
            self._file.close()
            self._file = None
        self.held = False


class Runner:
    """What the scheduler triggers: run a job if this process leads; a standby keeps trying."""

    def __init__(self, ledger: Ledger, leadership: Leadership):
        self.ledger, self.leadership = ledger, leadership

    def run(self, job_id: str) -> dict[str, Any] | None:
        """Run one job as leader; None when standing by."""
        if not self.leadership.acquire():
            log.info("standby: another scheduler leads; %s not run here", job_id)
            return None
        try:
            return run_job(self.ledger, job_id)
        except Exception:  # a failing job must not stop the scheduler; the next run retries
            log.exception("job %s failed", job_id)
            return {"error": job_id}

    def catch_up(self) -> dict[str, Any]:
        """Run every job once, in order: what was due during downtime is done now."""
        return {job_id: self.run(job_id) for job_id in JOBS}


def build_scheduler(runner: Runner, tz: Any, scheduler: Any = None) -> Any:
    """An APScheduler 3 scheduler with every job, explicit ids, coalescing and a long grace time."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    sched = scheduler or BlockingScheduler(timezone=tz)
    for spec in JOBS.values():
        trigger = dict(spec.trigger)
        kind = trigger.pop("trigger")
        sched.add_job(runner.run, kind, args=[spec.id], id=spec.id, name=spec.en, replace_existing=True,
                      coalesce=True, misfire_grace_time=6 * 3600, max_instances=1, timezone=tz, **trigger)
    return sched


def brief(result: Any) -> str:
    """A job's result as one log line: lists are given by their length (a county's backlog lists hundreds)."""
    if isinstance(result, dict):
        return ", ".join(f"{k}={len(v) if isinstance(v, list) else v}" for k, v in result.items())
    return str(result)


def serve(ledger: Ledger, echo: Callable[[str], None] = print, roles: tuple[str, str] = ("leader", "standby")) -> None:
    """The scheduler process: lead (or stand by), catch up, then run the jobs on their triggers until stopped.

    ``roles``: how to say that this process leads, or stands by, in the reader's language.
    """
    leadership = Leadership(ledger.engine)
    runner = Runner(ledger, leadership)
    tz = county_tz(ledger)
    sched = build_scheduler(runner, tz)

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        echo(roles[0] if leadership.acquire() else roles[1])
        for job_id, result in runner.catch_up().items():
            echo(f"{job_id}: {brief(result)}")
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if sched.running:
            sched.shutdown(wait=False)
        leadership.release()
