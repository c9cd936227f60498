"""Production on PostgreSQL: migrations match the models, backups restore with the database's own tools."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import store.all_models  # noqa: F401
from services.dbcopy import verify
from services.ingest import ingest_text
from store.db import make_engine
from store.ledger import Ledger
from store.migrate import upgrade
from store.rules_repo import publish
from tests import pg
from tests.builders import County
from tests.conftest import IN_CI, Clock

pytestmark = pytest.mark.postgres


@pytest.fixture
def fresh_pg() -> Iterator[str]:
    server = pg.server_url()
    if server is None:
        if IN_CI:
            pytest.fail("PostgreSQL is required under CI")
        pytest.skip("no PostgreSQL here (runs in CI)")
    url, drop = pg.fresh_database(server)
    yield url
    drop()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_migrations_build_exactly_the_schema_of_the_models(fresh_pg: str) -> None:
    upgrade(fresh_pg)
    engine = make_engine(fresh_pg)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_a_pg_dump_backup_restores_every_row(fresh_pg: str, clock: Clock, rules_text: str, tmp_path: Path) -> None:
    if shutil.which("pg_dump") is None:
        pytest.fail("pg_dump is part of the PostgreSQL client tools the deployment relies on")
    upgrade(fresh_pg)
    engine = make_engine(fresh_pg)
    county = County(engine)
    county.village("V1")
    county.household("H1", "G1", tier="orange")
    county.person("M1", "H1", member_of="B-V1")
    county.link("M1", "H1")
    publish(engine, rules_text, date(2026, 1, 1), "admin", clock())
    ledger = Ledger(engine, clock)
    ingest_text(ledger, json.dumps({"id": "a", "type": "household_visit", "occurred_at": "2026-02-02T10:00:00", "person": "M1", "household": "H1"}), "jsonl", "api", "x")
    backup = tmp_path / "jifen.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--file={backup}", _libpq(fresh_pg)], check=True)
    restored_url, drop = pg.fresh_database(pg.server_url() or "")
    try:
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={_libpq(restored_url)}", str(backup)], check=True)
        restored = make_engine(restored_url)
        assert verify(engine, restored) == []
        assert Ledger(restored, clock).balance("party_work", "p", county.ids["M1"]) == (150, 150)  # 1 × orange 1.5
        restored.dispose()
    finally:
        drop()
        engine.dispose()


def test_public_leaderboards_read_from_the_replica_when_one_is_named(fresh_pg: str, clock: Clock, rules_text: str,
                                                                    tmp_path: Path) -> None:
    # A streaming replica lags the primary a little: here a restored dump stands in for it, and a visit
    # recorded afterwards on the primary is on the passbook (primary) but not yet on the public board.
    from services.context import AppContext
    from web import create_app

    upgrade(fresh_pg)
    engine = make_engine(fresh_pg)
    county = County(engine)
    county.village("V1")
    county.household("H1", "G1", tier="orange")
    county.person("M1", "H1", name="李党员", member_of="B-V1")
    county.link("M1", "H1")
    publish(engine, rules_text, date(2026, 1, 1), "admin", clock())
    ledger = Ledger(engine, clock)
    visit = {"type": "household_visit", "person": "M1", "household": "H1"}
    ingest_text(ledger, json.dumps({**visit, "id": "a", "occurred_at": "2026-02-02T10:00:00"}), "jsonl", "api", "x")
    backup = tmp_path / "jifen.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--file={backup}", _libpq(fresh_pg)], check=True)
    replica_url, drop = pg.fresh_database(pg.server_url() or "")
    try:
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={_libpq(replica_url)}", str(backup)], check=True)
        ingest_text(ledger, json.dumps({**visit, "id": "b", "occurred_at": "2026-02-05T10:00:00"}), "jsonl", "api", "x")
        board = "/leaderboard?type=party_work&scope=county&kind=year&period=2026"

        def score_shown(read_url: str | None) -> str:
            ctx = AppContext(fresh_pg, clock, read_url=read_url)
            app = create_app({"SECRET_KEY": "k", "TESTING": True, "CONTEXT": ctx})
            page = app.test_client().get(board).get_data(as_text=True)
            ctx.read_engine.dispose()
            ctx.engine.dispose()
            row = page[page.index("李党员"):]
            return row[:row.index("</tr>")]

        assert ">1.5<" in score_shown(replica_url)  # the replica: visit a only
        assert ">3<" in score_shown(None)  # no replica named: the primary, both visits
    finally:
        drop()
        engine.dispose()
