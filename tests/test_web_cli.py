"""``jifen users …``: the first administrator is made by a command that asks for the password; no default exists."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select
from sqlmodel import SQLModel

import store.all_models  # noqa: F401
from services.cli import main
from store.db import make_engine
from store.ledger import Ledger
from store.models import EventRecord, Person
from web import accounts
from web.testing import build_directory


def run(db: str, *args: str, stdin: str = "") -> Any:
    return CliRunner().invoke(main, ["--db", db, *args], input=stdin)


def test_create_admin_asks_for_the_password_twice_and_logs_it(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(db)
    SQLModel.metadata.create_all(engine)
    result = run(db, "users", "create-admin", "chief", stdin="county-2026!\ncounty-2026!\n")
    assert result.exit_code == 0, result.output
    assert "已创建管理员 chief" in result.output
    user = accounts.by_username(engine, "chief")
    assert user is not None and user.role == "admin"
    assert "county-2026!" not in user.password_hash
    assert accounts.authenticate(engine, "chief", "county-2026!") is not None
    assert accounts.authenticate(engine, "chief", "") is None
    from sqlalchemy import select

    from store.models_web import AuditLog

    with engine.connect() as conn:
        assert conn.execute(select(AuditLog.action).where(AuditLog.target == "user:chief")).scalar() == "user.create"


def test_create_admin_refuses_a_weak_or_mistyped_password(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(db)
    SQLModel.metadata.create_all(engine)
    short = run(db, "users", "create-admin", "chief", stdin="abc\nabc\n")
    assert short.exit_code == 1
    assert "密码至少 8 位" in short.output
    mismatch = run(db, "--lang", "en", "users", "create-admin", "chief", stdin="county-2026!\ncounty-2027!\ncounty-2026!\ncounty-2026!\n")
    assert mismatch.exit_code == 0
    assert "do not match" in mismatch.output.lower() or "匹配" in mismatch.output
    assert accounts.by_username(engine, "chief") is not None


def test_a_villager_login_gets_a_one_time_code_that_sets_the_password(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(db)
    SQLModel.metadata.create_all(engine)
    build_directory(engine)
    made = run(db, "users", "create", "hh1", "--role", "villager", "--household", "H1")
    assert made.exit_code == 0, made.output
    code = re.search(r"\d{4}-\d{4}", made.output)
    assert code is not None
    user = accounts.by_username(engine, "hh1")
    assert user is not None and user.password_hash == "" and user.household_id is not None and user.village_id is not None
    reissued = run(db, "users", "issue-code", "hh1")
    assert reissued.exit_code == 0
    new = re.search(r"\d{4}-\d{4}", reissued.output)
    assert new is not None
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    assert accounts.redeem_code(engine, "hh1", code.group(0), now) is None  # the earlier code no longer works
    assert accounts.redeem_code(engine, "hh1", new.group(0), now) is not None
    listed = run(db, "users", "list")
    assert "hh1\tvillager\tcode" in listed.output


def test_unknown_users_and_codes_are_refused(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    SQLModel.metadata.create_all(make_engine(db))
    assert run(db, "users", "issue-code", "nobody").exit_code == 1
    missing_scope = run(db, "users", "create", "sec", "--role", "secretary")
    assert missing_scope.exit_code == 1
    bad_code = run(db, "users", "create", "sec", "--role", "secretary", "--branch", "NOPE")
    assert bad_code.exit_code == 1


def _scoring_db(tmp_path: Path) -> tuple[str, Any]:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(db)
    SQLModel.metadata.create_all(engine)
    build_directory(engine)
    published = run(db, "rules", "publish", str(Path(__file__).resolve().parent.parent / "rules.yaml"), "--effective", "2026-01-01")
    assert published.exit_code == 0, published.output
    return db, engine


def test_a_csv_saved_by_excel_in_gbk_is_imported_and_a_line_in_no_encoding_is_named(tmp_path: Path) -> None:
    db, engine = _scoring_db(tmp_path)
    lines = [
        "id,type,occurred_at,person,hours,description\r\n".encode("gbk"),
        "v1,volunteer_service,2026-03-01T10:00:00,P1,3,清扫村道\r\n".encode("gbk"),
        b"v9,volunteer_service,2026-03-03T10:00:00,P3,1,\xff\xfe\r\n",  # bytes of no encoding
        "v2,volunteer_service,2026-03-02T10:00:00,P2,1,敬老院帮厨\r\n".encode("gbk"),
    ]
    path = tmp_path / "志愿服务.csv"
    path.write_bytes(b"".join(lines))
    result = run(db, "ingest", str(path))
    assert result.exit_code == 1, result.output  # one line refused (2 is for a database that cannot be used)
    assert "记分 2 条" in result.output and "退回 1 条" in result.output
    assert "#3: 这一行有无法识别的字符" in result.output
    with engine.connect() as conn:
        p1 = conn.execute(select(Person.id).where(Person.code == "P1")).scalar_one()
        assert "清扫村道" in conn.execute(select(EventRecord.payload).where(EventRecord.event_key == "v1")).scalar_one()
    assert Ledger(engine).balance("volunteer_hours", "p", p1) == (300, 300)
    again = run(db, "--lang", "en", "ingest", str(path))  # sent again: nothing twice, the bad line named in English
    assert "0 recorded" in again.output and "2 already recorded" in again.output
    assert "#3: this line holds bytes that are neither UTF-8 nor GB18030" in again.output


def test_a_jsonl_with_a_byte_order_mark_and_a_broken_line_keeps_the_good_records(tmp_path: Path) -> None:
    db, engine = _scoring_db(tmp_path)
    path = tmp_path / "events.jsonl"
    record = '{"id": "a1", "type": "volunteer_service", "occurred_at": "2026-03-01T10:00:00", "person": "P1", "fields": {"hours": 2}}\n'
    path.write_bytes(b"\xef\xbb\xbf" + record.encode() + b"\xff\xfe\xfd\n{not json\n")
    result = run(db, "ingest", str(path))
    assert result.exit_code == 1, result.output
    assert "记分 1 条" in result.output and "退回 2 条" in result.output
    assert "#2: 这一行有无法识别的字符" in result.output and "#3: 不是有效的 JSON" in result.output
    assert "Traceback" not in result.output
    with engine.connect() as conn:
        p1 = conn.execute(select(Person.id).where(Person.code == "P1")).scalar_one()
    assert Ledger(engine).balance("volunteer_hours", "p", p1) == (200, 200)



def test_a_database_without_tables_is_explained_not_a_traceback(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'new.db'}"
    (tmp_path / "new.db").touch()  # an empty file: a missing one is refused before any table is looked for
    events = tmp_path / "events.jsonl"
    events.write_text('{"id": "a1", "type": "volunteer_service", "occurred_at": "2026-03-01T10:00:00", "person": "P1"}\n', encoding="utf-8")
    result = run(db, "ingest", str(events))
    assert result.exit_code == 2
    assert "还没有建表:请先运行 jifen db upgrade" in result.output and "Traceback" not in result.output
    english = run(db, "--lang", "en", "balance", "P1")
    assert english.exit_code == 2 and "has no tables yet: run `jifen db upgrade` first" in english.output
    upgraded = run(db, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output


def test_a_database_server_that_cannot_be_reached_is_named_without_its_password() -> None:
    result = run("postgresql+psycopg://clerk:s3cret@127.0.0.1:1/jifen", "balance", "P1")
    assert result.exit_code == 2
    assert "无法连接数据库 postgresql+psycopg://clerk:***@127.0.0.1:1/jifen" in result.output
    assert "s3cret" not in result.output


def test_a_balance_in_english_names_its_unit_in_english(tmp_path: Path) -> None:
    db, _engine = _scoring_db(tmp_path)
    events = tmp_path / "events.jsonl"
    events.write_text('{"id": "a1", "type": "volunteer_service", "occurred_at": "2026-03-01T10:00:00", "person": "P1", '
                      '"fields": {"hours": 2}}\n', encoding="utf-8")
    assert run(db, "ingest", str(events)).exit_code == 0
    english = run(db, "--lang", "en", "balance", "H1")
    assert "Moral credit: balance 4 pts" in english.output and "分" not in english.output.split("\n", 1)[1], english.output
    assert "余额 4 分" in run(db, "balance", "H1").output


def test_jifen_api_token_issues_lists_and_revokes_as_the_readme_says(tmp_path: Path) -> None:
    """`jifen api-token issue NAME --role …` (README, "JSON API") works from the jifen command, not only under flask."""
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(db)
    SQLModel.metadata.create_all(engine)
    issued = run(db, "api-token", "issue", "bank", "--role", "auditor", "--by", "admin")
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    assert token.startswith("jf_")
    from web.api import tokens

    assert tokens.authenticate(engine, token, datetime.now(UTC))[0] is not None
    listed = run(db, "api-token", "list")
    assert listed.exit_code == 0 and "bank\tauditor" in listed.output and token not in listed.output
    assert run(db, "api-token", "revoke", "bank").exit_code == 0
    assert tokens.authenticate(engine, token, datetime.now(UTC))[0] is None
    again = run(db, "api-token", "revoke", "bank")
    assert again.exit_code != 0 and "Traceback" not in again.output and "bank" in again.output


def test_an_api_token_stops_after_its_days_and_says_so(tmp_path: Path) -> None:
    """A token copied into a forgotten script does not work for ever: after its days the API answers 'expired'."""
    from datetime import UTC, datetime, timedelta

    from services.context import AppContext
    from web import create_app
    from web.api import tokens

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(db)
    SQLModel.metadata.create_all(engine)
    issued = run(db, "api-token", "issue", "village-app", "--role", "auditor", "--days", "30")
    assert issued.exit_code == 0 and "30 天有效" in issued.output, issued.output
    token = issued.output.strip().splitlines()[-1]
    assert "active, until" in run(db, "api-token", "list").output
    now = datetime.now(UTC)
    assert tokens.authenticate(engine, token, now + timedelta(days=29))[0] is not None
    assert tokens.authenticate(engine, token, now + timedelta(days=31)) == (None, "api_token_expired")
    later = AppContext(db, lambda: now + timedelta(days=31))
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "CONTEXT": later})
    r = app.test_client().get("/api/v1/claims?lang=en", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json["code"] == "api_token_expired" and "issue a new one" in r.json["message"]
    refused = run(db, "api-token", "issue", "forever", "--role", "auditor", "--days", "100000")
    assert refused.exit_code != 0 and "--days" in refused.output and "Traceback" not in refused.output


def test_an_api_token_scoped_to_places_in_two_villages_is_refused(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(db)
    SQLModel.metadata.create_all(engine)
    build_directory(engine)  # H1 lies in V1
    mixed = run(db, "api-token", "issue", "app", "--role", "villager", "--household", "H1", "--village", "V2")
    assert mixed.exit_code != 0 and "not in the village given" in mixed.output and "Traceback" not in mixed.output
    assert run(db, "api-token", "issue", "app", "--role", "villager", "--household", "H1", "--village", "V1").exit_code == 0
