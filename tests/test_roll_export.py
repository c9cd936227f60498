"""The roll with its codes, for the people who keep paper ledgers (台账): ``jifen directory export``.

Each test works as a county administrator would: import a roll, export it, open the file and read it.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from store.db import make_engine
from store.models import Area, Person
from tests.test_roll_import import HEADER, LI, WANG, ZHANG, refused, run, workbook

XIAO_PHONE = "13912345678"
FORMULA = '=HYPERLINK("http://x","李四")'
EXPORT_HEADER = ["乡镇", "村", "网格", "户号", "户主", "人员编号", "姓名", "与户主关系", "三色", "党员", "联系户"]


def two_villages(path: Path) -> Path:
    """石桥村: 张建国 (a Party member linked to 王大山's red household) and his wife; 白塘村: a head named like a formula."""
    rows: list[list[Any]] = [
        HEADER,
        ["青山镇", "石桥村", "第一网格", "H000001", "张建国", "户主", ZHANG, "", "黄色", "是", "", "13800000000"],
        ["青山镇", "石桥村", "第一网格", "H000001", "李秀英", "配偶", LI, "", "", "否", "", XIAO_PHONE],
        ["青山镇", "石桥村", "第二网格", "H000002", "王大山", "户主", WANG, "", "红色", "", ZHANG, ""],
        ["青山镇", "白塘村", "一组", "H000003", FORMULA, "户主", "", "P0000009", "橙色", "", "", ""],
    ]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    for cell in sheet["E"]:
        cell.data_type = "s"  # typed into the roll as text: a name, not a formula
    book.save(path)
    return path


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A county of two villages imported from its roll on 2026-01-01, with the shipped rules."""
    url = f"sqlite:///{tmp_path / 'county.db'}"
    from store.migrate import upgrade

    upgrade(url)
    for args in (("rules", "publish", str(Path(__file__).resolve().parent.parent / "rules.yaml"), "--effective", "2026-01-01"),
                 ("directory", "import", str(two_villages(tmp_path / "roll.xlsx")), "--effective", "2026-01-01", "--county", "青山县")):
        done = run(url, *args)
        assert done.exit_code == 0, done.output
    return url


def codes(db: str) -> dict[str, str]:
    """Person codes by name, as the roll import gave them."""
    with make_engine(db).connect() as conn:
        return dict(conn.execute(select(Person.name, Person.code)).all())  # type: ignore[arg-type]


def sheet_rows(path: Path) -> list[tuple[Any, ...]]:
    sheet = load_workbook(path).active
    assert sheet is not None
    return list(sheet.iter_rows(values_only=True))


def no_id_or_phone(cells: list[str]) -> None:
    text = " ".join(cells)
    for number in (ZHANG, LI, WANG, "13800000000", XIAO_PHONE):
        assert number not in text
    assert not re.search(r"[0-9]{11,}", text)  # no long number of any kind: an ID or a phone, whole or cut


def test_the_village_asked_comes_with_every_persons_codes_and_no_id_or_phone_number(db: str, tmp_path: Path) -> None:
    out = tmp_path / "石桥村.xlsx"
    said = run(db, "directory", "export", str(out), "--village", "石桥村", "--day", "2026-03-01")
    assert said.exit_code == 0, said.output
    assert "2026-03-01 的名册,2 户 3 人" in said.output
    rows = sheet_rows(out)
    assert list(rows[0]) == EXPORT_HEADER  # the roll's own headers, so one vocabulary
    sheet = load_workbook(out).active
    assert sheet is not None and sheet.freeze_panes == "A2"  # the header stays in view
    assert (sheet.column_dimensions["K"].width or 0) >= 20  # 联系户 lists several codes
    c = codes(db)
    assert [list(r) for r in rows[1:]] == [
        ["青山镇", "石桥村", "第一网格", "H000001", "张建国", c["张建国"], "张建国", "户主", "黄色", "是", "H000002"],
        ["青山镇", "石桥村", "第一网格", "H000001", "张建国", c["李秀英"], "李秀英", "配偶", "黄色", "否", None],
        ["青山镇", "石桥村", "第二网格", "H000002", "王大山", c["王大山"], "王大山", "户主", "红色", "否", None],
    ]
    assert all(r[1] == "石桥村" for r in rows[1:])  # not a row of 白塘村
    no_id_or_phone([str(v) for r in rows for v in r if v is not None])


def test_a_name_typed_as_a_formula_stays_text_in_the_workbook_and_in_the_csv(db: str, tmp_path: Path) -> None:
    with make_engine(db).connect() as conn:
        baitang = conn.execute(select(Area.code).where(Area.name == "白塘村")).scalar_one()
    book, text = tmp_path / "all.xlsx", tmp_path / "白塘村.csv"
    assert run(db, "directory", "export", str(book)).exit_code == 0  # the whole county
    one = run(db, "directory", "export", str(text), "--village", baitang)  # a village by its code
    assert one.exit_code == 0 and "1 户 1 人" in one.output  # its one household of one person is counted
    sheet = load_workbook(book).active
    assert sheet is not None
    assert [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["石桥村"] * 3 + ["白塘村"]
    formulas = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert len(formulas) == 2 and all(c.data_type == "s" for c in formulas)  # the head and the name: text, never run
    with open(text, encoding="utf-8-sig", newline="") as f:  # a BOM: Excel opens it as UTF-8
        lines = list(csv.reader(f))
    assert lines[0] == EXPORT_HEADER
    assert len(lines) == 2 and lines[1][:4] == ["青山镇", "白塘村", "一组", "H000003"]
    assert lines[1][4] == lines[1][6] == "'" + FORMULA and lines[1][5] == "P0000009" and lines[1][8] == "橙色"
    no_id_or_phone([v for line in lines for v in line])


def test_each_day_shows_the_roll_as_it_stood_then(db: str, tmp_path: Path) -> None:
    """A June roll turns 王大山's household orange and moves 李秀英 into it; March still shows the old roll."""
    later = workbook(tmp_path / "june.xlsx", [
        HEADER,
        ["青山镇", "石桥村", "第二网格", "H000002", "王大山", "户主", WANG, "", "橙色", "", "", ""],
        ["青山镇", "石桥村", "第二网格", "H000002", "李秀英", "配偶", LI, "", "", "", "", ""],
    ])
    moved = run(db, "directory", "import", str(later), "--effective", "2026-06-01")
    assert moved.exit_code == 0, moved.output
    march, july = tmp_path / "march.csv", tmp_path / "july.csv"
    assert run(db, "directory", "export", str(march), "--village", "石桥村", "--day", "2026-03-01").exit_code == 0
    assert run(db, "directory", "export", str(july), "--village", "石桥村", "--day", "2026-07-01").exit_code == 0

    def read(path: Path) -> list[tuple[str, ...]]:
        with open(path, encoding="utf-8-sig", newline="") as f:
            return [(r[3], r[6], r[8], r[10]) for r in list(csv.reader(f))[1:]]

    assert read(march) == [("H000001", "张建国", "黄色", "H000002"), ("H000001", "李秀英", "黄色", ""), ("H000002", "王大山", "红色", "")]
    assert read(july) == [("H000001", "张建国", "黄色", "H000002"), ("H000002", "王大山", "橙色", ""), ("H000002", "李秀英", "橙色", "")]
    before = run(db, "directory", "export", str(tmp_path / "early.csv"), "--day", "2025-12-31")
    assert before.exit_code == 0 and "0 户 0 人" in before.output and "--day" in before.output


def test_the_export_reads_back_as_the_roll_it_came_from(db: str, tmp_path: Path) -> None:
    """Headers and values in the roll's vocabulary, in Chinese or English: imported again, it changes nothing."""
    for lang in ("zh", "en"):
        out = tmp_path / f"codes-{lang}.xlsx"
        assert run(db, "--lang", lang, "directory", "export", str(out)).exit_code == 0
        again = run(db, "--lang", lang, "directory", "import", str(out), "--effective", "2026-03-01", "--check")
        assert again.exit_code == 0, again.output
        assert ("没有变化" if lang == "zh" else "no change") in again.output
        assert ("户主、联系户" if lang == "zh" else "Head of household, Linked households") in again.output  # listed as not read
    assert run(db, "--lang", "en", "directory", "export", str(tmp_path / "codes.csv"), "--village", "石桥村").exit_code == 0
    with open(tmp_path / "codes.csv", encoding="utf-8-sig", newline="") as f:
        english = list(csv.reader(f))
    assert english[0] == ["Township", "Village", "Grid", "Household", "Head of household", "Person", "Name", "Relation",
                          "Tier", "Party member", "Linked households"]
    assert english[1][8:] == ["Yellow", "yes", "H000002"] and english[2][8:] == ["Yellow", "no", ""]


def test_an_unknown_village_is_named_with_the_codes_and_how_to_list_them_in_either_language(db: str, tmp_path: Path) -> None:
    out = tmp_path / "x.xlsx"
    refused(run(db, "directory", "export", str(out), "--village", "桃源村"),
            "找不到村 “桃源村”", "C01-T01-V01 石桥村", "jifen directory villages")
    refused(run(db, "--lang", "en", "directory", "export", str(out), "--village", "桃源村"),
            "no village '桃源村'", "C01-T01-V01 石桥村", "jifen directory villages")
    assert not out.exists()  # nothing written for a village that is not there
    listed = run(db, "directory", "villages")
    assert listed.exit_code == 0
    assert listed.output.splitlines() == ["C01-T01-V01\t石桥村\t青山镇\t2 户", "C01-T01-V02\t白塘村\t青山镇\t1 户"]
    assert "2 households" in run(db, "--lang", "en", "directory", "villages").output


def test_a_village_larger_than_a_query_chunk_is_exported_whole(db: str, tmp_path: Path) -> None:
    """1,000 households of two persons (more than a chunk of 900 ids): every person once, links across chunks."""
    rows: list[list[Any]] = [["乡镇", "村", "网格", "户号", "姓名", "与户主关系", "人员编号", "党员", "联户党员"]]
    for h in range(1000):
        member = "M0000001" if h == 0 else ""
        rows.append(["青山镇", "大村", f"第{h // 100 + 1:02d}网格", f"D{h:06d}", f"户主{h}", "户主", member or f"D{h:06d}-1",
                     "是" if member else "", "M0000001" if h in (1, 999) else ""])
        rows.append(["青山镇", "大村", f"第{h // 100 + 1:02d}网格", f"D{h:06d}", f"家人{h}", "子女", f"D{h:06d}-2", "", ""])
    with open(tmp_path / "big.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    done = run(db, "directory", "import", str(tmp_path / "big.csv"), "--effective", "2026-02-01")
    assert done.exit_code == 0, done.output
    out = tmp_path / "big.xlsx"
    said = run(db, "directory", "export", str(out), "--village", "大村")
    assert said.exit_code == 0 and "1000 户 2000 人" in said.output
    got = sheet_rows(out)[1:]
    assert len(got) == 2000 and len({r[5] for r in got}) == 2000
    assert [r[3] for r in got] == sorted(r[3] for r in got)  # by grid, then household
    assert [r[10] for r in got if r[9] == "是"] == ["D000001、D000999"]


def test_files_that_cannot_be_written_are_refused_in_a_sentence(db: str, tmp_path: Path) -> None:
    """No traceback for a folder that does not exist; a file type the export does not write is named."""
    missing = tmp_path / "no-such-folder" / "roll.xlsx"
    for args in (("directory", "template", str(missing)), ("directory", "export", str(missing))):
        said = run(db, *args)
        assert said.exit_code == 1 and "Traceback" not in said.output
        assert f"无法写入 {missing}:所在的目录不存在" in said.output, said.output
    en = run(db, "--lang", "en", "directory", "template", str(missing))
    assert f"cannot write {missing}: its folder does not exist" in en.output, en.output
    text = run(db, "directory", "export", str(tmp_path / "codes.txt"))
    assert text.exit_code == 1 and "请写成 .xlsx 或 .csv 文件" in text.output
    assert not (tmp_path / "codes.txt").exists()
