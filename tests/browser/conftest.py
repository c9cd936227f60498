"""The browser suite: Debian's Chromium driven by Playwright against the site on a loopback port.

The site runs in a thread of the test process (werkzeug's server) over a tiny demo
county built for the session. Outside CI the suite skips when Chromium is missing;
under CI (``CI=true``) a missing Chromium fails it.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
IN_CI = os.environ.get("CI", "").lower() == "true"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here drives a browser."""
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


def chromium_path() -> str:
    """Debian's Chromium, or skip (outside CI) / fail (under CI)."""
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        if IN_CI:
            pytest.fail("Chromium is required under CI (apt-get install -y chromium)")
        pytest.skip("no Chromium here (apt-get install -y chromium); the browser suite runs in CI")
    return path


@dataclass
class LiveSite:
    """The running site: its address, the demo logins and the codes of the demo village."""

    url: str
    passwords: dict[str, str]
    scope: dict[str, Any]
    ctx: Any


def build_demo(url: str) -> Any:
    """A tiny demo county (the demo generator's ``tiny`` size) with the site's demo logins and shop."""
    from sqlmodel import SQLModel

    import store.all_models  # noqa: F401
    from demo.generate import build_model, events, insert_directory, numbered, spec_for
    from services.context import AppContext
    from services.ingest import ingest
    from store import rules_repo

    ctx = AppContext(url)
    SQLModel.metadata.create_all(ctx.engine)
    model = build_model(spec_for("tiny"))
    insert_directory(ctx.engine, model)
    rules_repo.publish(ctx.engine, (ROOT / "rules.yaml").read_text(encoding="utf-8"), date(2026, 1, 1), "demo", ctx.now())
    ingest(ctx.ledger, numbered(events(model)), "import", "demo")
    return ctx


@pytest.fixture(scope="session")
def live_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """Start the site on 127.0.0.1 with a random free port; stop it at the end of the session."""
    chromium_path()
    from werkzeug.serving import make_server

    from web import create_app
    from web.seed import create_demo_logins, demo_scope, ensure_catalog

    tmp = tmp_path_factory.mktemp("browser")
    ctx = build_demo(f"sqlite:///{tmp / 'demo.db'}")
    ensure_catalog(ctx)
    logins = create_demo_logins(ctx)
    app = create_app({"CONTEXT": ctx, "SECRET_KEY": "browser-suite", "UPLOAD_DIR": str(tmp / "uploads"),
                      "SESSION_COOKIE_SECURE": False})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveSite(f"http://127.0.0.1:{server.server_port}", {login.role: login.password for login in logins}, demo_scope(ctx.engine), ctx)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        ctx.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the session."""
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def shots() -> Path:
    """Where screenshots go (gitignored)."""
    SHOTS.mkdir(exist_ok=True)
    return SHOTS
