"""The ledger on a real database (SQLite and PostgreSQL): recording, idempotency, reversal, balances."""

from __future__ import annotations

import gc
import io
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from services.ingest import ingest, ingest_text, no_full_collections, read_jsonl
from store.ledger import CounterState, Ledger
from store.models import Balance, Entry
from store.rules_repo import publish
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


@pytest.mark.parametrize(("batch_size", "chunk_size"), [(1, 1), (10, 1), (10, 10)], ids=["txn-per-record", "chunks-in-one-txn", "one-chunk"])
def test_caps_and_duplicates_hold_however_an_import_is_cut_into_transactions(
        ledger: Ledger, county: County, engine: Engine, batch_size: int, chunk_size: int) -> None:
    # Volunteer points: 2 a hour, at most 20 a month per household. March's cap is used in a first
    # import; the second brings April, then a late March record (its cap must be read again, though the
    # household was already loaded for April), then the first record again.
    def visit(rid: str, day: str, hours: int) -> dict[str, Any]:
        return {"id": rid, "type": "volunteer_service", "occurred_at": f"2026-{day}T10:00:00", "person": "P1", "fields": {"hours": hours}}

    ingest_text(ledger, lines(visit("s1", "03-05", 8)), "jsonl", "import", "clerk")
    text = lines(visit("s2", "04-02", 1), visit("s3", "03-20", 4), visit("s1", "03-05", 8))
    report = ingest(ledger, read_jsonl(io.StringIO(text)), "import", "clerk", batch_size=batch_size, chunk_size=chunk_size)
    assert (report.counts["recorded"], report.counts["duplicate"]) == (2, 1)
    h1 = county.ids["H1"]
    assert ledger.balance("moral", "h", h1) == (2200, 2200)  # 16 + 2 + 4 (8 asked, 4 left under March's 20)
    with engine.connect() as conn:
        assert ledger.period_score(conn, "moral", "2026-03", "h", h1) == (2000, False)
        assert ledger.period_score(conn, "moral", "2026-04", "h", h1) == (200, False)
        assert ledger.period_score(conn, "moral", "2026", "h", h1) == (2200, False)
    assert ledger.balance("volunteer_hours", "p", county.ids["P1"]) == (1300, 1300)


def test_an_import_leaves_the_cycle_collector_as_it_found_it(ledger: Ledger, county: County) -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, int, int]] = []
    with no_full_collections():
        seen.append(gc.get_threshold())
        report = ingest_text(ledger, lines({"id": "g1", "type": "volunteer_service", "occurred_at": "2026-03-01T10:00:00",
                                            "person": "P1", "fields": {"hours": 1}}), "jsonl", "import", "clerk")
        seen.append(gc.get_threshold())  # an import inside the block keeps the pause
    assert report.counts["recorded"] == 1
    assert seen[0][:2] == before[:2] and seen[0][2] > 10**8 and seen[1] == seen[0]
    assert gc.get_threshold() == before


def test_a_cooldown_or_repeat_lengthened_by_a_later_rules_version_still_sees_the_earlier_event(
        ledger: Ledger, county: County, engine: Engine, rules_text: str, clock: Any) -> None:
    # From May, MB-24 (−5, ×2 when repeated) looks back 365 days instead of 30, and MB-07 (+1) has a
    # 30-day cooldown instead of 24 hours. Events of April count under the first version; the ones of
    # May and June, each imported on its own, must see them.
    v2 = rules_text.replace("points: {fixed: -5}\n    repeat: {within_days: 30, factor: 2}",
                            "points: {fixed: -5}\n    repeat: {within_days: 365, factor: 2}")
    v2 = v2.replace("points: {fixed: 1}\n    cooldown: {hours: 24}", "points: {fixed: 1}\n    cooldown: {hours: 720}", 1)
    assert v2.count("within_days: 365") >= 1 and "hours: 720" in v2
    publish(engine, v2, date(2026, 5, 1), "admin", clock())
    clock.now = datetime(2026, 6, 30, tzinfo=UTC)  # all of them entered at the end of June

    def civility(rid: str, day: str, rule: str) -> str:
        return lines({"id": rid, "type": "civility", "occurred_at": f"2026-{day}T10:00:00", "person": "P1", "rule": rule})

    ingest_text(ledger, civility("g1", "04-20", "MB-24") + "\n" + civility("s1", "04-25", "MB-07"), "jsonl", "import", "clerk")
    repeated = ingest_text(ledger, civility("g2", "06-10", "MB-24"), "jsonl", "import", "clerk")
    cooled = ingest_text(ledger, civility("s2", "05-10", "MB-07"), "jsonl", "import", "clerk")
    assert [e["amount"] for e in repeated.results[0].entries] == [-1000]  # −5 × 2: 51 days after, within 365
    assert cooled.results[0].status == "nothing"  # 15 days after s1, within the new 30-day cooldown
    assert ledger.balance("moral", "h", county.ids["H1"]) == (-1400, -1400)  # −5 + 1 − 10


def test_a_counter_the_core_did_not_name_ahead_is_read_from_the_database_not_taken_for_zero(
        ledger: Ledger, county: County, engine: Engine) -> None:
    # Counters are fetched ahead for the pairs Engine.counter_keys names; any other read must still
    # see what is stored (a cap read as 0 would give points beyond it).
    ingest_text(ledger, lines({"id": "s1", "type": "volunteer_service", "occurred_at": "2026-03-05T10:00:00", "person": "P1",
                               "fields": {"hours": 8}}), "jsonl", "import", "clerk")
    holder, key = f"h:{county.ids['H1']}", "cap|C:volunteer|month|2026-03"
    with engine.connect() as conn:
        assert CounterState({}, conn).get(holder, key) == 1600  # 8 hours × 2 points used of March's 20
        state = CounterState({}, conn)
        state.fetch(conn, [(holder, key), (holder, "cap|C:volunteer|month|2026-04")])
        assert state.values == {(holder, key): 1600}
        assert state.get(holder, "cap|C:volunteer|month|2026-04") == 0  # fetched: known to be unset


def test_an_event_dated_after_now_is_refused_naming_the_time_and_one_a_few_minutes_ahead_is_kept(
        ledger: Ledger, county: County, clock: Any) -> None:
    # The clock stands at 2026-06-01 08:00 Beijing time: points are never given ahead of the deed.
    future = {"id": "f1", "type": "volunteer_service", "occurred_at": "2026-12-29T09:00:00+08:00", "person": "P1", "fields": {"hours": 2}}
    skew = {**future, "id": "f2", "occurred_at": "2026-06-01T08:05:00+08:00"}  # a phone's clock 5 minutes fast
    report = ingest_text(ledger, lines(future, skew), "jsonl", "import", "clerk")
    refused, kept = report.results
    assert refused.status == "rejected" and kept.status == "recorded"
    assert [p.format("zh") for p in refused.problems] == [
        "#1 (f1) [occurred_at]: 时间 2026-12-29 09:00 还没到(现在是 2026-06-01 08:00),不能预先记分;请核对日期"]
    assert ledger.balance("moral", "h", county.ids["H1"])[0] == 400  # only f2's 2 hours × 2


def test_closing_a_year_cuts_the_balance_held_at_its_end_not_points_entered_since(
        ledger: Ledger, county: County, engine: Engine, clock: Any) -> None:
    # 13 hours of service in 2026 (+26, in two months: the monthly cap is 20), 1 hour on 2027-01-03 (+2) entered before the year is closed
    # on 2027-01-05: moral carries 20% of the 26 held at the end of 2026 (5.2 → 5 at the 0.5 step).
    clock.now = datetime(2027, 1, 5, 1, 0, tzinfo=UTC)
    service = {"type": "volunteer_service", "person": "P1"}
    ingest_text(ledger, lines({**service, "id": "a", "occurred_at": "2026-05-01T10:00:00", "fields": {"hours": 6}},
                              {**service, "id": "b", "occurred_at": "2026-06-02T10:00:00", "fields": {"hours": 7}},
                              {**service, "id": "c", "occurred_at": "2027-01-03T10:00:00", "fields": {"hours": 1}}),
                "jsonl", "import", "clerk")
    h1 = county.ids["H1"]
    assert ledger.balance("moral", "h", h1)[0] == 2800
    ledger.close_period("moral", "2026")
    with engine.connect() as conn:
        amount, explanation = conn.execute(select(Entry.amount, Entry.explanation).where(Entry.kind == "close")).one()  # type: ignore[call-overload]
    assert amount == -2100 and json.loads(explanation)[0][1]["before"] == "26"
    assert ledger.balance("moral", "h", h1)[0] == 700  # 5 carried + the 2 of 2027


def test_expiry_takes_only_what_is_left_first_in_first_out_and_an_expired_award_cannot_be_reversed(
        county: County, engine: Engine, rules_text: str, clock: Any) -> None:
    # Moral credit valid 30 days: 6 points on 1 March, 4 on 20 March; 7 spent on 25 March (the 6 of
    # 1 March first, then 1 of 20 March). On 5 April the first award expires with nothing left of it;
    # on 25 April the second expires its 3 remaining. The balance never goes below zero.
    text = rules_text.replace("    spendable: true ", "    validity_days: 30\n    spendable: true ", 1)
    assert "validity_days: 30" in text
    publish(engine, text, date(2026, 1, 1), "admin", clock())
    clock.now = datetime(2026, 4, 30, tzinfo=UTC)
    ledger = Ledger(engine, clock)
    service = {"type": "volunteer_service", "person": "P1"}
    ingest_text(ledger, lines({**service, "id": "a", "occurred_at": "2026-03-01T10:00:00", "fields": {"hours": 3}},
                              {**service, "id": "b", "occurred_at": "2026-03-20T10:00:00", "fields": {"hours": 2}}),
                "jsonl", "import", "clerk")
    h1 = county.ids["H1"]
    with ledger.write_engine.begin() as conn:
        ledger.spend(conn, "moral", "h", h1, 700, "spend:test", "shop")
    assert ledger.balance("moral", "h", h1)[0] == 300
    assert ledger.expire(date(2026, 4, 5)) == 1
    assert ledger.balance("moral", "h", h1)[0] == 300  # the 6 of 1 March were spent: nothing left to expire
    assert ledger.expire(date(2026, 4, 25)) == 1
    assert ledger.balance("moral", "h", h1)[0] == 0
    with engine.connect() as conn:
        steps = [json.loads(e)[0] for e in conn.execute(select(Entry.explanation).where(Entry.kind == "expire").order_by(Entry.id)).scalars()]
    assert [(code, p["used"], p["amount"]) for code, p in steps] == [("step_expire_used", "6", "0"), ("step_expire_used", "1", "3")]
    with pytest.raises(ValueError, match="has expired"):
        ledger.reverse(steps[1][1]["entry"], "secretary", "wrong")
    with engine.connect() as conn:
        spend_id = conn.execute(select(Entry.id).where(Entry.kind == "spend")).scalar_one()
    with pytest.raises(ValueError, match="not a rule's award"):
        ledger.reverse(spend_id, "secretary", "undo a purchase")
    assert ledger.balance("moral", "h", h1)[0] == 0


def test_a_different_event_under_a_used_id_is_refused_while_the_same_event_resent_is_a_duplicate(
        ledger: Ledger, county: County) -> None:
    first = {"id": "x-1", "type": "volunteer_service", "occurred_at": "2026-03-01T10:00:00+08:00", "person": "P1", "fields": {"hours": 2}}
    assert ingest_text(ledger, lines(first), "jsonl", "import", "clerk").results[0].status == "recorded"
    # The same event again, as a CSV row this time (values as text, columns in another order): a duplicate.
    csv_again = "person,id,occurred_at,type,hours\nP1,x-1,2026-03-01T10:00:00+08:00,volunteer_service,2\n"
    assert ingest_text(ledger, csv_again, "csv", "import", "clerk").results[0].status == "duplicate"
    # Another event reusing the id (another person, more hours): refused, naming the id.
    other = {**first, "person": "P2", "fields": {"hours": 5}}
    result = ingest_text(ledger, lines(other), "jsonl", "api", "clerk").results[0]
    assert result.status == "rejected" and [(p.code, p.field) for p in result.problems] == [("duplicate_conflict", "id")]
    assert ledger.balance("moral", "h", county.ids["H2"]) == (0, 0)


def test_within_one_batch_a_different_event_under_the_same_id_is_refused_too(ledger: Ledger, county: County) -> None:
    first = {"id": "y-1", "type": "volunteer_service", "occurred_at": "2026-03-01T10:00:00+08:00", "person": "P1", "fields": {"hours": 2}}
    same, other = {**first, "fields": {"hours": "2"}}, {**first, "person": "P2", "fields": {"hours": 3}}
    statuses = [(r.status, [p.code for p in r.problems]) for r in ingest_text(ledger, lines(first, same, other), "jsonl", "import", "clerk").results]
    assert statuses == [("recorded", []), ("duplicate", ["duplicate_event"]), ("rejected", ["duplicate_conflict"])]


def test_a_version_published_under_looser_checks_keeps_the_ledger_working(ledger: Ledger, county: County, rules_text: str) -> None:
    """A text stored by an earlier release (a percent beside reset) must not stop every page and command."""
    from store.models import RulesVersion

    old = rules_text.replace("year_end: {policy: reset}", "year_end: {policy: reset, percent: 0}", 1)
    with ledger.engine.begin() as c:
        c.execute(RulesVersion.__table__.insert().values(  # type: ignore[attr-defined]
            version="older-release", effective=date(2026, 2, 1), title="", source=old, published_at=datetime(2026, 1, 20, tzinfo=UTC),
            published_by="admin", note=""))
    ledger._versions = None  # as a fresh process would load them
    assert ledger.versions().at(date(2026, 3, 1)) is not None
    report = ingest_text(ledger, lines(
        {"id": "p1", "type": "party_day_signin", "occurred_at": "2026-03-01T10:00:00", "person": "M1"}), "jsonl", "api", "clerk")
    assert report.counts["recorded"] == 1


@pytest.mark.parametrize("again", [1.0, "1.0", "1", " 1.00 "])
def test_a_retry_spelling_a_number_otherwise_is_the_same_event(ledger: Ledger, county: County, again: object) -> None:
    """JSON 1, a retry's 1.0, a CSV's "1.00": one event by meaning, counted once, not refused as another."""
    first = {"id": "r1", "type": "volunteer_service", "occurred_at": "2026-03-01T10:00:00", "person": "P1", "fields": {"hours": 1}}
    assert ingest_text(ledger, lines(first), "jsonl", "api", "clerk").counts["recorded"] == 1
    report = ingest_text(ledger, lines({**first, "fields": {"hours": again}}), "jsonl", "api", "clerk")
    assert report.counts["duplicate"] == 1, [p.format("en") for p in report.problems]
    other = ingest_text(ledger, lines({**first, "fields": {"hours": 2}}), "jsonl", "api", "clerk")
    assert other.counts["rejected"] == 1 and other.problems[0].code == "duplicate_conflict"
