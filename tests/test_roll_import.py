"""Starting a county from its household roll, and its paper ledger, kept in Excel: ``jifen directory import`` and ``jifen ingest ….xlsx``.

Each test works as an administrator would: write the spreadsheet, run the command, read what it says,
then look at what the villagers and the ledger now show.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from services.cli import main
from services.privacy import id_number_ok
from store.db import make_engine
from store.migrate import upgrade
from store.models import (
    Area,
    Household,
    HouseholdGrid,
    HouseholdTier,
    Linkage,
    Membership,
    PartyMember,
    Person,
    Tally,
)

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["乡镇", "村", "网格", "户号", "姓名", "与户主关系", "身份证号", "人员编号", "三色", "党员", "联户党员", "联系电话"]
# Valid resident ID numbers (check characters computed), made up for the tests.
ZHANG, WANG, XIAO, LI = "330102195803041234", "330102197001010013", "330102199505050026", "330102196202020029"


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--db", db, *args])


def refused(result: Result, *phrases: str) -> None:
    """The command refused its input (exit 1) in a sentence holding each phrase, never a traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for phrase in phrases:
        assert phrase in result.output, result.output


def workbook(path: Path, rows: list[list[Any]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {m.__name__: conn.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (Area, Household, Person, Membership, HouseholdGrid, HouseholdTier, PartyMember, Linkage)}


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'county.db'}"
    upgrade(url)
    published = run(url, "rules", "publish", str(ROOT / "rules.yaml"), "--effective", "2026-01-01", "--by", "管理员")
    assert published.exit_code == 0, published.output
    return url


def first_roll(tmp_path: Path) -> Path:
    return workbook(tmp_path / "roll.xlsx", [
        HEADER,
        ["青山镇", "石桥村", "第一网格", "H000001", "张建国", "户主", ZHANG, "", "黄色", "是", "", "13800000000"],
        ["青山镇", "石桥村", "第一网格", "H000001", "李秀英", "配偶", LI, "", "", "否", "", ""],
        ["青山镇", "石桥村", "第一网格", "H000002", "王大山", "户主", WANG, "", "红色", "", ZHANG, ""],
    ])


def test_the_test_id_numbers_are_valid_and_a_changed_digit_is_not() -> None:
    assert all(id_number_ok(n) for n in (ZHANG, WANG, XIAO, LI, "33010219620202007X"))
    assert not id_number_ok(ZHANG[:-1] + "5") and not id_number_ok(ZHANG[:17])
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "33010219620202007") + "X"  # ３３０１… typed with a Chinese IME
    assert not id_number_ok(full_width)


def test_an_empty_database_takes_its_county_from_the_roll_and_villagers_can_then_be_scored(db: str, tmp_path: Path) -> None:
    roll = first_roll(tmp_path)
    no_county = run(db, "directory", "import", str(roll), "--effective", "2026-01-01")
    assert no_county.exit_code == 1 and "首次导入请填写县名(命令行加 --county 县名)" in no_county.output

    done = run(db, "directory", "import", str(roll), "--effective", "2026-01-01", "--county", "青山县")
    assert done.exit_code == 0, done.output
    assert "已导入 3 行" in done.output and "新增农户 2 户" in done.output and "新增村民 3 人" in done.output
    assert "新增党员 1 名" in done.output and "新增联户 1 条" in done.output
    assert "新村的代码(导出、令牌用):C01-T01-V01 石桥村" in done.output
    engine = make_engine(db)
    with engine.connect() as conn:
        levels = dict(conn.execute(select(Area.name, Area.level)).all())
        zhang = conn.execute(select(Person.code, Person.gender, Person.birth_year).where(Person.id_number == ZHANG)).one()
        li = conn.execute(select(Person.gender, Person.birth_year).where(Person.id_number == LI)).one()
    assert levels == {"青山县": "county", "青山镇": "township", "石桥村": "village", "第一网格": "grid"}
    # Gender and birth year are read from the ID number when the roll leaves them out.
    assert (zhang.gender, zhang.birth_year, tuple(li)) == ("男", 1958, ("女", 1962))

    # The linked Party member's visit to the red household scores, and the balance shows it.
    events = workbook(tmp_path / "ledger.xlsx", [
        ["id", "type", "occurred_at", "person", "household", "note"],
        ["V-1", "household_visit", datetime(2026, 3, 5, 9, 30), zhang.code, "H000002", "了解用水"],
    ])
    scored = run(db, "ingest", str(events))
    assert scored.exit_code == 0, scored.output
    assert "记分 1 条" in scored.output
    balance = run(db, "balance", zhang.code)
    assert "零基积分" in balance.output and "2026 得分 2" in balance.output  # 1 point for a visit × 2 for a red household


def test_importing_the_same_roll_again_changes_nothing(db: str, tmp_path: Path) -> None:
    roll = first_roll(tmp_path)
    assert run(db, "directory", "import", str(roll), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    before = counts(make_engine(db))
    again = run(db, "directory", "import", str(roll), "--effective", "2026-01-01")
    assert again.exit_code == 0 and "已导入 3 行:没有变化" in again.output
    later = run(db, "directory", "import", str(roll), "--effective", "2026-06-01")
    assert later.exit_code == 0 and "没有变化" in later.output
    assert counts(make_engine(db)) == before


def test_a_later_roll_records_moves_from_its_date_and_the_ledger_counts_each_month_in_its_place(db: str, tmp_path: Path) -> None:
    assert run(db, "directory", "import", str(first_roll(tmp_path)), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    engine = make_engine(db)
    with engine.connect() as conn:
        zhang = conn.execute(select(Person.code).where(Person.id_number == ZHANG)).scalar_one()
    march = workbook(tmp_path / "march.xlsx", [
        HEADER,
        # H000002 moves to the second grid and is now yellow; 李秀英 moves to it; a son is born into the roll.
        ["青山镇", "石桥村", "第一网格", "H000001", "张建国", "户主", ZHANG, "", "", "", "", ""],
        ["青山镇", "石桥村", "第二网格", "H000002", "王大山", "户主", WANG, "", "黄色", "", ZHANG, ""],
        ["青山镇", "石桥村", "第二网格", "H000002", "李秀英", "配偶", LI, "", "", "", "", ""],
        ["青山镇", "石桥村", "第二网格", "H000002", "王小明", "子女", XIAO, "", "", "", "", ""],
    ])
    moved = run(db, "directory", "import", str(march), "--effective", "2026-03-01")
    assert moved.exit_code == 0, moved.output
    for said in ("换网格 1 户", "换户 1 人", "三色调整 1 户", "新增村民 1 人", "新增区域 1 个"):
        assert said in moved.output
    with engine.connect() as conn:
        li, li_code = conn.execute(select(Person.id, Person.code).where(Person.id_number == LI)).one()
        homes = conn.execute(select(Membership.household_id, Membership.valid_from, Membership.valid_to)
                             .where(Membership.person_id == li).order_by(Membership.valid_from)).all()
    assert [(str(a), str(b) if b else None) for _, a, b in homes] == [("2026-01-01", "2026-03-01"), ("2026-03-01", None)]

    # Before and after the move: the visits to H000002 (the member's own tally) count red in February (×2),
    # yellow from March (×1); 李秀英's volunteer hours count on the first grid in February, the second in March,
    # and the moral credit they earn (2 a hour) goes to the household she belonged to on the day.
    events = workbook(tmp_path / "march-ledger.xlsx", [
        ["id", "type", "occurred_at", "person", "household", "hours"],
        ["V-feb", "household_visit", datetime(2026, 2, 10, 10), zhang, "H000002", None],
        ["V-mar", "household_visit", datetime(2026, 3, 10, 10), zhang, "H000002", None],
        ["S-feb", "volunteer_service", datetime(2026, 2, 11, 10), li_code, None, 2],
        ["S-mar", "volunteer_service", datetime(2026, 3, 11, 10), li_code, None, 3],
    ])
    assert run(db, "ingest", str(events)).exit_code == 0
    with engine.connect() as conn:
        grids = dict(conn.execute(select(Area.id, Area.name).where(Area.level == "grid")).all())
        tallies = conn.execute(select(Tally.point_type, Tally.period, Tally.grid_id, Tally.amount).where(
            Tally.period.in_(["2026-02", "2026-03"]))).all()  # type: ignore[attr-defined]
    assert sorted((t, p, grids[g], a) for t, p, g, a in tallies) == [
        ("moral", "2026-02", "第一网格", 400), ("moral", "2026-03", "第二网格", 600),
        ("party_work", "2026-02", "第一网格", 200), ("party_work", "2026-03", "第一网格", 100),
        ("volunteer_hours", "2026-02", "第一网格", 200), ("volunteer_hours", "2026-03", "第二网格", 300),
    ]


def test_a_roll_with_problems_changes_nothing_and_names_each_row_column_and_fix(db: str, tmp_path: Path) -> None:
    assert run(db, "directory", "import", str(first_roll(tmp_path)), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    engine = make_engine(db)
    before = counts(engine)
    bad = workbook(tmp_path / "bad.xlsx", [
        HEADER,
        ["青山镇", "石桥村", "第一网格", "H000003", "赵一", "户主", ZHANG[:-1] + "5", "", "", "", "", ""],  # wrong check digit
        ["青山镇", "石桥村", "第一网格", "H000003", "赵二", "户主", "", "P-NEW", "紫色", "也许", "", "12345"],  # second head, …
        ["青山镇", "石桥村", "第一网格", "H000004", "", "户主", "", "P-NEW2", "", "", WANG, ""],  # no name; links a non-member
        ["青山镇", "石桥村", "第一网格", "H000005", "钱五", "户主", int(XIAO), "", "", "", "", ""],  # ID typed into a number cell
        ["青山镇", "石桥村", "第二网格", "H000001", "张建国", "户主", ZHANG, "", "", "", "", ""],
        ["青山镇", "石桥村", "第三网格", "H000001", "孙六", "子女", "", "P-NEW3", "", "", "", ""],  # household in two grids
        ["青山镇", "石桥村", "第一网格", "H000006", "王大山", "户主", WANG, "P-OTHER", "", "", "", ""],  # a registered ID, a new code
    ])
    result = run(db, "directory", "import", str(bad), "--effective", "2026-04-01")
    assert result.exit_code == 1
    out = result.output
    assert "名册未导入" in out
    for said in (
        "#2 [身份证号]: 身份证号 3301**********1235 不是有效的 18 位号码",  # the number is masked even in an error
        "#3 [三色]: 三色 “紫色” 不是规则中的分类;可填:黄色、橙色、红色",
        "#3 [党员]: 党员一栏 “也许” 应填 是 或 否",
        "#3 [联系电话]: 联系电话应为 11 位手机号",
        "#4 [姓名]: “姓名” 为空;请填写",
        "#5 [身份证号]: “身份证号” 一格被 Excel 存成了数字",
        "#7 [网格]: 户 H000001 的 “网格” 与第 6 行不同",
        "#8 [身份证号]: 身份证号 3301**********0013 已登记在村民 P0000003 名下,与本行的人员编号不符",
    ):
        assert said in out, said
    assert ZHANG not in out and XIAO not in out
    assert counts(engine) == before

    # The rows fixed, a household-level problem shows next: two heads, a link to a villager who is no Party member.
    fixed = workbook(tmp_path / "fixed.xlsx", [
        HEADER,
        ["青山镇", "石桥村", "第一网格", "H000003", "赵一", "户主", XIAO, "", "", "", "", ""],
        ["青山镇", "石桥村", "第一网格", "H000003", "赵二", "户主", "", "P-NEW", "", "", "", ""],
        ["青山镇", "石桥村", "第一网格", "H000004", "钱四", "户主", "", "P-NEW2", "", "", WANG, ""],
    ])
    second = run(db, "directory", "import", str(fixed), "--effective", "2026-04-01")
    assert second.exit_code == 1
    assert "#3 [与户主关系]: 户 H000003 有两位户主(另一位在第 2 行)" in second.output
    fixed2 = workbook(tmp_path / "fixed2.xlsx", [HEADER, *load_workbook(fixed).active.iter_rows(min_row=2, max_row=2, values_only=True),  # type: ignore[union-attr]
                                                   ["青山镇", "石桥村", "第一网格", "H000004", "钱四", "户主", "", "P-NEW2", "", "", WANG, ""]])
    third = run(db, "directory", "import", str(fixed2), "--effective", "2026-04-01")
    assert third.exit_code == 1 and "#3 [联户党员]: “3301**********0013” 不是党员,不能联户" in third.output
    assert counts(engine) == before


def test_check_only_writes_nothing_and_a_backdated_roll_is_refused(db: str, tmp_path: Path) -> None:
    roll = first_roll(tmp_path)
    checked = run(db, "--lang", "en", "directory", "import", str(roll), "--effective", "2026-01-01", "--county", "Qingshan", "--check")
    assert checked.exit_code == 0
    assert "3 rows checked, nothing written: new areas: 4; new households: 2; new persons: 3; new Party members: 1" in checked.output
    assert counts(make_engine(db))["Household"] == 0
    assert run(db, "directory", "import", str(roll), "--effective", "2026-03-01", "--county", "青山县").exit_code == 0
    earlier = run(db, "--lang", "en", "directory", "import", str(roll), "--effective", "2026-02-01")
    assert earlier.exit_code == 1
    assert "#1: the roll's effective date 2026-02-01 is before the latest change already recorded (2026-03-01)" in earlier.output


def test_a_csv_roll_saved_by_chinese_excel_reads_the_same(db: str, tmp_path: Path) -> None:
    path = tmp_path / "roll.csv"
    with open(path, "w", encoding="gb18030", newline="") as f:
        csv.writer(f).writerows([HEADER, ["青山镇", "石桥村", "第一网格", "H000001", "张建国", "户主", ZHANG, "", "橙", "是", "", ""]])
    done = run(db, "directory", "import", str(path), "--effective", "2026-01-01", "--county", "青山县")
    assert done.exit_code == 0, done.output
    with make_engine(db).connect() as conn:
        assert conn.execute(select(HouseholdTier.tier)).scalar_one() == "orange"
        assert conn.execute(select(Household.head_name)).scalar_one() == "张建国"


def test_the_template_reads_back_as_a_valid_roll(db: str, tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    wrote = run(db, "directory", "template", str(path))
    assert wrote.exit_code == 0 and "身份证号、电话等列已设为文本格式" in wrote.output
    sheet = load_workbook(path).active
    assert sheet is not None and sheet["G1"].value == "身份证号" and sheet.column_dimensions["G"].number_format == "@"  # rows a clerk adds too
    done = run(db, "directory", "import", str(path), "--effective", "2026-01-01", "--county", "青山县")
    assert done.exit_code == 0, done.output
    assert "新增农户 1 户" in done.output and "新增村民 2 人" in done.output


def test_an_excel_ledger_keeps_decimals_exact_reads_times_as_local_and_counts_a_resent_file_once(db: str, tmp_path: Path) -> None:
    assert run(db, "directory", "import", str(first_roll(tmp_path)), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    with make_engine(db).connect() as conn:
        wang = conn.execute(select(Person.code).where(Person.id_number == WANG)).scalar_one()
    ledger = workbook(tmp_path / "volunteer.xlsx", [
        ["id", "type", "occurred_at", "person", "hours", "备注列没有表头"],
        ["S-1", "volunteer_service", datetime(2026, 3, 7, 23, 30), wang, 2.5, None],  # 23:30 local: still March 7th
        ["S-2", "volunteer_service", datetime(2026, 3, 8), int(WANG), 1, None],  # an ID number typed as a number
        [None, None, None, None, None, None],
        ["S-3", "volunteer_service", datetime(2026, 3, 9), wang, 0.1, None],  # below the field's minimum of 0.5
    ])
    first = run(db, "ingest", str(ledger))
    assert first.exit_code == 1  # some records refused; the good one is kept
    assert "记分 1 条" in first.output and "退回 2 条" in first.output
    assert "volunteer.xlsx #3 [person]: “person” 一格被 Excel 存成了数字,超过 15 位的末几位已经丢失,本行未导入" in first.output
    assert "volunteer.xlsx #5 (S-3) [hours]" in first.output
    history = run(db, "history", wang)
    assert "2026-03-07\tvolunteer_hours\t+2.5\taward\tVH-01" in history.output
    again = run(db, "ingest", str(ledger))
    assert "记分 0 条" in again.output and "已记录过 1 条" in again.output


def test_cells_read_as_the_text_a_clerk_typed() -> None:
    from datetime import date, time

    from services.tables import BigNumber, cell_text

    assert [cell_text(v) for v in (None, 12, 12.0, 2.3, 0.5, True, "  H000001 ")] == ["", "12", "12", "2.3", "0.5", "是", "H000001"]
    assert cell_text(datetime(2026, 3, 7)) == "2026-03-07"  # a date cell: no midnight added
    assert cell_text(datetime(2026, 3, 7, 9, 30, 0, 500)) == "2026-03-07T09:30:00"
    assert (cell_text(date(2026, 3, 7)), cell_text(time(9, 30))) == ("2026-03-07", "09:30:00")
    assert cell_text(13800000000.0) == "13800000000"  # an 11-digit phone typed as a number is still exact
    assert isinstance(cell_text(float(ZHANG)), BigNumber)  # 18 digits cannot be: refused, never guessed
    assert isinstance(cell_text(3301020010010011.0), BigNumber)  # 16 digits: Excel kept 15 of them
    assert cell_text(330102001001001.0) == "330102001001001"  # 15 digits: exact


def test_a_roll_links_a_member_from_its_date_on_both_databases(county: Any, ledger: Any) -> None:
    """On SQLite and PostgreSQL: a later roll moves H3 to G1 and links M1 to it; visits count from that day only."""
    from datetime import date

    from services.ingest import ingest_text
    from services.roll import import_roll
    from services.tables import read_csv_table

    roll = "\n".join([
        "乡镇,村,网格,户号,姓名,与户主关系,人员编号,三色,联户党员",
        "T1镇,V1村,G1网格,H3,王五,户主,P3,红色,M1",  # H3 was orange on G2, not linked
    ])
    report = import_roll(ledger.write_engine, read_csv_table(roll.splitlines()), ledger.versions().latest(), date(2026, 4, 1))
    assert not report.problems, [p.format() for p in report.problems]
    assert report.summary() == "已导入 1 行:新增联户 1 条、换网格 1 户、三色调整 1 户"

    def visit(event_id: str, day: str) -> str:
        return (f'{{"id": "{event_id}", "type": "household_visit", "occurred_at": "{day}T10:00:00+08:00", '
                f'"person": "M1", "household": "H3"}}')

    result = ingest_text(ledger, "\n".join([visit("before", "2026-03-31"), visit("after", "2026-04-01")]), "jsonl", "import", "t")
    assert dict(result.counts) == {"rejected": 1, "recorded": 1}
    assert [p.record for p in result.problems] == ["#1 (before)"]
    after = next(r for r in result.results if r.key == "after")
    assert [e["amount"] for e in after.entries] == [200]  # red from April 1st: ×2


def test_no_message_quotes_a_full_id_or_phone_number_whatever_column_it_landed_in(db: str, tmp_path: Path) -> None:
    """A column shifted by one puts ID and phone numbers where tiers, years and genders belong: each is quoted masked."""
    shifted = workbook(tmp_path / "shifted.xlsx", [
        [*HEADER, "性别", "出生年份"],
        ["青山镇", "石桥村", "第一网格", "H000001", "张建国", "户主", ZHANG, "", "13712345678", "13612345678", "33010219580304123", "",
         WANG, XIAO, "13512345678"],
    ])
    result = run(db, "directory", "import", str(shifted), "--effective", "2026-01-01", "--county", "青山县")
    assert result.exit_code == 1
    out = result.output
    for number in (WANG, XIAO, "13712345678", "13612345678", "13512345678", "33010219580304123"):
        assert number not in out, number
    assert "三色 “137****5678”" in out and "多出 1 个值(135****5678)" in out and "性别 “3301**********0013”" in out


def test_one_person_by_code_and_again_by_id_number_is_one_person_twice(db: str, tmp_path: Path) -> None:
    assert run(db, "directory", "import", str(first_roll(tmp_path)), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    with make_engine(db).connect() as conn:
        zhang = conn.execute(select(Person.code).where(Person.id_number == ZHANG)).scalar_one()
    twice = workbook(tmp_path / "twice.xlsx", [
        HEADER,
        ["青山镇", "石桥村", "第一网格", "H000005", "张建国", "户主", "", zhang, "", "", "", ""],
        ["青山镇", "石桥村", "第一网格", "H000006", "张建国", "户主", ZHANG, "", "", "", "", ""],
    ])
    result = run(db, "directory", "import", str(twice), "--effective", "2026-06-01")
    assert result.exit_code == 1 and "#3 [身份证号]: 同一人在第 2 行已出现过" in result.output


def test_a_header_without_rows_a_damaged_workbook_and_unreadable_bytes_are_refused_without_a_traceback(db: str, tmp_path: Path) -> None:
    empty = run(db, "directory", "import", str(workbook(tmp_path / "empty.xlsx", [HEADER])), "--effective", "2026-01-01", "--county", "青山县")
    assert empty.exit_code == 1 and "名册只有表头,没有人员" in empty.output
    good = first_roll(tmp_path).read_bytes()
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good[: len(good) * 2 // 3])
    damaged = run(db, "directory", "import", str(cut), "--effective", "2026-01-01", "--county", "青山县")
    assert damaged.exit_code == 1 and "无法作为 Excel 工作簿打开" in damaged.output and "Traceback" not in damaged.output
    raw = tmp_path / "bytes.csv"
    raw.write_bytes(",".join(HEADER).encode() + b"\n" + "青山镇,石桥村,第一网格,H000001,张".encode() + b"\xff" + f"三,户主,{ZHANG},,,,,\n".encode())
    garbled = run(db, "directory", "import", str(raw), "--effective", "2026-01-01", "--county", "青山县")
    assert garbled.exit_code == 1 and "#2: 这一行有无法识别的字符" in garbled.output
    old = tmp_path / "roll.xls"  # Excel 97-2003: a binary file no reader here opens
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    for args in (["directory", "import", str(old), "--effective", "2026-01-01", "--county", "青山县"], ["ingest", str(old)]):
        refused = run(db, *args)
        assert refused.exit_code == 1 and "旧版 Excel(.xls)" in refused.output and "另存为” .xlsx" in refused.output, args
        assert "未读取的列" not in refused.output
    assert counts(make_engine(db))["Household"] == 0


def test_a_roll_dated_before_points_already_scored_asks_to_be_confirmed(db: str, tmp_path: Path) -> None:
    """Points scored by the old roll stay as scored; a later roll dated before them must say it corrects the past."""
    assert run(db, "directory", "import", str(first_roll(tmp_path)), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    with make_engine(db).connect() as conn:
        zhang = conn.execute(select(Person.code).where(Person.id_number == ZHANG)).scalar_one()
    visit = workbook(tmp_path / "visit.xlsx", [["id", "type", "occurred_at", "person", "household"],
                                                ["V-1", "household_visit", datetime(2026, 3, 11, 10), zhang, "H000002"]])
    assert run(db, "ingest", str(visit)).exit_code == 0  # +2: H000002 is red
    yellow = workbook(tmp_path / "yellow.xlsx", [HEADER, ["青山镇", "石桥村", "第一网格", "H000002", "王大山", "户主", WANG, "", "黄色", "", ZHANG, ""]])
    refused = run(db, "directory", "import", str(yellow), "--effective", "2026-02-01")
    assert refused.exit_code == 1
    # The member's visit was weighed by the red tier: the member is named.
    assert f"{zhang} 在 2026-03-11 已有按原名册记的分,晚于本次生效日 2026-02-01" in refused.output
    confirmed = run(db, "directory", "import", str(yellow), "--effective", "2026-02-01", "--backdate", "--check")
    assert confirmed.exit_code == 0 and "三色调整 1 户" in confirmed.output  # said to correct the past: accepted
    assert run(db, "directory", "import", str(yellow), "--effective", "2026-03-12").exit_code == 0  # after the points: fine
    engine = make_engine(db)
    with engine.connect() as conn:
        assert [t for (t,) in conn.execute(select(HouseholdTier.tier).join(Household, Household.id == HouseholdTier.household_id)  # type: ignore[arg-type]
                                           .where(Household.code == "H000002").order_by(HouseholdTier.valid_from))] == ["red", "yellow"]


def test_two_imports_of_one_roll_at_once_record_each_change_once(county: Any, ledger: Any) -> None:
    """On SQLite and PostgreSQL: a double click on two web workers — the second import waits, then finds nothing to change."""
    import threading
    from datetime import date

    from services.roll import import_roll
    from services.tables import read_csv_table

    roll = "乡镇,村,网格,户号,姓名,与户主关系,人员编号\nT1镇,V1村,G2网格,H1,张三,户主,P1\nT1镇,V1村,G2网格,H1,李四,配偶,P2"
    start = threading.Barrier(2)
    reports: list[Any] = []

    def upload() -> None:
        start.wait()
        reports.append(import_roll(ledger.write_engine, read_csv_table(roll.splitlines()), ledger.versions().latest(), date(2026, 4, 1)))

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.summary() for r in reports) == ["已导入 2 行:换网格 1 户、换户 1 人", "已导入 2 行:没有变化"]
    with ledger.engine.connect() as conn:
        open_homes = conn.execute(select(Membership.household_id).where(
            Membership.person_id == county.ids["P2"], Membership.valid_to.is_(None))).all()  # type: ignore[union-attr]
        grids = conn.execute(select(HouseholdGrid.grid_id).where(
            HouseholdGrid.household_id == county.ids["H1"], HouseholdGrid.valid_to.is_(None))).all()  # type: ignore[union-attr]
    assert open_homes == [(county.ids["H1"],)] and grids == [(county.ids["G2"],)]


def test_every_problem_of_a_roll_comes_in_one_report(db: str, tmp_path: Path) -> None:
    """A clerk fixes the sheet once: row problems, household problems and link problems are reported together."""
    path = tmp_path / "roll.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([
            [*HEADER, "出生年份", "性别"],
            ["青山镇", "石桥村", "第一网格", "H000001", "张建国", "户主", ZHANG, "", "黄色", "", "", "12345", "1960", "女"],
            ["青山镇", "石桥村", "第一网格", "H000001", "李秀英", "户主", "3.30102E+17", "", "", "", "", "", "", ""],
            ["青山镇", "石桥村", "第一网格", "H000002", "王大山", "户主", WANG, "", "红色", "", XIAO, "", "", ""],
            ["青山镇", "石桥村", "第一网格", "H000002", "王小明", "子女", XIAO, "", "", "否", "", "", "", ""],
        ])
    result = run(db, "directory", "import", str(path), "--effective", "2026-01-01", "--county", "青山县")
    assert result.exit_code == 1
    out = result.output
    for said in (
        "#2 [联系电话]: 联系电话应为 11 位手机号",  # a row problem …
        "#2 [出生年份]: “出生年份” 填的是 1960,身份证号上是 1958",  # … the ID number disagrees with the year and the sex …
        "#2 [性别]: “性别” 填的是 女,身份证号上是 男",
        "#3 [身份证号]: “身份证号” 一格被 Excel 存成了数字",  # … a CSV saved by Excel: 3.30102E+17 …
        "#3 [与户主关系]: 户 H000001 有两位户主(另一位在第 2 行)",  # … a household problem …
        "#4 [联户党员]: “3301**********0026” 不是党员,不能联户",  # … and a link, found only by writing (rolled back)
    ):
        assert said in out, said
    assert "发现 6 处问题" in out
    assert counts(make_engine(db))["Household"] == 0


def test_a_ledger_headed_and_filled_in_chinese_reads_as_the_keys(db: str, tmp_path: Path) -> None:
    """A 台账 as a village office keeps it: Chinese headers, event types and field labels by name, dates as Excel writes them."""
    assert run(db, "directory", "import", str(first_roll(tmp_path)), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    with make_engine(db).connect() as conn:
        zhang = conn.execute(select(Person.code).where(Person.id_number == ZHANG)).scalar_one()
    path = tmp_path / "台账.csv"
    with open(path, "w", encoding="gb18030", newline="") as f:  # as Chinese Excel saves a CSV
        csv.writer(f).writerows([
            ["编号", "事项", "日期", "党员", "户号", "小时", "走访记录"],
            ["Z-1", "入户走访", "2026/3/16 9:00", zhang, "H000002", "", "了解用水"],
            ["Z-2", "志愿服务", "2026.3.17", zhang, "", "2.5", ""],
            ["Z-3", "Household visit", "2026年3月18日 10时", zhang, "H000002", "", ""],
            ["Z-4", "入户走访", "2026/2/30", zhang, "H000002", "", ""],
        ])
    first = run(db, "ingest", str(path))
    assert "记分 3 条" in first.output and "退回 1 条" in first.output
    assert "#5 [occurred_at]: 时间 “2026/2/30” 无法识别(或没有这一天)" in first.output
    history = run(db, "history", zhang).output
    for line in ("2026-03-16\tparty_work\t+2\taward\tLH-01", "2026-03-17\tvolunteer_hours\t+2.5\taward\tVH-01",
                 "2026-03-18\tparty_work\t+2\taward\tLH-01"):
        assert line in history, line
    # The same events sent again with the keys (as JSON lines): the same events, counted once.
    keyed = tmp_path / "keyed.jsonl"
    keyed.write_text(json.dumps({"id": "Z-1", "type": "household_visit", "occurred_at": "2026-03-16T09:00:00",
                                 "person": zhang, "household": "H000002", "fields": {"note": "了解用水"}}) + "\n", encoding="utf-8")
    assert "已记录过 1 条" in run(db, "ingest", str(keyed)).output


def test_a_ledger_with_both_a_villager_and_a_party_member_column_reads_the_one_filled_in(db: str, tmp_path: Path) -> None:
    """村民 and 党员 both name the person: a row fills one of them, and an empty 党员 never hides its 村民."""
    assert run(db, "directory", "import", str(first_roll(tmp_path)), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    with make_engine(db).connect() as conn:
        zhang = conn.execute(select(Person.code).where(Person.id_number == ZHANG)).scalar_one()
    path = tmp_path / "台账.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([
            ["编号", "事项", "日期", "村民", "党员", "户号", "小时"],
            ["B-1", "志愿服务", "2026-03-17", zhang, "", "", "2"],
            ["B-2", "入户走访", "2026-03-16 09:00", "", zhang, "H000002", ""],
        ])
    said = run(db, "ingest", str(path))
    assert "记分 2 条" in said.output and "退回 0 条" in said.output, said.output
    with open(path, "w", encoding="utf-8-sig", newline="") as f:  # both filled in, with two people: not guessed
        csv.writer(f).writerows([["编号", "事项", "日期", "村民", "党员", "户号", "小时"],
                                 ["B-3", "志愿服务", "2026-03-18", zhang, "P0000009", "", "2"]])
    both = run(db, "ingest", str(path))
    assert both.exit_code == 1 and f"#2 [person]: “村民” 和 “党员” 两列都填了,却不一样(“{zhang}” 和 “P0000009”)" in both.output, \
        both.output


def test_a_title_row_above_the_header_and_spaces_inside_a_header_are_read_as_a_clerk_means(db: str, tmp_path: Path) -> None:
    """青山镇2026年户籍花名册 on row 1, a blank row 2, the header on row 3 with 网 格 typed with a space."""
    spaced = ["网 格" if h == "网格" else h for h in HEADER]
    roll = workbook(tmp_path / "titled.xlsx", [
        ["青山镇2026年户籍花名册(村委会填报)"],
        [None],
        spaced,
        ["青山镇", "石桥村", "第一网格", "H000001", "张建国", "户主", ZHANG, "", "黄色", "是", "", ""],
        ["青山镇", "石桥村", "第一网格", "H000001", "李秀英", "配偶", LI, "", "", "", "", "12345"],
    ])
    result = run(db, "directory", "import", str(roll), "--effective", "2026-01-01", "--county", "青山县")
    assert result.exit_code == 1  # the bad phone, named by its row as Excel numbers it
    assert "#5 [联系电话]: 联系电话应为 11 位手机号" in result.output and "未读取的列" not in result.output
    fixed = workbook(tmp_path / "titled-fixed.xlsx", [["青山镇2026年户籍花名册(村委会填报)"], [None], spaced,
                                                      ["青山镇", "石桥村", "第一网格", "H000001", "张建国", "户主", ZHANG, "", "黄色", "是", "", ""]])
    done = run(db, "directory", "import", str(fixed), "--effective", "2026-01-01", "--county", "青山县")
    assert done.exit_code == 0 and "已导入 1 行" in done.output


def test_points_dated_before_a_villager_joined_any_household_say_so(db: str, tmp_path: Path) -> None:
    """Moral credit goes to the villager's household: before the roll's date there is none, and the message says that."""
    assert run(db, "directory", "import", str(first_roll(tmp_path)), "--effective", "2026-06-01", "--county", "青山县").exit_code == 0
    with make_engine(db).connect() as conn:
        wang = conn.execute(select(Person.code).where(Person.id_number == WANG)).scalar_one()
    hours = workbook(tmp_path / "hours.xlsx", [["id", "type", "occurred_at", "person", "hours"],
                                               ["S-1", "volunteer_service", datetime(2026, 5, 20, 9), wang, 2]])
    refused = run(db, "ingest", str(hours))
    assert refused.exit_code == 1
    assert "#2 (S-1) [person]: 这位村民在 2026-05-20 不属于任何户(这项积分记在户上)" in refused.output
    assert "缺少字段 “household”" not in refused.output


def test_a_complete_roll_ends_whom_its_villages_no_longer_hold_and_leaves_other_villages_alone(db: str, tmp_path: Path) -> None:
    """整村名册: 石桥村's July roll names only 王大山's household; 张建国's household and its two persons leave the roll."""
    first = workbook(tmp_path / "first.xlsx", [
        *[list(r) for r in load_workbook(first_roll(tmp_path)).active.iter_rows(values_only=True)],  # type: ignore[union-attr]
        ["青山镇", "白塘村", "一组", "H000003", "赵小兰", "户主", XIAO, "", "橙色", "", "", ""],
    ])
    assert run(db, "directory", "import", str(first), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    july = workbook(tmp_path / "july.xlsx", [HEADER, ["青山镇", "石桥村", "第一网格", "H000002", "王大山", "户主", WANG, "", "红色", "", "", ""]])

    partial = run(db, "directory", "import", str(july), "--effective", "2026-07-01", "--check")
    assert "已检查 1 行,未写入:没有变化" in partial.output  # without --complete a roll only adds and changes
    checked = run(db, "directory", "import", str(july), "--effective", "2026-07-01", "--complete", "--check")
    assert checked.exit_code == 0, checked.output
    for said in ("联户结束 1 条", "党员关系结束 1 名", "不在名册中而登记结束的农户 1 户", "不在名册中而登记结束的村民 2 人"):
        assert said in checked.output, checked.output
    assert "未写入" in checked.output
    english = run(db, "--lang", "en", "directory", "import", str(july), "--effective", "2026-07-01", "--complete", "--check")
    assert "households not on the roll, ended: 1" in english.output and "persons not on the roll, ended: 2" in english.output

    done = run(db, "directory", "import", str(july), "--effective", "2026-07-01", "--complete")
    assert done.exit_code == 0 and "已导入 1 行" in done.output, done.output
    again = run(db, "directory", "import", str(july), "--effective", "2026-07-01", "--complete")
    assert "没有变化" in again.output  # the same roll again changes nothing

    def on(day: str) -> list[tuple[str, str]]:
        out = tmp_path / f"{day}.csv"
        assert run(db, "directory", "export", str(out), "--day", day).exit_code == 0
        with open(out, encoding="utf-8-sig", newline="") as f:
            return [(r[3], r[6]) for r in list(csv.reader(f))[1:]]

    assert on("2026-06-30") == [("H000001", "张建国"), ("H000001", "李秀英"), ("H000002", "王大山"), ("H000003", "赵小兰")]
    assert on("2026-07-01") == [("H000002", "王大山"), ("H000003", "赵小兰")]  # 白塘村, not on the roll, untouched
    listed = run(db, "directory", "villages").output  # today: the household ended is no longer counted
    assert "\t石桥村\t青山镇\t1 户" in listed and "\t白塘村\t青山镇\t1 户" in listed, listed
    with make_engine(db).connect() as conn:  # history kept: the rows are ended, never deleted
        assert conn.execute(select(func.count()).select_from(PartyMember).where(PartyMember.valid_to == date(2026, 7, 1))).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(Linkage).where(Linkage.valid_to == date(2026, 7, 1))).scalar_one() == 1


def test_a_complete_roll_keeps_links_in_step_and_refuses_to_end_a_member_it_names_as_a_linker(db: str, tmp_path: Path) -> None:
    """张建国 looks after H000002 (石桥村) and H000003 (白塘村); 石桥村's July roll leaves his household out."""
    first = workbook(tmp_path / "first.xlsx", [
        *[list(r) for r in load_workbook(first_roll(tmp_path)).active.iter_rows(values_only=True)],  # type: ignore[union-attr]
        ["青山镇", "白塘村", "一组", "H000003", "赵小兰", "户主", XIAO, "", "橙色", "", ZHANG, ""],
    ])
    assert run(db, "directory", "import", str(first), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    with make_engine(db).connect() as conn:
        xiao = conn.execute(select(Person.code).where(Person.id_number == XIAO)).scalar_one()
    points = tmp_path / "baitang.jsonl"  # 白塘村's own points after the July date: not the 石桥村 roll's business
    points.write_text(json.dumps({"id": "z1", "type": "volunteer_service", "occurred_at": "2026-07-05T09:00:00+08:00",
                                  "person": xiao, "fields": {"hours": 2}}) + "\n", encoding="utf-8")
    assert run(db, "ingest", str(points)).exit_code == 0

    # 张建国 still named as H000002's linker, though his own row is gone: refused, not a link to someone ended.
    named = workbook(tmp_path / "named.xlsx", [HEADER, ["青山镇", "石桥村", "第一网格", "H000002", "王大山", "户主", WANG, "", "红色", "是", ZHANG, ""]])
    refused = run(db, "directory", "import", str(named), "--effective", "2026-07-01", "--complete")
    assert refused.exit_code == 1
    assert "#2 [联户党员]: “" in refused.output and "被填为联户党员,整村名册里却没有其本人一行" in refused.output, refused.output

    # 王大山 takes over H000002: 张建国's two links end once each, 白塘村's points stand in no one's way.
    handed = workbook(tmp_path / "handed.xlsx", [HEADER, ["青山镇", "石桥村", "第一网格", "H000002", "王大山", "户主", WANG, "", "红色", "是", WANG, ""]])
    done = run(db, "directory", "import", str(handed), "--effective", "2026-07-01", "--complete")
    assert done.exit_code == 0, done.output
    assert "联户结束 2 条" in done.output and "新增联户 1 条" in done.output and "党员关系结束 1 名" in done.output, done.output
    with make_engine(db).connect() as conn:
        open_links = conn.execute(select(Person.name, Household.code).join(Linkage, Linkage.member_id == Person.id)  # type: ignore[arg-type]
                                  .join(Household, Household.id == Linkage.household_id)  # type: ignore[arg-type]
                                  .where(Linkage.valid_to.is_(None))).all()  # type: ignore[union-attr]
    assert sorted(open_links) == [("王大山", "H000002")]


def test_a_roll_that_would_end_a_member_with_a_claim_still_under_review_is_refused(db: str, tmp_path: Path) -> None:
    """张建国's 村级中心工作 claim of July 5 waits for review: a July 1 whole-village roll leaving him out must wait too."""
    assert run(db, "directory", "import", str(first_roll(tmp_path)), "--effective", "2026-01-01", "--county", "青山县").exit_code == 0
    with make_engine(db).connect() as conn:
        zhang = conn.execute(select(Person.code).where(Person.id_number == ZHANG)).scalar_one()
    claim = tmp_path / "claim.jsonl"
    claim.write_text(json.dumps({"id": "c1", "type": "campaign_role", "occurred_at": "2026-07-05T09:00:00+08:00",
                                 "person": zhang, "points": 5}) + "\n", encoding="utf-8")
    assert "待审核 1 条" in run(db, "ingest", str(claim)).output
    july = workbook(tmp_path / "july.xlsx", [HEADER, ["青山镇", "石桥村", "第一网格", "H000002", "王大山", "户主", WANG, "", "红色", "", "", ""]])
    refused = run(db, "directory", "import", str(july), "--effective", "2026-07-01", "--complete")
    assert refused.exit_code == 1
    assert f"{zhang} 有申报还在审核或公示中,事项发生在本次生效日 2026-07-01 或之后" in refused.output, refused.output
    later = run(db, "directory", "import", str(july), "--effective", "2026-07-06", "--complete")  # after the claim's day
    assert later.exit_code == 0, later.output
