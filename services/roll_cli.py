"""Command line for the household roll (added to ``jifen`` by ``services.cli``).

    jifen directory template roll.xlsx                       # an empty roll with its header and two example rows
    jifen directory import roll.xlsx --effective 2027-01-01  # or .csv; --check to check without writing
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from services.ingest import by_record
from services.roll import import_roll, is_roll_header, write_template
from services.tables import is_workbook, open_table


def _t(ctx: click.Context, zh: str, en: str) -> str:
    return en if ctx.obj["lang"].startswith("en") else zh


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
@click.pass_context
def import_cmd(ctx: click.Context, path: str, effective: object, check_only: bool, sheet: str | None, county_name: str,
               backdate: bool) -> None:
    """导入户籍名册(Excel 或 CSV,每人一行)/ import the household roll (Excel or CSV, a row per person)."""
    app = ctx.obj["app"]
    day: date = effective.date() if effective is not None else app.today()  # type: ignore[attr-defined]
    with open(path, "rb") as raw:
        table = open_table(path, raw, sheet, is_roll_header)
        report = import_roll(app.engine, table, app.ruleset(), day, check_only=check_only, county_name=county_name, backdate=backdate)
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
    with open(path, "wb") as out:
        write_template(out, is_workbook(path))
    click.echo(_t(ctx, f"已写出 {Path(path).name}:每人一行;户号、身份证号、电话等列已设为文本格式,请勿改成数字",
                  f"wrote {Path(path).name}: one row per person; the household, ID number and phone columns are text: keep them so"))


commands = [directory_group]
