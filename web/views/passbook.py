"""The passbook (存折): balances, grade and what the next grade needs, the year's chart and a history that explains itself."""

from __future__ import annotations

import json
from datetime import date, datetime, tzinfo
from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Connection, bindparam, func, or_, select

from scoring.model import Ruleset
from services import queries
from store.db import local_minute
from store.models import Claim, EventRecord, Household, Membership, Person, RulesVersion
from web.appctx import jifen
from web.auth import EVERYONE, STAFF, current_actor, require
from web.charts import balance_chart, monthly_balances
from web.i18n import lang
from web.scope import Place, can_view, place_of
from web.templating import unit_name
from web.views.public import point_type_name

bp = Blueprint("passbook", __name__, url_prefix="/passbook")
PAGE = 30


def month_labels() -> list[str]:
    """Month names for the chart axis."""
    if lang() == "en":
        return ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return [f"{m}月" for m in range(1, 13)]


# Labels are translated one at a time, when a line needs one (not a whole table of them per line).
KIND_LABELS = {
    "award": _l("加分"), "deduction": _l("扣分"), "reversal": _l("冲正"), "spend": _l("兑换"), "refund": _l("退回"),
    "close": _l("年度结转"), "expire": _l("到期"),
}
SOURCE_LABELS = {
    "web": _l("网站"), "api": _l("接口"), "import": _l("批量导入"), "scheduler": _l("系统定时"), "shop": _l("积分超市"),
    "cli": _l("命令行"), "claim": _l("申报审核"), "appeal": _l("申诉处理"),
}


def kind_label(kind: str, amount: int = 0) -> str:
    """What kind of ledger line it is, for people: a rule's award below zero is a deduction (扣分)."""
    label = KIND_LABELS.get("deduction" if kind == "award" and amount < 0 else kind)
    return str(label) if label is not None else kind


def source_label(source: str) -> str:
    """Where a line came from."""
    label = SOURCE_LABELS.get(source)
    return str(label) if label is not None else source


def holder_place(conn: Connection, code: str, day: date) -> Place:
    """The holder behind a code (named in the reader's language), or 404 — also when it exists but is outside the visitor's scope."""
    holder = queries.holder_by_code(conn, code)
    if holder is None:
        abort(404)
    place = place_of(conn, holder.kind, holder.id, day, lang())
    if place is None or not can_view(conn, current_actor(), place, day):
        abort(404)
    return place


# The page's statements, built once (values are bound per request).
_MEMBERS = (select(Person.code, Person.name).join(Membership, Membership.person_id == Person.id)  # type: ignore[arg-type]
            .where(Membership.household_id == bindparam("hid"), Membership.valid_from <= bindparam("day"),
                   or_(Membership.valid_to.is_(None), Membership.valid_to > bindparam("day")))  # type: ignore[union-attr, operator]
            .order_by(Person.code))
_HOUSEHOLD = select(Household.code, Household.head_name).where(Household.id == bindparam("hid"))
_VERSIONS = (select(RulesVersion.version, func.min(RulesVersion.effective), func.min(RulesVersion.title))
             .where(RulesVersion.version.in_(bindparam("versions", expanding=True)))  # type: ignore[attr-defined]
             .group_by(RulesVersion.version))
_NOTES = select(EventRecord.event_key, EventRecord.payload).where(EventRecord.event_key.in_(bindparam("keys", expanding=True)))  # type: ignore[attr-defined]
try:
    from store.models_workflow import Evidence

    _EVIDENCE: Any = (select(Claim.key, Evidence.id, Evidence.filename).join(Evidence, Evidence.claim_id == Claim.id)  # type: ignore[arg-type]
                      .where(Claim.key.in_(bindparam("keys", expanding=True))).order_by(Evidence.id))  # type: ignore[attr-defined]
except ModuleNotFoundError:  # the workflow tables are not installed
    _EVIDENCE = None


def _members(conn: Connection, household_id: int, day: date) -> list[Any]:
    return list(conn.execute(_MEMBERS, {"hid": household_id, "day": day}))


def _evidence(conn: Connection, keys: list[str]) -> dict[str, list[tuple[int, str]]]:
    """Evidence photos of the claims behind entries, by entry key."""
    if not keys or _EVIDENCE is None:
        return {}
    out: dict[str, list[tuple[int, str]]] = {}
    for key, eid, name in conn.execute(_EVIDENCE, {"keys": keys}):
        out.setdefault(key, []).append((eid, name))
    return out


def _event_notes(conn: Connection, event_keys: list[str]) -> dict[str, str]:
    """The description typed with each event (what happened, in the enterer's words)."""
    keys = [k for k in event_keys if k]
    if not keys:
        return {}
    out = {}
    for key, payload in conn.execute(_NOTES, {"keys": keys}):
        try:
            data = json.loads(payload or "{}")
        except ValueError:
            continue
        text = data.get("description") or (data.get("fields") or {}).get("note") or (data.get("fields") or {}).get("summary") or ""
        if text:
            out[key] = str(text)
    return out


def _local(value: Any, tz: tzinfo) -> Any:
    """A moment as the ``local`` template filter shows it, with the time zone read once per page, not per line."""
    if not isinstance(value, datetime):
        return value
    return local_minute(value, tz)


def history_lines(conn: Connection, ruleset: Ruleset, place: Place, point_type: str | None, page: int,
                  tz: tzinfo | None = None) -> list[dict[str, Any]]:
    """A page of the holder's entries, each with its explanation, rules version and evidence.

    A fixed number of queries whatever the page holds: the entries (explained from the rows read,
    not read again one by one), the rules versions they name, their evidence and their events' notes.
    With ``tz`` the moments come formatted in the county's time (what the ``local`` filter would show).
    """
    rows = queries.history(conn, place.kind, place.id, point_type, PAGE + 1, (page - 1) * PAGE)
    ledger = jifen().ledger
    language = lang()
    # Rule names as each entry's version named them, in the reader's language (rules.yaml's name_en).
    names = {v: ledger.rule_names(v, ruleset, lang=language) for v in {r["rules_version"] for r in rows}}
    used = sorted({r["rules_version"] for r in rows if r["rules_version"]})
    versions = {v: (eff, title) for v, eff, title in conn.execute(_VERSIONS, {"versions": used})} if used else {}
    evidence = _evidence(conn, [r["key"] for r in rows])
    notes = _event_notes(conn, [r["event_key"] for r in rows])
    kinds: dict[str, str] = {}  # each label translated once per page
    sources: dict[str, str] = {}
    pt_names: dict[str, str] = {}
    out = []
    for r in rows:
        info = queries.explain_row(r, names[r["rules_version"]], language)
        if tz is not None:
            info["occurred_at"], info["recorded_at"] = _local(info["occurred_at"], tz), _local(info["recorded_at"], tz)
        pt = ruleset.point_types.get(r["point_type"])
        kind = "deduction" if r["kind"] == "award" and r["amount"] < 0 else r["kind"]
        if kind not in kinds:
            kinds[kind] = kind_label(r["kind"], r["amount"])
        if r["source"] not in sources:
            sources[r["source"]] = source_label(r["source"])
        if r["point_type"] not in pt_names:
            pt_names[r["point_type"]] = point_type_name(pt) if pt else r["point_type"]
        out.append({
            **info, "day": r["local_day"], "amount_raw": r["amount"], "kind_label": kinds[kind],
            "source_label": sources[r["source"]], "point_type_name": pt_names[r["point_type"]],
            "unit": pt.unit if pt else "", "version_info": versions.get(r["rules_version"]), "evidence": evidence.get(r["key"], []),
            "description": notes.get(r["event_key"], ""), "note": r["note"],
        })
    return out


@bp.route("")
@require(*EVERYONE)
def mine() -> Any:
    """One's own passbook: the household's for a villager, one's own for a Party member; staff search instead."""
    actor = current_actor()
    ctx = jifen()
    with ctx.engine.connect() as conn:
        if actor.person_id is not None:
            code = conn.execute(select(Person.code).where(Person.id == actor.person_id)).scalar()
        elif actor.household_id is not None:
            code = conn.execute(select(Household.code).where(Household.id == actor.household_id)).scalar()
        else:
            code = None
    if code is None:
        return redirect(url_for("passbook.search"))
    return redirect(url_for("passbook.show", code=code))


@bp.route("/search")
@require(*STAFF)
def search() -> Any:
    """Find a household or villager within one's scope by code or name."""
    q = request.args.get("q", "").strip()[:50]
    results: list[dict[str, Any]] = []
    ctx = jifen()
    day = ctx.today()
    actor = current_actor()
    if q:
        like = f"%{q}%"
        with ctx.engine.connect() as conn:
            found = [("h", r.id) for r in conn.execute(select(Household.id).where(or_(Household.code == q, Household.head_name.like(like))).limit(200))]  # type: ignore[attr-defined]
            found += [("p", r.id) for r in conn.execute(select(Person.id).where(or_(Person.code == q, Person.name.like(like))).limit(200))]  # type: ignore[attr-defined]
            for kind, ident in found:
                place = place_of(conn, kind, ident, day, lang())
                if place is not None and can_view(conn, actor, place, day):
                    results.append({"kind": kind, "code": place.code, "name": place.name})
                if len(results) >= 50:
                    break
    return render_template("passbook/search.html", q=q, results=results)


@bp.route("/<code>")
@require(*EVERYONE)
def show(code: str) -> Any:
    """A holder's passbook: balances, grades, the chart of one point type over the year, explained history."""
    ctx = jifen()
    try:
        page = max(1, min(int(request.args.get("page", "1")), 10000))
    except ValueError:
        page = 1
    with ctx.engine.connect() as conn:
        versions = ctx.ledger.versions(conn)
        ruleset, day, tz = queries.in_force(versions, ctx.now())  # one look, not one per use
        if ruleset is None:
            abort(404)
        place = holder_place(conn, code, day)
        retired = versions.retired(ruleset)  # a type the live rules dropped still shows the points held in it
        known = {**ruleset.point_types, **retired}
        lines = queries.account_lines(conn, ruleset, place.kind, place.id, day, retired, lang())  # types and grades in the reader's language
        for line in lines:
            pt = known[line.point_type]
            # Toward the grade the line names next ("再得 7 分可评为…"): its threshold is the score plus what is needed.
            target = line.score + line.needed if line.next_grade else (pt.grades[0].min if pt.grades else 0)
            line.progress = max(0, min(100, int(100 * line.score / target))) if target > 0 else 0  # type: ignore[attr-defined]
        chosen = request.args.get("type") or (lines[0].point_type if lines else "")
        if chosen and chosen not in {ln.point_type for ln in lines}:
            abort(404)
        chart = table = None
        if chosen:
            year_start, year_end = date(day.year, 1, 1), date(day.year, 12, 31)
            opening, series = queries.balance_series(conn, chosen, place.kind, place.id, year_start, year_end)
            pt = known[chosen]
            chart = balance_chart(opening, series, year_start, year_end, day,
                                  _("%(name)s %(year)s 年余额走势", name=point_type_name(pt), year=day.year), month_labels(), unit_name(pt.unit))
            table = monthly_balances(opening, series, day.year, day)
        history = history_lines(conn, ruleset, place, chosen or None, page, tz)
        household = None
        members: list[Any] = []
        if place.kind == "h":
            members = _members(conn, place.id, day)
        elif place.household_id is not None:
            household = conn.execute(_HOUSEHOLD, {"hid": place.household_id}).first()
    more = len(history) > PAGE
    return render_template("passbook/show.html", place=place, lines=lines, chosen=chosen, chart=chart, table=table,
                           history=history[:PAGE], page=page, more=more, members=members, household=household,
                           year=day.year, month_labels=month_labels())


def init_app(app: Flask) -> None:
    """Register the passbook pages."""
    app.register_blueprint(bp)
