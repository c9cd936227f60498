"""The branch desk's CSV export (/desk/export.csv): a name typed as a formula cannot run when Excel opens the file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from services.ingest import ingest_text
from store.models import Membership, PartyMember, Person
from tests.conftest import Clock
from web.testing import SINCE, _add, build_world

# Party members of the secretary's branch whose names a spreadsheet would read as formulas.
FORMULAS = {"M3": '=HYPERLINK("x")', "M4": "+SUM(1,2)", "M5": "-1+2", "M6": "@cmd"}


def test_a_member_named_like_a_formula_is_quoted_and_a_negative_score_stays_a_number(
        tmp_path: Path, sqlite_engine: Any, clock: Clock) -> None:
    world = build_world(sqlite_engine, clock, tmp_path / "uploads")
    for code, name in FORMULAS.items():
        pid = _add(sqlite_engine, Person(code=code, name=name, birth_year=1980))
        _add(sqlite_engine, Membership(person_id=pid, household_id=world.ids["H3"], relation="", valid_from=SINCE))
        _add(sqlite_engine, PartyMember(person_id=pid, branch_id=world.ids["B-V1"], valid_from=SINCE))
    deductions = [  # -10 - 2 - 0.5: M3 ends the year so far at -12.5
        {"id": "d1", "type": "task_result", "occurred_at": "2026-03-01T10:00:00", "person": "M3", "fields": {"status": "refused"}},
        {"id": "d2", "type": "labour_absent", "occurred_at": "2026-03-02T10:00:00", "person": "M3"},
        {"id": "d3", "type": "meeting_attendance", "occurred_at": "2026-03-03T10:00:00", "person": "M3", "fields": {"status": "late"}},
    ]
    report = ingest_text(world.ctx.ledger, "\n".join(json.dumps(e) for e in deductions), "jsonl", "import", "clerk")
    assert not report.problems, report.problems

    r = world.client("secretary").get("/desk/export.csv?type=party_work&period=2026")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:2] == ["编号", "姓名"]
    by_code = {row[0]: row for row in rows[1:]}
    for code, name in FORMULAS.items():
        assert by_code[code][1] == "'" + name, by_code[code]  # quoted: Excel shows the text, runs nothing
    assert by_code["M3"][4] == "-12.5"  # a negative score is a number Excel can sum, not quoted text
    assert by_code["M1"][1] == "赵六"  # an ordinary name is left as it is
