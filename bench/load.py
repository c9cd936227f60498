"""Pages under load: gunicorn with 2 workers on loopback, ``wrk`` against the passbook, a leaderboard and the API.

``python -m bench.load [--quick] [--seconds S] [--connections N]``

Uses the county that ``bench.ingest`` leaves in ``bench/out/ingest.db`` (built
first when missing), copied to ``bench/out/load.db`` (SQLite's backup API, so
the other benchmarks' file is never written to). Into the copy go what the run
needs, made with the product's own functions: a committee login scoped to the
largest village (``web.accounts.create_user``) and an API token with the same
role and village (``web.api.tokens.issue``). For PostgreSQL (when a server is
reachable) the copy is moved into a fresh database with
``services.dbcopy.copy_database`` and dropped after.

Per backend, ``gunicorn 'web:create_app()' -w 2 -b 127.0.0.1:<free port>`` is
started (sync workers, the default; ``JIFEN_SECURE_COOKIES=0`` because it is
plain HTTP on loopback), the login is done through the site's own form (CSRF
token and all) to get a session cookie, and each page is checked once by hand
(status 200 and the holder's code in the page). Then ``wrk`` runs for
``SECONDS`` per page (30 s, 10 s with ``--quick``) after a short warm-up, with a
Lua script that walks a shuffled list of URLs (every thread from its own
offset) and carries the session cookie or the ``Authorization`` header:

* **passbook**: ``/passbook/<code>`` for the village's households and people;
* **leaderboard**: ``/leaderboard?type=…&scope=…&area=…&kind=…&period=…`` over
  every point type × scope (county, township, village, grid, branch: several
  places each) × period (months, quarters, the year), anonymous;
* **api_balance**: ``GET /api/v1/balances/<code>`` with a Bearer token.

Any answer other than 200 (a redirect to the login page included) and any
socket error or timeout counts in ``errors``. Latencies are wrk's (measured per
request from send to full response; wrk is a closed loop, so under overload
they grow with the queue rather than being corrected for coordinated omission).
gunicorn is always stopped in a ``finally`` block. Prints one JSON line per page
and backend.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.common import OUT, ROOT, fresh_file, on_postgres

SECONDS = 30
QUICK_SECONDS = 10
WARMUP = 5  # s of load before each measured run: every worker has compiled the page's templates, filled its pools
WORKERS = 2
THREADS = 2
CONNECTIONS = 4  # requests wrk keeps in flight: 2 per sync worker (more would only queue in the listen backlog)
USER_AGENT = "jifen-bench-load"
MAX_URLS = 2000
PASSBOOK_GOAL = {"rps": 500, "p99_ms": 100}

LUA = r"""
local paths = {}
for line in io.lines(os.getenv("JIFEN_LOAD_URLS")) do paths[#paths + 1] = line end
local header_name = os.getenv("JIFEN_LOAD_HEADER")
local header_value = os.getenv("JIFEN_LOAD_VALUE")
local headers = {["User-Agent"] = os.getenv("JIFEN_LOAD_UA")}
if header_name and header_name ~= "" then headers[header_name] = header_value end
local counter = 1
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  i = (id * 7919) % #paths
  bad = 0
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], headers)
end

function response(status, hdrs, body)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local not200 = 0
  for _, t in ipairs(threads) do not200 = not200 + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format(
    'JIFEN_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"not200":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, not200, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class Plan:
    """What the run asks for: the login, the token and the URLs of each page."""

    username: str
    password: str
    token: str
    village: str
    urls: dict[str, list[str]] = field(default_factory=dict)
    check: dict[str, str] = field(default_factory=dict)  # page → a code its first URL must show
    county: dict[str, int] = field(default_factory=dict)  # its size: households, persons, entries


# ---------------------------------------------------------------- the county and what the run needs
def _source_db(quick: bool) -> Path:
    db = OUT / "ingest.db"
    if not db.exists():
        from bench import ingest

        ingest.run(quick=quick)
    return db


def _snapshot(src: Path) -> Path:
    """A consistent copy of the bench county that this benchmark may write to."""
    dst = fresh_file("load.db")
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    a.close()
    b.close()
    return dst


def prepare(url: str) -> Plan:
    """Create the login and the token; pick the holders and the boards the pages will vary over."""
    from scoring.periods import period_key
    from services.context import AppContext
    from store.models import Area, Branch, Entry, Household, Membership, Person
    from web import accounts
    from web.api import tokens

    ctx = AppContext(url)
    engine = ctx.engine
    rng = random.Random(11)
    with engine.connect() as conn:
        village_id, village_code = conn.execute(
            select(Household.village_id, Area.code).join(Area, Area.id == Household.village_id)  # type: ignore[arg-type]
            .group_by(Household.village_id, Area.code).order_by(func.count().desc(), Household.village_id).limit(1)).one()
        households = list(conn.execute(select(Household.code).where(Household.village_id == village_id)).scalars())
        people = list(conn.execute(
            select(Person.code).join(Membership, Membership.person_id == Person.id)  # type: ignore[arg-type]
            .join(Household, Household.id == Membership.household_id)  # type: ignore[arg-type]
            .where(Household.village_id == village_id, Membership.valid_to.is_(None))).scalars())  # type: ignore[union-attr]
        areas = {lvl: list(conn.execute(select(Area.id).where(Area.level == lvl)).scalars()) for lvl in ("township", "village", "grid")}
        areas["branch"] = list(conn.execute(select(Branch.id)).scalars())
        county = {"households": conn.execute(select(func.count()).select_from(Household)).scalar_one(),
                  "persons": conn.execute(select(func.count()).select_from(Person)).scalar_one(),
                  "entries": conn.execute(select(func.count()).select_from(Entry)).scalar_one()}
    ruleset = ctx.ruleset()
    assert ruleset is not None, "the bench county has no rules published"
    today = ctx.today()
    password = secrets.token_urlsafe(16)
    suffix = secrets.token_hex(3)
    username = f"bench.load.{suffix}"
    accounts.create_user(engine, username, "committee", password=password, display_name="load bench",
                         scope={"village_id": village_id}, created_by="bench", now=datetime.now(UTC))
    token = tokens.issue(engine, f"bench-load-{suffix}", "committee", "bench", datetime.now(UTC), village=village_code).token
    engine.dispose()

    codes = households + people
    rng.shuffle(codes)
    codes = codes[:MAX_URLS]
    boards = []
    periods = {"month": [period_key("month", today)] + [f"{today.year}-{m:02d}" for m in range(1, 13)],
               "quarter": [f"{today.year}-Q{q}" for q in range(1, 5)], "year": [str(today.year)]}
    for pt in ruleset.point_types:
        for kind, keys in periods.items():
            for period in dict.fromkeys(keys):
                boards.append(f"/leaderboard?type={pt}&scope=county&kind={kind}&period={period}")
                for scope, ids in areas.items():
                    for area in rng.sample(ids, min(3, len(ids))):
                        boards.append(f"/leaderboard?type={pt}&scope={scope}&area={area}&kind={kind}&period={period}")
    rng.shuffle(boards)
    plan = Plan(username, password, token, village_code, county=county)
    plan.urls = {
        "passbook": [f"/passbook/{urllib.parse.quote(c)}" for c in codes],
        "leaderboard": boards,
        "api_balance": [f"/api/v1/balances/{urllib.parse.quote(c)}" for c in codes],
    }
    plan.check = {"passbook": codes[0], "api_balance": codes[0], "leaderboard": ""}
    return plan


# ---------------------------------------------------------------- gunicorn
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """gunicorn with 2 sync workers on 127.0.0.1 only, in its own process group."""
    env = {**os.environ, "JIFEN_DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32), "JIFEN_SECURE_COOKIES": "0",
           "PYTHONPATH": str(ROOT)}
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "web:create_app()", "-w", str(WORKERS),
           "-b", f"127.0.0.1:{port}", "--timeout", "60", "--log-level", "warning"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=5) as r:
                if r.status == 200:
                    return proc
        except (OSError, urllib.error.URLError):
            time.sleep(0.3)
    stop_gunicorn(proc)
    raise RuntimeError("gunicorn did not answer within 60 s")


def stop_gunicorn(proc: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn and its workers (its own process group, by its id)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass


def login(base: str, username: str, password: str) -> str:
    """Log in through the site's own form; the session cookie as ``name=value``."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    with opener.open(f"{base}/login", timeout=10) as r:
        html = r.read().decode("utf-8")
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    form = {"username": username, "password": password, "csrf_token": m.group(1) if m else ""}
    with opener.open(f"{base}/login", data=urllib.parse.urlencode(form).encode(), timeout=30) as r:
        if "/login" in r.url:
            raise RuntimeError("the bench login was refused")
    for c in jar:
        if c.name == "jifen_session":
            return f"{c.name}={c.value}"
    raise RuntimeError("no session cookie after login")


def _get(base: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(base + path, headers={"User-Agent": USER_AGENT, **headers})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a: Any, **k: Any) -> None:
        return None


# ---------------------------------------------------------------- wrk
def run_wrk(wrk: str, base: str, urls: list[str], header: tuple[str, str] | None, seconds: int,
            connections: int, workdir: Path) -> dict[str, Any]:
    """One wrk run (bounded by ``-d``, and by a hard timeout); wrk's figures as a dict."""
    urls_file = workdir / "urls.txt"
    urls_file.write_text("\n".join(urls) + "\n", encoding="utf-8")
    script = workdir / "load.lua"
    script.write_text(LUA, encoding="utf-8")
    env = {**os.environ, "JIFEN_LOAD_URLS": str(urls_file), "JIFEN_LOAD_UA": USER_AGENT,
           "JIFEN_LOAD_HEADER": header[0] if header else "", "JIFEN_LOAD_VALUE": header[1] if header else ""}
    cmd = [wrk, "-t", str(THREADS), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s", "-s", str(script), base]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("JIFEN_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {done.stdout[-500:]} {done.stderr[-500:]}")
    return json.loads(line.split(" ", 1)[1])  # type: ignore[no-any-return]


def _cpu_busy() -> tuple[float, float]:
    """Busy and total CPU ticks of the whole machine since boot."""
    with open("/proc/stat", encoding="ascii") as f:
        parts = [float(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def _tree_ticks(pid: int) -> float:
    """CPU ticks (user + system) used so far by a process and its children (gunicorn and its workers)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1] is the parent's id
            total += float(fields[11]) + float(fields[12])
    return total


def _db_ticks(database: str | None) -> float:
    """CPU ticks so far of the PostgreSQL backends serving one database (their command line names it)."""
    if not database:
        return 0.0
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f" {database} ".encode() not in f.read().replace(b"\0", b" ") + b" ":
                    continue
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += float(fields[11]) + float(fields[12])
    return total


def _children_ticks() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once waited for
    return (usage.ru_utime + usage.ru_stime) * os.sysconf("SC_CLK_TCK")


def _busy_before(seconds: float = 1.0) -> float:
    """The machine's CPU use (%) while this benchmark is idle: other work that will share the cores."""
    b0, t0 = _cpu_busy()
    time.sleep(seconds)
    b1, t1 = _cpu_busy()
    return round(100 * (b1 - b0) / max(1.0, t1 - t0), 1)


def measure(backend: str, url: str, plan: Plan, wrk: str, seconds: int, connections: int) -> list[dict[str, Any]]:
    """Serve one database with gunicorn and load each page in turn."""
    database = url.rsplit("/", 1)[-1] if backend == "postgresql" else None
    results = []
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    work = Path(tempfile.mkdtemp(prefix="jifen-load-"))
    proc = start_gunicorn(url, port, work / "gunicorn.log")
    try:
        cookie = login(base, plan.username, plan.password)
        headers = {"passbook": ("Cookie", cookie), "leaderboard": None, "api_balance": ("Authorization", f"Bearer {plan.token}")}
        for page, urls in plan.urls.items():
            header = headers[page]
            status, body = _get(base, urls[0], dict([header]) if header else {})
            if status != 200 or (plan.check[page] and plan.check[page] not in body):
                raise RuntimeError(f"{page} {urls[0]} answered {status}, not the page: {body[:300]}")
            run_wrk(wrk, base, urls, header, WARMUP, connections, work)  # warm-up: templates, rules, pools
            idle_busy = _busy_before()
            busy0, total0 = _cpu_busy()
            server0, wrk0, db0 = _tree_ticks(proc.pid), _children_ticks(), _db_ticks(database)
            r = run_wrk(wrk, base, urls, header, seconds, connections, work)
            busy1, total1 = _cpu_busy()
            server = _tree_ticks(proc.pid) - server0
            load_gen = _children_ticks() - wrk0
            db = _db_ticks(database) - db0
            window = max(1.0, total1 - total0)
            others = max(0.0, (busy1 - busy0) - server - load_gen - db)
            secs = r["duration_us"] / 1e6
            rps = r["requests"] / secs if secs else 0.0
            errors = r["not200"] + r["connect"] + r["read"] + r["write"] + r["timeout"]
            p99 = r["p99_us"] / 1000
            result: dict[str, Any] = {
                "name": "load", "backend": backend, "page": page, "n": r["requests"], "seconds": round(secs, 1),
                "rps": round(rps, 1), "p50_ms": round(r["p50_us"] / 1000, 1), "p90_ms": round(r["p90_us"] / 1000, 1),
                "p99_ms": round(p99, 1), "max_ms": round(r["max_us"] / 1000, 1), "errors": errors,
                "urls": len(urls), "county": plan.county, "workers": WORKERS, "connections": connections, "wrk_threads": THREADS,
                "server_cpu_ms_per_request": round(1000 * server / os.sysconf("SC_CLK_TCK") / max(1, r["requests"]), 2),
                "server_cpu_pct": round(100 * server / window, 1), "wrk_cpu_pct": round(100 * load_gen / window, 1),
                **({"db_cpu_pct": round(100 * db / window, 1),
                    "db_cpu_ms_per_request": round(1000 * db / os.sysconf("SC_CLK_TCK") / max(1, r["requests"]), 2)} if database else {}),
                "cpu_busy_pct": round(100 * (busy1 - busy0) / window, 1),
                "other_cpu_pct": round(100 * others / window, 1), "busy_before_pct": idle_busy,
                "load_avg": round(os.getloadavg()[0], 2), "cores": os.cpu_count(),
            }
            # What the same CPU cost per request would give with both cores to itself (not measured: CPU time ÷ cores).
            cost_ms = result["server_cpu_ms_per_request"] + result.get("db_cpu_ms_per_request", 0)
            result["rps_if_cores_free_est"] = round(1000 * min(WORKERS, os.cpu_count() or 1) / cost_ms) if cost_ms else None
            if others / window > 0.15 or idle_busy > 15:
                result["note"] = (f"noisy: other work used {100 * others / window:.0f}% of the machine's CPU during the run "
                                  f"({idle_busy:.0f}% just before it; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
            if page == "passbook":
                result["goal"] = f"rps >= {PASSBOOK_GOAL['rps']} and p99 < {PASSBOOK_GOAL['p99_ms']} ms"
                result["ok"] = errors == 0 and rps >= PASSBOOK_GOAL["rps"] and p99 < PASSBOOK_GOAL["p99_ms"]
            else:
                result["ok"] = errors == 0
            results.append(result)
    finally:
        stop_gunicorn(proc)
        shutil.rmtree(work, ignore_errors=True)
    return results


def run(quick: bool = False, seconds: int | None = None, connections: int = CONNECTIONS) -> list[dict[str, Any]]:
    """Both backends (PostgreSQL when reachable); one result per page and backend."""
    seconds = seconds or (QUICK_SECONDS if quick else SECONDS)
    wrk = shutil.which("wrk")
    if wrk is None:
        return [{"name": "load", "backend": None, "page": None, "ok": False,
                 "error": "wrk is not installed (Debian: apt-get install -y wrk); nothing was measured"}]
    db = _snapshot(_source_db(quick))
    url = f"sqlite:///{db}"
    plan = prepare(url)
    results = measure("sqlite", url, plan, wrk, seconds, connections)
    try:
        with on_postgres(url) as moved:
            if moved is None:
                results.append({"name": "load", "backend": "postgresql", "page": None, "skipped": "no PostgreSQL server reachable"})
            else:
                target, report = moved
                for r in measure("postgresql", target, plan, wrk, seconds, connections):
                    r["copied_ok"] = report.ok
                    results.append(r)
    except Exception as exc:  # the SQLite lines are kept; the failure is one line of its own
        results.append({"name": "load", "backend": "postgresql", "page": None, "ok": False,
                        "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"})
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line: one JSON line per page and backend."""
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seconds", type=int, help="per page (default 30, 10 with --quick)")
    p.add_argument("--connections", type=int, default=CONNECTIONS)
    a = p.parse_args(argv)
    ok = True
    for result in run(a.quick, a.seconds, a.connections):
        print(json.dumps(result, ensure_ascii=False), flush=True)
        ok = ok and result.get("ok") is not False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
