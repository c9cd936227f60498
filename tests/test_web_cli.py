"""``jifen users …``: the first administrator is made by a command that asks for the password; no default exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlmodel import SQLModel

import store.all_models  # noqa: F401
from services.cli import main
from store.db import make_engine
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
