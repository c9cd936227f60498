"""The rules editor's services: validate, diff, dry run, publish, roll back, history.

A rules file with any problem is never published; the live rules stay live
until a valid replacement is published with an effective date.
"""

from __future__ import annotations

import difflib
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from scoring.engine import Engine as ScoringEngine
from scoring.engine import parse_moment, parse_points_field
from scoring.errors import RulesFileError
from scoring.loader import check_rules, load_rules, read_yaml
from scoring.model import Event, PublishedVersion, Ruleset, VersionTable
from scoring.periods import Period, parse_period, period_key
from services.actors import Actor
from services.context import AppContext
from services.errors import Forbidden, NotFound, ServiceError
from services.ingest import _plain, to_incoming
from services.messages import add
from store import rules_repo
from store.directory import Directory
from store.models import Entry, EventRecord, RulesVersion, Tally

add({
    "rules_invalid": ("规则文件有 {count} 个问题,未发布;现行规则不变", "the rules file has {count} problem(s); nothing was published and the live rules are unchanged"),
    "rules_editor_only": ("只有管理员可以修改积分细则", "only administrators may change the rules"),
    "dryrun_period": ("期间 “{value}” 无法试算;请写作 2026、2026-Q1 或 2026-03 这样的近年期间", "period '{value}' cannot be dry-run; write a recent period such as 2026, 2026-Q1 or 2026-03"),
    "effective_past": ("生效日期 {day} 早于今天:已记的分不会因新规则改变,请选择今天或以后", "effective date {day} is before today: posted points never change with new rules; choose today or later"),
})

EDITORS = ("admin",)


def validate(text: str, lang: str = "zh", filename: str = "rules.yaml") -> list[dict[str, Any]]:
    """Every problem of a rules text as dicts (line, column, message) for the editor to show beside the line."""
    return [p.as_dict(lang) for p in check_rules(text, filename)]


def diff(live_text: str, new_text: str) -> list[str]:
    """Unified diff lines from the live rules to the edited text."""
    return list(difflib.unified_diff(live_text.splitlines(), new_text.splitlines(), "live rules.yaml", "edited rules.yaml", lineterm=""))


def live_text(ctx: AppContext) -> str:
    """The text of the rules in force today (empty when none is published)."""
    return rules_repo.live_source(ctx.engine, ctx.today()) or ""


def _require_editor(actor: Actor) -> None:
    if actor.role not in EDITORS:
        raise Forbidden("rules_editor_only")


def publish(ctx: AppContext, text: str, effective: date, actor: Actor, note: str = "") -> rules_repo.Published:
    """Publish after a full check; a file with problems raises ``ServiceError`` and changes nothing."""
    _require_editor(actor)
    if effective < ctx.today():
        raise ServiceError("effective_past", field="effective", day=effective.isoformat())
    try:
        return rules_repo.publish(ctx.engine, text, effective, actor.username, ctx.now(), note=note)
    except RulesFileError as exc:
        same_day = [p for p in exc.problems if p.code == "republish_same_day"]
        if same_day:  # the text is fine; the day is taken (a rollback to that very day)
            raise ServiceError("republish_same_day", field="effective", **same_day[0].params) from exc
        raise ServiceError("rules_invalid", field="text", count=len(exc.problems)) from exc


def rollback(ctx: AppContext, version_id: int, effective: date, actor: Actor) -> rules_repo.Published:
    """Publish an earlier version's text again from ``effective`` on (history is never rewritten)."""
    source = rules_repo.source_of(ctx.engine, version_id)
    if source is None:
        raise NotFound("not_found")
    return publish(ctx, source, effective, actor, note=f"rollback to #{version_id}")


def history(ctx: AppContext) -> list[rules_repo.Published]:
    """Published versions, newest first."""
    return rules_repo.history(ctx.engine)


# ------------------------------------------------------------------ dry run
@dataclass
class Change:
    """One holder whose standing would change."""

    point_type: str
    holder_kind: str
    holder_id: int
    old: int
    new: int
    old_rank: int | None
    new_rank: int | None

    @property
    def delta(self) -> int:
        """New minus old score."""
        return self.new - self.old


@dataclass
class DryRun:
    """What a rules change would have done to a past period's standings."""

    period: str
    events: int
    changes: list[Change] = field(default_factory=list)
    totals: dict[str, tuple[int, int]] = field(default_factory=dict)  # point type → (old total, new total)
    holders: int = 0
    seconds: float = 0.0
    kept_events: int = 0  # events of the period the change cannot reach: their kept entries stand
    full: bool = False  # every event was scored again


class _MemoryState:
    """Counters in memory: the dry run writes nothing."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], int] = {}

    def get(self, holder: str, key: str) -> int:
        return self.values.get((holder, key), 0)

    def put(self, holder: str, key: str, value: int) -> None:
        self.values[(holder, key)] = value


def _ranks(scores: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    ordered = sorted(scores.items(), key=lambda kv: -kv[1])
    ranks: dict[tuple[str, int], int] = {}
    prev, rank = None, 0
    for i, (holder, score) in enumerate(ordered, 1):
        if score != prev:
            rank, prev = i, score
        ranks[holder] = rank
    return ranks


def default_period(ctx: AppContext) -> str:
    """The last complete month before today: the period a dry run compares by default."""
    today = ctx.today()
    first = today.replace(day=1)
    from datetime import timedelta

    return period_key("month", first - timedelta(days=1))


def dry_run(ctx: AppContext, text: str, period: str | None = None, lang: str = "zh", batch: int = 50000,
            full: bool = False) -> DryRun:
    """Score a past period's events again under ``text`` and compare with the standings kept.

    Events are re-scored in the order they happened with counters kept in
    memory, starting as the ledger's were when the period began: the events
    before it that its windows still count (a year cap's, a repeat's) are
    scored first by the versions then in force, their amounts not compared.
    So a change that alters no points shows no change. Events that never
    posted (claims still under review or refused) stay out, as they are in
    the kept standings. Nothing is written.

    Only the events the change can reach are scored again (``full`` scores
    them all): an event type is reached when its definition, one of its rules
    (or their order), a category or point type of its rules differs from a
    version in force during the period, and so is every event type sharing a
    category or rule id (shared counters) with a reached one; a change to
    anything else in the file (time zone, tiers, roles) reaches every type.
    The entries of the rules not reached are taken from the ledger as kept.
    """
    import time as _time

    started = _time.perf_counter()
    ruleset = load_rules(text)  # raises RulesFileError: the editor shows the problems
    key = period or default_period(ctx)
    try:
        span = parse_period(key)
        start, end = _utc_bounds(span, ruleset)
    except (ValueError, OverflowError):  # 0001: its first local midnight is before the first UTC day there is
        raise ServiceError("dryrun_period", field="period", value=key) from None
    engine = ScoringEngine(VersionTable([PublishedVersion(date.min, ruleset)]))
    state = _MemoryState()
    scored: dict[tuple[str, str], int] = {}
    count = 0
    with ctx.engine.connect() as conn:
        reach = None if full else _reach(text, _sources_in_force(conn, span))
        old_scores = _kept_scores(conn, key)
        new_scores: dict[str, dict[tuple[str, int], int]] = defaultdict(dict)
        if reach is not None:
            _add_kept_entries(conn, span, reach[1], new_scores)
        in_period = _count_events(conn, start, end)
        if reach is None or reach[0]:
            types = None if reach is None else reach[0]
            directory = Directory(conn, places=False)
            # Counters as the ledger had them when the period began: the events before it that a cap,
            # floor, cooldown or repeat window reaching into the period still counts, scored again by the
            # versions that were in force (their amounts are not compared, only their counters kept).
            kept_versions = ctx.ledger.versions(conn)
            warm = _warm_up_start(span, ruleset, kept_versions)
            kept_engine = ScoringEngine(kept_versions)
            posted_before = _posted_events(conn, warm, start)
            for rows in _event_pages(conn, warm, start, types, batch):
                _score_page(rows, ruleset.timezone, kept_engine, state, directory, posted_before, {})
            posted = _posted_events(conn, start, end)
            for rows in _event_pages(conn, start, end, types, batch):
                count += _score_page(rows, ruleset.timezone, engine, state, directory, posted, scored)
    for (pt, who), amount in scored.items():
        kind, _, ident = who.partition(":")
        scores = new_scores[pt]
        h = (kind, int(ident))
        scores[h] = scores.get(h, 0) + amount
    result = DryRun(key, count, kept_events=in_period - count, full=reach is None)
    for pt in sorted(set(old_scores) | set(new_scores)):
        old, new = old_scores.get(pt, {}), new_scores.get(pt, {})
        old_r, new_r = _ranks(old), _ranks(new)
        result.totals[pt] = (sum(old.values()), sum(new.values()))
        for holder in set(old) | set(new):
            if old.get(holder, 0) != new.get(holder, 0) or old_r.get(holder) != new_r.get(holder):
                result.changes.append(Change(pt, holder[0], holder[1], old.get(holder, 0), new.get(holder, 0), old_r.get(holder), new_r.get(holder)))
        result.holders += len(set(old) | set(new))
    result.changes.sort(key=lambda c: (-abs(c.delta), c.point_type, c.holder_kind, c.holder_id))
    result.seconds = _time.perf_counter() - started
    return result


def _warm_up_start(span: Period, ruleset: Ruleset, versions: VersionTable) -> datetime | None:
    """From when events before the period still weigh on its counters (None: from the first event).

    Each feature of the new text and of every version says how far back its counters reach from the
    period's first day (``Feature.reaches_back``): a year cap to the year's start, a repeat window by
    its days, a ``total`` cap to the beginning.
    """
    earliest = span.start
    for rs in [ruleset, *(v.ruleset for v in versions.versions)]:
        for owner in [*rs.rules.values(), *rs.categories.values()]:
            for feature in owner.features:
                earliest = min(earliest, feature.reaches_back(span.start))
    if earliest == date.min:
        return None
    return datetime.combine(earliest, time.min, tzinfo=ruleset.timezone).astimezone(UTC)


def _utc_bounds(span: Period, ruleset: Ruleset) -> tuple[datetime, datetime]:
    tz = ruleset.timezone
    start = datetime.combine(span.start, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(span.end, time.min, tzinfo=tz).astimezone(UTC)
    return start, end


# -- what a change can reach
_NOT_PER_TYPE = ("title", "rules", "categories", "point_types", "event_types")


def _sources_in_force(conn: Connection, span: Period) -> list[str]:
    """The texts of every version in force on some day of the period (as ``VersionTable`` picks them)."""
    rows = sorted(conn.execute(select(RulesVersion.effective, RulesVersion.source).order_by(RulesVersion.id)).all(),  # type: ignore[arg-type]
                  key=lambda r: r.effective)
    out = []
    for i, row in enumerate(rows):
        after = rows[i + 1].effective if i + 1 < len(rows) else None
        if row.effective < span.end and (after is None or after > span.start):
            out.append(row.source)
    return out


def _shape(text: str) -> tuple[str, dict[str, str], dict[str, set[str]]]:
    """A rules text as plain data: the part every type depends on, each event type's own part, and its counters' owners."""
    # Read as the loader reads it: YAML's own date reading raises on a text such as "title: 2026-02-30".
    doc = read_yaml(text) or {}

    def dump(o: Any) -> str:
        return json.dumps(o, sort_keys=True, ensure_ascii=False, default=str)

    def keyed(name: str) -> dict[str, Any]:
        return {str(x.get("key")): x for x in doc.get(name) or [] if isinstance(x, dict)}

    points, cats, types = keyed("point_types"), keyed("categories"), keyed("event_types")
    by_type: dict[str, list[Any]] = defaultdict(list)
    for r in doc.get("rules") or []:
        by_type[str(r.get("event") if isinstance(r, dict) else None)].append(r)
    common = dump({k: v for k, v in doc.items() if k not in _NOT_PER_TYPE})
    own, owners = {}, {}
    for et in set(types) | set(by_type):
        rules = by_type.get(et, [])
        dicts = [r for r in rules if isinstance(r, dict)]
        cat_keys = sorted({str(r["category"]) for r in dicts if r.get("category") is not None})
        pt_keys = sorted({str(r.get("point_type")) for r in dicts} | {str(cats[c].get("point_type")) for c in cat_keys if c in cats})
        own[et] = dump([types.get(et), rules, [cats.get(c) for c in cat_keys], [points.get(p) for p in pt_keys]])
        owners[et] = {"C:" + c for c in cat_keys} | {"R:" + str(r.get("id")) for r in dicts}
    return common, own, owners


def _reach(text: str, kept: list[str]) -> tuple[set[str], list[str]] | None:
    """The event types a change reaches and the rule ids of their entries; None when it reaches everything."""
    if not kept:
        return None
    new = _shape(text)
    olds = [_shape(t) for t in kept]
    if any(o[0] != new[0] for o in olds):
        return None
    reached = {et for o in olds for et in set(new[1]) | set(o[1]) if new[1].get(et) != o[1].get(et)}
    owners: dict[str, set[str]] = defaultdict(set)  # event type → counter owners, in any version
    types_of: dict[str, set[str]] = defaultdict(set)  # counter owner → event types
    for shape in (new, *olds):
        for et, names in shape[2].items():
            owners[et] |= names
            for name in names:
                types_of[name].add(et)
    todo = list(reached)
    while todo:
        for name in owners[todo.pop()]:
            for et in types_of[name] - reached:
                reached.add(et)
                todo.append(et)
    rule_ids = sorted({name[2:] for et in reached for name in owners[et] if name.startswith("R:")})
    return reached, rule_ids


def _add_kept_entries(conn: Connection, span: Period, rule_ids: list[str], scores: dict[str, dict[tuple[str, int], int]]) -> None:
    """Add the period's kept rule entries (awards and their reversals), but those of ``rule_ids``, per holder."""
    # Grouped by ``holder_id + 0``: SQLite would otherwise walk ix_entry_holder for the grouping and
    # fetch every row through it (4.0 s for a year of a county, against 1.9 s for one scan and a sort).
    holder_id = (Entry.holder_id + 0).label("holder_id")
    q = (select(Entry.point_type, Entry.holder_kind, holder_id, func.sum(Entry.amount))
         .where(Entry.local_day >= span.start, Entry.local_day < span.end, Entry.rule_id != "",  # type: ignore[arg-type]
                Entry.kind.in_(("award", "reversal")))  # type: ignore[attr-defined]
         .group_by(Entry.point_type, Entry.holder_kind, holder_id))
    if rule_ids:
        q = q.where(Entry.rule_id.not_in(rule_ids))  # type: ignore[attr-defined]
    for pt, hk, hid, amount in conn.execute(q):
        scores[pt][(hk, hid)] = int(amount)


# -- scoring the events again
def _count_events(conn: Connection, start: datetime, end: datetime) -> int:
    q = select(func.count()).select_from(EventRecord).where(EventRecord.occurred_at >= start, EventRecord.occurred_at < end)  # type: ignore[arg-type]
    return int(conn.execute(q).scalar() or 0)


def _posted_events(conn: Connection, start: datetime | None, end: datetime) -> set[str]:
    # No DISTINCT: the set drops repeats, and SQLite would walk ix_entry_event for it (0.64 s against 0.34 s a year).
    q = select(Entry.event_key).where(Entry.kind == "award", Entry.occurred_at < end, Entry.approver != "")
    rows = conn.execute(q if start is None else q.where(Entry.occurred_at >= start))
    return set(rows.scalars())


def _event_pages(conn: Connection, start: datetime | None, end: datetime, types: set[str] | None, size: int) -> Iterator[Sequence[Any]]:
    """The events from ``start`` (None: the first) to ``end`` (key, payload, source) in the order they happened, ``size`` at a time."""
    q = select(EventRecord.event_key, EventRecord.payload, EventRecord.source).where(EventRecord.occurred_at < end)  # type: ignore[arg-type]
    if start is not None:
        q = q.where(EventRecord.occurred_at >= start)  # type: ignore[arg-type]
    if types is not None:
        q = q.where(EventRecord.type.in_(sorted(types)))  # type: ignore[attr-defined]
    result = conn.execution_options(stream_results=True, yield_per=size).execute(q.order_by(EventRecord.occurred_at, EventRecord.event_key))
    yield from result.partitions(size)


def _records(rows: Sequence[Any], tz: Any) -> list[tuple[str, Any, str]]:
    """Each kept record read as ``to_incoming`` reads it: ("plain", its clean dict, source) or ("inc", an Incoming, "")."""
    out: list[tuple[str, Any, str]] = []
    for key, payload, source in rows:
        try:
            data = orjson.loads(payload)  # ~2.5 µs a record against json's ~6
        except orjson.JSONDecodeError:  # what orjson refuses and json reads (NaN, huge integers)
            data = json.loads(payload)
        clean = _plain(data) if type(data) is dict else None
        if clean is not None:
            out.append(("plain", clean, source))
            continue
        inc = to_incoming(key, data, tz, source, "")  # anything unusual takes the import's own path
        if not isinstance(inc, list):
            out.append(("inc", inc, ""))
    return out


def _event(clean: dict[str, Any], source: str, tz: Any, directory: Directory) -> Event | None:
    """``directory.event_for(to_incoming(record))`` for a plainly well-formed record, without the ``Incoming``.

    None where either would refuse it: a bad time or amount, no person nor
    household, an unknown code (tests/test_rules_admin.py holds the two equal).
    """
    person, household = clean["person"] or None, clean["household"] or None
    if person is None and household is None:
        return None
    try:
        moment = parse_moment(clean["occurred_at"], tz)
        points = parse_points_field(clean["points"])
    except ValueError:
        return None
    pid = hid = home = None
    if person is not None and (pid := directory.person_ids.get(person)) is None:
        return None
    if household is not None and (hid := directory.household_ids.get(household)) is None:
        return None
    day = moment.astimezone(tz).date()
    if pid is not None:
        home = directory.home(pid, day)
    return Event(clean["id"], clean["type"], moment, clean["fields_"], pid, hid, home, directory.attrs(pid, hid, day),
                 clean["actor"] or "", source, clean["approved_by"] or "", points, clean["rule"] or "")


def _score_page(rows: Sequence[Any], tz: Any, engine: ScoringEngine, state: _MemoryState, directory: Directory,
                posted: set[str], scores: dict[tuple[str, str], int]) -> int:
    records = _records(rows, tz)
    persons = [r[1].person if r[0] == "inc" else r[1]["person"] for r in records]
    households = [r[1].household if r[0] == "inc" else r[1]["household"] for r in records]
    directory.prepare([p for p in persons if p], [h for h in households if h],
                      [(p, h) for p, h in zip(persons, households, strict=True) if p and h])
    evaluate, get = engine.evaluate, scores.get
    for how, record, source in records:
        if how == "plain":
            event = _event(record, source, tz, directory)
        else:
            event = directory.event_for(record, record.occurred_at.astimezone(tz).date())[0]
        if event is None:
            continue
        for draft in evaluate(event, state, True if event.id in posted else None).drafts:
            if not draft.pending:
                k = (draft.point_type, draft.holder)
                scores[k] = get(k, 0) + draft.amount
    return len(records)


def _kept_scores(conn: Connection, period: str) -> dict[str, dict[tuple[str, int], int]]:
    out: dict[str, dict[tuple[str, int], int]] = defaultdict(dict)
    rows = conn.execute(select(Tally.point_type, Tally.holder_kind, Tally.holder_id, func.sum(Tally.amount))
                        .where(Tally.period == period).group_by(Tally.point_type, Tally.holder_kind, Tally.holder_id))
    for pt, hk, hid, amount in rows:
        out[pt][(hk, hid)] = int(amount)
    return out
