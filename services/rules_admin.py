"""The rules editor's services: validate, diff, dry run, publish, roll back, history.

A rules file with any problem is never published; the live rules stay live
until a valid replacement is published with an effective date.
"""

from __future__ import annotations

import difflib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Connection, func, select

from scoring.engine import Engine as ScoringEngine
from scoring.errors import RulesFileError
from scoring.loader import check_rules, load_rules
from scoring.model import PublishedVersion, Ruleset, VersionTable
from scoring.periods import Period, parse_period, period_key
from services.actors import Actor
from services.context import AppContext
from services.errors import Forbidden, NotFound, ServiceError
from services.ingest import to_incoming
from services.messages import add
from store import rules_repo
from store.directory import Directory
from store.models import Entry, EventRecord, Tally

add({
    "rules_invalid": ("规则文件有 {count} 个问题,未发布;现行规则不变", "the rules file has {count} problem(s); nothing was published and the live rules are unchanged"),
    "rules_editor_only": ("只有管理员可以修改积分细则", "only administrators may change the rules"),
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


def dry_run(ctx: AppContext, text: str, period: str | None = None, lang: str = "zh", batch: int = 20000) -> DryRun:
    """Score a past period's events again under ``text`` and compare with the standings kept.

    Events are re-scored in the order they happened with counters kept in
    memory; events that never posted (claims still under review or refused)
    stay out, as they are in the kept standings. Nothing is written.
    """
    import time as _time

    started = _time.perf_counter()
    ruleset = load_rules(text)  # raises RulesFileError: the editor shows the problems
    key = period or default_period(ctx)
    span = parse_period(key)
    engine = ScoringEngine(VersionTable([PublishedVersion(date.min, ruleset)]))
    state = _MemoryState()
    new_scores: dict[str, dict[tuple[str, int], int]] = defaultdict(lambda: defaultdict(int))
    count = 0
    with ctx.engine.connect() as conn:
        start, end = _utc_bounds(span, ruleset)
        posted = _posted_events(conn, start, end)
        directory = Directory(conn)
        last_key: tuple[datetime, str] | None = None
        while True:
            rows = _event_page(conn, start, end, last_key, batch)
            if not rows:
                break
            last_key = (rows[-1].occurred_at, rows[-1].event_key)
            count += _score_page(rows, ruleset, engine, state, directory, posted, new_scores)
        old_scores = _kept_scores(conn, key)
    result = DryRun(key, count)
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


def _utc_bounds(span: Period, ruleset: Ruleset) -> tuple[datetime, datetime]:
    tz = ruleset.timezone
    start = datetime.combine(span.start, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(span.end, time.min, tzinfo=tz).astimezone(UTC)
    return start, end


def _posted_events(conn: Connection, start: datetime, end: datetime) -> set[str]:
    rows = conn.execute(select(Entry.event_key).where(Entry.kind == "award", Entry.occurred_at >= start, Entry.occurred_at < end, Entry.approver != "").distinct())
    return set(rows.scalars())


def _event_page(conn: Connection, start: datetime, end: datetime, after: tuple[datetime, str] | None, size: int) -> list[Any]:
    q = select(EventRecord.event_key, EventRecord.occurred_at, EventRecord.payload, EventRecord.source).where(
        EventRecord.occurred_at >= start, EventRecord.occurred_at < end)
    if after is not None:
        q = q.where((EventRecord.occurred_at > after[0]) | ((EventRecord.occurred_at == after[0]) & (EventRecord.event_key > after[1])))
    return list(conn.execute(q.order_by(EventRecord.occurred_at, EventRecord.event_key).limit(size)).all())


def _score_page(rows: list[Any], ruleset: Ruleset, engine: ScoringEngine, state: _MemoryState, directory: Directory,
                posted: set[str], scores: dict[str, dict[tuple[str, int], int]]) -> int:
    incoming = []
    for row in rows:
        inc = to_incoming(row.event_key, json.loads(row.payload), ruleset.timezone, row.source, "")
        if not isinstance(inc, list):
            incoming.append(inc)
    directory.prepare((i.person for i in incoming if i.person), (i.household for i in incoming if i.household))
    for inc in incoming:
        day = inc.occurred_at.astimezone(ruleset.timezone).date()
        event, _problems = directory.event_for(inc, day)
        if event is None:
            continue
        outcome = engine.evaluate(event, state, approved=True if inc.key in posted else None)
        for draft in outcome.drafts:
            if not draft.pending:
                kind, _, ident = draft.holder.partition(":")
                scores[draft.point_type][(kind, int(ident))] += draft.amount
    return len(incoming)


def _kept_scores(conn: Connection, period: str) -> dict[str, dict[tuple[str, int], int]]:
    out: dict[str, dict[tuple[str, int], int]] = defaultdict(dict)
    rows = conn.execute(select(Tally.point_type, Tally.holder_kind, Tally.holder_id, func.sum(Tally.amount))
                        .where(Tally.period == period).group_by(Tally.point_type, Tally.holder_kind, Tally.holder_id))
    for pt, hk, hid, amount in rows:
        out[pt][(hk, hid)] = int(amount)
    return out
