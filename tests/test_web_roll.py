"""The administrator's household-roll page: upload an Excel roll, check it, import it; problems by row and column."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select

import store.all_models  # noqa: F401
from store.models import Household, HouseholdGrid, HouseholdTier, Person
from store.models_web import AuditLog
from tests.conftest import Clock
from web.testing import World, build_world, csrf_token

HEADER = ["乡镇", "村", "网格", "户号", "姓名", "与户主关系", "身份证号", "三色"]
GOOD = ["新丰镇", "新丰村", "第一网格", "H-NEW-1", "赵大海", "户主", "330102197001010013", "红色"]


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Any, clock: Clock) -> World:
    return build_world(sqlite_engine, clock, tmp_path / "uploads")


def xlsx(*rows: list[Any]) -> io.BytesIO:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [HEADER, *rows]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out


def upload(world: World, c: Any, data: io.BytesIO, name: str = "roll.xlsx", check: bool = False, complete: bool = False) -> Any:
    token = csrf_token(c, "/admin/roll")
    form = {"csrf_token": token, "effective": world.ctx.today().isoformat(), "file": (data, name)}
    if check:
        form["check"] = "1"
    if complete:
        form["complete"] = "1"
    return c.post("/admin/roll", data=form, content_type="multipart/form-data")


def problem_rows(html: str) -> list[tuple[str, str, str]]:
    return re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>', html)


def households_named(world: World, code: str) -> int:
    with world.ctx.engine.connect() as conn:
        return len(conn.execute(select(Household.id).where(Household.code == code)).all())


def test_only_the_administrator_opens_the_roll_page(world: World) -> None:
    assert world.client("admin").get("/admin/roll").status_code == 200
    for role in ("auditor", "committee", "secretary", "villager"):
        assert world.client(role).get("/admin/roll").status_code == 403, role
    households = world.client("admin").get("/admin/households").get_data(as_text=True)
    assert 'href="/admin/roll"' in households
    assert 'href="/admin/roll"' not in world.client("committee").get("/admin/households").get_data(as_text=True)


def test_a_roll_with_problems_shows_each_by_row_and_column_and_imports_nothing(world: World) -> None:
    c = world.client("admin")
    bad = ["新丰镇", "新丰村", "第一网格", "H-NEW-2", "", "户主", "330102197001010015", "紫色"]
    r = upload(world, c, xlsx(GOOD, bad))
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "发现 3 处问题,名册未导入" in html
    rows = problem_rows(html)
    assert ("3", "姓名", "“姓名” 为空;请填写") in rows
    assert any(row == "3" and col == "身份证号" and "3301**********0015 不是有效的 18 位号码" in msg for row, col, msg in rows)
    assert any(row == "3" and col == "三色" and "可填:黄色、橙色、红色" in msg for row, col, msg in rows)
    assert "330102197001010015" not in html  # the ID number only masked, even where it is wrong
    assert households_named(world, "H-NEW-1") == 0


def test_check_first_then_import_and_the_household_shows_with_its_tier(world: World) -> None:
    c = world.client("admin")
    checked = upload(world, c, xlsx(GOOD), check=True)
    assert checked.status_code == 200
    assert "已检查 1 行,未写入:新增区域 3 个、新增农户 1 户、新增村民 1 人" in checked.get_data(as_text=True)
    assert households_named(world, "H-NEW-1") == 0

    done = upload(world, c, xlsx(GOOD))
    assert done.status_code == 302 and done.headers["Location"].endswith("/admin/roll")
    page = c.get("/admin/roll").get_data(as_text=True)
    assert "已导入 1 行:新增区域 3 个、新增农户 1 户、新增村民 1 人" in page
    with world.ctx.engine.connect() as conn:
        assert conn.execute(select(Person.name, Person.gender, Person.birth_year).where(Person.id_number == GOOD[6])).one() == ("赵大海", "男", 1970)
        assert conn.execute(select(HouseholdTier.tier).join(Household, Household.id == HouseholdTier.household_id)  # type: ignore[arg-type]
                            .where(Household.code == "H-NEW-1")).scalar_one() == "red"
        audit = conn.execute(select(AuditLog.action, AuditLog.target).where(AuditLog.action == "directory.import")).one()
    assert audit == ("directory.import", "roll:roll.xlsx")
    listing = c.get("/admin/households?q=h-new").get_data(as_text=True)  # a code found from its start, in either case
    assert "赵大海" in listing and "<td>红色</td>" in listing  # the tier by its name, not its key

    again = upload(world, c, xlsx(GOOD))
    assert again.status_code == 302
    assert "已导入 1 行:没有变化" in c.get("/admin/roll").get_data(as_text=True)


def test_a_file_that_is_no_roll_is_named_beside_the_field_in_either_language(world: World) -> None:
    c = world.client("admin")
    r = upload(world, c, io.BytesIO(b"\xd0\xcf\x11\xe0 old excel"), name="roll.xls")
    assert r.status_code == 400
    assert "名册须是 Excel(.xlsx)或 CSV 文件;.xls 请在 Excel 中另存为 .xlsx。" in r.get_data(as_text=True)
    fake = upload(world, c, io.BytesIO(b"not a zip at all"), name="roll.xlsx")
    assert fake.status_code == 400 and "无法作为 Excel 工作簿打开" in fake.get_data(as_text=True)
    english = world.client("admin", lang="en")
    r = upload(world, english, xlsx(["新丰镇", "新丰村", "第一网格", "H-NEW-3", "钱", "户主", "", ""]))
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "Import the household roll" in html
    assert "both the ID number and the person code are empty" in html and "nothing was imported" in html


def test_the_administrator_downloads_the_blank_roll_the_import_reads(world: World) -> None:
    from openpyxl import load_workbook

    c = world.client("admin")
    page = c.get("/admin/roll").get_data(as_text=True)
    assert 'href="/admin/roll/template.xlsx"' in page and "下载空白名册(Excel,含表头和两行示例)" in page
    english = world.client("admin", lang="en").get("/admin/roll").get_data(as_text=True)
    assert "Download an empty roll (Excel, with its header and two example rows)" in english

    r = c.get("/admin/roll/template.xlsx")
    assert r.status_code == 200 and r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert r.headers["Content-Disposition"].startswith("attachment")
    sheet = load_workbook(io.BytesIO(r.data)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    header = [str(v) for v in rows[0] if v]
    for name in ("乡镇", "村", "网格", "户号", "姓名", "与户主关系", "身份证号", "人员编号", "三色", "党员", "联户党员"):
        assert name in header, header
    assert len(rows) == 3  # the header and two example rows
    assert sheet.column_dimensions["G"].number_format == "@"  # ID numbers stay text, in the rows a clerk adds too

    checked = upload(world, c, io.BytesIO(r.data), name="户籍名册模板.xlsx", check=True)  # the example reads back as a roll
    assert checked.status_code == 200 and "已检查 2 行,未写入" in checked.get_data(as_text=True)
    for role in ("auditor", "committee", "secretary", "villager"):
        assert world.client(role).get("/admin/roll/template.xlsx").status_code == 403, role
    anonymous = world.client().get("/admin/roll/template.xlsx")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_a_whole_village_roll_ends_the_household_it_leaves_out(world: World) -> None:
    """整村名册 ticked: 新丰村's second roll names 赵大海's household only; 钱小二's household leaves the roll."""
    c = world.client("admin")
    other = ["新丰镇", "新丰村", "第一网格", "H-NEW-2", "钱小二", "户主", "330102199505050026", "黄色"]
    assert upload(world, c, xlsx(GOOD, other)).status_code == 302
    page = c.get("/admin/roll").get_data(as_text=True)
    assert 'name="complete"' in page and "整村名册" in page
    checked = upload(world, c, xlsx(GOOD), check=True, complete=True)
    assert "不在名册中而登记结束的农户 1 户、不在名册中而登记结束的村民 1 人" in checked.get_data(as_text=True)
    assert upload(world, c, xlsx(GOOD), complete=True).status_code == 302
    with world.ctx.engine.connect() as conn:
        ended = conn.execute(select(HouseholdGrid.valid_to).join(Household, Household.id == HouseholdGrid.household_id)  # type: ignore[arg-type]
                             .where(Household.code == "H-NEW-2")).scalar_one()
    assert ended == world.ctx.today()
    english = world.client("admin", lang="en").get("/admin/roll").get_data(as_text=True)
    assert "Whole villages: households and persons of the roll's villages that the roll leaves out are ended" in english
