"""The API's endpoints: a few lines each, calling the same services as the pages.

Scope: a record outside the caller's sight answers exactly as a missing one
(404), so nothing tells who exists; a role that may not call an endpoint at all,
or a scope parameter (village, leaderboard scope) outside its own, gets 403.
"""

from __future__ import annotations

import importlib
from datetime import date, tzinfo
from typing import Any

from flask import current_app, g, jsonify, request
from marshmallow import Schema
from sqlalchemy import Connection, select

from scoring.errors import Problem
from scoring.messages import unit_label
from scoring.model import VersionTable
from scoring.periods import local_date, parse_period, period_key
from services import queries, shop
from services.actors import Actor
from services.context import AppContext
from services.errors import Forbidden, NotFound, ServiceError
from services.ingest import to_incoming
from services.messages import CATALOG as SERVICE_MESSAGES
from services.messages import render
from store.db import database_url
from store.directory import Directory
from store.ledger import RecordResult
from store.models import Area, Branch, Entry, Household
from web.api import schemas as s
from web.api.errors import lang
from web.api.registry import endpoint
from web.scope import Place, can_view, place_of

EVENT_ROLES = ("system", "admin", "committee", "secretary", "grid_worker", "steward", "party_member")
MANAGERS = shop.MANAGERS
COUNTER_READ = (*shop.COUNTER, "auditor")
WRITERS = ("villager", "party_member", "grid_worker", "steward", "secretary", "committee", "shopkeeper", "admin", "system")


class BadRequest(ServiceError):
    """The body is not what the endpoint reads."""


# ---------------------------------------------------------------- helpers
def ctx() -> AppContext:
    """The app's context (engine, ledger, clock): the site's ``jifen`` extension, else one of our own."""
    found = current_app.extensions.get("jifen")
    if found is None:
        found = AppContext(current_app.config.get("DATABASE_URL") or database_url())
        current_app.extensions["jifen"] = found
    return found  # type: ignore[no-any-return]


def actor() -> Actor:
    """The token's actor (set by the blueprint's authentication)."""
    return g.api_actor  # type: ignore[no-any-return]


def require(roles: tuple[str, ...]) -> Actor:
    """The caller, if its role may call this endpoint; the read-only auditor never writes."""
    who = actor()
    if (roles and who.role not in roles) or (who.role == "auditor" and request.method not in ("GET", "HEAD")):
        raise Forbidden("forbidden")
    return who


def body(schema: type[Schema]) -> dict[str, Any]:
    """The JSON body, validated (400 with per-field messages when not)."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("api_not_json", "_body")
    return schema().load(data)  # type: ignore[return-value]


def args(schema: type[Schema]) -> dict[str, Any]:
    """The query parameters, validated."""
    return schema().load(request.args.to_dict())  # type: ignore[return-value]


def out(schema: type[Schema], obj: Any, status: int = 200) -> Any:
    """Dump through the output schema."""
    return jsonify(schema().dump(obj)), status


def today() -> date:
    """The county's local date."""
    return ctx().today()


def visible(conn: Connection, code: str, field: str = "code", day: date | None = None) -> tuple[queries.Holder, Place]:
    """A holder by code within the caller's sight, named in the caller's language; 404 otherwise, the same for another's and a missing one."""
    holder = queries.holder_by_code(conn, code, lang())
    day = day or today()
    place = place_of(conn, holder.kind, holder.id, day) if holder else None
    if holder is None or place is None or not can_view(conn, actor(), place, day):
        raise NotFound("api_holder_unknown", field, value=code)
    return holder, place


def claims_module() -> Any:
    """``services.claims`` (built beside this API); 404 when the server has none."""
    try:
        return importlib.import_module("services.claims")
    except ModuleNotFoundError:
        raise NotFound("api_claims_missing") from None


def audit(change: shop.Change) -> None:
    """Write a catalog change to the site's audit log (when the site's accounts module is there)."""
    try:
        from web.accounts import audit as write
    except ImportError:  # a bare API app without the site
        return
    a = change.audit
    write(ctx().engine, actor(), a.action, a.target, request.remote_addr or "-", a.at, **a.detail)


# ---------------------------------------------------------------- events
@endpoint("/events", "POST", "Record a batch of events", tag="events", roles=EVENT_ROLES, body=s.EventsIn, out=s.EventsOut)
def post_events() -> Any:
    """Score a batch (at most 5,000 records) in one transaction; good records are kept, bad ones reported per field.

    Each result says recorded, pending (waits for review), duplicate (sent before), nothing (no rule
    gave points) or rejected, with messages per field in the caller's language. The caller's token is
    the one who entered the records; ``approved_by`` is honoured only from a ``system`` token.
    """
    who = require(EVENT_ROLES)
    records = body(s.EventsIn)["events"]
    language = lang()
    c = ctx()
    results: list[RecordResult | None] = [None] * len(records)
    batch: list[tuple[int, Any]] = []
    checked: list[tuple[int, Any, str]] = []
    for i, rec in enumerate(records):
        ref = f"#{i + 1}"
        if not isinstance(rec, dict):
            results[i] = RecordResult(ref, "", "rejected", problems=[Problem("bad_json", {"detail": "not an object"}, record=ref)])
            continue
        inc = to_incoming(ref, rec, c.tz, f"api:{who.username}", who.username)
        if isinstance(inc, list):
            results[i] = RecordResult(ref, str(rec.get("id", "")), "rejected", problems=inc)
            continue
        inc.actor, inc.entered_role = who.username, who.role
        if who.role != "system":
            inc.approved_by = ""
        checked.append((i, inc, ref))
    with c.engine.connect() as conn:
        entry = EntryCheck(conn, who, c.ledger.versions(conn), c.tz)
        entry.prepare([inc for _, inc, _ in checked])  # who is who, for the whole batch in one go
        for i, inc, ref in checked:
            problems = _out_of_scope(conn, who, inc, ref) or entry.refused(inc, ref)
            if problems:
                results[i] = RecordResult(inc.ref, inc.key, "rejected", problems=problems)
                continue
            batch.append((i, inc))
    if batch:
        for (i, _), res in zip(batch, c.ledger.record([inc for _, inc in batch]), strict=True):
            results[i] = res
    done = [r for r in results if r is not None]
    counts: dict[str, int] = {}
    for r in done:
        counts[r.status] = counts.get(r.status, 0) + 1
    return out(s.EventsOut, {"results": [_record(r, language) for r in done], "counts": counts})


def _out_of_scope(conn: Connection, who: Actor, inc: Any, ref: str) -> list[Any]:
    """Records naming people or households outside the caller's sight, reported exactly as unknown ones."""
    if who.county_wide:
        return []
    problems = []
    for code, kind, fld in ((inc.person, "unknown_person", "person"), (inc.household, "unknown_household", "household")):
        if not code:
            continue
        holder = queries.holder_by_code(conn, code)
        place = place_of(conn, holder.kind, holder.id, today()) if holder else None
        if holder is not None and place is not None and can_view(conn, who, place, today()):
            continue
        if holder is None:
            continue  # the ledger reports it as unknown, the same words
        problems.append(Problem(kind, {"value": code}, record=ref, field=fld))
    return problems


class EntryCheck:
    """The claims' entry check (``services.claims.check_entry``) for each record of a batch, as its problem.

    The rules a record may score by are the one it names (``rule``), else every rule of its event
    type; each must let the caller enter it (``roles`` of its approval), for a subject within the
    caller's scope, and not about the caller itself or its household unless the type is a 党员联户
    (``linked``) one. The system token (imports, as ``jifen ingest``) is not checked. A record the
    ledger refuses anyway (unknown type, rule, person or household, no rules that day) is left to
    it, so its words stay the ledger's.
    """

    def __init__(self, conn: Connection, who: Actor, versions: VersionTable, tz: tzinfo):
        self.conn, self.who, self.versions, self.tz = conn, who, versions, tz
        self.directory: Directory | None = None  # loaded on first use: a system batch never needs it

    def prepare(self, batch: list[Any]) -> None:
        """Look up the people and households of a batch at once (not record by record)."""
        if self.who.role == "system" or not batch:
            return
        self.directory = Directory(self.conn, places=False)
        self.directory.prepare({i.person for i in batch if i.person}, {i.household for i in batch if i.household})

    def refused(self, inc: Any, ref: str) -> list[Problem]:
        """[] when the caller may enter this record; else one problem naming the record, field and reason."""
        if self.who.role == "system":
            return []
        day = local_date(inc.occurred_at, self.tz)
        ruleset = self.versions.at(day)
        event_type = ruleset.event_types.get(inc.type) if ruleset else None
        if ruleset is None or event_type is None:
            return []
        rules = ruleset.by_event.get(inc.type, [])
        if event_type.pick_rule or inc.rule:
            rules = [r for r in rules if r.id == inc.rule]
        if self.directory is None:
            self.prepare([inc])
        d = self.directory
        assert d is not None
        pid = d.person_ids.get(inc.person) if inc.person else None
        hid = d.household_ids.get(inc.household) if inc.household else None
        if (inc.person and pid is None) or (inc.household and hid is None):
            return []
        concerned = hid if hid is not None else (d.home(pid, day) if pid is not None else None)
        checked: set[tuple[str, ...]] = set()
        for rule in rules:
            if rule.roles in checked:  # the same roles give the same answer: scope does not depend on the rule
                continue
            checked.add(rule.roles)
            try:
                claims_module().check_entry(self.conn, self.who, rule, concerned, pid, day, about_self=event_type.linked)
            except ServiceError as exc:
                fld = "type" if exc.field == "rule" and not inc.rule else exc.field
                return [Problem(exc.code, dict(exc.params), record=ref, field=fld)]
        return []


def _record(r: RecordResult, language: str) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    for p in r.problems:
        # The services' codes (the entry check's) are rendered by their catalog, the core's by theirs.
        text = render(p.code, language, **p.params) if p.code in SERVICE_MESSAGES else p.message(language)
        errors.setdefault(p.field or "_record", []).append(text)
    return {"ref": r.ref, "id": r.key, "status": r.status, "entries": r.entries, "claims": r.claims, "errors": errors}


# ---------------------------------------------------------------- balances and entries
@endpoint("/balances/<code>", "GET", "A holder's balances and grades", tag="accounts", out=s.BalancesOut)
def get_balances(code: str) -> Any:
    """Every point type a person or household (by code) holds: balance, this period's score, grade, what the next grade needs."""
    c = ctx()
    with c.engine.connect() as conn:
        versions = c.ledger.versions(conn)
        ruleset, day, _tz = queries.in_force(versions, c.now())  # one look at the versions
        if ruleset is None:
            raise NotFound("api_no_rules")
        holder, _ = visible(conn, code, day=day)
        retired = versions.retired(ruleset)
        # Types and grades in the caller's language: rules.yaml's name_en in English, where it gives one.
        lines = queries.account_lines(conn, ruleset, holder.kind, holder.id, day, retired, lang())
    if lang() == "en":  # the rules file names units in Chinese (分, 小时)
        for line in lines:
            line.unit = unit_label(line.unit, "en")
    return out(s.BalancesOut, {"holder": holder, "accounts": lines})


@endpoint("/balances/<code>/entries", "GET", "A holder's ledger entries", tag="accounts", query=s.HistoryQuery, out=s.HistoryOut)
def get_history(code: str) -> Any:
    """A holder's entries, newest first (``limit`` up to 500, ``offset``), optionally of one point type."""
    q = args(s.HistoryQuery)
    with ctx().engine.connect() as conn:
        holder, _ = visible(conn, code)
        rows = queries.history(conn, holder.kind, holder.id, q["point_type"], q["limit"] + 1, q["offset"])
    return out(s.HistoryOut, {"holder": holder, "entries": rows[:q["limit"]], "limit": q["limit"], "offset": q["offset"],
                              "more": len(rows) > q["limit"]})


@endpoint("/entries/<int:entry_id>", "GET", "Why an entry exists", tag="accounts", out=s.ExplanationOut)
def get_entry(entry_id: int) -> Any:
    """One entry explained: rule, rules version, who entered and approved it, each step of its amount."""
    c = ctx()
    with c.engine.connect() as conn:
        row = conn.execute(select(Entry.holder_kind, Entry.holder_id, Entry.rules_version).where(Entry.id == entry_id)).first()  # type: ignore[call-overload]
        place = place_of(conn, row.holder_kind, row.holder_id, today()) if row else None
        if row is None or place is None or not can_view(conn, actor(), place, today()):
            raise NotFound("api_entry_unknown", "entry_id")
        language = lang()
        explained = queries.explain(conn, entry_id, c.ledger.rule_names(row.rules_version, c.ruleset(), lang=language), language)
    return out(s.ExplanationOut, explained)


# ---------------------------------------------------------------- leaderboards
TIE_BREAK = (
    "同分同名次(1、2、2、4),同分者按账户编号先后排列;得分为零或负数者隐去姓名。",
    "Equal scores share a rank (1, 2, 2, 4) and are listed by account number; names of scores at or below zero are masked.",
)


@endpoint("/leaderboards/<point_type>", "GET", "A leaderboard", tag="leaderboards", query=s.LeaderboardQuery, out=s.LeaderboardOut)
def get_leaderboard(point_type: str) -> Any:
    """Top N of a point type in a scope (county, township, village, grid, branch) and period.

    Tie-break: equal scores share a rank (1, 2, 2, 4) and are listed by holder code; a holder who
    moved grid mid-period is ranked once, with the points earned in the scope asked for. Names of
    scores at or below zero are masked. Callers below county level see the county, their own
    township, and their own village's village, grid and branch boards (403 for others).
    """
    q = args(s.LeaderboardQuery)
    c = ctx()
    ruleset = c.ruleset()
    if ruleset is None or point_type not in ruleset.point_types:
        raise NotFound("api_point_type", "point_type", value=point_type, allowed=", ".join(ruleset.point_types) if ruleset else "-")
    pt = ruleset.point_types[point_type]
    period = q["period"] or period_key(pt.period, today())
    try:
        parse_period(period)
    except ValueError:
        raise ServiceError("api_period", "period", value=period) from None
    with c.read_engine.connect() as conn:  # a replica when there is one
        _check_board_scope(conn, actor(), q["scope"], q["scope_id"])
        me = None
        if q["me"]:
            holder, _ = visible(conn, q["me"], "me")
            me = (holder.kind, holder.id)
        board = queries.leaderboard(conn, point_type, period, q["scope"], q["scope_id"], q["top"], me, lang())
    tie = TIE_BREAK[1] if lang() == "en" else TIE_BREAK[0]
    return out(s.LeaderboardOut, {"point_type": point_type, "period": period, "scope": q["scope"], "scope_id": q["scope_id"],
                                  "tie_break": tie, "rows": board.rows, "mine": board.mine})


def _home_village(conn: Connection, who: Actor) -> int | None:
    if who.village_id is not None:
        return who.village_id
    if who.household_id is not None:
        return conn.execute(select(Household.village_id).where(Household.id == who.household_id)).scalar()  # type: ignore[call-overload, no-any-return]
    return None


def _check_board_scope(conn: Connection, who: Actor, scope: str, scope_id: int | None) -> None:
    """Whether a caller may read a board of this scope; unknown ids and others' alike are 403 below county level."""
    if scope == "county":
        return
    if who.county_wide:
        if scope == "branch":
            found = conn.execute(select(Branch.id).where(Branch.id == scope_id)).first()  # type: ignore[call-overload]
        else:
            found = conn.execute(select(Area.id).where(Area.id == scope_id, Area.level == scope)).first()  # type: ignore[call-overload]
        if found is None:
            raise NotFound("not_found", "scope_id")
        return
    village = _home_village(conn, who)
    allowed = False
    if village is not None:
        if scope == "village":
            allowed = scope_id == village
        elif scope == "grid":
            allowed = conn.execute(select(Area.parent_id).where(Area.id == scope_id, Area.level == "grid")).scalar() == village  # type: ignore[call-overload]
        elif scope == "branch":
            allowed = conn.execute(select(Branch.village_id).where(Branch.id == scope_id)).scalar() == village  # type: ignore[call-overload]
        elif scope == "township":
            allowed = conn.execute(select(Area.parent_id).where(Area.id == village)).scalar() == scope_id  # type: ignore[call-overload]
    if not allowed:
        raise Forbidden("forbidden", "scope_id")


# ---------------------------------------------------------------- shop: catalog
@endpoint("/notice/<int:village_id>", "GET", "A village's notice board (公示)", tag="claims", out=s.NoticeBoardOut)
def get_notice_board(village_id: int) -> Any:
    """What is on notice in a village: public, as the board outside the office (any token).

    Praise by name; deductions with the name masked and no household code; numbers in descriptions masked.
    """
    from store.db import aware
    from store.models import Area
    from store.seal import fingerprint

    with ctx().read_engine.connect() as conn:
        village = conn.execute(select(Area.name).where(Area.id == village_id, Area.level == "village")).scalar()
        sealed = fingerprint(conn)
    if sealed is not None:
        sealed["sealed_at"] = aware(sealed["sealed_at"])  # stored as UTC; SQLite gives it back without its zone
    if village is None:
        raise NotFound("not_found", "village_id")
    items = claims_module().notice_board(ctx().ledger, village_id, lang())
    return out(s.NoticeBoardOut, {"village_id": village_id, "village": village, "items": items, "fingerprint": sealed})


@endpoint("/shop/items", "GET", "The catalog", tag="shop", query=s.ItemsQuery, out=s.ItemListOut)
def list_items() -> Any:
    """Items the caller can see (county-wide ones and its village's); inactive ones too for shop keepers when asked."""
    q = args(s.ItemsQuery)
    items = shop.list_items(ctx(), actor(), q["include_inactive"], q["village_id"], lang=lang())
    return out(s.ItemListOut, {"items": items})


@endpoint("/shop/items/<int:item_id>", "GET", "One catalog item", tag="shop", out=s.ItemOut)
def get_item(item_id: int) -> Any:
    """One item."""
    return out(s.ItemOut, shop.get_item(ctx(), actor(), item_id, lang=lang()))


@endpoint("/shop/items", "POST", "Add a catalog item", tag="shop", roles=MANAGERS, body=s.ItemIn, out=s.ChangeOut, status=201)
def create_item() -> Any:
    """Shop keepers (their village) and administrators; the answer carries the audit line.

    Send a ``request_id``: a retried request gets the first item back (``replayed``: true, status 200), never a second item.
    """
    require(MANAGERS)
    data = body(s.ItemIn)
    request_id = data.pop("request_id", None)
    change = shop.create_item(ctx(), actor(), data, lang=lang(), request_id=request_id)
    if change.replayed:
        return out(s.ChangeOut, change, 200)
    audit(change)
    return out(s.ChangeOut, change, 201)


@endpoint("/shop/items/<int:item_id>", "PATCH", "Change a catalog item", tag="shop", roles=MANAGERS, body=s.ItemPatch, out=s.ChangeOut)
def update_item(item_id: int) -> Any:
    """Change price, limits, eligibility, picture, active … (stock: see restock)."""
    require(MANAGERS)
    change = shop.update_item(ctx(), actor(), item_id, body(s.ItemPatch), lang=lang())
    audit(change)
    return out(s.ChangeOut, change)


@endpoint("/shop/items/<int:item_id>/restock", "POST", "Restock an item", tag="shop", roles=MANAGERS, body=s.RestockIn, out=s.ChangeOut)
def restock_item(item_id: int) -> Any:
    """Add goods (a donation arrived) or write them off (negative ``qty``, never below zero)."""
    require(MANAGERS)
    data = body(s.RestockIn)
    change = shop.restock(ctx(), actor(), item_id, data["qty"], data["note"], lang=lang())
    audit(change)
    return out(s.ChangeOut, change)


# ---------------------------------------------------------------- shop: redemptions
@endpoint("/shop/redemptions", "GET", "Redemptions", tag="shop", query=s.RedemptionsQuery, out=s.RedemptionListOut)
def list_redemptions() -> Any:
    """A household's own (villager) or a village's (shop keeper), newest first."""
    q = args(s.RedemptionsQuery)
    rows = shop.list_redemptions(ctx(), actor(), q["household"], q["status"], q["village_id"], q["limit"] + 1, q["offset"], lang=lang())
    return out(s.RedemptionListOut, {"redemptions": rows[:q["limit"]], "more": len(rows) > q["limit"]})


@endpoint("/shop/redemptions", "POST", "Reserve an item", tag="shop", roles=WRITERS, body=s.ReserveIn, out=s.RedemptionOut, status=201)
def reserve() -> Any:
    """Reserve and pay in one step: refused whole (409) when sold out, points short (the message says how many), limit reached; 403 when the grade is too low.

    Send a ``request_id``: a retried request gets the first answer back (``replayed``: true, status 200).
    """
    require(WRITERS)
    data = body(s.ReserveIn)
    r = shop.reserve(ctx(), actor(), data["item_id"], data.get("household"), data["qty"], data.get("request_id"), data.get("person"),
                     lang=lang())
    return out(s.RedemptionOut, r, 200 if r.replayed else 201)


@endpoint("/shop/redemptions/<int:redemption_id>", "GET", "One redemption", tag="shop", out=s.RedemptionOut)
def get_redemption(redemption_id: int) -> Any:
    """One redemption."""
    return out(s.RedemptionOut, shop.get_redemption(ctx(), actor(), redemption_id, lang=lang()))


@endpoint("/shop/redemptions/<int:redemption_id>/cancel", "POST", "Cancel a reservation", tag="shop", roles=WRITERS, body=s.ReasonIn, out=s.RedemptionOut)
def cancel_redemption(redemption_id: int) -> Any:
    """Points and stock come back once; cancelling again answers the same (``replayed``)."""
    require(WRITERS)
    reason = body(s.ReasonIn)["reason"] if request.get_data() else ""
    return out(s.RedemptionOut, shop.cancel(ctx(), actor(), redemption_id, reason, lang=lang()))


@endpoint("/shop/redemptions/<int:redemption_id>/pickup", "POST", "Hand over at the counter", tag="shop", roles=shop.COUNTER, out=s.RedemptionOut)
def pick_up(redemption_id: int) -> Any:
    """reserved → picked_up. A reservation past its date is released instead (409, points and stock back)."""
    require(shop.COUNTER)
    return out(s.RedemptionOut, shop.pick_up(ctx(), actor(), redemption_id, lang=lang()))


@endpoint("/shop/redemptions/<int:redemption_id>/done", "POST", "Close a handed-over redemption", tag="shop", roles=shop.COUNTER, out=s.RedemptionOut)
def complete(redemption_id: int) -> Any:
    """picked_up → done."""
    require(shop.COUNTER)
    return out(s.RedemptionOut, shop.complete(ctx(), actor(), redemption_id, lang=lang()))


@endpoint("/shop/counter", "GET", "The counter's queue", tag="shop", roles=COUNTER_READ, query=s.CounterQuery, out=s.RedemptionListOut)
def counter() -> Any:
    """Reservations waiting to be handed over in the keeper's village, oldest first."""
    require(COUNTER_READ)
    q = args(s.CounterQuery)
    return out(s.RedemptionListOut, {"redemptions": shop.counter_queue(ctx(), actor(), q["village_id"], lang=lang())})


# ---------------------------------------------------------------- claims
def _household_id(code: str | None) -> int | None:
    if not code:
        return None
    with ctx().engine.connect() as conn:
        _, place = visible(conn, code, "household")
        return place.household_id


@endpoint("/claims", "GET", "Claims", tag="claims", query=s.ClaimsQuery, out=s.ClaimListOut)
def list_claims() -> Any:
    """Claims the caller may see, newest first, by status, village or household."""
    q = args(s.ClaimsQuery)
    who = actor()
    if q["village_id"] is not None and not who.sees_village(q["village_id"]):
        raise Forbidden("forbidden", "village_id")
    rows = claims_module().list_claims(ctx().ledger, who, q["status"], q["village_id"], _household_id(q["household"]),
                                       q["limit"] + 1, q["offset"], lang=lang())  # one more: is there a next page
    return out(s.ClaimListOut, {"claims": rows[:q["limit"]], "more": len(rows) > q["limit"]})


@endpoint("/claims/<int:claim_id>", "GET", "One claim with its history", tag="claims", out=s.ClaimOut)
def get_claim(claim_id: int) -> Any:
    """One claim."""
    return out(s.ClaimOut, claims_module().get_claim(ctx().ledger, actor(), claim_id, lang=lang()))


@endpoint("/claims", "POST", "Declare an item (申报)", tag="claims", roles=WRITERS, body=s.ClaimIn, out=s.SubmitOut, status=201)
def submit_claim() -> Any:
    """Declare a rule item for a villager or household; rules that need review wait, the others post at once. ``key`` makes a retry safe."""
    require(WRITERS)
    d = body(s.ClaimIn)
    result = claims_module().submit(ctx().ledger, actor(), d["rule"], person=d["person"], household=d["household"],
                                    occurred_at=d["occurred_at"], description=d["description"], fields=d["fields_"],
                                    points=d["points"], key=d["key"], source="api", lang=lang())
    return out(s.SubmitOut, result, 200 if result.status == "duplicate" else 201)


@endpoint("/claims/<int:claim_id>/approve", "POST", "Approve a claim", tag="claims", roles=("secretary", "committee", "admin"), body=s.ApproveIn, out=s.ClaimOut)
def approve_claim(claim_id: int) -> Any:
    """审核通过 (never by the one who entered it); a range rule's amount may be set; the claim goes on notice."""
    require(("secretary", "committee", "admin"))
    d = body(s.ApproveIn) if request.get_data() else {"amount": None, "note": ""}
    return out(s.ClaimOut, claims_module().approve(ctx().ledger, actor(), claim_id, d["amount"], d["note"], lang=lang()))


@endpoint("/claims/<int:claim_id>/reject", "POST", "Reject a claim", tag="claims", roles=("secretary", "committee", "admin"), body=s.RequiredReasonIn, out=s.ClaimOut)
def reject_claim(claim_id: int) -> Any:
    """驳回, with the reason the villager will read."""
    require(("secretary", "committee", "admin"))
    d = body(s.RequiredReasonIn)
    return out(s.ClaimOut, claims_module().reject(ctx().ledger, actor(), claim_id, d["reason"], lang=lang()))


@endpoint("/claims/<int:claim_id>/object", "POST", "Object to a claim on notice", tag="claims", roles=WRITERS, body=s.ObjectionIn, out=s.ObjectionOut, status=201)
def object_claim(claim_id: int) -> Any:
    """异议 during the notice period (anyone of the same village); the claim waits until it is decided.

    With ``key``, sending the same objection again (a retry after a timeout) returns the first one (200, ``replayed``).
    """
    require(WRITERS)
    d = body(s.ObjectionIn)
    mod = claims_module()
    oid, replayed = mod.object_once(ctx().ledger, actor(), claim_id, d["reason"], d.get("key"))
    try:
        view = mod.get_claim(ctx().ledger, actor(), claim_id, lang=lang())
    except NotFound:  # a neighbour may object to a claim on the notice board without reading its file
        view = None
    return out(s.ObjectionOut, {"objection_id": oid, "claim_id": claim_id, "claim": view, "replayed": replayed}, 200 if replayed else 201)
