"""The ``jifen`` command line: rules, ingest, balances, histories, explanations, tallies, grades, periods.

Output is Chinese by default; ``--lang en`` (or ``JIFEN_LANG=en``) for English.
Exit status: 0 done, 1 input refused (arguments, rules, records), 2 database unusable.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click
import psycopg
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from scoring.errors import Problem, RulesFileError, ScoringError
from scoring.grades import grade
from scoring.loader import check_rules
from scoring.messages import render, unit_label
from scoring.model import PointType
from scoring.periods import parse_period
from scoring.points import fmt
from services import consistency, queries
from services.context import AppContext, default_context
from services.ingest import (
    IMPORT_TRANSACTION,
    decode_lines,
    ingest,
    read_csv,
    read_jsonl,
    read_workbook_events,
    undecodable,
)
from services.tables import is_old_workbook, is_workbook, read_workbook
from store import rules_repo
from store.db import local_minute
from store.ledger import ReversalRefused
from store.migrate import upgrade
from store.models import Entry, Tally


def t(ctx: click.Context, zh: str, en: str) -> str:
    """Pick the sentence in the chosen language."""
    return en if ctx.obj["lang"].startswith("en") else zh


def app(ctx: click.Context) -> AppContext:
    """The process context."""
    return ctx.obj["app"]  # type: ignore[no-any-return]


def refuse(ctx: click.Context, zh: str, en: str) -> NoReturn:
    """Say why the input is refused, on stderr, and exit 1."""
    click.echo(t(ctx, zh, en), err=True)
    sys.exit(1)


# What a database error means to the person at the keyboard, by a phrase of the driver's message.
_DB_TROUBLE = (
    (("no such table", "does not exist"),
     "数据库 {db} 还没有建表:请先运行 jifen db upgrade", "the database {db} has no tables yet: run `jifen db upgrade` first"),
    (("unable to open database file",),
     "无法打开数据库文件 {db}:请检查目录是否存在、是否有写权限", "cannot open the database file {db}: check that its folder exists and is writable"),
    (("database is locked",),
     "数据库 {db} 正忙(另一次写入尚未结束),请稍后重试", "the database {db} is busy (another write has not finished); try again shortly"),
    (("connection refused", "could not connect", "connection failed", "could not translate host name"),
     "无法连接数据库 {db}:请检查服务器是否在运行、地址和端口是否正确", "cannot connect to the database {db}: check that the server runs and the address and port are right"),
)
_NO_FILE = ("数据库文件 {db} 不存在:请检查 --db 或 JIFEN_DATABASE_URL;要新建数据库,运行 jifen db upgrade",
            "the database file {db} does not exist: check --db or JIFEN_DATABASE_URL; to create a new database, run `jifen db upgrade`")
_BAD_URL = ("无法识别数据库地址 {db}:请写作 sqlite:///文件路径 或 postgresql+psycopg://用户@主机/库名",
            "the database URL {db} is not understood: write sqlite:///path/to/file.db or postgresql+psycopg://user@host/db")


class NoDatabaseFile(Exception):
    """Connecting would have created an empty SQLite file where the named one does not exist."""


def sqlite_file(url: str) -> Path | None:
    """The absolute file of a SQLite URL; None for another database, an in-memory one or no URL."""
    try:
        u = make_url(url)
    except ArgumentError:
        return None
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database).resolve()


def shown_url(url: str) -> str:
    """The database as named to people: a SQLite file's absolute path, else the URL without its password."""
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # not a URL at all: still hide what looks like a password
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def url_understood(url: str) -> bool:
    """Whether SQLAlchemy can parse the URL and load its dialect."""
    try:
        make_url(url).get_dialect()
    except ArgumentError:  # NoSuchModuleError is one: an unknown scheme
        return False
    return True


def refuse_missing_file(a: AppContext) -> None:
    """Make connecting to a SQLite file that does not exist an error, so reading never creates one.

    ``jifen db upgrade`` and ``jifen demo generate`` create it through Alembic's own
    engine; the file exists by the time this engine connects.
    """
    path = sqlite_file(a.url)
    if path is None or path.exists():
        return

    def _check(*_args: Any) -> None:
        if not path.exists():
            raise NoDatabaseFile(str(path))

    event.listen(a.engine, "do_connect", _check)


class _Commands(click.Group):
    """The command group; a database that cannot be used is explained in a sentence, not a traceback."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        """Parse the group's options; a usage error is refused input, exit 1."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            exc.exit_code = 1  # type: ignore[misc]  # click's class default is 2, which here means the database
            raise

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a usage error exits 1, a database it cannot use is a sentence and exit 2."""
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a subcommand's arguments: refused input like any other
            exc.exit_code = 1  # type: ignore[misc]
            raise
        except ArgumentError as exc:  # NoSuchModuleError among them: a URL of no known database
            if url_understood(_url(ctx)):
                raise  # a program error, not the URL's
            self._unusable(ctx, exc)
        except (NoDatabaseFile, DBAPIError, sqlite3.Error, psycopg.Error) as exc:  # the drivers' own: reads on the raw cursor
            self._unusable(ctx, exc)
        return None

    @staticmethod
    def _unusable(ctx: click.Context, exc: Exception) -> NoReturn:
        """Say what is wrong with the database in the reader's language and exit 2."""
        click.echo(db_trouble(exc, _url(ctx), (ctx.obj or {}).get("lang", "zh")), err=True)
        ctx.exit(2)


def _url(ctx: click.Context) -> str:
    """The database URL of the command (known once the group's options are parsed)."""
    obj = ctx.obj or {}
    return obj["app"].url if "app" in obj else ""


def _pick(pair: tuple[str, str], lang: str) -> str:
    """The Chinese or English one of a pair."""
    return pair[1] if lang.startswith("en") else pair[0]


def db_trouble(exc: Exception, url: str, lang: str) -> str:
    """One sentence on a database error: what is wrong and what to do, the password hidden."""
    db = shown_url(url) if url else ""
    if isinstance(exc, NoDatabaseFile):
        return _pick(_NO_FILE, lang).format(db=db)
    if isinstance(exc, ArgumentError):
        return _pick(_BAD_URL, lang).format(db=db)
    message = str(getattr(exc, "orig", None) or exc).strip()
    text = message.lower()
    for phrases, zh, en in _DB_TROUBLE:
        if any(p in text for p in phrases):
            return (en if lang.startswith("en") else zh).format(db=db)
    first = (message.splitlines() or [""])[0][:200]
    return (f"database error on {db}: {first}" if lang.startswith("en") else f"数据库 {db} 出错:{first}")


@click.group(cls=_Commands)
@click.option("--lang", envvar="JIFEN_LANG", default="zh", type=click.Choice(["zh", "en"]), help="输出语言 / output language")
@click.option("--db", envvar="JIFEN_DATABASE_URL", default=None, help="数据库 URL / database URL")
@click.pass_context
def main(ctx: click.Context, lang: str, db: str | None) -> None:
    """积分制治理 — 零基积分与道德银行 / village points engine."""
    ctx.ensure_object(dict)
    ctx.obj["lang"] = lang
    a = AppContext(db) if db else default_context()
    refuse_missing_file(a)
    ctx.obj["app"] = a


# ------------------------------------------------------------------ database
@main.group()
def db() -> None:
    """数据库 / database."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """升级数据库结构 / migrate the database to the latest schema."""
    from alembic.runtime.migration import MigrationContext

    def revision() -> str | None:
        with app(ctx).engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    missing = sqlite_file(app(ctx).url)
    before = None if missing is not None and not missing.exists() else revision()  # a new SQLite file: nothing yet
    upgrade(app(ctx).url)
    after = revision()
    if before == after:
        click.echo(t(ctx, f"数据库已是最新结构({after})", f"the database is up to date ({after})"))
    elif before is None:
        click.echo(t(ctx, f"已建好数据库的全部表({after})", f"created every table of the database ({after})"))
    else:
        click.echo(t(ctx, f"数据库结构已从 {before} 升级到 {after}", f"the database was migrated from {before} to {after}"))


@db.command("copy")
@click.option("--to", "target", required=True, help="目标数据库 URL / target database URL")
@click.pass_context
def db_copy(ctx: click.Context, target: str) -> None:
    """整库迁移(如 SQLite → PostgreSQL)并逐表核对 / move every row to another database and verify."""
    from services.dbcopy import TargetNotEmpty, copy_database

    try:
        report = copy_database(app(ctx).url, target)
    except TargetNotEmpty as exc:
        click.echo(t(ctx, f"目标库已有数据(表 {exc}),未复制", f"the target already holds data (table {exc}); nothing copied"), err=True)
        sys.exit(2)
    for name, n in report.rows.items():
        click.echo(f"{name}\t{n}")
    if not report.ok:
        click.echo(t(ctx, f"核对不一致:{', '.join(report.mismatched)}", f"verification failed: {', '.join(report.mismatched)}"), err=True)
        sys.exit(1)
    click.echo(t(ctx, "复制完成,各表逐行核对一致", "copied; every table verified row by row"))


# ------------------------------------------------------------------ rules
@main.group()
def rules() -> None:
    """积分细则 / the rules file."""


def read_rules(path: str) -> tuple[str, list[Problem]]:
    """A rules file's text in UTF-8 (with or without BOM) or GB18030, as ``ingest`` tells them; lines in neither named."""
    with open(path, "rb") as f:
        text = "".join(decode_lines(f))  # Notepad on a Chinese Windows may save it as GBK
    problems = [Problem("bad_encoding", file=path, line=n, column=1)
                for n, line in enumerate(text.splitlines(), 1) if undecodable(line)]
    return text, problems


@rules.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False), default="rules.yaml")
@click.pass_context
def rules_check(ctx: click.Context, path: str) -> None:
    """检查规则文件,逐条列出问题(文件:行:列)/ report every problem with file:line:column."""
    text, problems = read_rules(path)
    problems = problems or check_rules(text, path)
    for p in problems:
        click.echo(p.format(ctx.obj["lang"]))
    if problems:
        click.echo(t(ctx, f"共 {len(problems)} 个问题,规则未发布", f"{len(problems)} problem(s); nothing published"), err=True)
        sys.exit(1)
    click.echo(t(ctx, f"{path}:没有问题", f"{path}: no problems"))


@rules.command("publish")
@click.argument("path", type=click.Path(exists=True, dir_okay=False), default="rules.yaml")
@click.option("--effective", type=click.DateTime(["%Y-%m-%d"]), required=True, help="生效日期 / effective date")
@click.option("--by", "actor", default="admin", help="发布人 / who publishes")
@click.option("--note", default="")
@click.option("--backdate", is_flag=True, help="确认从已有记分的过去日期起生效 / confirm a past date on which points were already scored")
@click.pass_context
def rules_publish(ctx: click.Context, path: str, effective: object, actor: str, note: str, backdate: bool) -> None:
    """发布规则文件为新版本 / publish a rules file as a version from a date."""
    a = app(ctx)
    day = effective.date()  # type: ignore[attr-defined]
    if day < a.today() and not backdate:
        # Points already scored from that day on keep the old rules, while events arriving late for the
        # same days would take the new ones: a county's scheme applied two ways to the same days.
        with a.engine.connect() as conn:
            scored = conn.execute(select(func.count()).select_from(Entry).where(Entry.kind == "award", Entry.local_day >= day)).scalar()
        if scored:
            refuse(ctx, f"--effective {day} 已过去,且此后已有 {scored} 条记分:它们按原规则计分不变,迟到的同期事件却会按新规则计分。"
                        "请改用今天或以后的日期;确需追溯,请加 --backdate",
                   f"--effective {day} is past and {scored} entries were scored since: they keep the old rules while late events "
                   "for the same days would take the new ones. Use today or a later date; to backdate anyway, add --backdate")
    text, problems = read_rules(path)
    try:
        if problems:
            raise RulesFileError(problems)
        pub = rules_repo.publish(a.engine, text, day, actor, a.now(), path, note)
    except RulesFileError as exc:
        for p in exc.problems:
            click.echo(p.format(ctx.obj["lang"]), err=True)
        click.echo(t(ctx, "规则有误,现行规则未变", "rules have problems; the live rules are unchanged"), err=True)
        sys.exit(1)
    click.echo(t(ctx, f"已发布版本 {pub.version},{pub.effective} 起生效", f"published version {pub.version}, in force from {pub.effective}"))


@rules.command("history")
@click.pass_context
def rules_history(ctx: click.Context) -> None:
    """已发布的版本 / published versions."""
    for p in rules_repo.history(app(ctx).engine):
        click.echo(f"{p.id}\t{p.version}\t{p.effective}\t{p.published_by}\t{p.title}")


# ------------------------------------------------------------------ events
@main.command("ingest")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt_", type=click.Choice(["jsonl", "csv", "xlsx"]), default=None)
@click.option("--sheet", default=None, help="Excel 工作表名(默认第一张)/ the worksheet of an .xlsx (default: the first)")
@click.option("--source", default="import", type=click.Choice(["import", "api", "web", "scheduler"]))
@click.option("--actor", default="import")
@click.option("--batch", default=IMPORT_TRANSACTION, show_default=True, help="每个事务的事件数 / events per transaction")
@click.pass_context
def ingest_cmd(ctx: click.Context, path: str, fmt_: str | None, sheet: str | None, source: str, actor: str, batch: int) -> None:
    """导入事件(JSONL、CSV 或 Excel 台账)并记分 / ingest and score events from JSONL, CSV or Excel."""
    fmt_ = fmt_ or ("csv" if path.lower().endswith(".csv") else "xlsx" if is_workbook(path) else "jsonl")
    if is_old_workbook(path):
        refuse(ctx, f"{path}: {render('xls_old_format')}", f"{path}: {render('xls_old_format', 'en')}")
    ledger = app(ctx).ledger
    # One import: who is where is loaded once per person and household, not once per batch.
    with open(path, "rb") as f, ledger.caching():
        if fmt_ == "xlsx":
            reader = read_workbook_events(read_workbook(f, sheet))
        else:
            lines = decode_lines(f)  # UTF-8, or GB18030 as Excel saves CSV in China
            reader = read_csv(lines) if fmt_ == "csv" else read_jsonl(lines)
        report = ingest(ledger, reader, source, actor, batch, keep_results=False)
    for p in report.in_record_order():
        click.echo(f"{path} {p.format(ctx.obj['lang'])}", err=True)
    click.echo(report.summary(ctx.obj["lang"]))
    if report.counts["rejected"]:
        sys.exit(1)  # input refused (the good records are kept); 2 is for a database that cannot be used


@main.command("ingest-template")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--type", "types", multiple=True,
              help="事件类型(键、中文名或英文名;可写多次;默认全部)/ an event type by key, Chinese or English name (repeatable; default all)")
@click.pass_context
def ingest_template_cmd(ctx: click.Context, path: str, types: tuple[str, ...]) -> None:
    """写出一份 Excel 台账模板(表头、每类一行示例、说明页),填好后用 jifen ingest 导入 / write an Excel ledger template for jifen ingest."""
    from datetime import time, timedelta

    from services.ledger_template import (
        PLACEHOLDER_HOUSEHOLD,
        PLACEHOLDER_PERSON,
        SHEETS,
        build,
        pick_types,
        scorable,
        write,
    )
    from services.roll_cli import open_output

    if not is_workbook(path):
        refuse(ctx, f"{path}:台账模板是 Excel 工作簿(两张表:台账和说明),请用 .xlsx 文件名",
               f"{path}: the template is an Excel workbook (two sheets: the ledger and its notes); name it .xlsx")
    a = app(ctx)
    ruleset = a.ruleset()
    if ruleset is None:
        refuse(ctx, "尚未发布规则:请先运行 jifen rules publish", "no rules published yet: run `jifen rules publish` first")
    chosen, unknown = pick_types(ruleset, types)
    if unknown:
        known_zh = "、".join(f"{et.name}({et.key})" for et in scorable(ruleset))
        known_en = ", ".join(f"{et.key} ({et.label('en')})" for et in scorable(ruleset))
        names = "、".join(f"“{u}”" for u in unknown)
        refuse(ctx, f"未知事件类型 {names}(或没有规则为它记分);可用的有:{known_zh}",
               f"unknown event type {', '.join(repr(u) for u in unknown)} (or no rule scores it); known: {known_en}")
    # Examples dated yesterday morning, or the first day of these rules when they start later: a day they score.
    versions = a.ledger.versions()
    effective = next((v.effective for v in reversed(versions.versions) if v.ruleset is ruleset), a.today())
    now = a.now().astimezone(ruleset.timezone).replace(tzinfo=None, second=0, microsecond=0)
    day = max(a.today() - timedelta(days=1), effective)
    moment = datetime.combine(day, time(9, 30))
    if day == a.today():
        moment = min(moment, now)  # never a time still to come: ingest refuses those
    template = build(ruleset, chosen, moment)
    with open_output(ctx, path) as out:
        write(template, out)
    click.echo(t(ctx, f"已写出 {path}:“{SHEETS[0]}”表有表头和 {len(chosen)} 类事件各一行示例,“{SHEETS[1]}”表列出各列的类型、范围和可选值。"
                      f"示例中的 {PLACEHOLDER_PERSON}、{PLACEHOLDER_HOUSEHOLD} 是占位编号,请换成真实编号(jifen directory export 可导出)",
                 f"wrote {path}: the '{SHEETS[0]}' sheet has the header and an example row for each of {len(chosen)} event types, "
                 f"the '{SHEETS[1]}' sheet each column's type, bounds and values. {PLACEHOLDER_PERSON} and {PLACEHOLDER_HOUSEHOLD} "
                 "in the examples stand for real codes (jifen directory export lists them)"))
    if day > a.today():  # the examples are dated on the rules' first day: nothing is scored before it
        click.echo(t(ctx, f"注意:这些规则自 {effective} 起生效,示例日期写的是这一天;在那之前 jifen ingest 不接受这些记录(不能预先记分)",
                        f"note: these rules take effect on {effective}, the examples' date; jifen ingest takes no record dated in "
                        "the future, so they can be imported from that day on"), err=True)


# ------------------------------------------------------------------ reading
def _holder(ctx: click.Context, code: str) -> queries.Holder:
    """The villager or household of a code, named in the reader's language; refused (exit 1) when there is none."""
    with app(ctx).engine.connect() as conn:
        holder = queries.holder_by_code(conn, code, ctx.obj["lang"])
    if holder is None:
        refuse(ctx, f"找不到村民或农户 “{code}”", f"no villager or household '{code}'")
    return holder


def _period(ctx: click.Context, key: str) -> str:
    """A period key checked by ``parse_period``; refused (exit 1) with how to write one."""
    try:
        parse_period(key)
    except ValueError:
        refuse(ctx, f"--period “{key}” 不是有效的期间:写作 2026、2026-Q1 或 2026-03",
               f"--period '{key}' is not a period: write 2026, 2026-Q1 or 2026-03")
    return key


def _unknown_type(ctx: click.Context, key: str, known: list[str]) -> NoReturn:
    """Refuse a point type no rules define, naming those they do."""
    refuse(ctx, f"未知积分类型 “{key}”;已定义:{'、'.join(known) or '(无)'}",
           f"unknown point type '{key}'; defined: {', '.join(known) or '(none)'}")


def _point_type(ctx: click.Context, key: str) -> PointType:
    """A point type of the rules in force; refused (exit 1) when no rules or no such type."""
    ruleset = app(ctx).ruleset()
    if ruleset is None:
        refuse(ctx, "尚未发布规则:请先运行 jifen rules publish", "no rules published yet: run `jifen rules publish` first")
    if key not in ruleset.point_types:
        _unknown_type(ctx, key, list(ruleset.point_types))
    return ruleset.point_types[key]


def grade_label(ctx: click.Context, name: str, vetoed: bool = False) -> str:
    """A grade as shown: its name (already in the reader's language), else vetoed or a dash."""
    if not name:
        return t(ctx, "一票否决", "vetoed") if vetoed else "—"
    return name


@main.command()
@click.argument("code")
@click.pass_context
def balance(ctx: click.Context, code: str) -> None:
    """余额、本期得分与星级 / balances, this period's score and grade of a villager or household."""
    a = app(ctx)
    holder = _holder(ctx, code)
    ruleset = a.ruleset()
    if ruleset is None:
        refuse(ctx, "尚未发布规则:请先运行 jifen rules publish", "no rules published yet: run `jifen rules publish` first")
    retired = a.ledger.versions().retired(ruleset)
    with a.engine.connect() as conn:  # point types and grades named in the reader's language (rules.yaml's name_en)
        lines = queries.account_lines(conn, ruleset, holder.kind, holder.id, a.today(), retired, ctx.obj["lang"])
    click.echo(f"{holder.code} {holder.name}")
    for line in lines:
        g = grade_label(ctx, line.grade, line.vetoed)
        nxt = line.next_grade
        unit = unit_label(line.unit, ctx.obj["lang"])
        more = t(ctx, f",距{nxt}还差 {fmt(line.needed)}", f", {fmt(line.needed)} to {nxt}") if nxt else ""
        click.echo(t(ctx, f"  {line.name}:余额 {fmt(line.balance)} {unit},{line.period} 得分 {fmt(line.score)},等级 {g}{more}",
                        f"  {line.name}: balance {fmt(line.balance)} {unit}, {line.period} score {fmt(line.score)}, grade {g}{more}"))


@main.command("history")
@click.argument("code")
@click.option("--type", "point_type", default=None)
@click.option("--limit", default=50, type=click.IntRange(min=1))
@click.pass_context
def history_cmd(ctx: click.Context, code: str, point_type: str | None, limit: int) -> None:
    """流水明细 / a villager's or household's entries, newest first."""
    holder = _holder(ctx, code)
    with app(ctx).engine.connect() as conn:
        for e in queries.history(conn, holder.kind, holder.id, point_type, limit):
            click.echo(f"#{e['id']}\t{e['local_day']}\t{e['point_type']}\t{fmt(e['amount'], signed=True)}\t{e['kind']}\t{e['rule_id']}")


def local_time(value: datetime | None, tz: ZoneInfo) -> str:
    """A stored moment (UTC) in the county's time, 2026-03-01 09:30, as the site shows it."""
    return "" if value is None else local_minute(value, tz)


_EXPLAIN_LABELS = (("holder", "账户", "account"), ("amount", "分值", "amount"), ("rule", "规则", "rule"),
                   ("rule_name", "规则名称", "rule name"), ("rules_version", "规则版本", "rules version"),
                   ("event", "事件", "event"), ("occurred_at", "发生时间", "occurred"), ("recorded_at", "记账时间", "recorded"),
                   ("entered_by", "录入人", "entered by"), ("approved_by", "审核人", "approved by"), ("source", "来源", "source"),
                   ("reverses", "冲正记录", "reverses"), ("note", "备注", "note"))


@main.command()
@click.argument("entry_id", type=int)
@click.pass_context
def explain(ctx: click.Context, entry_id: int) -> None:
    """一条记录的来龙去脉 / why an entry exists."""
    a = app(ctx)
    lang = ctx.obj["lang"]
    with a.engine.connect() as conn:
        row = conn.execute(select(Entry).where(Entry.id == entry_id)).mappings().first()  # type: ignore[arg-type]
        if row is None:
            refuse(ctx, f"没有第 {entry_id} 条记录", f"no entry {entry_id}")
        holder = (row["holder_kind"], row["holder_id"])
        code, name = queries.holder_names(conn, [holder], lang).get(holder, ("", ""))
    info = queries.explain_row(row, a.ledger.rule_names(row["rules_version"], a.ruleset(), lang=lang), lang)
    tz = a.tz
    info.update(holder=f"{code} {name}".strip(), occurred_at=local_time(info["occurred_at"], tz),
                recorded_at=local_time(info["recorded_at"], tz))
    for key, zh, en in _EXPLAIN_LABELS:
        if info[key] not in (None, ""):
            click.echo(f"{t(ctx, zh, en)}: {info[key]}")
    for step in info["steps"]:
        click.echo(f"  · {step}")


@main.command()
@click.option("--type", "point_type", required=True)
@click.option("--period", required=True, help="2026 | 2026-Q2 | 2026-03")
@click.option("--scope", default="county", help="county | township:CODE | village:CODE | grid:CODE | branch:CODE")
@click.option("--top", default=20, type=click.IntRange(min=1))
@click.pass_context
def tally(ctx: click.Context, point_type: str, period: str, scope: str, top: int) -> None:
    """期间排行 / period tallies ranked within a scope."""
    _period(ctx, period)
    _point_type(ctx, point_type)
    level, _, code = scope.partition(":")
    with app(ctx).engine.connect() as conn:
        scope_id = None
        if level != "county":
            scope_id = next((i for i, c, _ in queries.scope_choices(conn, level) if c == code), None)
            if scope_id is None:
                refuse(ctx, f"找不到范围 {scope}", f"no such scope {scope}")
        board = queries.leaderboard(conn, point_type, period, level, scope_id, top, lang=ctx.obj["lang"])
    for row in board.rows:
        click.echo(f"{row['rank']}\t{row['code']}\t{row['name']}\t{fmt(row['score'])}")


@main.command()
@click.option("--type", "point_type", required=True)
@click.option("--period", required=True, help="2026 | 2026-Q2 | 2026-03")
@click.pass_context
def grades(ctx: click.Context, point_type: str, period: str) -> None:
    """本期等级分布 / how many holders reach each grade in a period."""
    _period(ctx, period)
    pt = _point_type(ctx, point_type)
    from collections import Counter

    from sqlalchemy import func
    counts: Counter[str] = Counter()
    with app(ctx).engine.connect() as conn:
        rows = conn.execute(select(Tally.holder_kind, Tally.holder_id, func.sum(Tally.amount), func.sum(Tally.vetoes))  # type: ignore[call-overload]
                            .where(Tally.point_type == point_type, Tally.period == period).group_by(Tally.holder_kind, Tally.holder_id))
        for _, _, score, vetoes in rows:
            g = grade(pt, int(score), bool(vetoes))
            counts[g.grade.key if g.grade else ("veto" if g.vetoed else "—")] += 1
    for level in pt.grades:
        click.echo(f"{grade_label(ctx, level.label(ctx.obj['lang']))}\t≥{fmt(level.min)}\t{counts[level.key]}")
    click.echo(f"—\t\t{counts['—']}")
    click.echo(f"{grade_label(ctx, '', vetoed=True)}\t\t{counts['veto']}")


@main.command("close-period")
@click.option("--type", "point_type", required=True)
@click.option("--period", required=True, help="2026 | 2026-Q2 | 2026-03")
@click.option("--by", "actor", default="admin")
@click.pass_context
def close_period(ctx: click.Context, point_type: str, period: str, actor: str) -> None:
    """期末结转:冻结等级,按规则清零或结转 / close a period: freeze grades, reset or carry."""
    _period(ctx, period)
    a = app(ctx)
    try:
        result = a.ledger.close_period(point_type, period, actor)
    except ScoringError as exc:  # the ledger says why this period may not be closed; nothing written
        for p in exc.problems:
            click.echo(p.format(ctx.obj["lang"]), err=True)
        sys.exit(1)
    if result["already"]:
        click.echo(t(ctx, f"{period} 已结转过,未作改动", f"{period} was closed before; nothing changed"))
    else:
        click.echo(t(ctx, f"{period} 已结转,写入 {result['entries']} 条结转记录", f"{period} closed, {result['entries']} closing entries"))


@main.command()
@click.argument("entry_id", type=int)
@click.option("--reason", required=True)
@click.option("--by", "actor", required=True)
@click.pass_context
def reverse(ctx: click.Context, entry_id: int, reason: str, actor: str) -> None:
    """冲正一条记录(新写一条相反的记录)/ reverse an entry with a new, opposite one."""
    try:
        new_id = app(ctx).ledger.reverse(entry_id, actor, reason, source="cli")
    except LookupError:
        sys.exit(t(ctx, f"没有第 {entry_id} 条记录", f"no entry {entry_id}"))
    except ReversalRefused as exc:
        why = {"already": ("已冲正过", "is already reversed"),
               "not_award": ("不是规则记分,不能冲正(积分超市的兑换请在超市取消)", "is not a rule's award and cannot be reversed (cancel a purchase at the shop)"),
               "expired": ("已过有效期失效,没有可冲正的积分", "has expired: there are no points left to reverse")}[exc.reason]
        sys.exit(t(ctx, f"第 {entry_id} 条记录{why[0]}", f"entry {entry_id} {why[1]}"))
    click.echo(t(ctx, f"已写入冲正记录 #{new_id}", f"reversal written as #{new_id}"))


@main.command()
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.pass_context
def expire(ctx: click.Context, today: object) -> None:
    """到期记录失效 / expire entries past their validity."""
    a = app(ctx)
    day: date = today.date() if today else a.today()  # type: ignore[attr-defined]
    n = a.ledger.expire(day)
    click.echo(t(ctx, f"{n} 条记录到期", f"{n} entries expired"))


# ------------------------------------------------------------------ tamper evidence
@main.group("ledger")
def ledger_group() -> None:
    """账本封存与核验 / seal the ledger and verify it."""


@ledger_group.command("seal")
@click.pass_context
def ledger_seal(ctx: click.Context) -> None:
    """封存已入账的记录(哈希链)/ seal settled entries into the hash chain."""
    from store.seal import SETTLE, seal

    a = app(ctx)
    n = seal(a.ledger.write_engine, a.now(), actor="cli")
    minutes = int(SETTLE.total_seconds() // 60)
    if n:
        click.echo(t(ctx, f"新封存 {n} 段", f"{n} new links sealed"))
    else:
        click.echo(t(ctx, f"没有待封存的记录(记录入账满 {minutes} 分钟后才封存)",
                     f"nothing to seal (entries are sealed {minutes} minutes after they are recorded)"))


_BREAK = {"changed": ("其中的记录被改动过", "entries in it were changed"),
          "count": ("其中的记录被删除或插入过", "entries in it were removed or slipped in"),
          "chain": ("这一段的封存本身被改写过", "the seal itself was rewritten")}


@ledger_group.command("verify")
@click.option("--expect", default=None, help="之前记下的账本指纹 / a ledger fingerprint noted earlier")
@click.pass_context
def ledger_verify(ctx: click.Context, expect: str | None) -> None:
    """逐段重算封存链,并核对余额与汇总 / recompute the seals, name any range that changed; check balances and tallies."""
    from store.seal import verify

    a = app(ctx)
    v = verify(a.engine, expect)
    click.echo(t(ctx, f"封存链 {v.links} 段,已封存 {v.sealed_entries} 条记录,未封存 {v.unsealed_entries} 条",
                 f"{v.links} links, {v.sealed_entries} entries sealed, {v.unsealed_entries} not yet sealed"))
    if v.links:
        click.echo(t(ctx, f"账本指纹:{v.head_digest}", f"ledger fingerprint: {v.head_digest}"))
    else:  # nothing sealed yet: no fingerprint to note (the chain's starting value would mislead)
        click.echo(t(ctx, "尚未封存任何记录,还没有账本指纹(定时任务每小时封存一次,或运行 jifen ledger seal)",
                     "nothing is sealed yet, so there is no fingerprint (the scheduler seals hourly, or run jifen ledger seal)"))
    tz = a.tz
    for b in v.breaks:
        why = _pick(_BREAK[b.reason], ctx.obj["lang"])
        when = local_minute(b.sealed_at, tz)
        click.echo(t(ctx, f"第 {b.link} 段(记录 #{b.first_entry_id}–#{b.last_entry_id},封存于 {when})不一致:{why}",
                     f"link {b.link} (entries #{b.first_entry_id}–#{b.last_entry_id}, sealed {when}) no longer matches: {why}"),
                   err=True)
    if v.expected_found is False:
        click.echo(t(ctx, f"记下的指纹 {expect} 不在封存链中:封存链被整体重写过,或指纹抄错了",
                     f"the fingerprint {expect} is not in the chain: the chain was rewritten, or the fingerprint was copied wrong"),
                   err=True)
    found = consistency.check(a.engine)  # what is kept beside the entries: balances and tallies
    if found.ok:
        click.echo(t(ctx, f"余额与分期汇总都等于流水合计:{found.balances} 个账户、{found.tallies} 行汇总",
                     f"balances and period tallies equal the entries: {found.balances} accounts, {found.tallies} tallies"))
    else:
        with a.engine.connect() as conn:
            names = queries.holder_names(conn, [(k, i) for _, k, i, *_ in found.balance_diffs] +
                                         [(k, i) for _, _, k, i, *_ in found.tally_diffs])
        ruleset = a.ruleset()
        types = {k: pt.label(ctx.obj["lang"]) for k, pt in ruleset.point_types.items()} if ruleset else {}
        for pt, kind, ident, kept, want, kept_earned, want_earned in found.balance_diffs:
            code, name = names.get((kind, ident), (f"{kind}:{ident}", ""))[0], types.get(pt, pt)
            if kept != want:
                click.echo(t(ctx, f"{code} 的{name}余额记为 {fmt(kept)},流水合计 {fmt(want)}",
                             f"{code}'s {name} balance is kept as {fmt(kept)}; its entries add up to {fmt(want)}"), err=True)
            if kept_earned != want_earned:
                click.echo(t(ctx, f"{code} 的{name}累计得分记为 {fmt(kept_earned)},流水合计 {fmt(want_earned)}",
                             f"{code}'s {name} points earned are kept as {fmt(kept_earned)}; its entries add up to {fmt(want_earned)}"),
                           err=True)
        for pt, period, kind, ident, kept, want in found.tally_diffs:
            code, name = names.get((kind, ident), (f"{kind}:{ident}", ""))[0], types.get(pt, pt)
            click.echo(t(ctx, f"{code} 的{name} {period} 汇总记为 {fmt(kept)},流水合计 {fmt(want)}",
                         f"{code}'s {name} tally for {period} is kept as {fmt(kept)}; its entries add up to {fmt(want)}"), err=True)
        click.echo(t(ctx, f"余额或汇总与流水不符:账户 {found.balance_count} 个、汇总 {found.tally_count} 行(流水本身见上方封存核验)",
                     f"balances or tallies differ from the entries: {found.balance_count} accounts, {found.tally_count} tallies "
                     "(the entries themselves: see the seal check above)"), err=True)
    if not v.ok or not found.ok:
        sys.exit(3)
    click.echo(t(ctx, "核验通过:已封存的记录与封存时一致", "verified: every sealed entry is as it was when sealed"))


def register_extra(group: click.Group) -> None:
    """Hook for command groups defined elsewhere (demo, claims, users): they add themselves here."""
    for module in ("demo.cli", "services.claims_cli", "services.roll_cli", "services.export_cli", "web.cli", "web.api.cli"):
        try:
            mod = __import__(module, fromlist=["commands"])
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue
            raise
        for cmd in getattr(mod, "commands", []):
            group.add_command(cmd)


register_extra(main)


if __name__ == "__main__":
    main()
