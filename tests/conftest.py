"""Fixtures shared by unit, integration and feature tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from store.db import create_all, make_engine
from store.ledger import Ledger
from store.rules_repo import publish
from tests import pg
from tests.builders import County

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


class Clock:
    """A clock the test moves by hand; call it for now (aware UTC)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        """Move forward by a timedelta's keywords."""
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    """Time stands at 2026-06-01 08:00 Beijing time until a test moves it."""
    return Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def rules_text() -> str:
    """The shipped rules.yaml."""
    return (ROOT / "rules.yaml").read_text(encoding="utf-8")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite database file."""
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A database on PostgreSQL for the session; under CI its absence fails the run."""
    server = pg.server_url()
    if server is None:
        if IN_CI:
            pytest.fail("PostgreSQL is required under CI and none could be reached or started")
        pytest.skip("no PostgreSQL server reachable here (runs in CI)")
    url, drop = pg.fresh_database(server)
    engine = make_engine(url)
    create_all(engine)
    engine.dispose()
    yield url
    drop()


@pytest.fixture
def pg_engine(pg_server: str) -> Iterator[Engine]:
    """The session's PostgreSQL database, emptied before each test."""
    engine = make_engine(pg_server, pool_size=40, max_overflow=10)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as c:
        c.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each integration test runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def county(engine: Engine) -> County:
    """One township, village V1 with grids G1 and G2, four households, a Party member linked to two."""
    c = County(engine)
    c.village("V1")
    c.grid("G1", "V1")
    c.grid("G2", "V1")
    c.household("H1", "G1", tier="red", head="张三")
    c.household("H2", "G1", tier="yellow", head="李四")
    c.household("H3", "G2", tier="orange", head="王五")
    c.household("H4", "G2", tier="yellow", head="赵六")
    c.person("P1", "H1", name="张三", id_number="330825196501011234", phone="13912345678")
    c.person("P2", "H2", name="李四")
    c.person("P3", "H3", name="王五")
    c.person("M1", "H4", name="党员赵六", member_of="B-V1")
    c.link("M1", "H1")
    c.link("M1", "H2")
    return c


@pytest.fixture
def ledger(engine: Engine, clock: Clock, rules_text: str) -> Ledger:
    """A ledger with the shipped rules in force from 2026-01-01."""
    publish(engine, rules_text, date(2026, 1, 1), "admin", clock())
    return Ledger(engine, clock)
