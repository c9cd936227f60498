"""Moving a running SQLite installation to PostgreSQL loses nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from services.dbcopy import TargetNotEmpty, copy_database, verify
from services.ingest import ingest_text
from store.db import make_engine
from store.ledger import Ledger
from store.rules_repo import publish
from store.seal import seal
from store.seal import verify as verify_seals
from tests.builders import County
from tests.conftest import Clock

pytestmark = pytest.mark.postgres


def test_sqlite_to_postgresql_keeps_every_balance_entry_and_grade(
    sqlite_engine: Engine, pg_server: str, clock: Clock, rules_text: str, tmp_path
) -> None:
    county = County(sqlite_engine)
    county.village("V1")
    county.household("H1", "G1", tier="red")
    county.person("P1", "H1")
    county.person("M1", "H1", member_of="B-V1")
    county.link("M1", "H1")
    publish(sqlite_engine, rules_text, date(2026, 1, 1), "admin", clock())
    ledger = Ledger(sqlite_engine, clock)
    records = [
        {"id": "a", "type": "volunteer_service", "occurred_at": "2026-02-01T10:00:00", "person": "P1", "fields": {"hours": "1.5"}},
        {"id": "b", "type": "household_visit", "occurred_at": "2026-02-02T10:00:00", "person": "M1", "household": "H1"},
        {"id": "c", "type": "civility", "occurred_at": "2026-02-03T10:00:00", "person": "P1", "rule": "MB-20"},
    ]
    ingest_text(ledger, "\n".join(json.dumps(r) for r in records), "jsonl", "import", "clerk")
    clock.now = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 2027-01-01 00:30 in Beijing: the year has ended
    ledger.close_period("moral", "2026")
    seal(sqlite_engine, clock() + timedelta(hours=1))  # the hash chain travels with the ledger

    # A fresh, empty database on the PostgreSQL server (not the session's shared one).
    from tests import pg

    target_url, drop = pg.fresh_database(pg.server_url() or "")
    try:
        report = copy_database(str(sqlite_engine.url), target_url)
        assert report.ok, report.mismatched
        # moral +3 and 1.5 hours for the volunteer, +2 for the red-household visit, the carry entry;
        # the gambling item waits for review as a claim.
        assert report.rows["entry"] == 4
        assert report.rows["claim"] == 1
        target = make_engine(target_url)
        after = Ledger(target, clock)
        assert after.balance("moral", "h", county.ids["H1"]) == ledger.balance("moral", "h", county.ids["H1"])
        copied, original = verify_seals(target), verify_seals(sqlite_engine)
        assert copied.ok and copied.sealed_entries == 4 and copied.head_digest == original.head_digest
        # The sequences were reset: new entries get fresh ids on the target.
        ingest_text(after, json.dumps({"id": "d", "type": "party_day_signin", "occurred_at": "2026-03-01T10:00:00", "person": "M1"}), "jsonl", "api", "x")
        with target.connect() as c:
            assert c.execute(text("select count(*) from entry")).scalar() == 5
        with pytest.raises(TargetNotEmpty):
            copy_database(str(sqlite_engine.url), target_url)
        # …and the verification notices the databases now differ.
        assert {"entry", "eventrecord"} <= set(verify(sqlite_engine, target))
        target.dispose()
    finally:
        drop()
