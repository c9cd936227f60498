"""A PostgreSQL server for the suite: the machine's own, or a throwaway one from the installed binaries."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import sqlalchemy as sa

DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_cached: str | bool | None = False


def _reachable(url: str) -> bool:
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as c:
            c.execute(sa.text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def _throwaway() -> str | None:
    """initdb + pg_ctl into a temporary folder on port 55432; stopped when the run ends."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        return None
    bindir = os.path.dirname(bins[-1])
    data = tempfile.mkdtemp(prefix="jifen-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = "55432"
    try:
        subprocess.run([*as_user, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "-w", "start", "-l", f"{data}/log"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError):
        return None
    atexit.register(lambda: subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True))
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    for _ in range(30):
        if _reachable(url):
            return url
        time.sleep(0.2)
    return None


def server_url() -> str | None:
    """A URL of a reachable server's maintenance database, or None."""
    global _cached
    if _cached is False:
        url = os.environ.get("JIFEN_TEST_PG_URL", DEFAULT)
        _cached = url if _reachable(url) else _throwaway()
    return _cached or None  # type: ignore[return-value]


def fresh_database(server: str) -> tuple[str, callable]:  # type: ignore[valid-type]
    """Create an empty database for one test session; return its URL and a function dropping it."""
    name = f"jifen_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = server.rsplit("/", 1)[0] + "/" + name

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop
