"""Command line for exports (added to ``jifen`` by ``services.cli``).

    jifen export appraisal --type moral --period 2026 --village V01 评定表.xlsx   # or .csv; the whole county without --village
"""

from __future__ import annotations

import sys

import click

from scoring.periods import parse_period
from services.exports import appraisal, write_sheet
from services.roll_cli import find_village
from services.tables import is_workbook


def _t(ctx: click.Context, zh: str, en: str) -> str:
    return en if ctx.obj["lang"].startswith("en") else zh


def _refuse(ctx: click.Context, zh: str, en: str) -> None:
    click.echo(_t(ctx, zh, en), err=True)
    sys.exit(1)


@click.group("export")
def export_group() -> None:
    """导出(年度评定表)/ exports: the year-end appraisal sheet."""


@export_group.command("appraisal")
@click.option("--type", "point_type", required=True, help="积分类型 / point type (moral, party_work …)")
@click.option("--period", required=True, help="2026 | 2026-Q2 | 2026-03")
@click.option("--village", default=None, help="村代码或村名(默认全县)/ a village's code or name (default: the whole county)")
@click.argument("path", type=click.Path(dir_okay=False))
@click.pass_context
def appraisal_cmd(ctx: click.Context, point_type: str, period: str, village: str | None, path: str) -> None:
    """年度评星定级表:每户(人)的得分、等级、否决与余额 / the appraisal sheet: score, grade, veto and balance of each holder."""
    app = ctx.obj["app"]
    lang = ctx.obj["lang"]
    try:
        parse_period(period)
    except ValueError:
        _refuse(ctx, f"--period “{period}” 不是有效的期间:写作 2026、2026-Q1 或 2026-03",
                f"--period '{period}' is not a period: write 2026, 2026-Q1 or 2026-03")
    ruleset = app.ruleset()
    if ruleset is None or point_type not in ruleset.point_types:
        known = "、".join(ruleset.point_types) if ruleset else ""
        _refuse(ctx, f"未知积分类型 “{point_type}”;已定义:{known or '(无)'}", f"unknown point type '{point_type}'; defined: {known or '(none)'}")
    with app.engine.connect() as conn:
        village_id = find_village(ctx, conn, village) if village else None
        sheet = appraisal(conn, ruleset, point_type, period, village_id, lang)
    title = f"{ruleset.point_types[point_type].label(lang)} {period}"
    with open(path, "wb") as out:
        write_sheet(sheet, out, is_workbook(path), title, lang)
    state = _t(ctx, "已结转,等级为结转时冻结的" if sheet.frozen else "尚未结转,等级为截至今天的",
               "closed: grades as frozen at the close" if sheet.frozen else "open: grades as they stand today")
    click.echo(_t(ctx, f"已写出 {path}:{len(sheet.rows)} 行({state})", f"wrote {path}: {len(sheet.rows)} rows ({state})"))


commands = [export_group]
