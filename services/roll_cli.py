"""Command line for the household roll (added to ``jifen`` by ``services.cli``).

    jifen directory template roll.xlsx                       # an empty roll with its header and two example rows
    jifen directory import roll.xlsx --effective 2027-01-01  # or .csv; --check to check without writing; --complete: whole villages
    jifen directory export codes.xlsx --village 石桥村 [--day 2027-01-01]   # or .csv: everyone's codes, for the 台账
    jifen directory villages                                 # the villages' codes and names
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO, NoReturn

import click
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from services import queries
from services.exports import write_rows
from services.ingest import by_record
from services.roll import import_roll, is_roll_header, write_template
from services.roll_export import SHEET, WIDTHS, in_force_on, roll_rows, villages
from services.tables import is_workbook, open_table
from store.models import Household, HouseholdGrid


def _t(ctx: click.Context, zh: str, en: str) -> str:
    return en if ctx.obj["lang"].startswith("en") else zh


def _refuse(ctx: click.Context, zh: str, en: str) -> NoReturn:
    """Say why the input is refused, on stderr, and exit 1."""
    click.echo(_t(ctx, zh, en), err=True)
    sys.exit(1)


WRITE_TROUBLE = {  # errno → (中文, English): why a file could not be written, in the reader's language
    errno.ENOENT: ("所在的目录不存在", "its folder does not exist"),
    errno.EACCES: ("没有写入权限", "it may not be written here"),
    errno.EPERM: ("没有写入权限", "it may not be written here"),
    errno.EISDIR: ("这是一个目录", "it is a folder"),
    errno.ENOSPC: ("磁盘已满", "the disk is full"),
    errno.EROFS: ("磁盘只读", "the disk is read-only"),
}


def open_output(ctx: click.Context, path: str) -> IO[bytes]:
    """The file to write, opened; a folder that does not exist or may not be written is refused in a sentence."""
    try:
        return open(path, "wb")  # the caller closes it
    except OSError as exc:
        said = exc.strerror or str(exc)
        zh, en = WRITE_TROUBLE.get(exc.errno or 0, (f"系统错误:{said}", said))
        _refuse(ctx, f"无法写入 {path}:{zh}(请检查目录是否存在、是否有写权限)",
                f"cannot write {path}: {en} (check that its folder exists and is writable)")


LISTED = 30  # villages named in a refusal; ``jifen directory villages`` lists them all


def find_village(ctx: click.Context, conn: Connection, village: str) -> int:
    """A village's id by its code, or by its name when that is unique; refused (exit 1) naming the codes and how to list them."""
    choices = queries.scope_choices(conn, "village")  # (id, code, name)
    found = [v for v in choices if village in (v[1], v[2])]
    if len(found) == 1:
        return found[0][0]
    shown = found or choices
    listed = _t(ctx, "、", ", ").join(f"{code} {name}" for _, code, name in shown[:LISTED]) + (" …" if len(shown) > LISTED else "")
    how = _t(ctx, ";全部村的代码:jifen directory villages", "; every village's code: jifen directory villages")
    if found:
        _refuse(ctx, f"有 {len(found)} 个村叫 “{village}”,请用村代码:{listed}{how}",
                f"{len(found)} villages are named '{village}'; give its code: {listed}{how}")
    if not choices:
        _refuse(ctx, f"找不到村 “{village}”:还没有任何村,请先导入户籍名册(jifen directory import)",
                f"no village '{village}': there are no villages yet; import the roll first (jifen directory import)")
    _refuse(ctx, f"找不到村 “{village}”;村代码有:{listed}{how}", f"no village '{village}'; the codes are: {listed}{how}")


@click.group("directory")
def directory_group() -> None:
    """户籍名册(乡镇、村、网格、农户、村民、党员、联户)/ the household roll."""


@directory_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--effective", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="自哪天起按此名册计(默认今天)/ the day the roll holds from (default today)")
@click.option("--check", "check_only", is_flag=True, help="只检查,不写入 / check only, write nothing")
@click.option("--sheet", default=None, help="Excel 工作表名(默认第一张)/ the worksheet (default: the first)")
@click.option("--county", "county_name", default="", help="数据库还没有县时,县的名称 / the county's name, in an empty database")
@click.option("--backdate", is_flag=True,
              help="更正既往:生效日早于已记的分也导入(已记的分不变)/ correct the past: import even where points were scored since the date")
@click.option("--complete", is_flag=True,
              help="整村名册:名册所列各村中名册没有的农户、村民自生效日起登记结束 / the roll is whole for its villages: "
                   "households and persons of those villages it leaves out are ended from the date")
@click.pass_context
def import_cmd(ctx: click.Context, path: str, effective: object, check_only: bool, sheet: str | None, county_name: str,
               backdate: bool, complete: bool) -> None:
    """导入户籍名册(Excel 或 CSV,每人一行)/ import the household roll (Excel or CSV, a row per person)."""
    app = ctx.obj["app"]
    day: date = effective.date() if effective is not None else app.today()  # type: ignore[attr-defined]
    with open(path, "rb") as raw:
        table = open_table(path, raw, sheet, is_roll_header)
        report = import_roll(app.engine, table, app.ruleset(), day, check_only=check_only, county_name=county_name, backdate=backdate,
                             complete=complete)
    lang = ctx.obj["lang"]
    for p in by_record(report.problems):
        click.echo(f"{path} {p.format(lang)}", err=True)
    if report.ignored:
        click.echo(_t(ctx, f"未读取的列:{'、'.join(report.ignored)}", f"columns not read: {', '.join(report.ignored)}"), err=True)
    click.echo(report.summary(lang))
    if report.problems:
        sys.exit(1)
    if report.new_villages:
        listed = "、".join(f"{code} {name}" for code, name in report.new_villages)
        click.echo(_t(ctx, f"新村的代码(导出、令牌用):{listed}", f"the new villages' codes (for exports and tokens): {listed}"))


@directory_group.command("template")
@click.argument("path", type=click.Path(dir_okay=False))
@click.pass_context
def template_cmd(ctx: click.Context, path: str) -> None:
    """写出一份空白名册(表头和两行示例)/ write an empty roll: its header and two example rows."""
    with open_output(ctx, path) as out:
        write_template(out, is_workbook(path))
    click.echo(_t(ctx, f"已写出 {Path(path).name}:每人一行;户号、身份证号、电话等列已设为文本格式,请勿改成数字",
                  f"wrote {Path(path).name}: one row per person; the household, ID number and phone columns are text: keep them so"))


@directory_group.command("export")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--village", default=None, help="村代码或村名(默认全县)/ a village's code or name (default: the whole county)")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="哪一天的名册(默认今天)/ the roll as it stood on this day (default today)")
@click.pass_context
def export_cmd(ctx: click.Context, path: str, village: str | None, day: object) -> None:
    """导出名册及编号(每人一行:户号、人员编号、三色、党员、联系户)/ export the roll with its codes, a row per person."""
    app = ctx.obj["app"]
    lang = ctx.obj["lang"]
    if not (is_workbook(path) or path.lower().endswith(".csv")):
        _refuse(ctx, f"{path}:请写成 .xlsx 或 .csv 文件", f"{path}: write an .xlsx or a .csv file")
    on: date = day.date() if day is not None else app.today()  # type: ignore[attr-defined]
    ruleset = app.ruleset()
    with app.engine.connect() as conn:
        village_id = find_village(ctx, conn, village) if village else None
        households: set[str] = set()

        def counted() -> Iterator[list[str]]:
            rows = roll_rows(conn, on, ruleset, village_id, lang)
            yield next(rows)  # the header
            for row in rows:
                households.add(row[3])
                yield row

        title = f"{SHEET[1] if lang.startswith('en') else SHEET[0]} {on.isoformat()}"
        with open_output(ctx, path) as out:
            n = write_rows(counted(), out, is_workbook(path), title, WIDTHS)
    click.echo(_t(ctx, f"已写出 {path}:{on} 的名册,{len(households)} 户 {n} 人(不含身份证号和电话)",
                  f"wrote {path}: the roll on {on}, {len(households)} households, {n} persons (no ID or phone numbers)"))
    if not n:
        click.echo(_t(ctx, f"{on} 这一天名册里没有人:请检查 --day(名册自导入时的生效日起才有)",
                      f"nobody is on the roll on {on}: check --day (the roll holds from the effective date of its import)"), err=True)


@directory_group.command("villages")
@click.pass_context
def villages_cmd(ctx: click.Context) -> None:
    """列出各村的代码、名称、乡镇和户数 / list the villages: code, name, township, households."""
    app = ctx.obj["app"]
    with app.engine.connect() as conn:
        # Households on a grid today: one a whole-village roll ended is no longer counted.
        count = dict(conn.execute(select(Household.village_id, func.count())  # type: ignore[call-overload]
                                  .join(HouseholdGrid, HouseholdGrid.household_id == Household.id)
                                  .where(in_force_on(HouseholdGrid, app.today())).group_by(Household.village_id)).all())
        found = villages(conn)
    if not found:
        click.echo(_t(ctx, "还没有任何村:请先导入户籍名册(jifen directory import)",
                      "there are no villages yet: import the roll first (jifen directory import)"))
    for v in found:
        n = count.get(v.id, 0)
        click.echo(f"{v.code}\t{v.name}\t{v.township}\t" + _t(ctx, f"{n} 户", f"{n} household" + ("" if n == 1 else "s")))


commands = [directory_group]
