"""Who is where on a given day: codes to ids, households, grids, tiers, branches.

Loaded per batch for just the people and households a batch names, so memory
stays bounded however large the county is. A ``Directory`` may be kept across
the batches of one import (``Ledger.caching``); it then loads each person and
household once, and starts afresh when it holds more than ``MAX_CACHED``.

The look-ups are plain driver statements (no ORM, no per-row type
processing): they run for every batch of an import.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Connection

from scoring.errors import Problem
from scoring.model import Event

T = TypeVar("T")
Interval = tuple[date, date | None, Any]
CHUNK = 900  # stay under every database's limit of bound parameters
# Persons + households kept between batches before the cache starts afresh: ~1 KB each with their
# histories, so an import of a whole county holds at most ~40 MB of them (bench/README.md, memory).
MAX_CACHED = 40_000


@dataclass(frozen=True)
class Scope:
    """Where an entry counts: its grid, village, township and Party branch."""

    grid_id: int
    village_id: int
    township_id: int
    branch_id: int


def _at(intervals: Sequence[Interval] | None, day: date) -> Any:
    if intervals:
        for start, end, value in intervals:
            if start <= day and (end is None or day < end):
                return value
    return None


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    """Slices of at most ``size`` items."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def placeholder(conn: Connection) -> str:
    """The driver's positional placeholder: ``?`` for SQLite, ``%s`` for psycopg."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def select_in(conn: Connection, sql: str, values: Sequence[Any], *before: Any, width: int = 1) -> list[Any]:
    """Run ``sql`` (with ``{in}`` for the list) once per chunk of ``values``; all rows.

    With ``width`` > 1 each value is a tuple of that many, written as a row
    value ``(?, ?)``: ``WITH v(a, b) AS (VALUES {in}) …``.
    """
    rows: list[Any] = []
    # The driver's own cursor, inside the connection's open transaction: its plain tuples cost a
    # third of what SQLAlchemy's result rows do, and an import reads a few rows per event this way.
    cursor = conn.connection.cursor()
    try:
        for text, params in statements_in(sql, values, before, width, placeholder(conn)):
            cursor.execute(text, params)
            rows.extend(cursor.fetchall())
    finally:
        cursor.close()
    return rows


def statements_in(sql: str, values: Sequence[Any], before: Sequence[Any], width: int, ph: str) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The statements ``select_in`` sends: ``sql`` with its ``{in}`` list for each chunk of ``values``, and their parameters."""
    one = ph if width == 1 else "(" + ", ".join([ph] * width) + ")"
    for part in chunks(values, CHUNK // width):
        flat = part if width == 1 else [v for row in part for v in row]
        yield sql.replace("{in}", ", ".join([one] * len(part))).replace("{p}", ph), (*before, *flat)


class _Days:
    """Dates as the driver returns them (``date`` on PostgreSQL, ISO text on SQLite), made dates once."""

    def __init__(self) -> None:
        self.seen: dict[Any, date | None] = {None: None}

    def __call__(self, value: Any) -> Any:
        d = self.seen.get(value, False)
        if d is False:
            d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
            self.seen[value] = d
        return d


class Directory:
    """Codes and places for one batch; ``prepare`` first, then ask by id and day."""

    def __init__(self, conn: Connection, places: bool = True):
        self.conn = conn
        # ``places=False``: only what scoring reads (homes, tiers, branches), not grids and villages
        # (a dry run scores without writing tallies, so it never asks ``scope``).
        self.places = places
        self.person_ids: dict[str, int] = {}
        self.household_ids: dict[str, int] = {}
        self.homes: dict[int, list[Interval]] = {}
        self.grids: dict[int, list[Interval]] = {}
        self.tiers: dict[int, list[Interval]] = {}
        self.branches: dict[int, list[Interval]] = {}
        # 党员联户 over time, for the (member, household) pairs of the batch prepared last only: a member
        # looks after a dozen households, and an import names a few of them per batch.
        self.pair_links: dict[tuple[int, int], list[Interval]] = {}
        self.household_village: dict[int, int] = {}
        self._day = _Days()
        self._scopes: dict[tuple[int, int | None], Scope | None] = {}
        areas = conn.exec_driver_sql("SELECT id, level, parent_id FROM area").fetchall()
        parent = {a[0]: a[2] for a in areas}
        self.grid_place = {a[0]: (a[2], parent.get(a[2])) for a in areas if a[1] == "grid"}
        self.village_branch: dict[int, int] = dict(conn.exec_driver_sql("SELECT village_id, id FROM branch").fetchall())  # type: ignore[arg-type]

    def size(self) -> int:
        """How many persons and households are loaded (households loaded as someone's home included)."""
        return len(self.person_ids) + len(self.household_village)

    def use(self, conn: Connection) -> None:
        """Ask through another connection (the next batch's transaction)."""
        self.conn = conn

    def prepare(self, person_codes: Iterable[str], household_codes: Iterable[str], pairs: Iterable[tuple[str, str]] = ()) -> None:
        """Load ids and histories of the people and households named (and their homes).

        ``pairs``: (person, household) codes that records name together, whose linkage
        (``linked``) is loaded for this batch.
        """
        pcodes = sorted(set(person_codes) - self.person_ids.keys())
        if pcodes:
            self.person_ids.update(select_in(self.conn, "SELECT code, id FROM person WHERE code IN ({in})", pcodes))
        hcodes = sorted(set(household_codes) - self.household_ids.keys())
        if hcodes:
            self.household_ids.update(select_in(self.conn, "SELECT code, id FROM household WHERE code IN ({in})", hcodes))
        pids = sorted({self.person_ids[c] for c in pcodes if c in self.person_ids})
        self.load_people(pids)
        hids = {self.household_ids[c] for c in hcodes if c in self.household_ids}
        for pid in pids:
            hids.update(v for _, _, v in self.homes.get(pid, ()))
        self.load_households(sorted(hids - self.household_village.keys()))
        self.load_links(pairs)

    def load_links(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Linkage over time of these (person, household) code pairs, in place of the last batch's."""
        ids = sorted({(p, h) for pc, hc in pairs if (p := self.person_ids.get(pc)) and (h := self.household_ids.get(hc))})
        self.pair_links = {}
        sql = ("WITH wanted(m, h) AS (VALUES {in}) SELECT l.member_id, l.household_id, l.valid_from, l.valid_to "
               "FROM wanted JOIN linkage AS l ON l.member_id = wanted.m AND l.household_id = wanted.h")
        day = self._day
        for m, h, start, end in select_in(self.conn, sql, ids, width=2):
            self.pair_links.setdefault((m, h), []).append((day(start), day(end), True))

    def load_people(self, pids: Sequence[int]) -> None:
        """Households and Party branches of these people over time."""
        if not pids:
            return
        day = self._day
        homes, branches = self.homes, self.branches
        for pid in pids:
            homes.setdefault(pid, [])
        sql = "SELECT person_id, valid_from, valid_to, household_id FROM membership WHERE person_id IN ({in})"
        for m in select_in(self.conn, sql, pids):
            homes[m[0]].append((day(m[1]), day(m[2]), m[3]))
        sql = "SELECT person_id, valid_from, valid_to, branch_id FROM partymember WHERE person_id IN ({in})"
        for m in select_in(self.conn, sql, pids):
            branches.setdefault(m[0], []).append((day(m[1]), day(m[2]), m[3]))

    def load_households(self, hids: Sequence[int]) -> None:
        """Grids, tiers and villages of these households over time."""
        if not hids:
            return
        day = self._day
        grids, tiers = self.grids, self.tiers
        if self.places:
            sql = "SELECT household_id, valid_from, valid_to, grid_id FROM householdgrid WHERE household_id IN ({in})"
            for h in select_in(self.conn, sql, hids):
                grids.setdefault(h[0], []).append((day(h[1]), day(h[2]), h[3]))
        sql = "SELECT household_id, valid_from, valid_to, tier FROM householdtier WHERE household_id IN ({in})"
        for h in select_in(self.conn, sql, hids):
            tiers.setdefault(h[0], []).append((day(h[1]), day(h[2]), h[3]))
        if self.places:
            self.household_village.update(select_in(self.conn, "SELECT id, village_id FROM household WHERE id IN ({in})", hids))
        for hid in hids:
            self.household_village.setdefault(hid, 0)

    def home(self, person_id: int, day: date) -> int | None:
        """The person's household on a day."""
        return _at(self.homes.get(person_id), day)  # type: ignore[no-any-return]

    def tier(self, household_id: int | None, day: date) -> str | None:
        """The household's tier on a day."""
        return _at(self.tiers.get(household_id), day) if household_id else None  # type: ignore[arg-type]

    def party_branch(self, person_id: int, day: date) -> int | None:
        """The person's Party branch on a day, or None when not a member."""
        return _at(self.branches.get(person_id), day)  # type: ignore[no-any-return]

    def linked(self, person_id: int, household_id: int, day: date) -> bool:
        """Whether the person looks after the household (党员联户) on a day."""
        return bool(_at(self.pair_links.get((person_id, household_id)), day))

    def attrs(self, person_id: int | None, household_id: int | None, day: date) -> dict[str, Any]:
        """What the engine supplies besides an event's fields: the household's tier, membership, linkage."""
        attrs: dict[str, Any] = {}
        if household_id is not None:
            attrs["tier"] = self.tier(household_id, day)
        if person_id is not None:
            attrs["party_member"] = self.party_branch(person_id, day) is not None
            if household_id is not None:
                attrs["linked"] = self.linked(person_id, household_id, day)
        return attrs

    def scope(self, household_id: int | None, day: date, member_of: int | None = None) -> Scope | None:
        """Where an account counts on a day: the household's grid; a member's own branch."""
        if household_id is None:
            return None
        grid = _at(self.grids.get(household_id), day)
        if grid is None:
            return None
        key = (grid, member_of)
        scope = self._scopes.get(key)
        if scope is None:
            village, township = self.grid_place.get(grid, (None, None))
            branch = member_of or self.village_branch.get(village) or 0  # type: ignore[arg-type]
            scope = self._scopes[key] = Scope(grid, village or 0, township or 0, branch)
        return scope

    def event_for(self, inc: Any, day: date) -> tuple[Event | None, list[Problem]]:
        """Resolve a record's codes to ids and what was true of them on ``day`` (home, tier, membership).

        ``inc`` is a ``store.ledger.Incoming``; problems name the record and the unknown code.
        """
        problems: list[Problem] = []
        pid = hid = None
        if inc.person:
            pid = self.person_ids.get(inc.person)
            if pid is None:
                problems.append(Problem("unknown_person", {"value": inc.person}, record=inc.ref, field="person"))
        if inc.household:
            hid = self.household_ids.get(inc.household)
            if hid is None:
                problems.append(Problem("unknown_household", {"value": inc.household}, record=inc.ref, field="household"))
        if problems:
            return None, problems
        home = self.home(pid, day) if pid is not None else None
        event = Event(inc.key, inc.type, inc.occurred_at, inc.fields, pid, hid, home, self.attrs(pid, hid, day),
                      inc.actor, inc.source, inc.approved_by, inc.points, inc.rule)
        return event, []
