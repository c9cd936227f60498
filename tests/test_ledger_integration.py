"""The ledger on a real database (SQLite and PostgreSQL): recording, idempotency, reversal, balances."""

from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from services.ingest import ingest, ingest_text, read_jsonl
from store.ledger import Ledger
from store.models import Balance, Entry
from tests.builders import County


def lines(*records: dict) -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records)


def test_a_batch_keeps_good_records_and_names_bad_ones(ledger: Ledger, county: County) -> None:
    report = ingest_text(ledger, lines(
        {"id": "v1", "type": "household_visit", "occurred_at": "2026-03-01T10:00:00", "person": "M1", "household": "H1"},
        {"id": "v2", "type": "household_visit", "occurred_at": "2026-03-01T10:00:00", "person": "M1", "household": "H404"},
        {"id": "v3", "type": "volunteer_service", "occurred_at": "2026-03-01T10:00:00", "person": "P1", "fields": {"hours": "two"}},
    ), "jsonl", "import", "clerk")
    assert report.counts["recorded"] == 1
    assert report.counts["rejected"] == 2
    messages = [p.format("zh") for p in report.problems]
    assert any("H404" in m and "household" in m for m in messages)
    assert any("hours" in m and "two" in m for m in messages)
    # red household: 1 point × 2
    assert ledger.balance("party_work", "p", county.ids["M1"]) == (200, 200)


def test_a_large_import_keeps_counts_and_problems_without_holding_every_result(ledger: Ledger, county: County) -> None:
    # What `jifen ingest` does with a big file: batches of 2 here, per-record results not kept.
    records = [{"id": f"s{i}", "type": "volunteer_service", "occurred_at": f"2026-03-{i + 1:02d}T10:00:00", "person": "P1",
                "fields": {"hours": 1}} for i in range(7)]
    records.insert(5, {"id": "bad", "type": "volunteer_service", "occurred_at": "2026-03-09T10:00:00", "person": "P404"})
    text = lines(*records) + "\n{not json\n"
    report = ingest(ledger, read_jsonl(io.StringIO(text)), "import", "clerk", batch_size=2, keep_results=False)
    assert report.results == []
    assert report.counts["recorded"] == 7 and report.counts["rejected"] == 2
    assert [p.record for p in report.problems] == ["#6 (bad)", "#9"]
    assert ledger.balance("volunteer_hours", "p", county.ids["P1"]) == (700, 700)


def test_the_same_batch_sent_twice_counts_once(ledger: Ledger, county: County) -> None:
    text = lines(
        {"id": "a", "type": "volunteer_service", "occurred_at": "2026-03-01T10:00:00", "person": "P1", "fields": {"hours": 3}},
        {"id": "b", "type": "civility", "occurred_at": "2026-03-02T10:00:00", "person": "P1", "rule": "MB-23"},
    )
    first = ingest_text(ledger, text, "jsonl", "import", "clerk")
    second = ingest_text(ledger, text, "jsonl", "import", "clerk")
    assert first.counts["recorded"] == 2
    assert second.counts["duplicate"] == 2 and second.counts["recorded"] == 0
    # 3 hours × 2 points, then −10 for rubbish
    assert ledger.balance("moral", "h", county.ids["H1"]) == (-400, -400)
    assert ledger.balance("volunteer_hours", "p", county.ids["P1"]) == (300, 300)


def test_a_reversal_is_a_new_entry_and_restores_the_balance(ledger: Ledger, county: County) -> None:
    ingest_text(ledger, lines({"id": "a", "type": "party_day_signin", "occurred_at": "2026-03-01T10:00:00", "person": "M1"}), "jsonl", "api", "clerk")
    with ledger.engine.connect() as c:
        entry_id = c.execute(select(Entry.id)).scalar_one()
    new_id = ledger.reverse(entry_id, "secretary", "签到记录有误")
    assert new_id != entry_id
    assert ledger.balance("party_work", "p", county.ids["M1"]) == (0, 0)
    with ledger.engine.connect() as c:
        rows = c.execute(select(Entry.amount, Entry.kind, Entry.reverses_id).order_by(Entry.id)).all()
        assert [tuple(r) for r in rows] == [(500, "award", None), (-500, "reversal", entry_id)]
        assert c.execute(select(func.count()).select_from(Balance)).scalar() == 1
    # The cap of 5 a month was given back: signing in again counts.
    ingest_text(ledger, lines({"id": "b", "type": "party_day_signin", "occurred_at": "2026-03-05T10:00:00", "person": "M1"}), "jsonl", "api", "clerk")
    assert ledger.balance("party_work", "p", county.ids["M1"]) == (500, 500)
