"""The Flask site: leaderboards, passbook, branch desk, notice board, shop pages and administration.

``create_app`` builds an application; nothing is configured at import time, so
``gunicorn 'web:create_app()'`` and ``flask --app web run`` both work, and tests
pass a ``test_config`` (``CONTEXT`` may carry a ready ``AppContext`` with a test clock).

Configuration comes from the environment:

* ``JIFEN_DATABASE_URL`` — the database (SQLite under ``instance/`` by default);
* ``JIFEN_READ_DATABASE_URL`` — optional read replica the public pages (leaderboards,
  notice board) read from;
* ``SECRET_KEY`` — signs sessions; without it a random key is generated once into
  ``instance/secret_key`` (shared by every worker of the machine);
* ``JIFEN_UPLOAD_DIR`` — evidence photos and catalog pictures (``instance/uploads``);
* ``JIFEN_SECURE_COOKIES`` — ``0`` only for plain-HTTP serving on loopback (the dev server).
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

LANGUAGES = ("zh", "en")


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else one generated once under instance/ (mode 600)."""
    env = os.environ.get("SECRET_KEY")
    if env:
        return env
    path = instance / "secret_key"
    instance.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        # Another worker is writing it right now: wait for the key rather than read half of it.
        for _ in range(50):
            key = path.read_text().strip()
            if len(key) == 64:
                return key
            time.sleep(0.05)
        raise RuntimeError(f"{path} is not a 64-character key; delete it to generate a new one") from None
    with os.fdopen(fd, "w") as f:
        key = secrets.token_hex(32)
        f.write(key)
    return key


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the site: config, extensions, blueprints, error pages and commands."""
    app = Flask(__name__, instance_relative_config=True)
    instance = Path(app.instance_path)
    app.config.from_mapping(
        DATABASE_URL=os.environ.get("JIFEN_DATABASE_URL", ""),
        UPLOAD_DIR=os.environ.get("JIFEN_UPLOAD_DIR", str(instance / "uploads")),
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        LOGIN_MAX_FAILURES=5,
        LOGIN_LOCK_MINUTES=15,
        LOGIN_MAX_FAILURES_PER_USER=20,  # across addresses: slows down guessing from many machines
        CODE_VALID_DAYS=14,
        BABEL_DEFAULT_LOCALE="zh",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="jifen_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=None,  # a form left open on a phone all morning still submits
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)
    if "SESSION_COOKIE_SECURE" not in (test_config or {}):
        insecure = os.environ.get("JIFEN_SECURE_COOKIES", "1") == "0"
        app.config["SESSION_COOKIE_SECURE"] = not (app.debug or app.testing or insecure)

    from web import appctx, auth, bounds, errors, i18n, templating
    from web.views import admin, appraisal, claims, desk, linkage, notice, passbook, public, shop

    bounds.init_app(app)  # before any route: rules bind their converters as they are added
    appctx.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    for module in (public, passbook, claims, linkage, appraisal, desk, notice, shop, admin):
        module.init_app(app)
    _init_api(app)

    from web.cli import commands

    for command in commands:
        app.cli.add_command(command)
    return app


def _init_api(app: Flask) -> None:
    """Mount the JSON API (``web.api``) when that package is present; it authenticates by token, not by form."""
    try:
        from web import api
    except ModuleNotFoundError as exc:
        if exc.name in ("web.api",):
            return
        raise
    api.init_app(app)
    from web.extensions import csrf

    for bp in app.blueprints.values():
        if (bp.url_prefix or "").startswith("/api"):
            csrf.exempt(bp)
