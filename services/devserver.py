"""``python3 run.py`` serves the site: migrate, publish the rules, build a demo county, log in, serve.

Steps, each skipped when already done:

1. migrate the database (``store.migrate.upgrade``) at ``JIFEN_DATABASE_URL`` (SQLite under instance/);
2. publish ``rules.yaml`` when no rules version is published;
3. on an empty database, generate the demo county (``jifen demo generate --size small``);
4. stock the points supermarket and create one demo login per role, each with a random
   password printed here once (there is no fixed or default password);
5. start the scheduler in a process of its own (``jifen scheduler``, when that command exists)
   and gunicorn with 2 workers on 127.0.0.1:8000 (``PORT`` to change it);
6. on Ctrl-C (or SIGTERM) stop both children and wait for them.

Options: ``--port``, ``--host``, ``--size tiny|small``, ``--workers``, ``--no-demo``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules.yaml"


def say(zh: str, en: str) -> None:
    """One line in both languages (the console of a county office)."""
    print(f"· {zh} / {en}", flush=True)


def migrate(url: str) -> None:
    """Bring the schema up to date with the Alembic migrations."""
    from store.migrate import upgrade

    upgrade(url)


def publish_rules(ctx: object) -> None:
    """Publish rules.yaml from the start of the demo year when nothing is published yet."""
    from store import rules_repo
    from store.models import RulesVersion

    with ctx.engine.connect() as conn:  # type: ignore[attr-defined]
        if conn.execute(select(RulesVersion.id)).first() is not None:
            return
    try:
        from demo.cli import EFFECTIVE as effective
    except ModuleNotFoundError:
        effective = date(ctx.now().year, 1, 1)  # type: ignore[attr-defined]
    pub = rules_repo.publish(ctx.engine, RULES.read_text(encoding="utf-8"), effective, "devserver", ctx.now())  # type: ignore[attr-defined]
    say(f"已发布规则 {pub.version},{pub.effective} 起施行", f"published rules {pub.version}, in force from {pub.effective}")


def cli(*args: str) -> list[str]:
    """The ``jifen`` command line as a subprocess argument list."""
    return [sys.executable, "-m", "services.cli", *args]


def has_command(name: str) -> bool:
    """Whether ``jifen <name>`` exists (another part of the project may add it later)."""
    from services.cli import main

    return name in getattr(main, "commands", {})


def build_demo(ctx: object, url: str, size: str, env: dict[str, str]) -> None:
    """Generate the demo county on an empty database (``jifen demo generate``)."""
    from store.models import Household

    with ctx.engine.connect() as conn:  # type: ignore[attr-defined]
        if conn.execute(select(func.count()).select_from(Household)).scalar():
            return
    if not has_command("demo"):
        say("没有示范数据生成器(demo/),跳过", "no demo generator (demo/); skipped")
        return
    say(f"生成示范县(规模 {size}),需要一两分钟……", f"generating the demo county ({size}); this takes a minute or two")
    subprocess.run(cli("--db", url, "demo", "generate", "--size", size), cwd=ROOT, env=env, check=True)


def seed_site(ctx: object) -> None:
    """Stock the shop and print one demo login per role with a fresh random password."""
    from web.seed import create_demo_logins, ensure_catalog

    try:
        added = ensure_catalog(ctx)  # type: ignore[arg-type]
    except Exception as exc:  # the shop is optional for serving the rest
        say(f"积分超市商品未能建立:{exc}", f"could not stock the shop: {exc}")
    else:
        if added:
            say(f"积分超市上架 {added} 种商品", f"stocked the shop with {added} items")
    try:
        logins = create_demo_logins(ctx)  # type: ignore[arg-type]
    except LookupError:
        say("没有村和党支部,未创建示范账号;用 jifen users create-admin 创建管理员", "no village yet: no demo logins; run jifen users create-admin")
        return
    print("\n  示范账号(密码每次启动重新生成,只显示这一次)/ demo logins (new random passwords on every start):", flush=True)
    width = max(len(login.username) for login in logins)
    for login in logins:
        print(f"    {login.username.ljust(width)}  {login.password}  {login.role:<13} {login.scope}", flush=True)
    print(flush=True)


def main(argv: list[str] | None = None) -> int:
    """Set up and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="run.py", description="serve the site on this machine")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--size", default=os.environ.get("JIFEN_DEMO_SIZE", "small"), choices=["tiny", "small"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-demo", action="store_true", help="do not generate the demo county")
    args = parser.parse_args(argv)

    # The command line first: it gathers the commands of demo/, the claims flow and web/ (importing
    # demo.cli before it would leave the ``demo`` group unregistered).
    import services.cli  # noqa: F401
    from services.context import AppContext
    from store.db import database_url

    url = database_url()
    env = {**os.environ, "JIFEN_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    # Plain HTTP on this machine only: the session cookie cannot be marked Secure here.
    # Behind HTTPS in production leave JIFEN_SECURE_COOKIES unset.
    if args.host in ("127.0.0.1", "localhost", "::1"):
        env.setdefault("JIFEN_SECURE_COOKIES", "0")
    os.environ.update({"JIFEN_DATABASE_URL": url})
    say(f"数据库 {url}", f"database {url}")
    migrate(url)
    ctx = AppContext(url)
    publish_rules(ctx)
    if not args.no_demo:
        build_demo(ctx, url, args.size, env)
    seed_site(ctx)
    ctx.engine.dispose()

    children: list[subprocess.Popen[bytes]] = []
    if has_command("scheduler"):
        children.append(subprocess.Popen(cli("--db", url, "scheduler"), cwd=ROOT, env=env))
        say("定时任务已在独立进程中启动", "scheduler started in its own process")
    else:
        say("没有 jifen scheduler 命令,定时任务未启动", "no `jifen scheduler` command; scheduler not started")
    bind = f"{args.host}:{args.port}"
    children.append(subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--bind", bind, "--access-logfile", "-",
         "--graceful-timeout", "5", "web:create_app()"], cwd=ROOT, env=env))
    say(f"网站:http://{bind}/ (Ctrl-C 停止)", f"site: http://{bind}/ (Ctrl-C stops)")

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    try:
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    say(f"子进程 {child.pid} 已退出({child.returncode}),全部停止", f"child {child.pid} exited ({child.returncode}); stopping")
                    code = child.returncode or 1
                    stopping = True
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        say("已停止", "stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
