"""``jifen users …`` (and ``flask --app web users …``): the first administrator, accounts and one-time codes.

There is no default password: ``create-admin`` asks for one (typed twice, never echoed),
and ``issue-code`` prints a one-time code a villager uses to set their own.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlalchemy import select

from store.models import Area, Branch, Household, Person
from web import accounts


def engine_and_now(ctx: click.Context) -> tuple[Any, Any]:
    """The database and clock of the ``jifen`` command (``--db``) or of the Flask app (``flask --app web``)."""
    obj = ctx.find_root().obj
    if isinstance(obj, dict) and "app" in obj:
        app = obj["app"]
        return app.engine, app.now()
    from flask import current_app
    from flask.cli import ScriptInfo

    from web.appctx import jifen

    # Under ``flask`` the app is the one its ScriptInfo loads; no app context is pushed for our commands.
    flask_app = obj.load_app() if isinstance(obj, ScriptInfo) else current_app._get_current_object()  # type: ignore[attr-defined]
    with flask_app.app_context():
        ctx_ = jifen()
        return ctx_.engine, ctx_.now()


def _lang(ctx: click.Context) -> str:
    obj = ctx.find_root().obj
    return obj.get("lang", "zh") if isinstance(obj, dict) else "zh"


def _t(ctx: click.Context, zh: str, en: str) -> str:
    return en if _lang(ctx).startswith("en") else zh


_REASONS = {
    "password_short": ("密码至少 8 位", "the password needs at least 8 characters"),
    "password_is_username": ("密码不能与用户名相同", "the password must differ from the username"),
    "password_simple": ("密码太简单", "the password is too simple"),
    "username_bad": ("用户名只能用 3-64 位字母、数字、点、横线或下划线", "a username has 3-64 letters, digits, dots, dashes or underscores"),
    "username_taken": ("用户名已存在", "that username is taken"),
    "role_unknown": ("没有这个角色", "no such role"),
    "scope_missing": ("这个角色必须指定管辖范围", "this role needs a scope"),
    "scope_unknown": ("找不到这个编号", "no such code"),
    "not_found": ("找不到该用户", "no such user"),
}


def _fail(ctx: click.Context, exc: accounts.AccountError) -> None:
    zh, en = _REASONS.get(exc.code, (exc.code, exc.code))
    click.echo(_t(ctx, zh, en), err=True)
    sys.exit(1)


@click.group("users")
def users() -> None:
    """账号 / login accounts."""


@users.command("create-admin")
@click.argument("username")
@click.option("--name", "display_name", default="", help="姓名 / display name")
@click.password_option("--password", prompt="密码 / password", confirmation_prompt="再输一次 / repeat",
                       help="不给则交互输入 / prompted when not given")
@click.pass_context
def create_admin(ctx: click.Context, username: str, display_name: str, password: str) -> None:
    """创建管理员(第一次部署时用)/ create an administrator (the first one, at installation)."""
    engine, now = engine_and_now(ctx)
    try:
        user = accounts.create_user(engine, username, "admin", password=password, display_name=display_name,
                                    created_by="cli", now=now)
    except accounts.AccountError as exc:
        _fail(ctx, exc)
        return
    accounts.audit(engine, "cli", "user.create", f"user:{user.username}", now=now, role="admin")
    click.echo(_t(ctx, f"已创建管理员 {user.username}", f"administrator {user.username} created"))


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(list(accounts.SCOPE_NEEDS)), required=True)
@click.option("--name", "display_name", default="")
@click.option("--person", default=None, help="村民编号 / person code")
@click.option("--household", default=None, help="户号 / household code")
@click.option("--village", default=None, help="村编号 / village code")
@click.option("--grid", default=None, help="网格编号 / grid code")
@click.option("--branch", default=None, help="支部编号 / branch code")
@click.pass_context
def create(ctx: click.Context, username: str, role: str, display_name: str, person: str | None, household: str | None,
           village: str | None, grid: str | None, branch: str | None) -> None:
    """开通账号并打印一次性验证码 / create an account and print its one-time code."""
    engine, now = engine_and_now(ctx)
    scope: dict[str, int | None] = {}
    with engine.connect() as conn:
        for key, code, stmt in (
            ("person_id", person, select(Person.id).where(Person.code == person)),
            ("household_id", household, select(Household.id).where(Household.code == household)),
            ("village_id", village, select(Area.id).where(Area.code == village, Area.level == "village")),
            ("grid_id", grid, select(Area.id).where(Area.code == grid, Area.level == "grid")),
            ("branch_id", branch, select(Branch.id).where(Branch.code == branch)),
        ):
            if code:
                scope[key] = conn.execute(stmt).scalar()
                if scope[key] is None:
                    click.echo(_t(ctx, f"找不到编号 {code}", f"no such code {code}"), err=True)
                    sys.exit(1)
    try:
        user = accounts.create_user(engine, username, role, display_name=display_name, scope=scope, created_by="cli", now=now)
    except accounts.AccountError as exc:
        _fail(ctx, exc)
        return
    code = accounts.issue_code(engine, user.id or 0, now=now)
    accounts.audit(engine, "cli", "user.create", f"user:{user.username}", now=now, role=role)
    click.echo(_t(ctx, f"已开通 {user.username}({role}),一次性验证码:{code}", f"created {user.username} ({role}); one-time code: {code}"))


@users.command("issue-code")
@click.argument("username")
@click.option("--days", default=14, show_default=True, help="有效天数 / valid for days")
@click.pass_context
def issue_code(ctx: click.Context, username: str, days: int) -> None:
    """为账号生成一次性验证码(村民首次登录或忘记密码)/ issue a one-time code to set a password."""
    engine, now = engine_and_now(ctx)
    user = accounts.by_username(engine, username)
    if user is None:
        click.echo(_t(ctx, f"没有用户 {username}", f"no user {username}"), err=True)
        sys.exit(1)
    code = accounts.issue_code(engine, user.id or 0, days, now)
    accounts.audit(engine, "cli", "user.issue_code", f"user:{user.username}", now=now)
    click.echo(_t(ctx, f"{user.username} 的一次性验证码:{code}({days} 天内有效)", f"one-time code for {user.username}: {code} (valid {days} days)"))


@users.command("list")
@click.pass_context
def list_users(ctx: click.Context) -> None:
    """列出账号 / list accounts."""
    from sqlmodel import Session
    from sqlmodel import select as sm_select

    from store.models_web import User

    engine, _now = engine_and_now(ctx)
    with Session(engine) as s:
        for u in s.exec(sm_select(User).order_by(User.username)):
            state = "active" if u.active and u.password_hash else ("code" if u.active else "off")
            click.echo(f"{u.username}\t{u.role}\t{state}\t{u.display_name}")


commands = [users]
