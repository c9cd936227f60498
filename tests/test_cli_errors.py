"""``jifen`` refuses bad input in a sentence that names the field and the fix (exit 1), and an unusable database (exit 2).

No command prints a traceback; English output is English throughout.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import store.all_models  # noqa: F401  (every table)
from scoring.errors import Problem, ScoringError
from services.cli import main
from store.db import DEFAULT_URL, database_url, make_engine
from store.ledger import Ledger
from store.models import Entry
from web.testing import build_directory

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules.yaml"
CJK = re.compile(r"[\u4e00-\u9fff]")


def run(db: str, *args: str) -> Result:
    """The command line's result; stdout and stderr together in ``output``."""
    return CliRunner().invoke(main, ["--db", db, *args])


def refused(result: Result, *phrases: str, code: int = 1) -> None:
    """The command said each phrase, exited with ``code`` and printed no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception  # exited on purpose, not by an uncaught error
    for phrase in phrases:
        assert phrase in result.output, result.output


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A database with the test directory and the shipped rules from 2026-01-01."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    build_directory(engine)
    engine.dispose()
    published = run(url, "rules", "publish", str(RULES), "--effective", "2026-01-01")
    assert published.exit_code == 0, published.output
    return url


def ingest(db: str, tmp_path: Path, *records: dict[str, Any], lang: str = "zh") -> Result:
    """Import JSON-lines records through the command line."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return run(db, "--lang", lang, "ingest", str(path))


VOLUNTEER = {"id": "a1", "type": "volunteer_service", "occurred_at": "2026-03-01T09:30:00+08:00", "person": "P1", "fields": {"hours": 2}}


# ------------------------------------------------------------------ 1, 2: periods and point types
@pytest.mark.parametrize("period", ["abc", "2026-13", "99999"])
def test_a_tally_of_no_period_names_the_field_and_how_to_write_one(db: str, period: str) -> None:
    refused(run(db, "tally", "--type", "moral", "--period", period),
            f"--period “{period}” 不是有效的期间:写作 2026、2026-Q1 或 2026-03")
    refused(run(db, "--lang", "en", "tally", "--type", "moral", "--period", period),
            f"--period '{period}' is not a period: write 2026, 2026-Q1 or 2026-03")


def test_grades_and_close_period_refuse_a_period_that_does_not_exist(db: str) -> None:
    refused(run(db, "grades", "--type", "moral", "--period", "2026-Q9"), "--period “2026-Q9” 不是有效的期间")
    refused(run(db, "close-period", "--type", "moral", "--period", "xyz"), "--period “xyz” 不是有效的期间")


def test_an_unknown_point_type_is_refused_with_the_known_ones(db: str) -> None:
    for command in ("tally", "grades"):
        refused(run(db, command, "--type", "nope", "--period", "2026"), "未知积分类型 “nope”", "party_work", "moral")
    refused(run(db, "--lang", "en", "tally", "--type", "nope", "--period", "2026"),
            "unknown point type 'nope'; defined: party_work, moral, volunteer_hours")
    refused(run(db, "close-period", "--type", "nope", "--period", "2026"), "nope", "moral")


def test_close_period_prints_each_problem_the_ledger_gives(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any) -> None:
        raise ScoringError([Problem("bad_date", {"value": "2026"}, field="period"), Problem("missing_key", {"key": "x"})])

    monkeypatch.setattr(Ledger, "close_period", refuse)
    refused(run(db, "close-period", "--type", "moral", "--period", "2026"),
            "period: “2026” 不是日期,请写作 2026-01-01", "缺少必填项 “x”")
    refused(run(db, "--lang", "en", "close-period", "--type", "moral", "--period", "2026"),
            "period: '2026' is not a date; write it as 2026-01-01")


def test_close_period_names_an_unknown_type_the_ledger_looked_up_in_vain(db: str) -> None:
    refused(run(db, "--lang", "en", "close-period", "--type", "nope", "--period", "2026"),
            "unknown point type 'nope'; defined: party_work, moral, volunteer_hours")


def test_top_must_be_one_or_more(db: str) -> None:
    refused(run(db, "tally", "--type", "moral", "--period", "2026", "--top", "-1"), "--top")
    assert run(db, "tally", "--type", "moral", "--period", "2026", "--top", "1").exit_code == 0


# ------------------------------------------------------------------ 1: rules files as Notepad saves them
@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig"])
def test_rules_saved_as_gbk_or_with_a_byte_order_mark_are_read(db: str, tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "规则.yaml"
    path.write_bytes(RULES.read_text(encoding="utf-8").encode(encoding))
    checked = run(db, "rules", "check", str(path))
    assert checked.exit_code == 0 and "没有问题" in checked.output and "Traceback" not in checked.output, checked.output
    published = run(db, "rules", "publish", str(path), "--effective", "2027-01-01")
    assert published.exit_code == 0, published.output


def test_a_rules_line_in_no_encoding_is_named(db: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(b"timezone: Asia/Shanghai\nname: \xff\xfe\n")
    refused(run(db, "rules", "check", str(path)), f"{path}:2:1: 这一行有无法识别的字符")


# ------------------------------------------------------------------ 1, 4: databases that cannot be used
def test_a_url_of_no_known_database_is_named_with_the_forms_accepted() -> None:
    result = run("bogus://clerk:s3cret@x/db", "balance", "H1")
    refused(result, "无法识别数据库地址 bogus://clerk:***@x/db", "sqlite:///", "postgresql+psycopg://", code=2)
    assert "s3cret" not in result.output
    refused(run("not a url", "--lang", "en", "balance", "H1"), "the database URL not a url is not understood", code=2)


def test_reading_a_database_file_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    for args in (("balance", "H1"), ("tally", "--type", "moral", "--period", "2026")):
        refused(run(f"sqlite:///{path}", *args), f"数据库文件 {path} 不存在", "jifen db upgrade", code=2)
    assert not path.exists()
    assert run(f"sqlite:///{path}", "db", "upgrade").exit_code == 0 and path.exists()
    refused(run(f"sqlite:///{path}", "balance", "H1"), "找不到村民或农户 “H1”")


def test_a_database_without_tables_is_named_by_its_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.db").touch()
    refused(run("sqlite:///empty.db", "balance", "H1"), f"数据库 {tmp_path / 'empty.db'} 还没有建表", code=2)


def test_the_default_database_is_the_projects_wherever_the_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JIFEN_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert database_url() == DEFAULT_URL
    assert Path(make_url(DEFAULT_URL).database or "") == ROOT / "instance" / "jifen.db"


# ------------------------------------------------------------------ 3: records of the wrong type
def test_a_record_of_the_wrong_types_names_what_was_sent_and_what_to_write(db: str, tmp_path: Path) -> None:
    bad = {"id": 5, "type": "volunteer_service", "occurred_at": 20260301, "person": 23, "fields": "oops"}
    result = ingest(db, tmp_path, bad)
    refused(result, "字段 “id” 应为 1 至 200 个字的文字,收到 “5”", "字段 “person” 应为文字", "收到 “23”",
            "字段 “occurred_at” 应为文字", "收到 “20260301”", "字段 “fields” 应为由字段名和值组成的对象", "收到 “oops”")
    assert "Not a valid" not in result.output
    english = ingest(db, tmp_path, bad, lang="en")
    refused(english, "field 'id' must be text of 1 to 200 characters, got '5'", "field 'fields' must be an object of named fields")
    assert "Not a valid" not in english.output


# ------------------------------------------------------------------ 5, 6: English, local time, the holder
def _entry_of(db: str, event_key: str, point_type: str = "moral") -> int:
    engine: Engine = make_engine(db)
    try:
        with engine.connect() as conn:
            found = select(Entry.id).where(Entry.event_key == event_key, Entry.point_type == point_type)
            return int(conn.execute(found).scalar_one())
    finally:
        engine.dispose()


def test_english_output_names_point_types_grades_units_and_vetoes_in_english(db: str, tmp_path: Path) -> None:
    assert ingest(db, tmp_path, VOLUNTEER).exit_code == 0
    balance = run(db, "--lang", "en", "balance", "H1")
    # Grades by rules.yaml's name_en (levels: - {key, name, name_en, min})
    assert "Moral credit: balance 4 pts" in balance.output and "16 to One-star civilised household" in balance.output, balance.output
    assert not CJK.search(balance.output.split("\n", 1)[1]), balance.output
    grades = run(db, "--lang", "en", "grades", "--type", "moral", "--period", "2026")
    assert grades.exit_code == 0 and "vetoed\t\t0" in grades.output, grades.output
    assert "One-star civilised household\t≥20\t0" in grades.output, grades.output
    assert not CJK.search(grades.output)
    explained = run(db, "--lang", "en", "explain", str(_entry_of(db, "a1")))
    step = explained.output.splitlines()[-1]
    assert step == "  · 2 hours × 2 = +4", explained.output
    assert "rule name: Volunteer service (2 points an hour)" in explained.output, explained.output  # the rule's name_en


def test_explain_shows_the_county_time_and_the_holder(db: str, tmp_path: Path) -> None:
    assert ingest(db, tmp_path, VOLUNTEER).exit_code == 0
    explained = run(db, "explain", str(_entry_of(db, "a1")))
    assert explained.exit_code == 0, explained.output
    assert "发生时间: 2026-03-01 09:30" in explained.output and "+00:00" not in explained.output
    assert "账户: H1 张三户" in explained.output


# ------------------------------------------------------------------ 7: exit codes
def test_refused_input_exits_1_and_the_good_records_are_kept(db: str, tmp_path: Path) -> None:
    result = ingest(db, tmp_path, VOLUNTEER, {"id": "b1", "type": "volunteer_service", "person": "P1"})
    refused(result, "记分 1 条", "退回 1 条", "缺少字段 “occurred_at”")
    refused(run(db, "balance", "NOBODY"), "找不到村民或农户 “NOBODY”")
    refused(run(db, "explain", "99999"), "没有第 99999 条记录")


def test_import_problems_are_listed_record_by_record_whichever_check_refused_them(db: str, tmp_path: Path) -> None:
    # #1 is refused while scoring (no such household), #2 while checking the envelope (a time that
    # is no time), #3 while reading (not JSON): the list follows the file, not the checks.
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([
        json.dumps({**VOLUNTEER, "id": "x1", "person": None, "household": "H404", "type": "civility", "rule": "MB-23"}),
        json.dumps({**VOLUNTEER, "id": "x2", "occurred_at": "yesterday"}),
        "{not json",
        json.dumps({**VOLUNTEER, "id": "x4"}),
    ]) + "\n", encoding="utf-8")
    result = run(db, "ingest", str(path))
    refused(result, "记分 1 条")
    refs = [re.search(r" (#\d+)", line).group(1) for line in result.output.splitlines() if " #" in line]  # type: ignore[union-attr]
    assert refs == ["#1", "#2", "#3"], result.output


def test_publishing_from_a_past_day_with_points_since_needs_backdate(db: str, tmp_path: Path) -> None:
    assert ingest(db, tmp_path, VOLUNTEER).exit_code == 0  # a score on 2026-03-01
    changed = tmp_path / "rules.yaml"
    changed.write_text(RULES.read_text(encoding="utf-8").replace("(2026 版)", "(修订)"), encoding="utf-8")
    refused(run(db, "rules", "publish", str(changed), "--effective", "2026-02-01"), "已过去,且此后已有 2 条记分", "--backdate")  # moral credit and hours
    done = run(db, "rules", "publish", str(changed), "--effective", "2026-02-01", "--backdate")
    assert done.exit_code == 0 and "2026-02-01 起生效" in done.output


def test_explain_names_the_rule_as_the_version_that_scored_the_entry_named_it(db: str, tmp_path: Path) -> None:
    """A later version renames the rule: an entry scored before keeps the name it was scored under."""
    assert ingest(db, tmp_path, VOLUNTEER).exit_code == 0  # scored on 2026-03-01 by the first version
    renamed = tmp_path / "rules.yaml"
    renamed.write_text(RULES.read_text(encoding="utf-8").replace("name: 志愿服务(每小时 2 分)", "name: 志愿服务(修订)"), encoding="utf-8")
    assert run(db, "rules", "publish", str(renamed), "--effective", "2026-06-01").exit_code == 0
    explained = run(db, "explain", str(_entry_of(db, "a1")))
    assert "规则名称: 志愿服务(每小时 2 分)" in explained.output, explained.output
    assert "修订" not in explained.output


def test_points_of_a_type_the_live_rules_dropped_still_show(db: str, tmp_path: Path) -> None:
    """A version added 绿色积分 and credited it; a later version without it does not hide what was credited."""
    text = RULES.read_text(encoding="utf-8")
    green = text.replace("point_types:\n", "point_types:\n  - {key: green, name: 绿色积分, name_en: Green credit, holder: household, "
                         "unit: 分, step: 0.5, period: year, year_end: {policy: never}, spendable: true}\n", 1)
    green += "  - {id: GC-01, name: 绿色出行, point_type: green, event: volunteer_service, points: {fixed: 3}}\n"
    (tmp_path / "green.yaml").write_text(green, encoding="utf-8")
    assert run(db, "rules", "publish", str(tmp_path / "green.yaml"), "--effective", "2026-02-01").exit_code == 0
    assert ingest(db, tmp_path, VOLUNTEER).exit_code == 0  # 2026-03-01: +3 绿色积分 for H1
    assert run(db, "rules", "publish", str(RULES), "--effective", "2026-06-01").exit_code == 0  # back to the first text
    shown = run(db, "balance", "H1")
    assert shown.exit_code == 0 and "绿色积分:余额 3 分" in shown.output, shown.output
    assert "Green credit: balance 3 pts" in run(db, "--lang", "en", "balance", "H1").output
