"""The Excel 台账 template a village fills in and gives back to ``jifen ingest``: ``jifen ingest-template``.

The test that matters: the template, filled with its own example rows (the placeholder codes replaced
by a real Party member and the household they look after), is read back with no record refused.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from scoring.loader import load_rules
from services.ledger_template import PLACEHOLDER_HOUSEHOLD, PLACEHOLDER_PERSON
from store.db import make_engine
from store.migrate import upgrade
from store.models import Person
from tests.test_roll_import import ROOT, ZHANG, first_roll, refused, run

RULES = load_rules((ROOT / "rules.yaml").read_text(encoding="utf-8"))
SCORED = [et for et in RULES.event_types.values() if et.key in RULES.by_event]


@pytest.fixture
def db(tmp_path: Path) -> str:
    """The shipped rules and a roll: 张建国, a Party member in H000001, looks after 王大山's red household H000002."""
    url = f"sqlite:///{tmp_path / 'county.db'}"
    upgrade(url)
    for args in (("rules", "publish", str(ROOT / "rules.yaml"), "--effective", "2026-01-01"),
                 ("directory", "import", str(first_roll(tmp_path)), "--effective", "2026-01-01", "--county", "青山县")):
        done = run(url, *args)
        assert done.exit_code == 0, done.output
    return url


def member_code(db: str) -> str:
    with make_engine(db).connect() as conn:
        return str(conn.execute(select(Person.code).where(Person.id_number == ZHANG)).scalar_one())


def fill(template: Path, out: Path, person: str, household: str) -> Path:
    """The template as a clerk fills it: the example rows kept, the placeholder codes replaced by real ones."""
    book = load_workbook(template)
    for row in book.worksheets[0].iter_rows(min_row=2):
        for cell in row:
            if cell.value == PLACEHOLDER_PERSON:
                cell.value = person
            elif cell.value == PLACEHOLDER_HOUSEHOLD:
                cell.value = household
    book.save(out)
    return out


def test_the_template_filled_with_its_own_examples_is_ingested_with_nothing_refused(db: str, tmp_path: Path) -> None:
    template = tmp_path / "台账模板.xlsx"
    said = run(db, "ingest-template", str(template))
    assert said.exit_code == 0, said.output
    assert "16 类事件各一行示例" in said.output and "P0000000、H000000 是占位编号" in said.output
    book = load_workbook(template)
    assert book.sheetnames == ["台账", "说明"]
    ledger = book["台账"]
    rows = list(ledger.iter_rows(values_only=True))
    labels = [spec.label for et in SCORED for spec in et.fields.values()]
    # The header exactly as jifen ingest reads it: the envelope in Chinese, then each field by its label.
    assert list(rows[0]) == ["事件编号", "类型", "时间", "村民", "户号", "规则", "分值", *labels, "审核人", "说明"]
    assert [r[1] for r in rows[1:]] == [et.name for et in SCORED]  # one example per event type some rule scores
    assert len({r[0] for r in rows[1:]}) == len(SCORED)  # each its own event id
    for row in ledger.iter_rows(min_row=2):
        when = row[2]
        assert isinstance(when.value, str) and when.data_type == "s"  # a date as text the reader accepts
        for cell in row[:6]:  # id, type, time, person, household, rule: text cells, so codes keep their digits
            assert cell.number_format == "@" and (cell.value is None or cell.data_type == "s")

    unfilled = run(db, "ingest", str(template))  # an example left as it is scores nobody
    assert unfilled.exit_code == 1 and "退回 16 条" in unfilled.output and "记分 0 条" in unfilled.output
    assert "“P0000000” 是台账模板示例行的占位编号:请换成真实编号(jifen directory export 可导出),或删去这一行" in unfilled.output

    filled = fill(template, tmp_path / "filled.xlsx", member_code(db), "H000002")
    done = run(db, "ingest", str(filled))
    assert done.exit_code == 0, done.output
    assert "退回 0 条" in done.output and "记分 0 条" not in done.output
    # Every example scores or waits for its reviewer: none is a record no rule takes (会议及党课考勤 is 迟到, not 出席).
    assert "未计分 0 条" in done.output, done.output
    again = run(db, "ingest", str(filled))  # the same sheet sent again counts once
    assert again.exit_code == 0 and f"已记录过 {len(SCORED)} 条" in again.output and "记分 0 条" in again.output


def test_the_notes_sheet_lists_each_type_and_each_column_with_its_bounds_values_and_whether_required(db: str, tmp_path: Path) -> None:
    template = tmp_path / "t.xlsx"
    assert run(db, "ingest-template", str(template)).exit_code == 0
    notes = list(load_workbook(template)["说明"].iter_rows(values_only=True))
    assert notes[0][:4] == ("事件类型", "Event type", "列", "Column")
    by = {(r[0], r[2]): r for r in notes[1:]}
    for et in SCORED:
        assert any(r[0] == et.name and r[1] == et.name_en for r in notes[1:])
    assert by[("全部", "事件编号")][9] == by[("全部", "时间")][9] == "是 / yes"
    hours = by[("志愿服务", "小时")]
    assert (hours[3], hours[6], hours[7], hours[9]) == ("hours", "0.5", "24", "是 / yes")
    assert "MB-V1 每 1 记 2 分" in hours[10]
    assert by[("志愿服务", "现场签到")][9] == "否 / no"
    assert by[("会议及党课考勤", "考勤")][8] == "present、late、early、absent"
    assert "MB-07 清扫公共场所积雪" in by[("文明行为", "规则")][8] and by[("文明行为", "规则")][9] == "是 / yes"
    assert "联户" in by[("入户走访", "村民")][10] and by[("入户走访", "户号")][9] == "是 / yes"
    ranged = [r for r in notes[1:] if r[0] == "村级中心工作中发挥重要作用" and r[2] == "分值"]
    assert [(r[5], r[6], r[7]) for r in ranged] == [("分", "5", "10")]


def test_chosen_types_by_chinese_name_or_key_take_only_their_columns(db: str, tmp_path: Path) -> None:
    template = tmp_path / "联户.xlsx"
    said = run(db, "ingest-template", str(template), "--type", "入户走访", "--type", "household_rating,入户走访")
    assert said.exit_code == 0, said.output
    rows: list[Any] = list(load_workbook(template).worksheets[0].iter_rows(values_only=True))
    # Work only a Party member does: the person column is headed 党员; no rule or points column is needed.
    assert list(rows[0]) == ["事件编号", "类型", "时间", "党员", "户号", "走访记录", "满意度(1-5)", "审核人", "说明"]
    assert [r[1] for r in rows[1:]] == ["入户走访", "联系户评价"]
    assert rows[2][6] == 5  # a rating within 1-5, as a number
    done = run(db, "ingest", str(fill(template, tmp_path / "filled.xlsx", member_code(db), "H000002")))
    assert done.exit_code == 0 and "记分 2 条" in done.output and "退回 0 条" in done.output, done.output


def test_an_unknown_event_type_no_rules_or_a_csv_name_is_refused_in_either_language(db: str, tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    refused(run(db, "ingest-template", str(out), "--type", "入户走访", "--type", "扫雪"),
            "未知事件类型 “扫雪”", "入户走访(household_visit)", "志愿服务(volunteer_service)")
    refused(run(db, "--lang", "en", "ingest-template", str(out), "--type", "snow"),
            "unknown event type 'snow'", "household_visit (Household visit)")
    refused(run(db, "ingest-template", str(tmp_path / "t.csv")), "请用 .xlsx 文件名")
    refused(run(db, "--lang", "en", "ingest-template", str(tmp_path / "t.csv")), "name it .xlsx")
    assert not out.exists()

    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade(empty)
    refused(run(empty, "ingest-template", str(out)), "尚未发布规则:请先运行 jifen rules publish")
    refused(run(empty, "--lang", "en", "ingest-template", str(out)), "no rules published yet: run `jifen rules publish` first")
    assert not out.exists()


def test_rules_that_start_later_date_the_examples_on_their_first_day_and_say_so(tmp_path: Path) -> None:
    """Rules published from a day still to come: the examples carry that day, and the clerk is told ingest waits for it."""
    url = f"sqlite:///{tmp_path / 'later.db'}"
    upgrade(url)
    assert run(url, "rules", "publish", str(ROOT / "rules.yaml"), "--effective", "2099-01-01").exit_code == 0
    out = tmp_path / "later.xlsx"
    said = run(url, "ingest-template", str(out), "--type", "志愿服务")
    assert said.exit_code == 0, said.output
    assert "这些规则自 2099-01-01 起生效" in said.output
    sheet = load_workbook(out)["台账"]
    assert str(sheet.cell(row=2, column=3).value).startswith("2099-01-01")


def test_empty_notes_cells_are_empty_not_empty_text(db: str, tmp_path: Path) -> None:
    """The notes sheet leaves a cell with nothing to say empty, as Excel itself would."""
    out = tmp_path / "t.xlsx"
    assert run(db, "ingest-template", str(out)).exit_code == 0
    notes = load_workbook(out)["说明"]
    assert notes.max_row > 5
    with zipfile.ZipFile(out) as book:  # openpyxl reads an empty text back as None: look at what Excel gets
        xml = book.read("xl/worksheets/sheet2.xml").decode("utf-8")
    assert "<c " in xml and not re.search(r'<c [^>]*t="[a-zA-Z]+"\s*/>', xml)
