"""The process's ``AppContext`` (engine, ledger, clock), built once per app and shared by every request."""

from __future__ import annotations

from flask import Flask, current_app

from services.context import AppContext
from store.db import database_url, read_database_url


def init_app(app: Flask) -> None:
    """Attach the context: the one given in ``CONTEXT`` (tests) or one for ``DATABASE_URL``."""
    ctx = app.config.get("CONTEXT")
    if ctx is None:
        ctx = AppContext(app.config.get("DATABASE_URL") or database_url(),
                         read_url=app.config.get("READ_DATABASE_URL") or read_database_url())
    app.extensions["jifen"] = ctx


def jifen() -> AppContext:
    """The current app's context."""
    return current_app.extensions["jifen"]  # type: ignore[no-any-return]
