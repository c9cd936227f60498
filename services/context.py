"""What every entry point needs: the database engine, the ledger and the clock, built once."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from scoring.model import Ruleset
from store.db import database_url, make_engine, read_database_url
from store.ledger import Ledger, utcnow


@dataclass
class AppContext:
    """The engine, ledger and clock of one process (web worker, scheduler or command).

    ``read_url`` names a read replica (PostgreSQL streaming replication) that
    the public pages read from, so a county's leaderboards and notice board
    take no load off the primary's writers; everything else, the ledger
    included, uses ``url``.
    """

    url: str
    clock: object = utcnow
    read_url: str | None = None

    @cached_property
    def engine(self) -> Engine:
        """The database engine."""
        return make_engine(self.url)

    @cached_property
    def read_engine(self) -> Engine:
        """The engine public pages read through: the replica's, or the primary's when there is none."""
        if self.read_url and self.read_url != self.url:
            return make_engine(self.read_url)
        return self.engine

    @cached_property
    def ledger(self) -> Ledger:
        """The ledger over the engine."""
        return Ledger(self.engine, self.clock)  # type: ignore[arg-type]

    def now(self) -> datetime:
        """The clock's now (aware UTC)."""
        return self.clock()  # type: ignore[operator, no-any-return]

    def ruleset(self) -> Ruleset | None:
        """The ruleset in force today."""
        versions = self.ledger.versions()
        return versions.at(self.today()) or versions.latest()

    @property
    def tz(self) -> ZoneInfo:
        """The county's time zone."""
        latest = self.ledger.versions().latest()
        return latest.timezone if latest else ZoneInfo(os.environ.get("JIFEN_TZ", "Asia/Shanghai"))

    def today(self) -> date:
        """Today's local date."""
        latest = self.ledger.versions().latest()
        tz = latest.timezone if latest else ZoneInfo("Asia/Shanghai")
        return self.now().astimezone(tz).date()


def default_context() -> AppContext:
    """The context for ``JIFEN_DATABASE_URL`` (SQLite under instance/ by default)."""
    return AppContext(database_url(), read_url=read_database_url())
