"""The ledger: scoring batches of events into append-only entries, balances and tallies.

One call is one transaction. Within it every account holder the batch touches
is locked first (``lock_holders``), so caps, floors, balances and the check for
events already recorded are read and written by one writer at a time per
holder, on SQLite and on PostgreSQL alike. Balances and period tallies are
updated in the same transaction as the entries, never recomputed on read.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from typing import Any, ClassVar

from sqlalchemy import (
    Connection,
    Engine,
    String,
    and_,
    cast,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from scoring.engine import Engine as ScoringEngine
from scoring.errors import Problem, ScoringError
from scoring.grades import closing_problems, kept_after
from scoring.loader import load_rules
from scoring.model import Draft, Event, PublishedVersion, Ruleset, VersionTable
from scoring.periods import PERIODS, Period, local_date, parse_period, window_keys
from scoring.points import fmt, parse_amount
from store.db import aware, is_postgres, local_minute, lock_holders, upsert_add, writer
from store.directory import MAX_CACHED, Directory, Scope, select_in
from store.models import (
    Balance,
    Claim,
    Counter,
    Entry,
    EventRecord,
    GradeSnapshot,
    PeriodClose,
    RulesVersion,
    Tally,
)

ENTRY = Entry.__table__  # type: ignore[attr-defined]
BALANCE = Balance.__table__  # type: ignore[attr-defined]
TALLY = Tally.__table__  # type: ignore[attr-defined]
COUNTER = Counter.__table__  # type: ignore[attr-defined]
EVENT = EventRecord.__table__  # type: ignore[attr-defined]
CLAIM = Claim.__table__  # type: ignore[attr-defined]
NO_SCOPE = Scope(0, 0, 0, 0)
# An event may be dated this much after the ledger's clock (a phone's clock running fast); later
# than that it has not happened yet, and points are never given ahead.
CLOCK_SLACK = timedelta(minutes=10)


def utcnow() -> datetime:
    """Now, aware, in UTC (how the database keeps moments)."""
    return datetime.now(UTC)


def to_utc(moment: datetime) -> datetime:
    """An aware moment in UTC."""
    return moment.astimezone(UTC)


def split_holder(holder: str) -> tuple[str, int]:
    """``h:7`` → ``("h", 7)``."""
    kind, _, ident = holder.partition(":")
    return kind, int(ident)


@dataclass
class Incoming:
    """One validated record to score: references by code, fields as received."""

    key: str
    type: str
    occurred_at: datetime  # aware
    person: str | None = None
    household: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    points: int | None = None
    rule: str = ""
    actor: str = ""
    approved_by: str = ""
    source: str = "api"
    ref: str = ""  # how the sender names the record: line 3, event id …
    description: str = ""
    entered_role: str = ""
    payload: str = "{}"


@dataclass
class RecordResult:
    """What became of one record."""

    ref: str
    key: str
    status: str  # recorded | pending | duplicate | rejected | nothing
    entries: list[dict[str, Any]] = field(default_factory=list)
    claims: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[tuple[str, Any]] = field(default_factory=list)


_RETRIES = 3  # a batch beaten to an event id by a concurrent one (see Ledger._alone)
_RACED_KEYS = ("eventrecord_pkey", "entry_key_key")


def _event_id_race(exc: IntegrityError) -> bool:
    """Whether a unique-key failure is another transaction's event having taken the id first (PostgreSQL)."""
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None) in _RACED_KEYS


_CLOSE_LOCK = 0x6A6663  # "jfc": advisory lock class of period closes (two-key form: apart from the holders' keys)


class ReversalRefused(ValueError):
    """Why an entry cannot be reversed: ``already`` reversed, ``not_award`` (only rule awards are), ``expired``."""

    def __init__(self, entry_id: int, reason: str):
        text = {"already": "is already reversed", "not_award": "is not a rule's award (only awards are reversed; a purchase "
                "is cancelled at the shop)", "expired": "has expired (its points are gone already)"}[reason]
        super().__init__(f"entry {entry_id} {text}")
        self.reason = reason


class Overdraft(Exception):
    """A spend larger than the balance; nothing was written."""

    def __init__(self, balance: int, amount: int):
        super().__init__(f"balance {balance} < {amount}")
        self.balance, self.amount = balance, amount


class _Statements:
    """Plain driver statements for the ledger's bulk writes, built once per dialect and table.

    SQLAlchemy's ``executemany`` processes every parameter of every row in
    Python; a batch writes tens of thousands of rows, so the rows go to the
    driver's own ``executemany`` as tuples instead. Each column's value still
    passes through that column's own bind processor (the ``UTCDateTime`` and
    date types on SQLite, for instance), so what is stored is exactly what the
    ORM would store. The same SQL (``ON CONFLICT … DO UPDATE``) runs on SQLite
    and PostgreSQL.
    """

    _cache: ClassVar[dict[tuple[str, str, str], _Statements]] = {}

    def __init__(self, conn: Connection, table: Any, mode: str, keys: Sequence[str] = (), cols: Sequence[str] = (),
                 newer: Sequence[str] = (), stamp: str = ""):
        columns = [c for c in table.c if not (c.primary_key and c.autoincrement is not False and c.name == "id")]
        self.names = [c.name for c in columns]
        self.get = itemgetter(*self.names)
        self.procs = [(i, p) for i, c in enumerate(columns) if (p := c.type._cached_bind_processor(conn.dialect))]
        ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        q = ", ".join(f'"{n}"' for n in self.names)
        sql = f'INSERT INTO "{table.name}" ({q}) VALUES ({", ".join([ph] * len(self.names))})'
        if mode != "insert":
            conflict = ", ".join(f'"{k}"' for k in keys)
            if mode == "add":
                sets = ", ".join(f'"{c}" = "{table.name}"."{c}" + excluded."{c}"' for c in cols)
            else:
                sets = ", ".join(f'"{c}" = excluded."{c}"' for c in cols)
            if newer:
                # Columns that follow the row's latest day (``stamp``): every SET sees the old row.
                t, st = table.name, stamp
                sets += ", " + ", ".join(
                    f'"{c}" = CASE WHEN excluded."{st}" >= "{t}"."{st}" THEN excluded."{c}" ELSE "{t}"."{c}" END'
                    for c in (*newer, st))
            sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
        self.sql = sql

    @classmethod
    def of(cls, conn: Connection, table: Any, mode: str = "insert", keys: Sequence[str] = (), cols: Sequence[str] = (),
           newer: Sequence[str] = (), stamp: str = "") -> _Statements:
        """The statement for a table and mode (insert, add, set), built on first use."""
        k = (conn.dialect.name, table.name, mode)
        st = cls._cache.get(k)
        if st is None:
            st = cls._cache[k] = cls(conn, table, mode, keys, cols, newer, stamp)
        return st

    def run_tuples(self, conn: Connection, params: Iterable[Any]) -> None:
        """Write rows given as tuples in column order, a few thousand to an ``executemany``.

        Rows are converted part by part, so a transaction's hundred thousand
        tally rows are never held twice over (as given and as bound).
        """
        procs = self.procs
        memo: dict[tuple[int, Any], Any] = {}
        it = iter(params)
        while part := list(islice(it, 5000)):
            if procs:
                out = []
                for t in part:
                    row = list(t)
                    for i, proc in procs:
                        v = row[i]
                        if v is not None:
                            k = (i, v)
                            c = memo.get(k, memo)
                            if c is memo:
                                c = memo[k] = proc(v)
                            row[i] = c
                    out.append(tuple(row))
                part = out
            conn.exec_driver_sql(self.sql, part)  # type: ignore[arg-type]


def _tuples(rows: list[dict[str, Any]], st: _Statements) -> list[Any] | None:
    try:
        return [st.get(r) for r in rows]
    except KeyError:
        return None  # a row without every column: let SQLAlchemy fill the defaults


class CounterState:
    """The scoring core's ``State`` over counters fetched ahead for a batch; writes are kept for flushing.

    Values are kept by (holder key, counter key) exactly as the core names them
    (``p:12``), so a read or write is one dictionary operation. ``fetch`` loads
    the pairs the core says a batch may read (``Engine.counter_keys``); a read
    of any other pair is looked up on its own through ``conn``, never taken for
    0, unless the holder's counters were all loaded (``load``).
    """

    def __init__(self, values: dict[tuple[str, str], int], conn: Connection | None = None):
        self.values = values
        self.dirty: set[tuple[str, str]] = set()
        self.known: set[tuple[str, str]] = set()  # pairs fetched, stored or not
        self.conn = conn  # None: ``values`` holds every counter there is

    def get(self, holder: str, key: str) -> int:
        """A counter's value, 0 when never set."""
        k = (holder, key)
        value = self.values.get(k)
        if value is not None:
            return value
        if self.conn is None or k in self.known:
            return 0
        self.fetch(self.conn, [k])
        return self.values.get(k, 0)

    def put(self, holder: str, key: str, value: int) -> None:
        """Set a counter; flushed with the batch."""
        k = (holder, key)
        self.values[k] = value
        self.dirty.add(k)

    @classmethod
    def load(cls, conn: Connection, holders: set[tuple[str, int]]) -> CounterState:
        """All the counters of these holders."""
        values: dict[tuple[str, str], int] = {}
        by_kind: dict[str, list[int]] = defaultdict(list)
        for kind, ident in holders:
            by_kind[kind].append(ident)
        for kind, ids in by_kind.items():
            sql = "SELECT holder_id, key, value FROM counter WHERE holder_kind = {p} AND holder_id IN ({in})"
            for hid, key, value in select_in(conn, sql, sorted(ids), kind):
                values[(f"{kind}:{hid}", key)] = value
        return cls(values)

    def fetch(self, conn: Connection, pairs: Iterable[tuple[str, str]]) -> None:
        """Load the (holder, counter key) pairs not fetched yet; values already held are newer and kept.

        Only the counters a batch can read are loaded: a Party member linked to
        a dozen households has a cooldown counter for each, and caps for every
        month gone by, of which an event reads two or three.
        """
        known = self.known
        todo = {p for p in pairs if p not in known}
        known |= todo
        items = sorted((holder[0], int(holder[2:]), key) for holder, key in todo)  # the primary key's order
        # A join from the list, not ``IN (VALUES …)``: SQLite plans the join as one primary-key
        # lookup per pair, while the IN form scans the whole table for each list.
        sql = ("WITH wanted(k, i, y) AS (VALUES {in}) SELECT c.holder_kind, c.holder_id, c.key, c.value FROM wanted "
               "JOIN counter AS c ON c.holder_kind = wanted.k AND c.holder_id = wanted.i AND c.key = wanted.y")
        values = self.values
        for kind, hid, key, value in select_in(conn, sql, items, width=3):
            values.setdefault((f"{kind}:{hid}", key), value)

    def tuples(self) -> Iterator[tuple[str, int, str, int]]:
        """The changed counters as (holder_kind, holder_id, key, value)."""
        values = self.values
        return ((holder[0], int(holder[2:]), key, values[(holder, key)]) for holder, key in self.dirty)


class _Batch:
    """Rows gathered while scoring one batch, written together at the end."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.claims: list[dict[str, Any]] = []
        self.events: list[tuple[Any, ...]] = []  # event records in EVENT's column order
        self.balances: dict[tuple[str, str, int], list[int]] = {}
        self.tallies: dict[tuple[str, str, str, int], list[Any]] = {}
        self.regrade: set[tuple[str, str, str, int]] = set()  # (type, closed period, holder): frozen grades a late award moves

    def add_entry(self, row: dict[str, Any], scope: Scope, scoring: bool) -> None:
        """Queue an entry and its effect on the balance and (for rule entries) the tallies."""
        self.entries.append(row)
        amount = row["amount"]
        k = (row["point_type"], row["holder_kind"], row["holder_id"])
        bal = self.balances.get(k)
        if bal is None:
            bal = self.balances[k] = [0, 0]
        bal[0] += amount
        if scoring:
            bal[1] += amount
            self.add_tally(k[0], k[1], k[2], row["local_day"], scope, amount, 1 if row["veto"] else 0)

    def add_tally(self, pt: str, hk: str, hid: int, day: date, scope: Scope, amount: int, vetoes: int) -> None:
        """Add to the month, quarter and year tallies of the entry's day; the place follows the latest day."""
        tallies = self.tallies
        for period in _period_keys(day):
            k = (pt, period, hk, hid)
            t = tallies.get(k)
            if t is None:
                tallies[k] = [amount, vetoes, scope, day]
            else:
                t[0] += amount
                t[1] += vetoes
                if day >= t[3]:
                    t[2], t[3] = scope, day

    def flush_rows(self, conn: Connection) -> None:
        """Write the event records, entries and claims gathered so far, and let go of them."""
        if self.events:
            _Statements.of(conn, EVENT).run_tuples(conn, self.events)
        if self.entries:
            st = _Statements.of(conn, ENTRY)
            params = _tuples(self.entries, st)
            if params is None:
                conn.execute(ENTRY.insert(), self.entries)
            else:
                st.run_tuples(conn, params)
        if self.claims:
            conn.execute(CLAIM.insert(), self.claims)
        self.events, self.entries, self.claims = [], [], []

    def flush(self, conn: Connection, state: CounterState | None) -> None:
        """Write everything in the open transaction: rows, then balances, tallies and counters."""
        self.flush_rows(conn)
        if self.balances:
            # In key order: a close locks a type's balance rows in this order too, so the two never deadlock.
            _Statements.of(conn, BALANCE, "add", ("point_type", "holder_kind", "holder_id"), ("amount", "earned")).run_tuples(
                conn, ((pt, hk, hid, a, e) for (pt, hk, hid), (a, e) in sorted(self.balances.items())))
        if self.tallies:
            # Holders are locked, so no two writers meet on a row.
            st = _Statements.of(conn, TALLY, "add", ("point_type", "period", "holder_kind", "holder_id"), ("amount", "vetoes"),
                                newer=("grid_id", "village_id", "township_id", "branch_id"), stamp="last_day")
            assert st.names == ["point_type", "period", "holder_kind", "holder_id", "grid_id", "village_id", "township_id",
                                "branch_id", "last_day", "amount", "vetoes"], st.names
            st.run_tuples(conn, ((pt, per, hk, hid, sc.grid_id, sc.village_id, sc.township_id, sc.branch_id, day, a, v)
                                 for (pt, per, hk, hid), (a, v, sc, day) in self.tallies.items()))
        if state is not None and state.dirty:
            st = _Statements.of(conn, COUNTER, "set", ("holder_kind", "holder_id", "key"), ("value",))
            assert st.names == ["holder_kind", "holder_id", "key", "value"], st.names
            st.run_tuples(conn, state.tuples())


class _Txn:
    """One write transaction's running state across the chunks scored in it."""

    def __init__(self) -> None:
        self.state = CounterState({})
        self.out = _Batch()
        self.directory: Directory | None = None
        self.closed: dict[str, list[str]] | None = None  # closed periods by point type, read once


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def _value(v: Any) -> str:
    """A field's value by meaning: 1, 1.0 and "1.0" alike (JSON, CSV and a retry may spell it apart), true and "True" alike."""
    if isinstance(v, bool):
        return "true" if v else "false"
    text = str(v).strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    if isinstance(v, int | float | Decimal) or _NUMBER.fullmatch(text):
        try:
            return format(Decimal(text).normalize(), "f")
        except InvalidOperation:  # inf, nan: compared as written
            return text
    return text


def _plain(fields: Any) -> dict[str, str]:
    return {str(k): _value(v) for k, v in (fields or {}).items() if v not in (None, "")} if isinstance(fields, dict) else {}


def _meaning(inc: Incoming) -> tuple[Any, ...]:
    """What an event says (who, rule, points, fields), compared by meaning, not by text: the same event
    re-sent from a CSV instead of JSON lines, or with its keys in another order, means the same."""
    return inc.person or None, inc.household or None, inc.rule or "", inc.points, _plain(inc.fields)


def _same_event(stored: tuple[Any, ...], inc: Incoming) -> bool:
    """Whether a record sent again is the event recorded under its id (type, time, who, rule, points, fields)."""
    kind, occurred, payload = stored
    if kind != inc.type:
        return False
    if isinstance(occurred, str):
        occurred = datetime.fromisoformat(occurred)
    if aware(occurred) != inc.occurred_at:
        return False
    try:
        data = json.loads(payload or "{}")
    except ValueError:
        return True  # nothing to compare with: the id and time agree
    if not isinstance(data, dict) or not data:
        return True
    try:
        points = parse_amount(data["points"]) if data.get("points") not in (None, "") else None
    except ValueError:
        points = None
    return (data.get("person") or None, data.get("household") or None, data.get("rule") or "", points,
            _plain(data.get("fields"))) == _meaning(inc)


def _same_record(first: Incoming, again: Incoming) -> bool:
    """Whether two records of one batch under one id are the same event."""
    return (first.type, first.occurred_at, _meaning(first)) == (again.type, again.occurred_at, _meaning(again))


@lru_cache(maxsize=1024)
def _period_keys(day: date) -> tuple[str, ...]:
    keys = window_keys(day)
    return tuple(keys[p] for p in PERIODS)


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
_EXPLAINED: dict[tuple[Any, ...], str] = {}
_PLAIN = (str, int)  # exact types whose equal values encode alike (not bool, Decimal: 2 == 2.0 == True)


def _explain(draft: Draft) -> str:
    """The draft's steps as JSON; the same steps (most entries repeat a few shapes) are encoded once."""
    try:
        key = tuple((s.code, *((k, v if type(v) in _PLAIN else (type(v), str(v))) for k, v in s.params.items()))
                    for s in draft.steps)
        text = _EXPLAINED.get(key)
    except TypeError:  # a parameter that cannot be a dictionary key
        key, text = None, None  # type: ignore[assignment]
    if text is None:
        text = _ENCODER.encode([[s.code, s.params] for s in draft.steps])
        if key is not None:
            if len(_EXPLAINED) > 50_000:
                _EXPLAINED.clear()
            _EXPLAINED[key] = text
    return text


def _moving_closes(pt: Any, closed: Iterable[Period], day: date) -> list[Period]:
    """The closed periods after ``day`` that moved the type's balances (its own kind: a quarterly type's year close freezes grades only)."""
    return sorted((p for p in closed if p.kind == pt.period and day < p.end), key=lambda p: p.start)


def _cut_steps(pt: Any, cuts: list[tuple[str, int, int]], step: str, entry: Any) -> list[list[Any]]:
    """The explanation's steps for what closes cut (``scoring.grades.kept_after``)."""
    policy = "reset" if pt.year_end.policy == "reset" else f"carry {pt.year_end.carry_percent}%"
    return [[step, {"period": period, "policy": policy, "before": fmt(before), "kept": fmt(kept), "entry": entry}]
            for period, before, kept in cuts]


class Ledger:
    """Records events, reversals, spending and period closes for one database."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.write_engine = writer(engine)
        self.clock = clock
        self._versions: VersionTable | None = None
        self._versions_stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, Ruleset] = {}
        self._caching = False
        self._cached_directory: Directory | None = None

    # ------------------------------------------------------------------ rules versions
    def versions(self, conn: Connection | None = None) -> VersionTable:
        """The published rules versions, reloaded only when one was published since."""
        def load(c: Connection) -> VersionTable:
            stamp = tuple(c.execute(select(func.count(RulesVersion.id), func.coalesce(func.max(RulesVersion.id), 0))).one())  # type: ignore[arg-type]
            if self._versions is not None and stamp == self._versions_stamp:
                return self._versions
            published = []
            for row in c.execute(select(RulesVersion.version, RulesVersion.effective, RulesVersion.source).order_by(RulesVersion.id)):  # type: ignore[arg-type]
                ruleset = self._by_hash.get(row.version)
                if ruleset is None:
                    ruleset = load_rules(row.source, published=True)  # in force already: later checks do not unpublish it
                    self._by_hash[row.version] = ruleset
                published.append(PublishedVersion(row.effective, ruleset))
            self._versions, self._versions_stamp = VersionTable(published), stamp  # type: ignore[assignment]
            return self._versions

        if conn is not None:
            return load(conn)
        with self.engine.connect() as c:
            return load(c)

    def ruleset_by_hash(self, version: str) -> Ruleset | None:
        """A published ruleset by its content hash."""
        self.versions()
        return self._by_hash.get(version)

    def rule_names(self, version: str, fallback: Ruleset | None = None, lang: str = "zh") -> dict[str, str]:
        """Rule names in ``lang`` as the rules version that scored an entry had them (``fallback``'s for an entry of none)."""
        ruleset = self.ruleset_by_hash(version) if version else None
        ruleset = ruleset or fallback
        return {r.id: r.label(lang) for r in ruleset.rules.values()} if ruleset else {}

    # ------------------------------------------------------------------ scoring
    def record(self, batch: Sequence[Incoming], approved: bool | None = None) -> list[RecordResult]:
        """Score a batch in one transaction; good records are kept, bad ones reported."""
        return self._alone(batch, approved)

    def _alone(self, batch: Sequence[Incoming], approved: bool | None) -> list[RecordResult]:
        """A batch in a transaction of its own, tried again if a concurrent batch took one of its event ids.

        Holders are locked, event ids are not: on PostgreSQL two batches about different people
        can both find an id unused and one then fails on its unique key. Tried again, that batch
        sees the other's event and refuses (or skips) that one record alone, keeping the rest.
        """
        for attempt in range(_RETRIES):
            try:
                with self.write_engine.begin() as conn:
                    txn = _Txn()
                    results = self._record(conn, batch, approved, False, txn)
                    self._finish(conn, txn)
                    return results
            except IntegrityError as exc:
                if attempt == _RETRIES - 1 or not _event_id_race(exc):
                    raise
        raise AssertionError("unreachable")

    def record_in(self, conn: Connection, batch: Sequence[Incoming], approved: bool | None = None) -> list[RecordResult]:
        """Score a batch inside the caller's write transaction (a claim and its history commit together)."""
        return self._record(conn, batch, approved, claim_posting=False)

    def post_approved(self, conn: Connection, incoming: Incoming) -> RecordResult:
        """Post one reviewed claim's event within the caller's transaction (entry key is the guard)."""
        return self._record(conn, [incoming], True, claim_posting=True)[0]

    def record_chunks(self, chunks: Iterable[Sequence[Incoming]], per_transaction: int) -> Iterator[list[RecordResult]]:
        """Score chunks of records, yielding each chunk's results; commit once ``per_transaction`` are scored.

        Within one transaction each chunk's entries and event records are written
        as it is scored (memory holds one chunk), while balances, tallies and
        counters are summed across the chunks and written once at the end: a
        holder met in ten chunks has its tally rows and their leaderboard
        indexes rewritten once, not ten times, and its counters read once.
        On PostgreSQL each chunk is its own transaction: holders are locked in
        sorted order per transaction (``lock_holders``), and locks taken chunk
        after chunk would not be in one order, so two imports could deadlock.

        On SQLite a chunk's results are yielded before its transaction commits:
        iterate to the end. A caller that stops early rolls back the open
        transaction, chunks it was already given included (sending them again is
        safe). On PostgreSQL each chunk commits (``_alone``) before it is yielded.
        """
        it = iter(chunks)
        if self.write_engine.dialect.name == "postgresql":
            for chunk in it:
                yield self._alone(chunk, None)
            return
        chunk = next(it, None)
        while chunk is not None:
            with self.write_engine.begin() as conn:
                txn, scored = _Txn(), 0
                while chunk is not None:
                    yield self._record(conn, chunk, None, False, txn)
                    scored += len(chunk)
                    chunk = next(it, None)
                    if scored >= per_transaction:
                        break
                self._finish(conn, txn)

    def _record(self, conn: Connection, batch: Sequence[Incoming], approved: bool | None, claim_posting: bool,
                txn: _Txn | None = None) -> list[RecordResult]:
        own = txn is None
        if txn is None:
            txn = _Txn()
        closed = self._closed(conn, txn)
        versions = self.versions(conn)
        engine = ScoringEngine(versions)
        tz = engine.tz
        directory = self._directory(conn, txn)
        directory.prepare({i.person for i in batch if i.person}, {i.household for i in batch if i.household},
                          {(i.person, i.household) for i in batch if i.person and i.household})
        now = self.clock()
        results: list[RecordResult] = []
        prepared: list[tuple[Incoming, Event, RecordResult, date]] = []
        holders: set[tuple[str, int]] = set()
        seen: dict[str, Incoming] = {}
        for inc in batch:
            res = RecordResult(inc.ref, inc.key, "rejected")
            results.append(res)
            if tz is None:
                res.problems.append(Problem("no_rules_version", {"day": "-"}, record=inc.ref))
                continue
            if inc.occurred_at > now + CLOCK_SLACK:
                res.problems.append(Problem("event_in_future", {"value": local_minute(inc.occurred_at, tz), "now": local_minute(now, tz)},
                                            record=inc.ref, field="occurred_at"))
                continue
            day = local_date(inc.occurred_at, tz)
            event, problems = directory.event_for(inc, day)
            if event is None:
                res.problems.extend(problems)
                continue
            if inc.key in seen and not claim_posting:
                if _same_record(seen[inc.key], inc):
                    res.status = "duplicate"
                    res.problems.append(Problem("duplicate_event", {"value": inc.key}, record=inc.ref))
                else:  # as with a recorded event: another event under the same id is refused
                    res.problems.append(Problem("duplicate_conflict", {"value": inc.key}, record=inc.ref, field="id"))
                continue
            seen[inc.key] = inc
            prepared.append((inc, event, res, day))
            for pid in (event.person_id,):
                if pid is not None:
                    holders.add(("p", pid))
            for hid in (event.household_id, event.home_household_id):
                if hid is not None:
                    holders.add(("h", hid))
        lock_holders(conn, sorted(holders))
        if not claim_posting:
            existing = self._existing_events(conn, [p[0].key for p in prepared])
        else:
            existing = {}
        state = txn.state
        state.conn = conn
        state.fetch(conn, [pair for p in prepared for pair in engine.counter_keys(p[1], p[3])])
        out = txn.out
        prepared.sort(key=lambda p: p[1].occurred_at)  # counters see events in the order they happened
        for inc, event, res, day in prepared:
            if inc.key in existing:
                if _same_event(existing[inc.key], inc):
                    res.status = "duplicate"
                    res.problems.append(Problem("duplicate_event", {"value": inc.key}, record=inc.ref))
                else:  # another event under an id already used: refused, never taken for the first one
                    res.problems.append(Problem("duplicate_conflict", {"value": inc.key}, record=inc.ref, field="id"))
                continue
            outcome = engine.evaluate(event, state, approved, day)
            if not outcome.ok:
                res.problems.extend(Problem(p.code, p.params, record=inc.ref, field=p.field, hint=p.hint) for p in outcome.problems)
                continue
            assert outcome.ruleset is not None
            res.skipped = outcome.skipped
            self._queue(out, inc, event, day, outcome.drafts, outcome.ruleset, directory, res, now, tz, closed)
            if not claim_posting:
                # EVENT's column order: event_key, type, occurred_at, recorded_at, source, actor, payload.
                out.events.append((inc.key, inc.type, inc.occurred_at, now, inc.source, inc.actor, inc.payload))
            res.status = "recorded" if res.entries else ("pending" if res.claims else "nothing")
        if claim_posting and out.entries:
            # A claim posted twice writes its entry once: the entry key already exists.
            keys = [e["key"] for e in out.entries]
            if conn.execute(select(ENTRY.c.key).where(ENTRY.c.key.in_(keys))).first():
                results[0].status = "duplicate"
                return results
        if own:
            self._finish(conn, txn)
        else:
            out.flush_rows(conn)  # balances, tallies and counters: once, when the transaction ends
        return results

    @staticmethod
    def _existing_events(conn: Connection, keys: list[str]) -> dict[str, tuple[Any, ...]]:
        sql = "SELECT event_key, type, occurred_at, payload FROM eventrecord WHERE event_key IN ({in})"
        return {r[0]: tuple(r[1:]) for r in select_in(conn, sql, keys)}

    @contextmanager
    def caching(self) -> Iterator[None]:
        """Keep who-is-where (codes, homes, grids, tiers) between the batches recorded inside.

        For one import: each person and household is then looked up once instead
        of once per batch. Changes to the directory made meanwhile by another
        process are not seen until the block ends, so wrap only a bulk import.
        """
        self._caching, self._cached_directory = True, None
        try:
            yield
        finally:
            self._caching, self._cached_directory = False, None

    def _directory(self, conn: Connection, txn: _Txn) -> Directory:
        # Kept for the transaction's chunks, and across transactions inside ``caching()``, within a bound.
        cached = txn.directory or (self._cached_directory if self._caching else None)
        if cached is not None and cached.size() < MAX_CACHED:
            cached.use(conn)
            txn.directory = cached
            return cached
        directory = txn.directory = Directory(conn)
        if self._caching:
            self._cached_directory = directory
        return directory

    @staticmethod
    def _closed(conn: Connection, txn: _Txn) -> dict[str, list[str]]:
        """The closed periods of each point type (read once per transaction: a handful of rows).

        On PostgreSQL they are read under a lock shared with every other batch and exclusive with a
        close, held to the commit: they stay true while the batch writes, so no award slips past a
        close uncut.
        """
        if txn.closed is None:
            if is_postgres(conn):
                conn.execute(text("SELECT pg_advisory_xact_lock_shared(:a, 0)"), {"a": _CLOSE_LOCK})
            txn.closed = defaultdict(list)
            for pt, period in conn.execute(select(PeriodClose.point_type, PeriodClose.period)):  # type: ignore[call-overload]
                txn.closed[pt].append(period)
        return txn.closed

    def _finish(self, conn: Connection, txn: _Txn) -> None:
        """Write what the transaction gathered, then regrade what late awards moved in closed periods."""
        txn.out.flush(conn, txn.state)
        by_period: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
        for pt, period, hk, hid in sorted(txn.out.regrade):
            by_period[(pt, period)].append((hk, hid))
        latest = self.versions(conn).latest() if by_period else None
        for (pt, period), holders in by_period.items():
            if latest is not None and pt in latest.point_types:
                self._snapshot_grades(conn, latest.point_types[pt], period, self.clock(), holders)
        txn.out.regrade.clear()

    def _queue(self, out: _Batch, inc: Incoming, event: Event, day: date, drafts: list[Draft], ruleset: Ruleset,
               directory: Directory, res: RecordResult, now: datetime, tz: Any, closed: dict[str, list[str]]) -> None:
        occurred = to_utc(inc.occurred_at)
        for draft in drafts:
            hk, hid = split_holder(draft.holder)
            pt = ruleset.point_types[draft.point_type]
            member_branch = directory.party_branch(event.person_id, day) if hk == "p" and event.person_id else None
            home = hid if hk == "h" else event.home_household_id
            scope = directory.scope(home, day, member_branch) or NO_SCOPE
            if draft.pending:
                row = {
                    "key": draft.key, "event_key": inc.key, "rule_id": draft.rule_id, "rules_version": ruleset.version,
                    "point_type": draft.point_type, "holder_kind": hk, "holder_id": hid, "person_id": event.person_id,
                    "household_id": event.household_id or event.home_household_id, "village_id": scope.village_id or None,
                    "branch_id": scope.branch_id or None, "amount": draft.amount, "status": "submitted",
                    "description": inc.description, "entered_by": inc.actor, "entered_role": inc.entered_role,
                    "notice_days": draft.notice_days, "occurred_at": occurred, "created_at": now, "payload": inc.payload,
                    "reviewed_by": "", "reason": "",
                }
                out.claims.append(row)
                res.claims.append(row)
                continue
            row = {
                "key": draft.key, "point_type": draft.point_type, "holder_kind": hk, "holder_id": hid,
                "person_id": event.person_id, "amount": draft.amount, "kind": "award", "rule_id": draft.rule_id,
                "rules_version": ruleset.version, "category": draft.category or "", "event_key": inc.key,
                "occurred_at": occurred, "local_day": day, "recorded_at": now, "actor": inc.actor,
                "approver": inc.approved_by, "source": inc.source, "reverses_id": None,
                "grid_id": scope.grid_id or None, "village_id": scope.village_id or None,
                "township_id": scope.township_id or None, "branch_id": scope.branch_id or None,
                "veto": draft.veto, "explanation": _explain(draft), "note": "",
                "expires_on": day + timedelta(days=pt.validity_days) if pt.validity_days else None,
            }
            out.add_entry(row, scope, scoring=True)
            res.entries.append(row)
            if closed.get(draft.point_type):
                self._late(out, row, pt, day, closed[draft.point_type], scope, res)

    @staticmethod
    def _late(out: _Batch, row: dict[str, Any], pt: Any, day: date, closed: list[str], scope: Scope, res: RecordResult) -> None:
        """An award dated in a period closed before it was recorded (a claim whose notice ran past New Year).

        Its period's tallies and frozen grade take it whole, as they would have before the close; the
        balance takes what the close would have left of it, by a second entry saying so, so that when
        the scheduler ran changes nothing.
        """
        spans = [parse_period(key) for key in closed]
        if all(day >= span.end for span in spans):
            return  # dated after every closed period (a new year's award): nothing to cut or regrade
        for span in spans:
            if span.start <= day < span.end:
                out.regrade.add((pt.key, span.key, row["holder_kind"], row["holder_id"]))
        kept, cuts = kept_after(pt, row["amount"], _moving_closes(pt, spans, day))
        if kept == row["amount"]:
            return
        cut = {**row, "key": f"{row['key']}:closed", "amount": kept - row["amount"], "kind": "close", "rule_id": "", "category": "",
               "veto": False, "expires_on": None, "explanation": json.dumps(_cut_steps(pt, cuts, "step_late_closed", row["event_key"]),
                                                                              ensure_ascii=False)}
        out.add_entry(cut, scope, scoring=False)
        res.entries.append(cut)

    # ------------------------------------------------------------------ corrections
    def reverse(self, entry_id: int, actor: str, reason: str, source: str = "web", kind: str = "reversal") -> int:
        """Write an entry that reverses another (once only); caps and floors it used are given back."""
        with self.write_engine.begin() as conn:
            return self.reverse_in(conn, entry_id, actor, reason, source, kind)

    def reverse_in(self, conn: Connection, entry_id: int, actor: str, reason: str, source: str = "web",
                   kind: str = "reversal") -> int:
        """``reverse`` in the caller's transaction (an appeal's decision and its reversal commit together)."""
        orig = conn.execute(select(ENTRY).where(ENTRY.c.id == entry_id)).mappings().one_or_none()
        if orig is None:
            raise LookupError(entry_id)
        lock_holders(conn, [(orig["holder_kind"], orig["holder_id"])])
        now = self.clock()
        scope = Scope(orig["grid_id"] or 0, orig["village_id"] or 0, orig["township_id"] or 0, orig["branch_id"] or 0)
        row = {**{k: orig[k] for k in orig if k != "id"},
               "key": f"rev:{entry_id}", "amount": -orig["amount"], "kind": kind, "reverses_id": entry_id,
               "recorded_at": now, "actor": actor, "approver": actor, "source": source, "note": reason,  # who decided it
               "veto": False, "expires_on": None,
               "explanation": json.dumps([["step_reversal", {"entry": entry_id, "reason": reason}]], ensure_ascii=False)}
        if conn.execute(select(ENTRY.c.id).where(ENTRY.c.key == row["key"])).first():
            raise ReversalRefused(entry_id, "already")
        # Only a rule's award is reversed: a purchase is cancelled at the shop (which also gives the
        # goods back), a closing or an expiry follows from the rules. A wrong reversal is made good by
        # recording the event again under a new id. An award that expired has no points left to take back.
        if orig["kind"] != "award":
            raise ReversalRefused(entry_id, "not_award")
        if conn.execute(select(ENTRY.c.id).where(ENTRY.c.key == f"exp:{entry_id}")).first():
            raise ReversalRefused(entry_id, "expired")
        out = _Batch()
        out.add_entry(row, scope, scoring=True)  # the award's period loses it all: tallies, grades, earned
        if orig["veto"]:
            out.add_tally(orig["point_type"], orig["holder_kind"], orig["holder_id"], orig["local_day"], scope, 0, -1)
        # A period closed since already reset or carried the award: the balance gives back only what the
        # closes left of it, and a second entry (not a score) says so.
        kept, steps = self.kept_after_closes(conn, orig["point_type"], orig["holder_kind"], orig["holder_id"], orig["amount"],
                                             orig["local_day"], "step_reversal_closed", entry_id)
        if kept != orig["amount"]:
            closed = {**row, "key": f"rev:{entry_id}:closed", "amount": orig["amount"] - kept, "kind": "close",
                      "rule_id": "", "category": "", "explanation": json.dumps(steps, ensure_ascii=False)}
            out.add_entry(closed, scope, scoring=False)
        # Reversing an award the household already spent may leave the balance below zero:
        # that is recorded, not refused, because the award was wrong and the ledger must say so.
        out.flush(conn, self._release_counters(conn, orig))
        return int(conn.execute(select(ENTRY.c.id).where(ENTRY.c.key == row["key"])).scalar_one())

    def kept_after_closes(self, conn: Connection, point_type: str, holder_kind: str, holder_id: int, amount: int,
                          day: date, step: str, entry_id: int | None) -> tuple[int, list[list[Any]]]:
        """What is left of ``amount`` dated ``day`` after each period of its type closed since, and the steps saying so.

        Each close reset or carried the balance it found (``closing_delta``): carry p% kept p% rounded
        down to the step, reset kept nothing, never kept all. Points given back or taken back after a
        close are cut the same way, so none escapes the year-end policy.
        """
        # The balance row first: on PostgreSQL a close running now holds it (FOR UPDATE) until it commits,
        # so the closed periods read next include it. SQLite's write lock is held already.
        conn.execute(select(BALANCE.c.amount).where(BALANCE.c.point_type == point_type, BALANCE.c.holder_kind == holder_kind,
                                                    BALANCE.c.holder_id == holder_id).with_for_update())
        keys = list(conn.execute(select(PeriodClose.period).where(PeriodClose.point_type == point_type)).scalars())  # type: ignore[call-overload]
        latest = self.versions(conn).latest() if keys else None  # the policy close_period applies
        pt = latest.point_types.get(point_type) if latest is not None else None
        if pt is None:
            return amount, []
        kept, cuts = kept_after(pt, amount, _moving_closes(pt, map(parse_period, keys), day))
        return kept, _cut_steps(pt, cuts, step, entry_id)

    def _release_counters(self, conn: Connection, orig: Any) -> CounterState | None:
        ruleset = self.ruleset_by_hash(orig["rules_version"])
        if ruleset is None or orig["rule_id"] not in ruleset.rules:
            return None
        holders = {(orig["holder_kind"], orig["holder_id"])}
        state = CounterState.load(conn, holders)
        windows = window_keys(orig["local_day"])
        amount = orig["amount"]
        rule = ruleset.rules[orig["rule_id"]]
        # The counters are named by the features themselves (caps and floors read no event field).
        event = Event(orig["event_key"], rule.event_type, orig["occurred_at"], {}, person_id=orig["person_id"])
        holder = f"{orig['holder_kind']}:{orig['holder_id']}"
        for feature in ruleset.features_of(rule):
            if feature.key == "caps" and amount > 0:
                for key in feature.counter_keys(rule, event, windows):
                    state.put(holder, key, max(0, state.get(holder, key) - amount))
            if feature.key == "floor" and amount < 0:
                for key in feature.counter_keys(rule, event, windows):
                    state.put(holder, key, max(0, state.get(holder, key) + amount))
        return state

    # ------------------------------------------------------------------ spending
    def spend(self, conn: Connection, point_type: str, holder_kind: str, holder_id: int, amount: int,
              key: str, actor: str, note: str = "", source: str = "web", kind: str = "spend",
              with_balance: bool = False) -> Any:
        """Take ``amount`` from a balance in the caller's transaction, or raise ``Overdraft``.

        The check and the write are one conditional UPDATE, so no two concurrent
        spends can both pass on the same points. It returns the balance left
        (``RETURNING``), and on PostgreSQL the entry's INSERT rides in the same
        statement (a data-modifying CTE: the entry is written only if the UPDATE
        took a row): one round trip. Returns the entry's id, or
        ``(entry id, balance left)`` with ``with_balance``.
        """
        if amount <= 0:
            raise ValueError("amount must be positive")

        def account() -> tuple[Any, ...]:
            return BALANCE.c.point_type == point_type, BALANCE.c.holder_kind == holder_kind, BALANCE.c.holder_id == holder_id

        if conn.dialect.name == "postgresql":
            row = self._plain_entry(conn, point_type, holder_kind, holder_id, -amount, key, actor, note, source, kind, write=False)
            stmt = self.__dict__.get("_spend_statement")
            if stmt is None:  # built once per ledger: only parameters change between calls
                from sqlalchemy import bindparam, true

                paid = (update(BALANCE).where(BALANCE.c.point_type == bindparam("s_pt"), BALANCE.c.holder_kind == bindparam("s_hk"),
                                              BALANCE.c.holder_id == bindparam("s_hid"), BALANCE.c.amount >= bindparam("s_amount"))
                        .values(amount=BALANCE.c.amount - bindparam("s_amount")).returning(BALANCE.c.amount).cte("paid"))
                made = (ENTRY.insert().from_select(list(row), select(*(bindparam(f"e_{k}", type_=ENTRY.c[k].type) for k in row))
                                                   .select_from(paid)).returning(ENTRY.c.id).cte("made"))
                stmt = self.__dict__["_spend_statement"] = select(made.c.id, paid.c.amount).select_from(made.join(paid, true()))
            params = {f"e_{k}": v for k, v in row.items()}
            params.update(s_pt=point_type, s_hk=holder_kind, s_hid=holder_id, s_amount=amount)
            got = conn.execute(stmt, params).first()
            made_left = None if got is None else (int(got[0]), int(got[1]))
        else:
            left = conn.execute(update(BALANCE).where(*account(), BALANCE.c.amount >= amount)
                                .values(amount=BALANCE.c.amount - amount).returning(BALANCE.c.amount)).scalar()
            made_left = None if left is None else (
                self._plain_entry(conn, point_type, holder_kind, holder_id, -amount, key, actor, note, source, kind), int(left))
        if made_left is None:
            bal = conn.execute(select(BALANCE.c.amount).where(*account())).scalar() or 0
            raise Overdraft(int(bal), amount)
        return made_left if with_balance else made_left[0]

    def credit(self, conn: Connection, point_type: str, holder_kind: str, holder_id: int, amount: int,
               key: str, actor: str, note: str = "", source: str = "web", kind: str = "refund",
               explanation: str = "[]", reverses_id: int | None = None) -> int:
        """Give points back (a cancelled redemption) in the caller's transaction; not a score.

        ``reverses_id``: the spend it gives back, so that a period closed later counts the points
        as held at its end when the spend lay within it (``_close_balances``).
        """
        upsert_add(conn, BALANCE, [{"point_type": point_type, "holder_kind": holder_kind, "holder_id": holder_id, "amount": amount, "earned": 0}],
                   ("point_type", "holder_kind", "holder_id"), ("amount",))
        return self._plain_entry(conn, point_type, holder_kind, holder_id, amount, key, actor, note, source, kind,
                                 explanation=explanation, reverses_id=reverses_id)

    def _plain_entry(self, conn: Connection, pt: str, hk: str, hid: int, amount: int, key: str, actor: str,
                     note: str, source: str, kind: str, write: bool = True, explanation: str = "[]",
                     reverses_id: int | None = None) -> Any:
        """Write one entry that is not a score and return its id; with ``write=False`` only return its row."""
        now = self.clock()
        latest = self._versions.latest() if self._versions is not None else self.versions(conn).latest()
        day = local_date(now, latest.timezone) if latest else now.date()
        row = {
            "key": key, "point_type": pt, "holder_kind": hk, "holder_id": hid, "person_id": None, "amount": amount,
            "kind": kind, "rule_id": "", "rules_version": "", "category": "", "event_key": "", "occurred_at": now,
            "local_day": day, "recorded_at": now, "actor": actor, "approver": "", "source": source, "reverses_id": reverses_id,
            "veto": False, "explanation": explanation, "note": note, "expires_on": None,
        }
        if not write:
            return row
        return int(conn.execute(ENTRY.insert().returning(ENTRY.c.id), row).scalar_one())

    # ------------------------------------------------------------------ periods
    def close_period(self, point_type: str, period: str, actor: str = "scheduler") -> dict[str, Any]:
        """Close a period: freeze grades, then reset or carry balances by the type's policy.

        Closing the same period again changes nothing and returns the first result.
        A period that may not be closed (not ended, out of order, before the
        first rules, not one the type closes by) raises ``ScoringError`` naming
        why (``scoring.grades.closing_problems``); nothing is written.
        """
        with self.write_engine.begin() as conn:
            if is_postgres(conn):
                # One close of a type at a time (a second waits here, then finds the first's row below), and
                # every balance of the type locked before anything is read: a writer that changed one commits
                # first and the reads below see its entries; one that has not yet waits for the close.
                conn.execute(text("SELECT pg_advisory_xact_lock(:a, 0)"), {"a": _CLOSE_LOCK})  # batches in flight finish first
                conn.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), {"a": _CLOSE_LOCK, "b": zlib.crc32(point_type.encode()) & 0x7FFFFFFF})
                conn.execute(select(BALANCE.c.holder_id).where(BALANCE.c.point_type == point_type)
                             .order_by(BALANCE.c.holder_kind, BALANCE.c.holder_id).with_for_update()).all()
            done = conn.execute(select(PeriodClose).where(PeriodClose.point_type == point_type, PeriodClose.period == period)).first()  # type: ignore[arg-type]
            if done:
                return {"point_type": point_type, "period": period, "entries": done.entries, "already": True}
            versions = self.versions(conn)
            ruleset = versions.latest()
            if ruleset is None or point_type not in ruleset.point_types:
                allowed = ", ".join(ruleset.point_types) if ruleset else "-"
                raise ScoringError([Problem("close_point_type", {"value": point_type, "allowed": allowed}, field="type")])
            pt = ruleset.point_types[point_type]
            now = self.clock()
            closed = set(conn.execute(select(PeriodClose.period).where(PeriodClose.point_type == point_type)).scalars())  # type: ignore[call-overload]
            problems = closing_problems(pt, period, local_date(now, ruleset.timezone), versions.versions[0].effective, closed)
            if problems:
                raise ScoringError(problems)
            self._snapshot_grades(conn, pt, period, now)
            entries = 0
            if pt.period == parse_period(period).kind and pt.year_end.policy != "never":
                entries = self._close_balances(conn, pt, period, now, actor, ruleset.timezone)
            conn.execute(PeriodClose.__table__.insert(), [{"point_type": point_type, "period": period, "closed_at": now, "closed_by": actor, "entries": entries}])  # type: ignore[attr-defined]
            return {"point_type": point_type, "period": period, "entries": entries, "already": False}

    def _snapshot_grades(self, conn: Connection, pt: Any, period: str, now: datetime,
                         holders: Sequence[tuple[str, int]] = ()) -> None:
        # One INSERT … SELECT: each holder's score and vetoes in the period summed from the tallies and
        # graded in SQL as scoring.grades.grade does (the first level reached, in the file's order; none
        # under a veto, vetoed meaning a non-zero veto count).
        from sqlalchemy import case, literal
        from sqlalchemy.dialects import postgresql, sqlite

        snap = GradeSnapshot.__table__  # type: ignore[attr-defined]
        score, vetoes = func.sum(TALLY.c.amount), func.sum(TALLY.c.vetoes)
        vetoed = vetoes != 0
        levels = [(score >= level.min, literal(level.key)) for level in pt.grades]
        graded = case((vetoed, literal("")), *levels, else_=literal("")) if levels else literal("")
        rows = (
            select(literal(pt.key), literal(period), TALLY.c.holder_kind, TALLY.c.holder_id, score, graded, vetoed,
                   literal(now, snap.c.frozen_at.type))
            .where(TALLY.c.point_type == pt.key, TALLY.c.period == period)
            .group_by(TALLY.c.holder_kind, TALLY.c.holder_id)
        )
        cols = ["point_type", "period", "holder_kind", "holder_id", "score", "grade", "vetoed", "frozen_at"]
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(snap)
        if not holders:  # the close: every holder once (a second close writes nothing)
            conn.execute(insert.from_select(cols, rows).on_conflict_do_nothing())
            return
        # A late award after the close: those holders' frozen grades again, from the tallies now.
        stmt = insert.from_select(cols, rows.where(tuple_(TALLY.c.holder_kind, TALLY.c.holder_id).in_(list(holders))))
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["point_type", "period", "holder_kind", "holder_id"],
            set_={"score": stmt.excluded.score, "grade": stmt.excluded.grade, "vetoed": stmt.excluded.vetoed,
                  "frozen_at": stmt.excluded.frozen_at}))

    def _close_balances(self, conn: Connection, pt: Any, period: str, now: datetime, actor: str, tz: Any) -> int:
        # Set-based: one INSERT … SELECT writes every closing entry and the balances move by exactly those
        # amounts, in the caller's transaction. scoring.grades.closing_delta (integer arithmetic, the kept
        # share rounded down to the step) and scoring.points.fmt (the explanation's "before") are written
        # in SQL; bench/close.py checks every entry against the Python functions.
        from sqlalchemy import bindparam, text

        end_day = parse_period(period).end - timedelta(days=1)
        # The closing entry stands at the last second of the period, local time.
        closing_at = datetime.combine(end_day, time(23, 59, 59), tzinfo=tz).astimezone(UTC)
        note = "reset" if pt.year_end.policy == "reset" else f"carry {pt.year_end.carry_percent}%"
        a = "b.amount"
        if pt.year_end.policy == "reset":
            delta = f"(-{a})"
        else:
            p, s = int(pt.year_end.carry_percent), int(pt.step)
            x = f"({a} * {p})"
            q = f"(CASE WHEN {x} >= 0 THEN {x} / 100 ELSE -((-{x} + 99) / 100) END)"  # floor(x / 100)
            delta = f"((CASE WHEN {q} >= 0 THEN {q} - {q} % {s} ELSE {q} + (-{q}) % {s} END) - {a})"
        w, c = f"(ABS({a}) / 100)", f"(ABS({a}) % 100)"
        shown = (f"(CASE WHEN {a} < 0 THEN '-' ELSE '' END) || CAST({w} AS VARCHAR) || (CASE WHEN {c} = 0 THEN '' "
                 f"WHEN {c} % 10 = 0 THEN '.' || CAST({c} / 10 AS VARCHAR) WHEN {c} < 10 THEN '.0' || CAST({c} AS VARCHAR) "
                 f"ELSE '.' || CAST({c} AS VARCHAR) END)")
        head, tail = json.dumps([["step_close", {"period": period, "policy": note, "before": "\x01"}]], ensure_ascii=False).split("\\u0001")
        cols = ("key", "point_type", "holder_kind", "holder_id", "amount", "kind", "rule_id", "rules_version", "category",
                "event_key", "occurred_at", "local_day", "recorded_at", "actor", "approver", "source", "veto", "note", "explanation")
        values = (f":key || b.holder_kind || CAST(b.holder_id AS VARCHAR), :pt, b.holder_kind, b.holder_id, {delta}, 'close', '', '', '', "
                  f"'', :occurred_at, :local_day, :recorded_at, :actor, '', 'scheduler', :veto, :note, :head || {shown} || :tail")
        insert = f"INSERT INTO entry ({', '.join(f'{chr(34)}{n}{chr(34)}' for n in cols)}) SELECT {values}"
        params = {"key": f"close:{pt.key}:{period}:", "pt": pt.key, "occurred_at": closing_at, "local_day": end_day,
                  "recorded_at": now, "actor": actor, "veto": False, "note": note, "head": head, "tail": tail}
        # The balance closed is the one held at the end of the period: entries dated after it (points of
        # the new year entered before the close, a purchase since) are taken out of it, so they are
        # neither cut nor carried. Usually none are, and the sum is over an empty set.
        # A refund of a purchase made within the period gives back points the household held at its end
        # (the reservation held them), so it stays in the balance closed.
        # Points spent since the end came out of the oldest points first, the ones held at the end: what
        # is closed is what is left of those (never below nothing), so a purchase on New Year's Day is not
        # cut a second time by the close. A balance that was negative at the end is closed as it was.
        late = ("(SELECT e.holder_kind, e.holder_id, CAST(SUM(e.amount) AS BIGINT) AS s, "
                "CAST(SUM(CASE WHEN e.kind IN ('spend', 'refund') THEN e.amount ELSE 0 END) AS BIGINT) AS spent "
                "FROM entry AS e WHERE e.point_type = :pt "
                "AND e.local_day > :local_day AND NOT (e.kind = 'refund' AND EXISTS (SELECT 1 FROM entry AS sp "
                "WHERE sp.id = e.reverses_id AND sp.local_day <= :local_day)) GROUP BY e.holder_kind, e.holder_id)")  # BIGINT: PostgreSQL sums integers as numeric, and the SQL below divides
        held = "(c.amount - COALESCE(l.s, 0))"
        left = f"({held} + COALESCE(l.spent, 0))"
        at_end = (f"SELECT c.holder_kind, c.holder_id, CASE WHEN {held} <= 0 THEN {held} WHEN {left} > 0 THEN {left} ELSE 0 END "
                  f"AS amount FROM {{c}} AS c LEFT JOIN {late} AS l ON l.holder_kind = c.holder_kind AND l.holder_id = c.holder_id")
        if conn.dialect.name == "postgresql":
            # One statement: the balances read are locked (FOR UPDATE) and both the entries and the
            # balances are written from that one read.
            sql = (f"WITH c AS (SELECT holder_kind, holder_id, amount FROM balance WHERE point_type = :pt FOR UPDATE), "
                   f"b AS ({at_end.format(c='c')}), "
                   f"d AS (SELECT b.holder_kind, b.holder_id, {delta} AS delta FROM b), "
                   f"ins AS ({insert} FROM b WHERE {a} <> 0 AND {delta} <> 0 ORDER BY b.holder_kind, b.holder_id) "
                   f"UPDATE balance AS t SET amount = t.amount + d.delta FROM d WHERE t.point_type = :pt "
                   f"AND t.holder_kind = d.holder_kind AND t.holder_id = d.holder_id AND d.delta <> 0")
            statements = [sql]
        else:
            # BEGIN IMMEDIATE holds SQLite's write lock: nothing changes a balance between the two. The
            # closing entries written first lie on the period's last day, so the second statement reads
            # the same balances at the end.
            b = f"({at_end.format(c='(SELECT * FROM balance WHERE point_type = :pt)')}) AS b"
            where = f"WHERE {a} <> 0 AND {delta} <> 0"
            statements = [f"{insert} FROM {b} {where} ORDER BY b.holder_kind, b.holder_id",
                          f"UPDATE balance AS t SET amount = t.amount + d.delta FROM (SELECT b.holder_kind, b.holder_id, "
                          f"{delta} AS delta FROM {b} {where}) AS d WHERE t.point_type = :pt AND t.holder_kind = d.holder_kind "
                          "AND t.holder_id = d.holder_id"]
        binds = [bindparam("occurred_at", type_=ENTRY.c.occurred_at.type), bindparam("local_day", type_=ENTRY.c.local_day.type),
                 bindparam("recorded_at", type_=ENTRY.c.recorded_at.type), bindparam("veto", type_=ENTRY.c.veto.type)]
        counts = []
        for sql in statements:
            used = [bp for bp in binds if f":{bp.key}" in sql]
            stmt = text(sql).bindparams(*used)
            counts.append(conn.execute(stmt, {k: v for k, v in params.items() if f":{k}" in sql}).rowcount)
        return int(counts[0])  # entries written (PostgreSQL: balances moved, one per entry)

    def expire(self, today: date, actor: str = "scheduler") -> int:
        """Write an expiry entry for each entry whose validity ended before ``today`` (once each).

        What expires is what is left of the entry, first in first out: purchases and
        deductions used the oldest points first, so an award already spent expires
        nothing and a balance never goes below zero by expiring. Holders are locked,
        so a purchase cannot run between the reading and the writing.
        """
        with self.write_engine.begin() as conn:
            # Who has something due, then their locks, then what is due read again under them: a reversal
            # or an expiry committed meanwhile is seen, so no award is taken back twice.
            locked = {(r["holder_kind"], r["holder_id"]) for r in self._due(conn, today)}
            lock_holders(conn, sorted(locked))
            due = self._due(conn, today)
            if more := {(r["holder_kind"], r["holder_id"]) for r in due} - locked:  # an award backdated meanwhile
                lock_holders(conn, sorted(more))
                due = [r for r in self._due(conn, today) if (r["holder_kind"], r["holder_id"]) in locked | more]
            held = self._held(conn, [r for r in due if r["amount"] > 0])
            out = _Batch()
            now = self.clock()
            for r in due:
                amount = used = 0
                closed_steps: list[list[Any]] = []
                if r["amount"] < 0:
                    # A deduction that expires is lifted (forgiven after its time): what the closes since left of it.
                    amount, closed_steps = self.kept_after_closes(conn, r["point_type"], r["holder_kind"], r["holder_id"], r["amount"],
                                                                  r["local_day"], "step_expire_closed", r["id"])
                else:
                    account = (r["point_type"], r["holder_kind"], r["holder_id"])
                    balance, newer = held[account]
                    newer -= r["amount"]  # the points that stay after this entry: every newer award still held
                    amount = max(0, min(r["amount"], balance - newer))
                    held[account] = (balance - amount, newer)
                    used = r["amount"] - amount
                step = ["step_expire", {"entry": r["id"]}] if not used else \
                    ["step_expire_used", {"entry": r["id"], "used": fmt(used), "amount": fmt(amount)}]
                row = {**{k: r[k] for k in r if k != "id"}, "key": f"exp:{r['id']}", "amount": -amount, "kind": "expire",
                       "reverses_id": r["id"], "recorded_at": now, "actor": actor, "source": "scheduler", "expires_on": None,
                       "veto": False, "explanation": json.dumps([step, *closed_steps], ensure_ascii=False)}
                out.add_entry(row, NO_SCOPE, scoring=False)
            written = len(out.entries)
            out.flush(conn, None)
            return written

    @staticmethod
    def _due(conn: Connection, today: date) -> Sequence[Any]:
        """Awards whose validity ended before ``today``, neither expired nor reversed yet, oldest first."""
        undone = ENTRY.alias("undone")  # by the unique key: exp:<id> or rev:<id> (no index on reverses_id needed)
        ident = cast(ENTRY.c.id, String)
        gone = select(undone.c.id).where(undone.c.key.in_(["exp:" + ident, "rev:" + ident])).exists()
        return conn.execute(
            select(ENTRY).where(ENTRY.c.expires_on.is_not(None), ENTRY.c.expires_on < today, ENTRY.c.kind == "award", ~gone)
            .order_by(ENTRY.c.local_day, ENTRY.c.id)
        ).mappings().all()

    @staticmethod
    def _held(conn: Connection, due: Sequence[Any]) -> dict[tuple[str, str, int], tuple[int, int]]:
        """Per account: its balance, and the awards it holds from the oldest expiring one on (expiring or not)."""
        held: dict[tuple[str, str, int], tuple[int, int]] = {}
        first: dict[tuple[str, str, int], tuple[date, int]] = {}
        for r in due:
            first.setdefault((r["point_type"], r["holder_kind"], r["holder_id"]), (r["local_day"], r["id"]))
        undone = ENTRY.alias("undone")
        # Balance rows locked in key order, as a close locks them: the balance read is the one written to.
        for (pt, hk, hid), (day, ident) in sorted(first.items()):
            balance = conn.execute(select(BALANCE.c.amount).where(BALANCE.c.point_type == pt, BALANCE.c.holder_kind == hk,
                                                                  BALANCE.c.holder_id == hid).with_for_update()).scalar() or 0
            # Awards from the oldest expiring one on, not reversed and not expired before today.
            newer = conn.execute(select(func.coalesce(func.sum(ENTRY.c.amount), 0)).where(
                ENTRY.c.point_type == pt, ENTRY.c.holder_kind == hk, ENTRY.c.holder_id == hid, ENTRY.c.kind == "award",
                ENTRY.c.amount > 0, or_(ENTRY.c.local_day > day, and_(ENTRY.c.local_day == day, ENTRY.c.id >= ident)),
                ~select(undone.c.id).where(undone.c.reverses_id == ENTRY.c.id).exists(),  # reversed, or expired before
            )).scalar() or 0
            held[(pt, hk, hid)] = (int(balance), int(newer))
        return held

    # ------------------------------------------------------------------ reading
    def balance(self, point_type: str, holder_kind: str, holder_id: int) -> tuple[int, int]:
        """(balance, earned) of one account; (0, 0) when it has no entry yet."""
        with self.engine.connect() as conn:
            row = conn.execute(select(BALANCE.c.amount, BALANCE.c.earned).where(
                BALANCE.c.point_type == point_type, BALANCE.c.holder_kind == holder_kind, BALANCE.c.holder_id == holder_id)).first()
            return (int(row[0]), int(row[1])) if row else (0, 0)

    def period_score(self, conn: Connection, point_type: str, period: str, holder_kind: str, holder_id: int) -> tuple[int, bool]:
        """A holder's score and veto flag in a period, summed over the grids it was in."""
        row = conn.execute(select(func.coalesce(func.sum(TALLY.c.amount), 0), func.coalesce(func.sum(TALLY.c.vetoes), 0)).where(
            TALLY.c.point_type == point_type, TALLY.c.period == period, TALLY.c.holder_kind == holder_kind, TALLY.c.holder_id == holder_id)).one()
        return int(row[0]), bool(row[1])
