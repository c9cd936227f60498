"""民主评议 (democratic appraisal) pages.

* ``/appraisal`` — the branch secretary (committee, administrator; auditor reading) sees the members of their
  branch for a period: how many raters have scored each, the running result, what was posted; and opens a round;
* ``/appraisal/<member>/<period>`` — one round: the scores (who gave which is not shown), the highest and lowest
  dropped when there are three or more, the average, and the button that posts it through ``services.appraisal``
  (rule PA-01 turns it into 零基积分);
* ``/appraisal/rate`` — raters of the village score members 0–100, once each, never themselves.

A round is a member and a period: the service keeps scores and the posted result by that pair and has no
separate "round" record, so a round is open from the first score (or the secretary opening it) until its
result is posted. Members outside the officer's branch answer 404, as if they did not exist.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate
from sqlalchemy import Connection, or_, select

from scoring.periods import parse_period, period_key
from scoring.points import fmt
from services import appraisal as pa
from services.errors import ServiceError
from store.models import Branch, PartyMember, Person
from store.models_workflow import AppraisalResult, AppraisalScore
from web.appctx import jifen
from web.auth import audit, current_actor, require
from web.forms import FormSchema, integer, load_form, text
from web.i18n import lang
from web.views.desk import branch_for

bp = Blueprint("appraisal", __name__, url_prefix="/appraisal")
OFFICERS = ("secretary", "committee", "admin", "auditor")
POSTERS = ("secretary", "committee", "admin")
RATERS = ("villager", "party_member", "grid_worker", "steward", "secretary", "committee")
BAD_PERIOD = _l("期间应写作 2026、2026-Q2 或 2026-03。")


class AppraisalQuery(FormSchema):
    """The officer's filters: branch (administrators) and period."""

    branch = integer(low=1)
    period = text(max=10)


class OpenForm(FormSchema):
    """Open a round: which member of the branch, for which period (an administrator also names the branch)."""

    branch = integer(low=1)
    member = integer(required=True, low=1)
    period = text(required=True, max=10)


class ScoreForm(FormSchema):
    """One rater's score of one member: 0 to 100, at most two decimals."""

    member = integer(required=True, low=1)
    period = text(required=True, max=10)
    score = fields.Decimal(required=True, places=None, as_string=False,
                           validate=validate.Range(min=Decimal(0), max=Decimal(100), error=_l("评议分应在 0 到 100 之间。")),
                           error_messages={"required": _l("请填写此项。"), "null": _l("请填写此项。"),
                                           "invalid": _l("请填写 0 到 100 之间的数字,例如 85 或 92.5。"),
                                           "special": _l("请填写 0 到 100 之间的数字,例如 85 或 92.5。")})


class PostForm(FormSchema):
    """Post the result (the only answer the button sends)."""

    answer = fields.String(required=True, validate=validate.OneOf(["post"], error=_l("请从列表中选择。")),
                           error_messages={"required": _l("请点“公布结果”按钮。"), "null": _l("请点“公布结果”按钮。")})


def period_or_none(value: str | None) -> str | None:
    """A period key (2026, 2026-Q2, 2026-03) normalised, or None when it is not one."""
    try:
        return parse_period(value or "").key
    except ValueError:
        return None


def period_choices(today: date, chosen: str) -> list[tuple[str, str]]:
    """This and last year, the last four quarters, and the chosen period if it is none of them."""
    years = [str(today.year), str(today.year - 1)]
    quarters: list[str] = []
    day = today
    while len(quarters) < 4:
        key = period_key("quarter", day)
        quarters.append(key)
        day = date.fromordinal(parse_period(key).start.toordinal() - 1)
    out = years + quarters
    return [(p, p) for p in (out if chosen in out else [chosen, *out])]


def _current(model: Any, day: date) -> list[Any]:
    return [model.valid_from <= day, or_(model.valid_to.is_(None), model.valid_to > day)]


def branch_members(conn: Connection, branch_ids: list[int], day: date) -> list[dict[str, Any]]:
    """Current members of the branches, by code."""
    if not branch_ids:
        return []
    rows = conn.execute(select(Person.id, Person.code, Person.name, PartyMember.branch_id).join(  # type: ignore[call-overload]
        PartyMember, PartyMember.person_id == Person.id).where(PartyMember.branch_id.in_(branch_ids), *_current(PartyMember, day))  # type: ignore[attr-defined]
        .order_by(Person.code))
    return [{"id": r.id, "code": r.code, "name": r.name, "branch_id": r.branch_id} for r in rows]


def member_branch(conn: Connection, member_id: int, day: date) -> int | None:
    """The branch a Party member belongs to today (None: not a member)."""
    return conn.execute(select(PartyMember.branch_id).where(PartyMember.person_id == member_id, *_current(PartyMember, day))).scalar()  # type: ignore[call-overload]


def officer_branch(args: dict[str, Any]) -> tuple[int, str, int]:
    """(branch id, name, village id) an officer works on: their own; an administrator or auditor picks one."""
    return branch_for(args)


def member_in_scope(member_id: int) -> dict[str, Any]:
    """The member when the officer may see them (their branch; the county for administrators), else 404."""
    ctx = jifen()
    actor = current_actor()
    day = ctx.today()
    with ctx.engine.connect() as conn:
        branch = member_branch(conn, member_id, day)
        if branch is None:
            abort(404)
        if not actor.county_wide:
            own, _name, _village = officer_branch({})
            if branch != own:
                abort(404)
        person = conn.execute(select(Person.code, Person.name).where(Person.id == member_id)).one()  # type: ignore[call-overload]
        bname = conn.execute(select(Branch.name).where(Branch.id == branch)).scalar() or ""  # type: ignore[call-overload]
    return {"id": member_id, "code": person.code, "name": person.name, "branch_id": branch, "branch_name": bname}


def round_line(member: dict[str, Any], period: str) -> dict[str, Any]:
    """A member's round for the period: scores, what is dropped, the average, posted or not."""
    res = pa.appraisal(jifen().ledger, member["id"], period)
    return {**member, "period": period, "result": res, "count": len(res.scores), "average": res.average,
            "state": "posted" if res.posted else ("ready" if res.ready else ("scoring" if res.scores else "new"))}


@bp.route("")
@require(*OFFICERS)
def index() -> Any:
    """The branch's members for a period, with each round's state, and a form to open a round."""
    ctx = jifen()
    today = ctx.today()
    data, errors = load_form(AppraisalQuery(), request.args)
    data = data or {}
    period = period_or_none(data.get("period")) or str(today.year)
    if data.get("period") and period_or_none(data["period"]) is None:
        errors["period"] = str(BAD_PERIOD)
    branch_id, branch_name, _village = officer_branch(data)
    actor = current_actor()
    with ctx.engine.connect() as conn:
        members = branch_members(conn, [branch_id], today)
        branches = [(r.id, r.name) for r in conn.execute(select(Branch.id, Branch.name).order_by(Branch.code))] if actor.county_wide else []  # type: ignore[call-overload]
    return _index_page(members, period, branch_id, branch_name, branches, errors, {}, 400 if errors else 200)


def _index_page(members: list[dict[str, Any]], period: str, branch_id: int, branch_name: str, branches: list[Any],
                errors: dict[str, str], values: dict[str, Any], status: int) -> Any:
    rows = [round_line(m, period) for m in members]
    return render_template("appraisal/index.html", rows=rows, period=period, periods=period_choices(jifen().today(), period),
                           member_options=[(m["id"], m["name"]) for m in members], branch_id=branch_id, branch_name=branch_name,
                           branches=branches, errors=errors, values=values, min_raters=pa.MIN_RATERS,
                           can_post=current_actor().role in POSTERS), status


@bp.route("/open", methods=["POST"])
@require(*POSTERS, write=True)
def open_round() -> Any:
    """Open a round for a member of the branch and a period, then show it (audited)."""
    ctx = jifen()
    today = ctx.today()
    actor = current_actor()
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    data, errors = load_form(OpenForm(), request.form)
    branch_id, branch_name, _village = officer_branch({"branch": (data or {}).get("branch")} if actor.county_wide else {})
    with ctx.engine.connect() as conn:
        members = branch_members(conn, [branch_id], today)
    period = None
    if data is not None:
        period = period_or_none(data["period"])
        if period is None:
            errors["period"] = str(BAD_PERIOD)
        if data["member"] not in {m["id"] for m in members}:
            errors["member"] = _("请从列表中选择。")
        elif period is not None and pa.appraisal(ctx.ledger, data["member"], period).posted:
            errors["member"] = ServiceError("wf_appraisal_posted").message(lang())
    if data is None or errors or period is None:
        shown = period_or_none(values.get("period")) or str(today.year)
        with ctx.engine.connect() as conn:
            branches = [(r.id, r.name) for r in conn.execute(select(Branch.id, Branch.name).order_by(Branch.code))] if actor.county_wide else []  # type: ignore[call-overload]
        return _index_page(members, shown, branch_id, branch_name, branches, errors, values, 400)
    audit("appraisal.open", f"member:{data['member']}", period=period)
    return redirect(url_for("appraisal.show", member_id=data["member"], period=period))


@bp.route("/<int:member_id>/<period>")
@require(*OFFICERS)
def show(member_id: int, period: str) -> Any:
    """One round: the scores given, the highest and lowest dropped, the average, and posting it."""
    key = period_or_none(period)
    if key is None:
        abort(404)
    member = member_in_scope(member_id)
    return _round_page(member, key, {})


def _round_page(member: dict[str, Any], period: str, errors: dict[str, str], status: int = 200) -> Any:
    line = round_line(member, period)
    res = line["result"]
    scores = sorted(res.scores, reverse=True)
    marks: list[tuple[int, str]] = []
    high, low = res.dropped_high, res.dropped_low
    for s in scores:
        if high is not None and s == high:
            marks.append((s, "high"))
            high = None
        else:
            marks.append((s, ""))
    if low is not None:
        for i in range(len(marks) - 1, -1, -1):
            if marks[i][0] == low and not marks[i][1]:
                marks[i] = (low, "low")
                break
    actor = current_actor()
    rules = _scoring_rules()
    return render_template("appraisal/round.html", m=line, res=res, marks=marks, errors=errors, rules=rules,
                           min_raters=pa.MIN_RATERS, can_post=actor.role in POSTERS and actor.person_id != member["id"],
                           rate_url=url_for("appraisal.rate", period=period)), status


def _scoring_rules() -> list[tuple[str, str]]:
    """(id, name) of the rules that score an appraisal (PA-01 in the shipped rules)."""
    ruleset = jifen().ruleset()
    if ruleset is None:
        return []
    return [(r.id, r.name) for r in sorted(ruleset.rules.values(), key=lambda r: r.order) if r.event_type == "appraisal"]


@bp.route("/<int:member_id>/<period>/post", methods=["POST"])
@require(*POSTERS, write=True)
def post(member_id: int, period: str) -> Any:
    """Post the round's result through the service (rule PA-01); refusals are shown on the round page."""
    key = period_or_none(period)
    if key is None:
        abort(404)
    member = member_in_scope(member_id)
    data, errors = load_form(PostForm(), request.form)
    if data is None:
        return _round_page(member, key, {"_": errors.get("answer", _("操作未完成。"))}, 400)
    try:
        result = pa.post_appraisal(jifen().ledger, current_actor(), member_id, key)
    except ServiceError as exc:
        if exc.status == 404:
            abort(404)
        return _round_page(member, key, {"_": exc.message(lang())}, exc.status)
    audit("appraisal.post", f"member:{member_id}", period=key, raters=len(result.scores), average=str(result.average),
          amount=fmt(result.amount))
    flash(_("评议结果已公布:%(name)s 平均 %(avg)s 分,计入零基积分 %(n)s 分。", name=member["name"], avg=str(result.average),
            n=fmt(result.amount, signed=True)), "success")
    return redirect(url_for("appraisal.show", member_id=member_id, period=key))


def rater_members(period: str) -> list[dict[str, Any]]:
    """Members a rater may score: the current members of their village's branches, never themselves."""
    ctx = jifen()
    actor = current_actor()
    today = ctx.today()
    if actor.village_id is None:
        return []
    with ctx.engine.connect() as conn:
        branches = list(conn.execute(select(Branch.id).where(Branch.village_id == actor.village_id)).scalars())  # type: ignore[call-overload]
        members = [m for m in branch_members(conn, branches, today) if m["id"] != actor.person_id]
        ids = [m["id"] for m in members]
        mine = {r.member_id: r.score for r in conn.execute(select(AppraisalScore.member_id, AppraisalScore.score).where(  # type: ignore[call-overload]
            AppraisalScore.rater == actor.username, AppraisalScore.period == period, AppraisalScore.member_id.in_(ids)))}  # type: ignore[attr-defined]
        posted = set(conn.execute(select(AppraisalResult.member_id).where(  # type: ignore[call-overload]
            AppraisalResult.period == period, AppraisalResult.member_id.in_(ids))).scalars())  # type: ignore[attr-defined]
    for m in members:
        m["mine"] = mine.get(m["id"])
        m["posted"] = m["id"] in posted
    return members


def _rate_page(period: str, errors: dict[str, str], values: dict[str, Any], status: int = 200) -> Any:
    today = jifen().today()
    return render_template("appraisal/rate.html", members=rater_members(period), period=period, periods=period_choices(today, period),
                           errors=errors, values=values), status


@bp.route("/rate", methods=["GET", "POST"])
@require(*RATERS)
def rate() -> Any:
    """Raters of the village score members 0–100 for a period (each member once; never oneself)."""
    today = jifen().today()
    if request.method == "GET":
        query, errors = load_form(AppraisalQuery(only=("period",)), request.args)
        asked = period_or_none((query or {}).get("period"))
        if request.args.get("period") and asked is None:
            errors["period"] = str(BAD_PERIOD)
        return _rate_page(asked or str(today.year), errors, {}, 400 if errors else 200)
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    shown = period_or_none(values.get("period")) or str(today.year)
    data, errors = load_form(ScoreForm(), request.form)
    if data is None:
        row = f"score-{values.get('member', '')}"
        return _rate_page(shown, {row if k == "score" else "_": v for k, v in errors.items()}, values, 400)
    period = period_or_none(data["period"])
    if period is None:
        return _rate_page(shown, {"_": str(BAD_PERIOD)}, values, 400)
    member = next((m for m in rater_members(period) if m["id"] == data["member"]), None)
    if member is None:  # not one of the village's members: say nothing about who that id is
        return _rate_page(period, {"_": _("请从列表中选择。")}, values, 400)
    try:
        pa.score_member(jifen().ledger, current_actor(), data["member"], period, str(data["score"]))
    except ServiceError as exc:
        return _rate_page(period, {f"score-{data['member']}" if exc.field == "score" else "_": exc.message(lang())}, values,
                          exc.status if exc.status != 404 else 400)
    audit("appraisal.score", f"member:{data['member']}", period=period)
    flash(_("已为 %(name)s 打分,谢谢。", name=member["name"]), "success")
    return redirect(url_for("appraisal.rate", period=period))


def init_app(app: Flask) -> None:
    """Register the appraisal pages."""
    app.register_blueprint(bp)


__all__ = ["bp", "init_app"]
