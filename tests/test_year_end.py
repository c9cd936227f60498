"""Year-end: what came after a close is cut as the close would have cut it, whenever the scheduler ran.

A claim approved in December whose notice ends in January, a December event imported in January,
the reversal of either, a December deduction expiring in January: each gives the same balance,
tallies and frozen grade as if it had been there when the period closed (moral credit carries 20%,
零基积分 resets).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from services.ingest import ingest_text
from store.ledger import Ledger
from store.models import Entry, GradeSnapshot
from tests.builders import County
from tests.conftest import Clock

NEW_YEAR = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 2027-01-01 00:30 in the county: the close runs
DECEMBER = datetime(2026, 12, 28, 2, 0, tzinfo=UTC)  # before it: December's events are not in the future


def _score(ledger: Ledger, pt: str, kind: str, hid: int) -> tuple[int, bool]:
    with ledger.engine.connect() as c:
        return ledger.period_score(c, pt, "2026", kind, hid)


def _volunteer(key: str, day: str, hours: int = 5, person: str = "P2") -> str:
    return json.dumps({"id": key, "type": "volunteer_service", "occurred_at": f"{day}T10:00:00", "person": person,
                       "fields": {"hours": hours}})


def _frozen(ledger: Ledger, hid: int) -> tuple[int, str]:
    with ledger.engine.connect() as c:
        row = c.execute(select(GradeSnapshot.score, GradeSnapshot.grade).where(
            GradeSnapshot.point_type == "moral", GradeSnapshot.period == "2026", GradeSnapshot.holder_id == hid)).one()
    return int(row.score), row.grade


def test_a_december_award_recorded_after_the_close_is_cut_as_the_close_would_have(ledger: Ledger, county: County, clock: Clock) -> None:
    h2 = county.ids["H2"]
    clock.now = DECEMBER
    ingest_text(ledger, _volunteer("a", "2026-12-05"), "jsonl", "import", "clerk")  # +10
    clock.now = NEW_YEAR
    ledger.close_period("moral", "2026")
    assert ledger.balance("moral", "h", h2) == (200, 1000) and _frozen(ledger, h2) == (1000, "")
    ingest_text(ledger, _volunteer("b", "2026-12-27"), "jsonl", "import", "clerk")  # +10, recorded in January
    # As if it had been there at the close: 20 carried 20% = 4; the year's score 20, 一星文明户.
    assert ledger.balance("moral", "h", h2) == (400, 2000)
    assert _score(ledger, "moral", "h", h2) == (2000, False)
    assert _frozen(ledger, h2) == (2000, "star1")
    with ledger.engine.connect() as c:
        cut = c.execute(select(Entry.amount, Entry.kind, Entry.explanation).where(Entry.key.like("%:closed"))).one()
    assert (cut.amount, cut.kind) == (-800, "close") and "step_late_closed" in cut.explanation
    # Its reversal (an appeal upheld in January) takes back what it added: 2 again.
    award = next(e for e in _entries(ledger, h2) if e.event_key == "b" and e.kind == "award")
    ledger.reverse(award.id, "secretary", "核实有误")
    assert ledger.balance("moral", "h", h2)[0] == 200


def _entries(ledger: Ledger, hid: int) -> list:
    with ledger.engine.connect() as c:
        return list(c.execute(select(Entry).where(Entry.holder_id == hid, Entry.point_type == "moral").order_by(Entry.id)))


def test_a_party_members_december_work_imported_in_january_leaves_the_new_year_at_zero(ledger: Ledger, county: County,
                                                                                       clock: Clock) -> None:
    m1 = county.ids["M1"]
    clock.now = NEW_YEAR
    ledger.close_period("party_work", "2026")
    report = ingest_text(ledger, json.dumps({"id": "s", "type": "party_day_signin", "occurred_at": "2026-12-20T10:00:00", "person": "M1"}),
                         "jsonl", "import", "clerk")
    assert report.counts["recorded"] == 1 and report.counts["after_close"] == 1
    assert "其中 1 条记在已结转的期间,余额按结转计" in report.summary("zh")  # the operator is told
    assert "1 dated in a period already closed" in report.summary("en")
    assert ledger.balance("party_work", "p", m1) == (0, 500)  # 零基: 2027 starts from zero, 2026 earned 5 more
    assert _score(ledger, "party_work", "p", m1) == (500, False)


def test_a_december_deduction_expiring_in_january_lifts_only_what_the_close_left(ledger: Ledger, county: County,
                                                                                  clock: Clock, rules_text: str) -> None:
    from datetime import date

    from store.rules_repo import publish

    with_validity = rules_text.replace("    spendable: true ", "    validity_days: 30\n    spendable: true ", 1)
    assert with_validity != rules_text
    publish(ledger.engine, with_validity, date(2026, 12, 1), "admin", clock())
    clock.now = DECEMBER
    ingest_text(ledger, json.dumps({"id": "d", "type": "civility", "occurred_at": "2026-12-15T10:00:00", "person": "P2",
                                    "rule": "MB-23"}), "jsonl", "import", "clerk")  # −10
    clock.now = NEW_YEAR
    ledger.close_period("moral", "2026")
    assert ledger.balance("moral", "h", county.ids["H2"])[0] == -200  # −10 carried 20%
    ledger.expire(date(2027, 1, 20))
    assert ledger.balance("moral", "h", county.ids["H2"])[0] == 0  # forgiven: the −2 left, not the whole −10
