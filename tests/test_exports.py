"""The year-end appraisal sheet (年度评星定级表) a branch, a village or a rural bank takes away: ``jifen export appraisal``."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from openpyxl import load_workbook

from services.cli import main
from services.exports import appraisal
from services.ingest import ingest_text
from store.db import make_engine
from store.ledger import Ledger
from store.migrate import upgrade
from tests.builders import County
from tests.conftest import Clock
from tests.test_roll_import import ROOT, ZHANG, first_roll, workbook
from tests.test_year_end import DECEMBER, NEW_YEAR


def run(db: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_every_household_of_the_village_is_on_the_sheet_with_its_score_and_no_id_number(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(db)
    run(db, "rules", "publish", str(ROOT / "rules.yaml"), "--effective", "2026-01-01", "--by", "管理员")
    run(db, "directory", "import", str(first_roll(tmp_path)), "--effective", "2026-01-01", "--county", "青山县")
    with make_engine(db).connect() as conn:
        from sqlalchemy import select

        from store.models import Area, Person
        zhang = conn.execute(select(Person.code).where(Person.id_number == ZHANG)).scalar_one()
        village = conn.execute(select(Area.code).where(Area.level == "village")).scalar_one()
    events = workbook(tmp_path / "ledger.xlsx", [
        ["id", "type", "occurred_at", "person", "household", "hours"],
        ["V-1", "household_visit", "2026-03-05T09:30:00", zhang, "H000002", None],  # +2 party work (red household)
        ["S-1", "volunteer_service", "2026-03-06T09:30:00", zhang, None, 2.5],  # +5 moral for H000001, +15 party work (PM-13)
    ])
    run(db, "ingest", str(events))

    said = run(db, "export", "appraisal", "--type", "moral", "--period", "2026", "--village", "石桥村", str(tmp_path / "moral.csv"))
    assert "2 行(尚未结转,等级为截至今天的)" in said  # the village by its name; by its code, as below
    wrong = CliRunner().invoke(main, ["--db", db, "export", "appraisal", "--type", "moral", "--period", "2026", "--village", "V01", "x.csv"])
    assert wrong.exit_code == 1 and f"找不到村 “V01”;村代码有:{village} 石桥村" in wrong.output
    with open(tmp_path / "moral.csv", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["村", "网格", "编号", "姓名", "得分", "等级", "一票否决", "余额"]
    # Both households, the one with no points too, highest score first; a CSV Excel opens (BOM).
    assert [r[2:] for r in rows[1:]] == [["H000001", "张建国户", "5", "", "", "5"], ["H000002", "王大山户", "0", "", "", "0"]]
    assert ZHANG not in (tmp_path / "moral.csv").read_text(encoding="utf-8-sig")

    run(db, "--lang", "en", "export", "appraisal", "--type", "party_work", "--period", "2026", str(tmp_path / "party.xlsx"))
    sheet = load_workbook(tmp_path / "party.xlsx").active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("Village", "Grid", "Code", "Name", "Score", "Grade", "Vetoed")  # honour-only points: no balance
    assert values[1][2:6] == (zhang, "张建国", 17, "One-star Party member")  # 2 + 15: a number Excel can sum, not text


def test_a_closed_period_shows_the_grades_frozen_at_its_close(ledger: Ledger, county: County, clock: Clock) -> None:
    """On SQLite and PostgreSQL: after the close the sheet reads the frozen grades, as the shop does."""
    clock.now = DECEMBER
    hours = [json.dumps({"id": f"v{i}", "type": "volunteer_service", "occurred_at": f"2026-12-0{i}T10:00:00",
                         "person": "P2", "fields": {"hours": 5}}) for i in (1, 2)]
    ingest_text(ledger, "\n".join(hours), "jsonl", "import", "clerk")  # +20 moral for H2: 一星文明户
    ruleset = ledger.versions().latest()
    assert ruleset is not None
    with ledger.engine.connect() as conn:
        open_sheet = appraisal(conn, ruleset, "moral", "2026", county.ids["V1"])
    assert not open_sheet.frozen
    assert [(r.code, r.score, r.grade, r.balance) for r in open_sheet.rows if r.code == "H2"] == [("H2", 2000, "一星文明户", 2000)]
    assert {r.code for r in open_sheet.rows} == {"H1", "H2", "H3", "H4"}  # every household of V1

    clock.now = NEW_YEAR
    ledger.close_period("moral", "2026")
    with ledger.engine.connect() as conn:
        closed = appraisal(conn, ruleset, "moral", "2026", county.ids["V1"], lang="en")
    assert closed.frozen
    # The grade frozen at the close; the balance after the 20% carry.
    assert [(r.score, r.grade, r.balance) for r in closed.rows if r.code == "H2"] == [(2000, "One-star civilised household", 400)]
    assert [str(Decimal(r.score) / 100) for r in closed.rows if r.code == "H2"] == ["20"]


def test_the_desk_hands_its_own_village_the_appraisal_workbook(tmp_path: Path, sqlite_engine: object, clock: Clock) -> None:
    import io

    from web.testing import build_world

    world = build_world(sqlite_engine, clock, tmp_path / "uploads")
    secretary = world.client("secretary")
    desk = secretary.get("/desk").get_data(as_text=True)
    link = next(m for m in desk.split('href="')[1:] if m.startswith("/desk/appraisal.xlsx") and "type=moral" in m).split('"')[0]
    resp = secretary.get(link.replace("&amp;", "&"))
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    assert 'filename="appraisal-V1-moral-' in resp.headers["Content-Disposition"]
    rows = list(load_workbook(io.BytesIO(resp.data)).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0] == ("村", "网格", "编号", "姓名", "得分", "等级", "一票否决", "余额")
    assert sorted(r[2] for r in rows[1:]) == ["H1", "H2", "H3", "H4"]  # V1's households only, not V2's H5
    cells = [str(v) for r in rows for v in r if v is not None]
    assert not any("330825196501011234" in c or "13912345678" in c for c in cells)  # the workbook's cells, not its zipped bytes
    # Another village's committee gets its own; a period or type that does not exist is refused, never another sheet.
    other = world.client("committee2").get(link.replace("&amp;", "&"))
    assert sorted(r[2] for r in list(load_workbook(io.BytesIO(other.data)).active.iter_rows(values_only=True))[1:]) == ["H5"]  # type: ignore[union-attr]
    assert secretary.get("/desk/appraisal.xlsx?type=moral&period=2026-13").status_code == 400
    assert secretary.get("/desk/appraisal.xlsx?type=nope&period=2026").status_code == 400
    assert world.client("villager").get(link.replace("&amp;", "&")).status_code == 403


def test_a_name_typed_as_a_formula_stays_text_and_members_without_points_are_listed(ledger: Ledger, county: County) -> None:
    """On SQLite and PostgreSQL: a head of household named ``=HYPERLINK(…)`` cannot run in Excel; M1 has no points yet."""
    import io

    from sqlalchemy import update

    from services.exports import write_sheet
    from store.models import Household

    with ledger.engine.begin() as conn:
        conn.execute(update(Household).where(Household.id == county.ids["H2"]).values(head_name='=HYPERLINK("http://x","李四")'))
    ruleset = ledger.versions().latest()
    assert ruleset is not None
    with ledger.engine.connect() as conn:
        moral = appraisal(conn, ruleset, "moral", "2026", county.ids["V1"])
        party = appraisal(conn, ruleset, "party_work", "2026", county.ids["V1"])
    assert [(r.code, r.score, r.grade) for r in party.rows] == [("M1", 0, "")]  # the branch's member, nothing scored yet
    book, text = io.BytesIO(), io.BytesIO()
    write_sheet(moral, book, True, "道德积分: 2026/年度")  # a colon and a slash: not allowed in a sheet's name
    write_sheet(moral, text, False, "")
    sheet = load_workbook(io.BytesIO(book.getvalue())).active
    assert sheet is not None and sheet.title == "道德积分- 2026-年度"
    formula_cells = [c for row in sheet.iter_rows() for c in row if str(c.value).startswith("=")]
    assert formula_cells and all(c.data_type == "s" for c in formula_cells)
    line = next(r for r in csv.reader(io.StringIO(text.getvalue().decode("utf-8-sig"))) if r[2] == "H2")
    assert line[3].startswith("'=HYPERLINK")
