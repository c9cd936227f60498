"""Tamper evidence: the ledger sealed into a hash chain (账本封存), and the check that it still holds.

The database already refuses UPDATE and DELETE on the ledger's tables
(``store.models.APPEND_ONLY``); whoever owns the schema can drop that guard.
The seals catch what happens then. ``seal`` appends links of at most
``SEAL_SIZE`` entries, each the SHA-256 of the previous link's digest and of
its entries' every column in a canonical text (the same on SQLite and
PostgreSQL, so a copied ledger verifies alike). ``verify`` recomputes the chain
and names each range whose entries were changed, removed or slipped in, and
each link that was rewritten. A link never passes an id a transaction may still
commit (``committed_horizon``), and entries are sealed ``SETTLE`` after they
were recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from store.models import Entry, Seal

ENTRY = Entry.__table__  # type: ignore[attr-defined]
SEAL = Seal.__table__  # type: ignore[attr-defined]
SEAL_SIZE = 1000  # entries per link: a broken link names a range this small
SETTLE = timedelta(minutes=10)  # an entry is sealed once its transaction has surely ended
GENESIS = "0" * 64  # the digest before the first link
_COLUMNS = [c.name for c in ENTRY.columns]


def canonical(value: Any) -> str:
    """One stored value as text, the same whichever database returned it."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return str(value.isoformat())
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def entry_line(row: Any) -> bytes:
    """An entry's every column, in the table's order, as the bytes the chain hashes."""
    return ("\x1f".join(canonical(row[c]) for c in _COLUMNS) + "\x1e").encode()


def link_digest(prev: str, rows: Iterable[Any]) -> tuple[str, int]:
    """(digest, count) of one link: the previous digest, then each entry's line."""
    h = hashlib.sha256(prev.encode())
    n = 0
    for row in rows:
        h.update(entry_line(row))
        n += 1
    return h.hexdigest(), n


def head(conn: Connection) -> Any | None:
    """The newest link of the chain, or None before the first seal."""
    return conn.execute(select(SEAL).order_by(SEAL.c.id.desc()).limit(1)).mappings().first()


def fingerprint(conn: Connection) -> dict[str, Any] | None:
    """What the public notice board prints: when the ledger was last sealed, how many entries, the head digest."""
    last = head(conn)
    if last is None:
        return None
    total = conn.execute(select(func.sum(SEAL.c.entries))).scalar_one()
    return {"sealed_at": last["sealed_at"], "entries": int(total), "digest": last["digest"], "upto": last["upto_entry_id"]}


def committed_horizon(engine: Engine) -> int | None:
    """The highest entry id below which no transaction can still add one (None: writers busy, try later).

    PostgreSQL hands out ids before commit, so an id may still be open below a committed one. A
    ``SHARE`` lock on the table waits for every transaction inserting into it and holds new ones
    back for an instant: then every id up to the largest is final. On SQLite the writer's
    ``BEGIN IMMEDIATE`` already excludes open writers, and the largest id is final at once.
    """
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL lock_timeout = '2s'"))  # behind a long import: seal next hour
                conn.execute(text("LOCK TABLE entry IN SHARE MODE"))
            return int(conn.execute(select(func.coalesce(func.max(ENTRY.c.id), 0))).scalar_one())
    except OperationalError:
        return None


def seal(engine: Engine, now: datetime, actor: str = "scheduler") -> int:
    """Seal every settled entry not yet sealed; return how many links were added (0 if another sealer won)."""
    final = committed_horizon(engine)
    if final is None:
        return 0
    added = 0
    try:
        with engine.begin() as conn:
            last = head(conn)
            link, upto, prev = (last["id"], last["upto_entry_id"], last["digest"]) if last else (0, 0, GENESIS)
            settled = conn.execute(select(func.max(ENTRY.c.id)).where(ENTRY.c.id > upto, ENTRY.c.id <= final,
                                                                       ENTRY.c.recorded_at <= now - SETTLE)).scalar()
            while settled is not None and upto < settled:
                rows = conn.execute(select(ENTRY).where(ENTRY.c.id > upto, ENTRY.c.id <= settled)
                                    .order_by(ENTRY.c.id).limit(SEAL_SIZE)).mappings().all()
                digest, n = link_digest(prev, rows)
                conn.execute(SEAL.insert().values(id=link + 1, upto_entry_id=rows[-1]["id"], entries=n, digest=digest,
                                                  prev_digest=prev, sealed_at=now, actor=actor))
                link, upto, prev = link + 1, rows[-1]["id"], digest
                added += 1
    except IntegrityError:  # another sealer added these links first: its chain stands, this one is rolled back
        return 0
    return added


@dataclass
class Break:
    """One link that no longer holds: which entries, sealed when, and what is wrong."""

    link: int
    first_entry_id: int
    last_entry_id: int
    sealed_at: datetime
    reason: str  # changed (entries differ) | count (entries missing or added) | chain (the link was rewritten)


@dataclass
class Verdict:
    """What ``verify`` found."""

    links: int = 0
    sealed_entries: int = 0
    unsealed_entries: int = 0
    head_digest: str = GENESIS
    breaks: list[Break] = field(default_factory=list)
    expected_found: bool | None = None  # whether a digest noted earlier is still in the chain

    @property
    def ok(self) -> bool:
        """The chain holds (and holds the digest noted earlier, if one was given)."""
        return not self.breaks and self.expected_found is not False


def verify(engine: Engine, expect: str | None = None) -> Verdict:
    """Recompute every link from the entries as they are now; name every range that no longer matches."""
    out = Verdict()
    prev, upto = GENESIS, 0
    with engine.connect() as conn:
        links = conn.execute(select(SEAL).order_by(SEAL.c.id)).mappings().all()
        for s in links:
            rows = conn.execute(select(ENTRY).where(ENTRY.c.id > upto, ENTRY.c.id <= s["upto_entry_id"])
                                .order_by(ENTRY.c.id)).mappings()
            digest, n = link_digest(s["prev_digest"], rows)
            first = upto + 1
            if s["prev_digest"] != prev:
                out.breaks.append(Break(s["id"], first, s["upto_entry_id"], s["sealed_at"], "chain"))
            elif n != s["entries"]:
                out.breaks.append(Break(s["id"], first, s["upto_entry_id"], s["sealed_at"], "count"))
            elif digest != s["digest"]:
                out.breaks.append(Break(s["id"], first, s["upto_entry_id"], s["sealed_at"], "changed"))
            prev, upto = s["digest"], s["upto_entry_id"]
            out.sealed_entries += s["entries"]
        out.links = len(links)
        out.head_digest = prev
        out.unsealed_entries = conn.execute(select(func.count()).select_from(ENTRY).where(ENTRY.c.id > upto)).scalar_one()
    if expect:
        # The whole digest, or its start as people copy it down from the board (at least 8 characters).
        noted = expect.strip().lower()
        digests = [s["digest"] for s in links]
        out.expected_found = noted in digests or (len(noted) >= 8 and any(d.startswith(noted) for d in digests))
    return out
