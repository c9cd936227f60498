"""党员联户: Party members' work with their linked households, scored through the ledger.

* ``record_visit`` — a visit (event ``household_visit``, rule LH-01, × the household's tier);
* ``raise_problem`` — a problem the household raised (``problem_raised``, LH-02);
* ``mark_handled`` — the member reports it handled (optional; nothing is scored yet);
* ``confirm_resolution`` — THE HOUSEHOLD confirms it resolved (``problem_resolved`` with
  ``days_to_resolve``: LH-03 within three days, else LH-04, each × tier); anyone else is refused;
* ``rate_member`` — the household rates its member once a quarter (``household_rating``, LH-05/06);
* ``visit_backlog`` — for a branch secretary, each member's linked households not visited
  within N days, red first;
* ``last_visits`` — when each member last visited each linked household, read from the ledger's
  entries of the rules that score ``household_visit`` (one source of truth, however the visit was
  recorded: this web form, the API, an import or a claim); the ``visit`` table keeps only what
  the web form adds (the note, who typed it);
* ``problems`` / ``problem`` — problems within the actor's scope (all, or one by id);
  ``household_ratings`` — what a household gave its members in a quarter.

Every scored action has a deterministic or caller-given event key, so a retry counts once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from scoring.engine import parse_moment
from scoring.periods import local_date, period_key
from services.actors import Actor
from services.claims import (
    Invalid,
    aware,
    county_tz,
    household_code,
    linked,
    person_code,
    record_one,
    refuse_read_only,
)
from services.errors import Conflict, Forbidden, NotFound, ServiceError
from services.messages import add
from store.ledger import Incoming, Ledger
from store.models import Entry, EventRecord, Household, HouseholdTier, Linkage, PartyMember, Person
from store.models_workflow import HouseholdRating, LinkProblem, Visit

VISIT = Visit.__table__  # type: ignore[attr-defined]
PROBLEM = LinkProblem.__table__  # type: ignore[attr-defined]
RATING = HouseholdRating.__table__  # type: ignore[attr-defined]

# The event type of a visit (rules.yaml ``event_types``). Coverage and the backlog count the ledger's
# entries of the rules scoring this event type, whatever path recorded the event (web form, API,
# import, claim): see ``last_visits``.
VISIT_EVENT = "household_visit"
MEMBERS_PER_QUERY = 200  # members whose households and visits one query reads (bounded IN lists)

add({
    "wf_not_linked": ("该农户不是您的联系户", "that household is not linked to you"),
    "wf_members_only": ("只有党员本人(或本村书记代为)可以登记联户工作", "only the Party member (or the village's secretary for them) may record linking work"),
    "wf_household_confirms": ("问题办结须由该户本户确认,他人不能代为确认", "only the household concerned may confirm that its problem is resolved"),
    "wf_problem_done": ("该问题已确认办结", "that problem is already confirmed resolved"),
    "wf_rating_range": ("评价须为 1 到 5 之间的整数", "a rating is a whole number from 1 to 5"),
    "wf_rating_twice": ("本季度已评价过该党员", "you have already rated this member this quarter"),
    "wf_summary_required": ("请填写问题摘要", "describe the problem"),
    "wf_household_rates": ("只有联系户本户可以评价联系党员", "only a linked household may rate its Party member"),
    "wf_secretaries_only": ("只有党支部书记、村委会成员或管理员可以查看", "only the branch secretary, the committee or an administrator may see this"),
})


@dataclass
class WorkResult:
    """What one piece of linking work earned: the event, points and explanation of what was skipped."""

    event_key: str
    status: str  # recorded | nothing | duplicate
    amount: int
    record_id: int | None = None
    skipped: list[str] = field(default_factory=list)


@dataclass
class OverdueHousehold:
    """A linked household not visited within the window."""

    household_id: int
    code: str
    head_name: str
    tier: str
    last_visit: date | None
    days_since: int | None  # None: never visited


@dataclass
class MemberBacklog:
    """One member and their overdue households, most urgent first."""

    member_id: int
    code: str
    name: str
    linked: int
    overdue: list[OverdueHousehold]

    @property
    def red_overdue(self) -> int:
        """How many overdue households are of the most-attention tier."""
        return sum(1 for h in self.overdue if h.tier == "red")


def _moment(ledger: Ledger, value: datetime | str | None) -> datetime:
    now = ledger.clock()
    if value in (None, ""):
        return now
    try:
        moment = parse_moment(value, county_tz(ledger))
    except ValueError:
        raise ServiceError("event_time", field="occurred_at", value=value) from None
    if moment > now + timedelta(minutes=5):
        raise ServiceError("wf_in_future", field="occurred_at", value=str(value))
    return moment


def _recorded_at(ledger: Ledger, key: str) -> datetime | None:
    """When the event already recorded under ``key`` happened (None: nothing recorded under it yet)."""
    with ledger.engine.connect() as conn:
        stored = conn.execute(select(EventRecord.occurred_at).where(EventRecord.event_key == key)).scalar()  # type: ignore[arg-type]
    if stored is None:
        return None
    if isinstance(stored, str):
        stored = datetime.fromisoformat(stored)
    return aware(stored)


def _when(ledger: Ledger, key: str | None, given: datetime | str | None) -> datetime:
    """The moment of a piece of work: the one given, else that of the event already recorded under ``key``, else now.

    A form sent again (the same request key) is the same event: it keeps the first press's time, so the ledger
    knows it for the one it recorded instead of refusing another event under a used id.
    """
    if given in (None, "") and key:
        stored = _recorded_at(ledger, key)
        if stored is not None:
            return stored
    return _moment(ledger, given)


def _record_keyed(ledger: Ledger, key: str, moment: datetime, given: datetime | str | None,
                  make: Callable[[datetime], Incoming]) -> tuple[Any, datetime]:
    """Record ``make(moment)``; when a copy of the same request was recorded meanwhile under ``key`` (two presses
    racing, each stamped with its own now), the event is that copy's: recorded again at its time, a duplicate."""
    try:
        return record_one(ledger, make(moment)), moment
    except Invalid as exc:
        if given not in (None, "") or not any(p.code == "duplicate_conflict" for p in exc.problems):
            raise
        stored = _recorded_at(ledger, key)
        if stored is None or stored == moment:
            raise
        return record_one(ledger, make(stored)), stored


def _member_for(conn: Connection, actor: Actor, member_id: int | None, household_id: int | None) -> int:
    """The member doing the work: the actor, or one named by a secretary of the household's village."""
    refuse_read_only(actor)
    if actor.role == "party_member" and actor.person_id is not None and member_id in (None, actor.person_id):
        return actor.person_id
    if member_id is not None and actor.role in ("secretary", "committee", "admin"):
        if actor.role != "admin" and household_id is not None:
            village = conn.execute(select(Household.village_id).where(Household.id == household_id)).scalar()  # type: ignore[arg-type]
            if village != actor.village_id:
                raise Forbidden("wf_out_of_scope")
        return member_id
    raise Forbidden("wf_members_only")


def _scored(ledger: Ledger, key: str) -> int:
    """Points an event earned (for a retried event, from the ledger)."""
    with ledger.engine.connect() as conn:
        amount = conn.execute(select(func.coalesce(func.sum(Entry.amount), 0)).where(
            Entry.event_key == key, Entry.kind == "award")).scalar() or 0  # type: ignore[arg-type]
    return int(amount)


def record_visit(ledger: Ledger, actor: Actor, household_id: int, visited_at: datetime | str | None = None,
                 note: str = "", member_id: int | None = None, key: str | None = None) -> WorkResult:
    """A member's visit to a linked household: LH-01 points, × the household's tier, once a day.

    The same ``key`` sent again (a form pressed twice) is the same visit: recorded once, answered ``duplicate``.
    """
    moment = _when(ledger, key, visited_at)
    tz = county_tz(ledger)
    day = local_date(moment, tz)
    with ledger.engine.connect() as conn:
        member = _member_for(conn, actor, member_id, household_id)
        if not linked(conn, member, household_id, day):
            raise Forbidden("wf_not_linked", field="household")
        pcode, hcode = person_code(conn, member), household_code(conn, household_id)
    key = key or f"visit:{uuid.uuid4().hex}"

    def make(at: datetime) -> Incoming:
        # The record as an import would send it: the event record then names the household like every other path.
        record = {"id": key, "type": VISIT_EVENT, "occurred_at": at.isoformat(), "person": pcode, "household": hcode,
                  "fields": {"note": note} if note else {}, "actor": actor.username}
        return Incoming(key=key, type=VISIT_EVENT, occurred_at=at, person=pcode, household=hcode,
                        fields={"note": note or None}, actor=actor.username, source="web", ref=key,
                        payload=json.dumps(record, ensure_ascii=False))

    result, moment = _record_keyed(ledger, key, moment, visited_at, make)
    day = local_date(moment, tz)
    # A retried visit (same key) earned nothing this time: its row keeps what the first one earned.
    amount = _scored(ledger, key) if result.status == "duplicate" else sum(e["amount"] for e in result.entries)
    try:
        with ledger.write_engine.begin() as conn:
            existing = conn.execute(select(VISIT.c.id, VISIT.c.amount).where(VISIT.c.event_key == key)).first()
            if existing:
                return WorkResult(key, "duplicate", int(existing.amount), existing.id)
            res = conn.execute(VISIT.insert().values(member_id=member, household_id=household_id, visited_at=moment, local_day=day,
                                                     note=note, event_key=key, recorded_by=actor.username, amount=amount))
            return WorkResult(key, result.status, amount, int(res.inserted_primary_key[0]), _skips(result))
    except IntegrityError:
        # Two copies of one request raced past the check (the key is unique): the first one's row stands.
        with ledger.engine.connect() as conn:
            existing = conn.execute(select(VISIT.c.id, VISIT.c.amount).where(VISIT.c.event_key == key)).first()
        if existing is None:
            raise
        return WorkResult(key, "duplicate", int(existing.amount), existing.id)


def _skips(result: Any) -> list[str]:
    from scoring.messages import render

    return [f"{rule}: {render(step.code, 'zh', **step.params)}" for rule, step in result.skipped]


def raise_problem(ledger: Ledger, actor: Actor, household_id: int, summary: str, raised_at: datetime | str | None = None,
                  member_id: int | None = None, key: str | None = None) -> WorkResult:
    """A problem the linked household raised with its member: LH-02 points (capped weekly), × tier.

    The same ``key`` sent again (a form pressed twice) is the same problem: one row, answered ``duplicate``.
    """
    if not (summary or "").strip():
        raise ServiceError("wf_summary_required", field="summary")
    moment = _when(ledger, key, raised_at)
    day = local_date(moment, county_tz(ledger))
    with ledger.engine.connect() as conn:
        member = _member_for(conn, actor, member_id, household_id)
        if not linked(conn, member, household_id, day):
            raise Forbidden("wf_not_linked", field="household")
        pcode, hcode = person_code(conn, member), household_code(conn, household_id)
    key = key or f"problem:{uuid.uuid4().hex}"
    result, moment = _record_keyed(
        ledger, key, moment, raised_at,
        lambda at: Incoming(key=key, type="problem_raised", occurred_at=at, person=pcode, household=hcode,
                            fields={"summary": summary.strip()}, actor=actor.username, source="web", ref=key))
    # A retried problem (same key) earned nothing this time: what the first press earned, from the ledger.
    amount = _scored(ledger, key) if result.status == "duplicate" else sum(e["amount"] for e in result.entries)
    try:
        with ledger.write_engine.begin() as conn:
            existing = conn.execute(select(PROBLEM.c.id).where(PROBLEM.c.raised_event_key == key)).scalar()
            if existing:
                return WorkResult(key, "duplicate", amount, existing)
            res = conn.execute(PROBLEM.insert().values(member_id=member, household_id=household_id, summary=summary.strip(),
                                                       raised_at=moment, raised_by=actor.username, raised_event_key=key, status="open"))
            return WorkResult(key, result.status, amount, int(res.inserted_primary_key[0]), _skips(result))
    except IntegrityError:
        # Two copies of one request raced past the check (if the key is unique): the first one's row stands.
        with ledger.engine.connect() as conn:
            existing = conn.execute(select(PROBLEM.c.id).where(PROBLEM.c.raised_event_key == key)).scalar()
        if existing is None:
            raise
        return WorkResult(key, "duplicate", amount, existing)


def mark_handled(ledger: Ledger, actor: Actor, problem_id: int, note: str = "") -> None:
    """The member reports the problem handled; it still waits for the household to confirm."""
    now = ledger.clock()
    with ledger.write_engine.begin() as conn:
        prob = conn.execute(select(PROBLEM).where(PROBLEM.c.id == problem_id)).mappings().first()
        if prob is None:
            raise NotFound("not_found", field="problem")
        member = _member_for(conn, actor, prob["member_id"] if actor.role != "party_member" else None, prob["household_id"])
        if member != prob["member_id"]:
            raise Forbidden("wf_not_linked")
        done = conn.execute(update(PROBLEM).where(PROBLEM.c.id == problem_id, PROBLEM.c.status == "open")
                            .values(status="handled", handled_at=now, handled_note=note))
        if done.rowcount != 1:
            raise Conflict("wf_problem_done")


def confirm_resolution(ledger: Ledger, actor: Actor, problem_id: int, resolved_at: datetime | str | None = None) -> WorkResult:
    """The household confirms its problem resolved: LH-03 (≤ 3 days, 5 points) or LH-04 (3), × tier.

    Only a villager login of that very household may confirm; anyone else is refused.
    """
    moment = _moment(ledger, resolved_at)
    tz = county_tz(ledger)
    with ledger.engine.connect() as conn:
        prob = conn.execute(select(PROBLEM).where(PROBLEM.c.id == problem_id)).mappings().first()
        if prob is None:
            raise NotFound("not_found", field="problem")
        if actor.role != "villager" or actor.household_id != prob["household_id"]:
            raise Forbidden("wf_household_confirms")
        if prob["status"] == "resolved":
            raise Conflict("wf_problem_done")
        pcode, hcode = person_code(conn, prob["member_id"]), household_code(conn, prob["household_id"])
    key = f"problem:{problem_id}:resolved"
    if resolved_at in (None, ""):  # recorded already (a press whose row was not written yet): that confirmation's time
        moment = _recorded_at(ledger, key) or moment
    raised_day = local_date(aware(prob["raised_at"]), tz)  # type: ignore[arg-type]

    def make(at: datetime) -> Incoming:
        days = max(0, (local_date(at, tz) - raised_day).days)
        return Incoming(key=key, type="problem_resolved", occurred_at=at, person=pcode, household=hcode,
                        fields={"days_to_resolve": days}, actor=actor.username, source="web", ref=key)

    # Two presses racing past the check above each stamp their own now: the second is the first one's event again.
    result, moment = _record_keyed(ledger, key, moment, resolved_at, make)
    days = max(0, (local_date(moment, tz) - raised_day).days)
    amount = _scored(ledger, key)
    with ledger.write_engine.begin() as conn:
        done = conn.execute(update(PROBLEM).where(PROBLEM.c.id == problem_id, PROBLEM.c.status != "resolved").values(
            status="resolved", resolved_at=moment, confirmed_by=actor.username, days_to_resolve=days, resolved_event_key=key))
    # Another press marked it resolved meanwhile: a replay. This press resolved it (its event recorded by an earlier
    # press that stopped before marking the row): it counts as this confirmation.
    status = "duplicate" if done.rowcount != 1 else ("recorded" if result.status == "duplicate" else result.status)
    return WorkResult(key, status, amount, problem_id, _skips(result))


def rate_member(ledger: Ledger, actor: Actor, rating: int, member_id: int | None = None,
                rated_at: datetime | str | None = None) -> WorkResult:
    """The household rates its linked member (1–5) once a quarter: ≥ 4 gives +1 (LH-05), ≤ 2 gives −1 (LH-06)."""
    if actor.role != "villager" or actor.household_id is None:
        raise Forbidden("wf_household_rates")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ServiceError("wf_rating_range", field="rating")
    moment = _moment(ledger, rated_at)
    day = local_date(moment, county_tz(ledger))
    with ledger.engine.connect() as conn:
        members = [m for m in linked_members(conn, actor.household_id, day) if member_id in (None, m)]
        if not members:
            raise Forbidden("wf_not_linked", field="member")
        member = members[0]
        period = period_key("quarter", day)
        if conn.execute(select(RATING.c.id).where(RATING.c.member_id == member, RATING.c.household_id == actor.household_id,
                                                  RATING.c.period == period)).first():
            raise Conflict("wf_rating_twice")
        pcode, hcode = person_code(conn, member), household_code(conn, actor.household_id)
    key = f"rating:{member}:{actor.household_id}:{period}"
    result = record_one(ledger, Incoming(key=key, type="household_rating", occurred_at=moment, person=pcode, household=hcode,
                                         fields={"rating": rating}, actor=actor.username, source="web", ref=key))
    if result.status == "duplicate":
        raise Conflict("wf_rating_twice")
    amount = sum(e["amount"] for e in result.entries)
    with ledger.write_engine.begin() as conn:
        res = conn.execute(RATING.insert().values(member_id=member, household_id=actor.household_id, period=period, rating=rating,
                                                  rated_by=actor.username, rated_at=moment, event_key=key))
        return WorkResult(key, result.status, amount, int(res.inserted_primary_key[0]), _skips(result))


def linked_members(conn: Connection, household_id: int, day: date) -> list[int]:
    """The members looking after a household on a day."""
    rows = conn.execute(select(Linkage.member_id, Linkage.valid_from, Linkage.valid_to).where(
        Linkage.household_id == household_id).order_by(Linkage.id)).all()  # type: ignore[arg-type]
    return [m for m, f, t in rows if f <= day and (t is None or day < t)]


def linked_households(ledger: Ledger, actor: Actor, member_id: int | None = None, on: date | None = None) -> list[dict[str, Any]]:
    """A member's linked households with tier, last visit and open problems (the member, or their secretary)."""
    day = on or local_date(ledger.clock(), county_tz(ledger))
    member = member_id if member_id is not None else actor.person_id
    if member is None:
        raise Forbidden("wf_members_only")
    with ledger.engine.connect() as conn:
        if member != actor.person_id:
            _check_branch_officer(conn, actor, member, day)
        lines = _household_lines(conn, ledger, [member], day).get(member, [])
        hids = [line["household_id"] for line in lines]
        open_problems = dict(conn.execute(select(PROBLEM.c.household_id, func.count()).where(
            PROBLEM.c.member_id == member, PROBLEM.c.household_id.in_(hids), PROBLEM.c.status != "resolved",
        ).group_by(PROBLEM.c.household_id)).all()) if hids else {}
    for line in lines:
        line["open_problems"] = int(open_problems.get(line["household_id"], 0))
    return lines


def _active(rows: Any, day: date) -> Any:
    """(key, value) of the rows (key, value, valid_from, valid_to) in force on ``day``."""
    return ((k, v) for k, v, f, t in rows if f <= day and (t is None or day < t))


def _household_lines(conn: Connection, ledger: Ledger, members: list[int], day: date) -> dict[int, list[dict[str, Any]]]:
    """Each member's households linked on ``day`` (by id): code, head, tier and last visit — a few queries in all."""
    if not members:
        return {}
    rows = conn.execute(select(Linkage.member_id, Linkage.household_id, Linkage.valid_from, Linkage.valid_to).where(
        Linkage.member_id.in_(members))).all()  # type: ignore[attr-defined]
    links: dict[int, set[int]] = {m: set() for m in members}
    for m, h in _active(rows, day):
        links[m].add(h)
    hids = sorted(set().union(*links.values()))
    heads = {r.id: (r.code, r.head_name) for r in conn.execute(select(Household.id, Household.code, Household.head_name).where(
        Household.id.in_(hids)))} if hids else {}  # type: ignore[union-attr]
    tiers: dict[int, str] = dict(_active(conn.execute(select(HouseholdTier.household_id, HouseholdTier.tier, HouseholdTier.valid_from,
                                                             HouseholdTier.valid_to).where(HouseholdTier.household_id.in_(hids))).all(), day)) if hids else {}  # type: ignore[attr-defined]
    last = last_visits(conn, ledger, {m: {heads[h][0]: h for h in hs} for m, hs in links.items()})
    return {m: [{"household_id": h, "code": heads[h][0], "head_name": heads[h][1], "tier": tiers.get(h, ""),
                 "last_visit": last.get((m, h))} for h in sorted(hs)] for m, hs in links.items()}


def visit_rules(ledger: Ledger, conn: Connection | None = None) -> tuple[set[str], set[str]]:
    """Ids and point types of the rules that score a visit (event type ``VISIT_EVENT``), in any published version."""
    rule_ids: set[str] = set()
    point_types: set[str] = set()
    for version in ledger.versions(conn).versions:
        for rule in version.ruleset.by_event.get(VISIT_EVENT, ()):
            rule_ids.add(rule.id)
            point_types.add(rule.point_type)
    return rule_ids, point_types


def last_visits(conn: Connection, ledger: Ledger, households: dict[int, dict[str, int]]) -> dict[tuple[int, int], date]:
    """The local day each member last visited each household: ``households`` is member → {household code: id}.

    Read from the ledger, which every way of recording a visit writes (web form, API, import, an approved
    claim): the member's award entries of the visit rules (index ``ix_entry_holder``), each joined to its
    event record by key for the household the visit concerned. A visit delivered twice is one event, so it
    counts once; an award later reversed does not count. A visit that earned nothing (its household's
    cooldown, a cap) has no entry: within the cooldown the day before is already counted. The web form's
    older event records have no payload, so its ``visit`` row names their household.
    """
    rule_ids, point_types = visit_rules(ledger, conn)  # on the caller's connection: no second one per chunk
    if not households or not rule_ids:
        return {}
    q = (select(Entry.id, Entry.holder_id, Entry.kind, Entry.reverses_id, Entry.local_day, Entry.event_key,  # type: ignore[call-overload]
                EventRecord.payload)
         .select_from(Entry)
         .outerjoin(EventRecord, EventRecord.event_key == Entry.event_key)  # type: ignore[arg-type]
         .where(Entry.holder_kind == "p", Entry.holder_id.in_(sorted(households)),  # type: ignore[attr-defined]
                Entry.point_type.in_(sorted(point_types)), Entry.rule_id.in_(sorted(rule_ids)),  # type: ignore[attr-defined]
                Entry.kind.in_(("award", "reversal"))))  # type: ignore[attr-defined]
    rows = [tuple(r) for r in conn.execute(q)]
    reversed_ids = {rev for _, _, kind, rev, _, _, _ in rows if kind == "reversal"}
    visits: list[tuple[int, Any, int | None, str]] = []  # member, local day, household id (None: not named), event key
    for eid, member, kind, _, day, key, payload in rows:
        if kind != "award" or eid in reversed_ids:
            continue
        try:
            code = orjson.loads(payload).get("household") if payload else None
        except (orjson.JSONDecodeError, AttributeError):
            code = None
        visits.append((member, day, households[member].get(code) if isinstance(code, str) else None, key))
    unnamed = sorted({key for _, _, hid, key in visits if hid is None})
    by_form = dict(conn.execute(select(VISIT.c.event_key, VISIT.c.household_id).where(VISIT.c.event_key.in_(unnamed))).all()) if unnamed else {}
    last: dict[tuple[int, int], date] = {}
    for member, day, hid, key in visits:
        hid = hid if hid is not None else by_form.get(key)
        if hid is None:
            continue
        if not isinstance(day, date):
            day = date.fromisoformat(str(day))
        pair = (member, hid)
        if pair not in last or day > last[pair]:
            last[pair] = day
    return last


def _check_branch_officer(conn: Connection, actor: Actor, member: int, day: date) -> None:
    if actor.role == "admin" or actor.role == "auditor":
        return
    if actor.role not in ("secretary", "committee"):
        raise Forbidden("wf_secretaries_only")
    branches = conn.execute(select(PartyMember.branch_id, PartyMember.valid_from, PartyMember.valid_to).where(
        PartyMember.person_id == member)).all()  # type: ignore[arg-type]
    branch = next((b for b, f, t in branches if f <= day and (t is None or day < t)), None)
    if branch is None or branch != actor.branch_id:
        raise NotFound("not_found", field="member")


def visit_backlog(ledger: Ledger, actor: Actor, days: int = 30, branch_id: int | None = None,
                  today: date | None = None, tiers: tuple[str, ...] | None = None) -> list[MemberBacklog]:
    """For each member of a branch, linked households not visited within ``days`` (red first).

    Households are ordered by tier (most attention first, from the rules file's tiers), then by
    the longest since a visit (never visited first). Members with the most red households overdue
    come first. A secretary sees their own branch; an administrator names one or sees all.
    """
    if actor.role not in ("secretary", "committee", "admin", "auditor", "system"):
        raise Forbidden("wf_secretaries_only")
    if actor.role in ("secretary", "committee"):
        branch_id = actor.branch_id
        if branch_id is None:
            raise Forbidden("wf_secretaries_only")
    day = today or local_date(ledger.clock(), county_tz(ledger))
    latest = ledger.versions().latest()
    order = tiers or (tuple(reversed(latest.tier_keys())) if latest else ("red", "orange", "yellow"))
    rank = {t: i for i, t in enumerate(order)}
    with ledger.engine.connect() as conn:
        q = select(PartyMember.person_id, PartyMember.valid_from, PartyMember.valid_to)
        if branch_id is not None:
            q = q.where(PartyMember.branch_id == branch_id)
        members = sorted({p for p, f, t in conn.execute(q).all() if f <= day and (t is None or day < t)})
        people: dict[int, Any] = {}
        lines: dict[int, list[dict[str, Any]]] = {}
        for at in range(0, len(members), MEMBERS_PER_QUERY):  # county-wide (the daily job): a branch's worth at a time
            part = members[at:at + MEMBERS_PER_QUERY]
            people.update((r.id, r) for r in conn.execute(select(Person.id, Person.code, Person.name).where(Person.id.in_(part))))  # type: ignore[union-attr]
            lines.update(_household_lines(conn, ledger, part, day))
    out = []
    for member in members:
        overdue = []
        for line in lines[member]:
            last = line["last_visit"]
            since = (day - last).days if last else None
            if since is None or since > days:
                overdue.append(OverdueHousehold(line["household_id"], line["code"], line["head_name"], line["tier"], last, since))
        overdue.sort(key=lambda h: (rank.get(h.tier, len(rank)), -(h.days_since if h.days_since is not None else 10**6), h.code))
        out.append(MemberBacklog(member, people[member].code, people[member].name, len(lines[member]), overdue))
    out.sort(key=lambda m: (-m.red_overdue, -len(m.overdue), m.code))
    return out


def _problem_query(actor: Actor) -> Any:
    """Problems the actor may see: a household its own, a member theirs, officers their village's, the county all."""
    q = select(PROBLEM, Household.code.label("household_code"), Household.village_id).join(  # type: ignore[attr-defined]
        Household, Household.id == PROBLEM.c.household_id)
    if actor.role == "villager":
        return q.where(PROBLEM.c.household_id == (actor.household_id or -1))
    if actor.role == "party_member":
        return q.where(PROBLEM.c.member_id == (actor.person_id or -1))
    if not actor.county_wide:
        return q.where(Household.village_id == (actor.village_id or -1))
    return q


def problems(ledger: Ledger, actor: Actor, status: str | None = None) -> list[dict[str, Any]]:
    """Problems the actor may see: a household its own, a member theirs, officers their village's."""
    q = _problem_query(actor)
    if status:
        q = q.where(PROBLEM.c.status == status)
    with ledger.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q.order_by(PROBLEM.c.raised_at.desc())).mappings()]


def problem(ledger: Ledger, actor: Actor, problem_id: int) -> dict[str, Any]:
    """One problem within the actor's scope; outside it reads the same as one that does not exist (NotFound)."""
    with ledger.engine.connect() as conn:
        row = conn.execute(_problem_query(actor).where(PROBLEM.c.id == problem_id)).mappings().first()
    if row is None:
        raise NotFound("not_found", field="problem")
    return dict(row)


def household_ratings(ledger: Ledger, actor: Actor, household_id: int | None = None, period: str | None = None) -> dict[int, int]:
    """Ratings a household gave its members in a quarter (this one by default): member → 1–5.

    A villager reads their own household's; officers their village's; the county roles any.
    """
    hid = household_id if household_id is not None else actor.household_id
    if hid is None:
        raise NotFound("not_found", field="household")
    quarter = period or period_key("quarter", local_date(ledger.clock(), county_tz(ledger)))
    with ledger.engine.connect() as conn:
        village = conn.execute(select(Household.village_id).where(Household.id == hid)).scalar()  # type: ignore[arg-type]
        if village is None or not actor.sees_household(hid, village):
            raise NotFound("not_found", field="household")
        rows = conn.execute(select(RATING.c.member_id, RATING.c.rating).where(RATING.c.household_id == hid, RATING.c.period == quarter))
        return {int(m): int(r) for m, r in rows}


__all__ = [
    "VISIT_EVENT", "MemberBacklog", "OverdueHousehold", "WorkResult", "confirm_resolution", "household_ratings", "last_visits",
    "linked_households", "linked_members", "mark_handled", "problem", "problems", "raise_problem", "rate_member", "record_visit",
    "visit_backlog", "visit_rules",
]
