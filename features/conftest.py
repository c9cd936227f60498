"""Scenario fixtures: the database fixtures of the suite, and the engine steps.

pytest-bdd finds step definitions only through a conftest or the test module,
so the steps are imported here. ``features/test_engine.py`` uses the ``world``
fixture for every scenario; it depends on the parametrized ``engine``, so each
engine scenario runs on SQLite and on PostgreSQL.
"""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

import tests.conftest as suite
from features.steps.engine_steps import *  # noqa: F403  (step definitions and the world fixture)
from store.db import make_engine

# The database fixtures of the integration tests, shared with the scenarios.
clock = suite.clock
engine = suite.engine
pg_server = suite.pg_server
rules_text = suite.rules_text
sqlite_engine = suite.sqlite_engine


@pytest.fixture(scope="session")
def pg_shared(pg_server: str) -> Iterator[Engine]:
    """One PostgreSQL engine for every scenario of the session."""
    shared = make_engine(pg_server, pool_size=20, max_overflow=10)
    yield shared
    shared.dispose()


@pytest.fixture
def pg_engine(pg_shared: Engine) -> Engine:
    """The session's PostgreSQL database, emptied before each scenario.

    Scenarios write a few dozen rows, so deleting them is much faster than TRUNCATE.
    """
    with pg_shared.begin() as c:
        # The ledger's tables refuse DELETE (store.models.APPEND_ONLY): triggers off for this transaction only.
        c.execute(text("SET LOCAL session_replication_role = replica"))
        for table in reversed(SQLModel.metadata.sorted_tables):
            c.execute(table.delete())
    return pg_shared
