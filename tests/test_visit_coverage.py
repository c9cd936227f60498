"""党员联户 visit coverage: a visit counts for the desk and the backlog however it was recorded, and once.

The web form, the API, a CSV/JSONL import and a claim all record a ``household_visit`` event in the
ledger; coverage and the backlog read the ledger, so none of them is left out (the reviewer's demo
county showed 1% coverage with 23,389 imported visits in the ledger).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from services import claims, jobs, linkage
from services.actors import SYSTEM, Actor
from services.ingest import ingest_text
from store.ledger import Ledger
from store.models import Entry
from tests.builders import County
from tests.conftest import Clock
from web.testing import World, build_world


def visit(vid: str, when: str, household: str = "H1", person: str = "M1") -> dict[str, Any]:
    return {"id": vid, "type": "household_visit", "occurred_at": when, "person": person, "household": household}


def send(ledger: Ledger, *records: dict[str, Any]) -> Any:
    return ingest_text(ledger, "\n".join(json.dumps(r, ensure_ascii=False) for r in records), "jsonl", "import", "clerk")


def backlog(ledger: Ledger, days: int = 30) -> dict[str, tuple[int, dict[str, int | None]]]:
    """member code → (linked households, {overdue household code: days since the last visit})."""
    return {m.code: (m.linked, {h.code: h.days_since for h in m.overdue}) for m in linkage.visit_backlog(ledger, SYSTEM, days=days)}


# ---------------------------------------------------------------- services
def test_an_imported_visit_counts_for_the_backlog(ledger: Ledger, county: County) -> None:
    assert backlog(ledger) == {"M1": (2, {"H1": None, "H2": None})}
    report = send(ledger, visit("imp-1", "2026-05-20T10:00:00"))
    assert report.counts["recorded"] == 1, report
    assert backlog(ledger) == {"M1": (2, {"H2": None})}
    lines = {h["code"]: h for h in linkage.linked_households(ledger, Actor("m1", "party_member", person_id=county.ids["M1"]))}
    assert lines["H1"]["last_visit"] == date(2026, 5, 20) and lines["H2"]["last_visit"] is None
    assert backlog(ledger, days=10) == {"M1": (2, {"H1": 12, "H2": None})}  # 2026-05-20 → 2026-06-01


def test_the_same_visit_sent_twice_counts_once(ledger: Ledger, county: County) -> None:
    send(ledger, visit("imp-1", "2026-05-20T10:00:00"))
    again = send(ledger, visit("imp-1", "2026-05-20T10:00:00"), visit("imp-1", "2026-05-20T10:00:00"))
    assert again.counts["recorded"] == 0 and again.counts["duplicate"] == 2
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(Entry.rule_id == "LH-01")).scalar() == 1  # type: ignore[arg-type]
    assert backlog(ledger) == {"M1": (2, {"H2": None})}


def test_the_last_visit_is_a_local_day(ledger: Ledger, county: County) -> None:
    # 00:30 Beijing time on 2026-05-02 is still 2026-05-01 in UTC.
    send(ledger, visit("imp-1", "2026-05-02T00:30:00+08:00"))
    lines = {h["code"]: h for h in linkage.linked_households(ledger, Actor("m1", "party_member", person_id=county.ids["M1"]))}
    assert lines["H1"]["last_visit"] == date(2026, 5, 2)


def test_a_reversed_visit_does_not_count(ledger: Ledger, county: County) -> None:
    send(ledger, visit("imp-1", "2026-05-20T10:00:00"))
    with ledger.engine.connect() as conn:
        entry = conn.execute(select(Entry.id).where(Entry.event_key == "imp-1")).scalar_one()  # type: ignore[arg-type]
    ledger.reverse(entry, "管理员", "走访记录不实")
    assert backlog(ledger) == {"M1": (2, {"H1": None, "H2": None})}


def test_a_visit_entered_as_a_claim_counts(ledger: Ledger, county: County) -> None:
    secretary = Actor("sec1", "secretary", village_id=county.ids["V1"], branch_id=county.ids["B-V1"])
    result = claims.submit(ledger, secretary, "LH-01", person="M1", household="H2", occurred_at="2026-05-25T09:00:00")
    assert result.status == claims.POSTED
    assert backlog(ledger) == {"M1": (2, {"H1": None})}


def test_a_visit_by_the_web_form_still_counts_with_its_note(ledger: Ledger, county: County) -> None:
    member = Actor("m1", "party_member", person_id=county.ids["M1"])
    result = linkage.record_visit(ledger, member, county.ids["H2"], visited_at="2026-05-30T15:00:00", note="了解春耕")
    assert result.status == "recorded"
    assert backlog(ledger) == {"M1": (2, {"H1": None})}
    # The event record names the household as an import's would, and the visit row keeps the note.
    from store.models import EventRecord

    with ledger.engine.connect() as conn:
        payload = json.loads(conn.execute(select(EventRecord.payload).where(EventRecord.event_key == result.event_key)).scalar_one())  # type: ignore[arg-type]
        note = conn.execute(select(linkage.VISIT.c.note).where(linkage.VISIT.c.event_key == result.event_key)).scalar_one()
    assert payload["household"] == "H2" and payload["type"] == linkage.VISIT_EVENT and note == "了解春耕"


def test_the_red_household_reminder_sees_imported_visits(ledger: Ledger, county: County) -> None:
    send(ledger, visit("imp-1", "2026-05-20T10:00:00"))  # H1 is the red one
    report = jobs.visit_backlog_report(ledger)
    assert report["members"] == []


# ---------------------------------------------------------------- the desk
def coverage_line(world: World) -> tuple[str, str]:
    html = world.client("secretary").get("/desk").get_data(as_text=True)
    line = re.search(r"联系户 \d+ 户,已走访 \d+ 户,逾期 \d+ 户", html)
    percent = re.search(r'<div class="big">(\d+)<small>%</small>', html)
    assert line and percent, html
    return percent.group(1), line.group(0)


def test_the_desk_counts_imported_and_web_form_visits(sqlite_engine: Engine, tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    world = build_world(sqlite_engine, clock, tmp_path / "uploads", WTF_CSRF_ENABLED=False)
    ledger = world.ctx.ledger
    # The world's own import visited H1 on 2026-03-03: more than 30 days ago.
    assert coverage_line(world) == ("0", "联系户 2 户,已走访 0 户,逾期 2 户")
    send(ledger, visit("imp-9", "2026-05-25T10:00:00"))
    send(ledger, visit("imp-9", "2026-05-25T10:00:00"))  # sent again: once
    assert coverage_line(world) == ("50", "联系户 2 户,已走访 1 户,逾期 1 户")
    html = world.client("secretary").get("/desk").get_data(as_text=True)
    assert "李四户" in html and "张三户" not in html  # H2 is the one left in the backlog
    member = world.client("party_member")
    r = member.post("/linkage", data={"household": str(world.ids["H2"]), "kind": "visit", "note": "送春联"})
    assert r.status_code == 302
    assert coverage_line(world) == ("100", "联系户 2 户,已走访 2 户,逾期 0 户")
    page = member.get("/linkage").get_data(as_text=True)
    assert "2026-05-25" in page


# ---------------------------------------------------------------- the same request sent again, seconds later
def _entries(ledger: Ledger, key: str) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(Entry.event_key == key)).scalar_one())  # type: ignore[arg-type]


def test_a_visit_sent_again_later_under_its_key_is_the_same_visit(ledger: Ledger, county: County, clock: Clock) -> None:
    member = Actor("m1", "party_member", person_id=county.ids["M1"])
    first = linkage.record_visit(ledger, member, county.ids["H1"], note="了解春耕", key="visit:web:m1:k1")
    clock.advance(seconds=3)  # the second press is stamped a little later: still the same event
    again = linkage.record_visit(ledger, member, county.ids["H1"], note="了解春耕", key="visit:web:m1:k1")
    assert first.status == "recorded" and first.amount > 0
    assert (again.status, again.amount, again.record_id) == ("duplicate", first.amount, first.record_id)
    assert _entries(ledger, "visit:web:m1:k1") == 1
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(linkage.VISIT).where(linkage.VISIT.c.event_key == "visit:web:m1:k1")).scalar() == 1


def test_two_presses_racing_with_their_own_times_record_one_visit(ledger: Ledger, county: County, clock: Clock,
                                                                  monkeypatch: Any) -> None:
    member = Actor("m1", "party_member", person_id=county.ids["M1"])
    first = linkage.record_visit(ledger, member, county.ids["H1"], key="visit:web:m1:k2")
    clock.advance(seconds=1)
    looked: list[str] = []
    real = linkage._recorded_at

    def not_yet(led: Ledger, key: str) -> Any:  # the second press read before the first one was written
        looked.append(key)
        return None if len(looked) == 1 else real(led, key)

    monkeypatch.setattr(linkage, "_recorded_at", not_yet)
    again = linkage.record_visit(ledger, member, county.ids["H1"], key="visit:web:m1:k2")
    assert again.status == "duplicate" and again.record_id == first.record_id
    assert _entries(ledger, "visit:web:m1:k2") == 1


def test_a_problem_sent_again_later_under_its_key_is_one_problem(ledger: Ledger, county: County, clock: Clock) -> None:
    member = Actor("m1", "party_member", person_id=county.ids["M1"])
    first = linkage.raise_problem(ledger, member, county.ids["H1"], "门前路灯坏了", key="problem:web:m1:k3")
    clock.advance(seconds=3)
    again = linkage.raise_problem(ledger, member, county.ids["H1"], "门前路灯坏了", key="problem:web:m1:k3")
    assert first.status == "recorded"
    assert (again.status, again.amount, again.record_id) == ("duplicate", first.amount, first.record_id)
    assert _entries(ledger, "problem:web:m1:k3") == 1
    assert len(linkage.problems(ledger, member)) == 1


def test_a_confirmation_racing_another_is_answered_as_a_replay(ledger: Ledger, county: County, clock: Clock,
                                                              monkeypatch: Any) -> None:
    member = Actor("m1", "party_member", person_id=county.ids["M1"])
    raised = linkage.raise_problem(ledger, member, county.ids["H1"], "门前路灯坏了")
    assert raised.record_id is not None
    home = Actor("h1", "villager", household_id=county.ids["H1"])
    first = linkage.confirm_resolution(ledger, home, raised.record_id)
    clock.advance(seconds=2)
    # The second press read the problem before the first one marked it resolved ...
    def mark(status: str) -> None:
        with ledger.write_engine.begin() as conn:
            conn.execute(linkage.PROBLEM.update().where(linkage.PROBLEM.c.id == raised.record_id).values(status=status))

    mark("handled")
    looked: list[str] = []
    real = linkage._recorded_at

    def not_yet(led: Ledger, key: str) -> Any:  # ... and before its event was recorded; the first then finished
        looked.append(key)
        if len(looked) == 1:
            mark("resolved")
            return None
        return real(led, key)

    monkeypatch.setattr(linkage, "_recorded_at", not_yet)
    again = linkage.confirm_resolution(ledger, home, raised.record_id)
    assert first.status == "recorded" and again.status == "duplicate" and again.amount == first.amount
    assert _entries(ledger, first.event_key) == 1
