"""Publishing rules files as versions; the live rules stay live until a valid file replaces them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from scoring.errors import Problem, RulesFileError
from scoring.loader import load_rules
from scoring.model import Ruleset
from store.db import writer
from store.models import RulesVersion


@dataclass(frozen=True)
class Published:
    """A version as it was published."""

    id: int
    version: str
    effective: date
    title: str
    published_at: datetime
    published_by: str
    note: str


def publish(engine: Engine, text: str, effective: date, actor: str, now: datetime,
            filename: str = "rules.yaml", note: str = "") -> Published:
    """Check a rules file and, only when it has no problem, publish it from ``effective`` on.

    Raises ``RulesFileError`` with every problem; nothing is written then.
    Publishing the same text with the same effective date again changes nothing.
    """
    # One text, one version: a browser posts CRLF line ends, an editor may save a byte-order mark.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    ruleset: Ruleset = load_rules(text, filename)  # raises before anything is written
    with Session(writer(engine)) as session:
        existing = session.exec(
            select(RulesVersion).where(RulesVersion.version == ruleset.version, RulesVersion.effective == effective)
        ).first()
        if existing is not None:
            # The same text from the same day is already there: nothing to do, unless another version
            # was published for that day since and overrides it. One row per (text, day) can then not
            # bring it back, and saying nothing would leave the other in force: refuse, naming a way.
            newer = session.exec(select(RulesVersion).where(RulesVersion.effective == effective,
                                                            col(RulesVersion.id) > existing.id)).first()
            if newer is not None:
                raise RulesFileError([Problem("republish_same_day", {"effective": effective.isoformat(), "id": existing.id,
                                                                     "newer": newer.id}, field="effective")])
            row = existing
        else:
            row = RulesVersion(version=ruleset.version, effective=effective, title=ruleset.title, source=text,
                               published_at=now, published_by=actor, note=note)
            session.add(row)
            session.commit()
            session.refresh(row)
        return Published(row.id or 0, row.version, row.effective, row.title, row.published_at, row.published_by, row.note)


def history(engine: Engine) -> list[Published]:
    """Every published version, newest first."""
    with Session(engine) as session:
        rows = session.exec(select(RulesVersion).order_by(col(RulesVersion.id).desc())).all()
        return [Published(r.id or 0, r.version, r.effective, r.title, r.published_at, r.published_by, r.note) for r in rows]


def source_of(engine: Engine, version_id: int) -> str | None:
    """The text of one published version."""
    with Session(engine) as session:
        row = session.get(RulesVersion, version_id)
        return row.source if row else None


def live_source(engine: Engine, today: date) -> str | None:
    """The text of the version in force today (latest effective date not after today)."""
    with Session(engine) as session:
        row = session.exec(
            select(RulesVersion).where(RulesVersion.effective <= today).order_by(col(RulesVersion.effective).desc(), col(RulesVersion.id).desc())
        ).first()
        return row.source if row else None


__all__ = ["Published", "RulesFileError", "history", "live_source", "publish", "source_of"]
