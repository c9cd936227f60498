"""民主评议 (democratic appraisal) pages.

* ``/appraisal`` — the branch secretary (committee, administrator; auditor reading) sees the members of their
  branch for a period: each round's state (not opened, scoring, closed, posted), how many raters have scored, the
  running result; and opens a round, optionally naming its raters;
* ``/appraisal/<member>/<period>`` — one round: who opened, closed and posted it and when (in every state), the
  designated raters (which of them have scored, never what), the scores (who gave which is not shown), the highest
  and lowest dropped when there are three or more, the average; forms to name raters, type in paper ballots from
  the meeting (secretary, committee), close the round, and post the result through ``services.appraisal`` (rule
  PA-01 turns it into 零基积分);
* ``/appraisal/rate`` — a rater scores the open rounds of their village they may score (designated, or any rater of
  the village when the round names none), 0–100, once each, never themselves.

Rounds are ``services.appraisal`` records: scores are taken only while a round is open. Members outside the
officer's branch answer 404, as if they did not exist. The menu's 民主评议 entry for raters shows only while there
is a round they may score (``menu_for_raters``).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate
from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError

from scoring.periods import parse_period, period_key
from scoring.points import fmt
from services import appraisal as pa
from services.errors import ServiceError
from store.models import Branch, PartyMember, Person
from store.models_workflow import AppraisalResult
from web.appctx import jifen
from web.auth import audit, current_actor, require
from web.forms import FormSchema, integer, load_form, text
from web.i18n import lang
from web.views.desk import branch_for

bp = Blueprint("appraisal", __name__, url_prefix="/appraisal")
OFFICERS = ("secretary", "committee", "admin", "auditor")
POSTERS = ("secretary", "committee", "admin")  # also open, close and name raters
BALLOT_ENTRY = ("secretary", "committee")  # of the member's branch: paper ballots typed in after the meeting
RATERS = pa.RATER_ROLES  # the logins that rate (the service checks ballots against the same list)
MENU_RATERS = ("villager", "party_member", "grid_worker", "steward")  # their menu shows 民主评议 only with a round to score
BAD_PERIOD = _l("期间应写作 2026、2026-Q2 或 2026-03。")
SPLIT = re.compile(r"[\n\r,,、;;]+")


def score_field() -> fields.Decimal:
    """A score from 0 to 100 (the service checks it has at most two decimals)."""
    return fields.Decimal(required=True, places=None, as_string=False,
                          validate=validate.Range(min=Decimal(0), max=Decimal(100), error=_l("评议分应在 0 到 100 之间。")),
                          error_messages={"required": _l("请填写此项。"), "null": _l("请填写此项。"),
                                          "invalid": _l("请填写 0 到 100 之间的数字,例如 85 或 92.5。"),
                                          "special": _l("请填写 0 到 100 之间的数字,例如 85 或 92.5。")})


class AppraisalQuery(FormSchema):
    """The officer's filters: branch (administrators) and period."""

    branch = integer(low=1)
    period = text(max=10)


class OpenForm(FormSchema):
    """Open a round: which member of the branch, for which period, optionally its raters (an administrator also names the branch)."""

    branch = integer(low=1)
    member = integer(required=True, low=1)
    period = text(required=True, max=10)
    raters = text(max=4000)


class RatersForm(FormSchema):
    """Raters to add to a round's list: logins or names, one a line (or separated by commas)."""

    raters = text(required=True, max=4000)


class ScoreForm(FormSchema):
    """One rater's score of one member: 0 to 100, at most two decimals."""

    member = integer(required=True, low=1)
    period = text(required=True, max=10)
    score = score_field()


class BallotForm(FormSchema):
    """A paper ballot typed in by the secretary: whose it is and its score (member and period are the page's)."""

    rater = text(required=True, max=pa.MAX_RATER_NAME)
    score = score_field()


class CloseForm(FormSchema):
    """Close the round (the only answer the button sends)."""

    answer = fields.String(required=True, validate=validate.OneOf(["close"], error=_l("请从列表中选择。")),
                           error_messages={"required": _l("请点“结束评议”按钮。"), "null": _l("请点“结束评议”按钮。")})


class PostForm(FormSchema):
    """Post the result (the only answer the button sends)."""

    answer = fields.String(required=True, validate=validate.OneOf(["post"], error=_l("请从列表中选择。")),
                           error_messages={"required": _l("请点“公布结果”按钮。"), "null": _l("请点“公布结果”按钮。")})


def split_raters(text_value: str | None) -> list[str]:
    """Rater names from a text box: one a line, or separated by commas, 、 or semicolons."""
    return [n.strip() for n in SPLIT.split(text_value or "") if n.strip()]


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


def branch_members(conn: Connection, branch_ids: list[int], day: date) -> list[dict[str, Any]]:
    """Current members of the branches, by code."""
    if not branch_ids:
        return []
    rows = conn.execute(select(Person.id, Person.code, Person.name, PartyMember.branch_id).join(  # type: ignore[call-overload]
        PartyMember, PartyMember.person_id == Person.id).where(PartyMember.branch_id.in_(branch_ids), *pa.current(PartyMember, day))  # type: ignore[attr-defined]
        .order_by(Person.code))
    return [{"id": r.id, "code": r.code, "name": r.name, "branch_id": r.branch_id} for r in rows]


def member_branch(conn: Connection, member_id: int, day: date) -> int | None:
    """The branch a Party member belongs to today (None: not a member)."""
    return conn.execute(select(PartyMember.branch_id).where(PartyMember.person_id == member_id, *pa.current(PartyMember, day))).scalar()  # type: ignore[call-overload]


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


def round_line(member: dict[str, Any], period: str, rnd: pa.Round | None) -> dict[str, Any]:
    """A member's round for the period: its record, scores, what is dropped, the average, its state.

    States: posted; closed (no more scores, not posted); ready (open, enough raters to post); scoring (open, or
    scored before rounds were recorded); new (never opened).
    """
    res = pa.appraisal(jifen().ledger, member["id"], period)
    if res.posted:
        state = "posted"
    elif rnd is not None and not rnd.is_open:
        state = "closed"
    elif res.ready:
        state = "ready"
    elif rnd is not None or res.scores:
        state = "scoring"
    else:
        state = "new"
    return {**member, "period": period, "result": res, "round": rnd, "count": len(res.scores), "average": res.average,
            "state": state}


def _branches(conn: Connection) -> list[tuple[int, str]]:
    """Every branch, for an administrator's or auditor's picker (others see their own only)."""
    if not current_actor().county_wide:
        return []
    return [(r.id, r.name) for r in conn.execute(select(Branch.id, Branch.name).order_by(Branch.code))]  # type: ignore[call-overload]


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
    with ctx.engine.connect() as conn:
        members = branch_members(conn, [branch_id], today)
        branches = _branches(conn)
    return _index_page(members, period, branch_id, branch_name, branches, errors, {}, 400 if errors else 200)


def _index_page(members: list[dict[str, Any]], period: str, branch_id: int, branch_name: str, branches: list[Any],
                errors: dict[str, str], values: dict[str, Any], status: int) -> Any:
    ledger = jifen().ledger
    rounds = pa.branch_rounds(ledger, branch_id, period)
    rows = [round_line(m, period, rounds.get(m["id"])) for m in members]
    actor = current_actor()
    return render_template("appraisal/index.html", rows=rows, period=period, periods=period_choices(jifen().today(), period),
                           member_options=[(m["id"], m["name"]) for m in members if m["id"] != actor.person_id],
                           branch_id=branch_id, branch_name=branch_name, branches=branches, errors=errors, values=values,
                           min_raters=pa.MIN_RATERS, can_post=actor.role in POSTERS, can_rate=actor.role in RATERS), status


@bp.route("/open", methods=["POST"])
@require(*POSTERS, write=True)
def open_round() -> Any:
    """Open a round for a member of the branch and a period, optionally naming its raters, then show it (audited).

    A round already open just shows; the service's refusals (posted, closed, not one's own) come back on the form.
    """
    ctx = jifen()
    today = ctx.today()
    actor = current_actor()
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    data, errors = load_form(OpenForm(), request.form)
    branch_id, branch_name, _village = officer_branch({"branch": (data or {}).get("branch")} if actor.county_wide else {})
    with ctx.engine.connect() as conn:
        members = branch_members(conn, [branch_id], today)
    period = None
    status = 400
    if data is not None:
        period = period_or_none(data["period"])
        if period is None:
            errors["period"] = str(BAD_PERIOD)
        if data["member"] not in {m["id"] for m in members}:
            errors["member"] = _("请从列表中选择。")
    if data is not None and not errors and period is not None:
        try:
            rnd = pa.open_round(ctx.ledger, actor, data["member"], period, split_raters(data.get("raters")))
        except ServiceError as exc:
            if exc.code != "wf_round_exists":  # already open: just show it
                errors["raters" if exc.field == "raters" else "member"] = exc.message(lang())
                status = exc.status if exc.status != 404 else 400
        else:
            audit("appraisal.open", f"member:{data['member']}", period=period, raters=len(rnd.raters))
        if not errors:
            return redirect(url_for("appraisal.show", member_id=data["member"], period=period))
    shown = period_or_none(values.get("period")) or str(today.year)
    with ctx.engine.connect() as conn:
        branches = _branches(conn)
    return _index_page(members, shown, branch_id, branch_name, branches, errors, values, status)


@bp.route("/<int:member_id>/<period>")
@require(*OFFICERS)
def show(member_id: int, period: str) -> Any:
    """One round: its record and raters, the scores given, the highest and lowest dropped, the average, and its forms."""
    key = period_or_none(period)
    if key is None:
        abort(404)
    member = member_in_scope(member_id)
    return _round_page(member, key, {})


def _round_page(member: dict[str, Any], period: str, errors: dict[str, str], status: int = 200,
                values: dict[str, Any] | None = None) -> Any:
    ledger = jifen().ledger
    line = round_line(member, period, pa.round_of(ledger, member["id"], period))
    res = line["result"]
    rnd: pa.Round | None = line["round"]
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
    own = actor.person_id == member["id"]
    is_open = rnd is not None and rnd.is_open and not res.posted
    scored = pa.who_scored(ledger, member["id"], period)
    return render_template("appraisal/round.html", m=line, res=res, rnd=rnd, marks=marks, errors=errors, values=values or {},
                           posted=posted_record(member["id"], period) if res.posted else None,
                           rules=_scoring_rules(), min_raters=pa.MIN_RATERS, scored=scored,
                           listed_done=pa.listed_scored(ledger, member["id"], period) if rnd is not None and rnd.raters else set(),
                           paper=sum(1 for e in scored.values() if e),
                           can_post=actor.role in POSTERS and not own,
                           can_run=actor.role in POSTERS and not own and not res.posted,
                           can_name=actor.role in POSTERS and not own and is_open and bool(rnd and (rnd.raters or not res.scores)),
                           can_ballot=actor.role in BALLOT_ENTRY and not own and is_open,
                           rate_url=url_for("appraisal.rate", period=period)), status


def posted_record(member_id: int, period: str) -> dict[str, Any] | None:
    """Who posted a member's result for the period and when (None: not posted)."""
    with jifen().engine.connect() as conn:
        row = conn.execute(select(AppraisalResult.posted_by, AppraisalResult.posted_at).where(  # type: ignore[call-overload]
            AppraisalResult.member_id == member_id, AppraisalResult.period == period)).first()
    return {"by": row.posted_by, "at": row.posted_at} if row is not None else None


def _scoring_rules() -> list[tuple[str, str]]:
    """(id, name in the reader's language) of the rules that score an appraisal (PA-01 in the shipped rules)."""
    ruleset = jifen().ruleset()
    if ruleset is None:
        return []
    return [(r.id, r.label(lang())) for r in sorted(ruleset.rules.values(), key=lambda r: r.order) if r.event_type == "appraisal"]


def _round_action(member_id: int, period: str) -> tuple[dict[str, Any], str]:
    """The member (404 outside the officer's branch) and the period (404 when it is none) a round form posts to."""
    key = period_or_none(period)
    if key is None:
        abort(404)
    return member_in_scope(member_id), key


def _refused(member: dict[str, Any], period: str, exc: ServiceError, values: dict[str, Any], field: str = "_") -> Any:
    """A service refusal shown on the round page (a member the service does not know reads as missing)."""
    if exc.status == 404:
        abort(404)
    return _round_page(member, period, {field if exc.field in ("rater", "score", "raters") else "_": exc.message(lang())},
                       exc.status, values)


@bp.route("/<int:member_id>/<period>/raters", methods=["POST"])
@require(*POSTERS, write=True)
def raters(member_id: int, period: str) -> Any:
    """Add designated raters to the open round: once it has a list, only those on it may score."""
    member, key = _round_action(member_id, period)
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    data, errors = load_form(RatersForm(), request.form)
    if data is None:
        return _round_page(member, key, {"raters": errors.get("raters", _("操作未完成。"))}, 400, values)
    try:
        rnd = pa.designate_raters(jifen().ledger, current_actor(), member_id, key, split_raters(data["raters"]))
    except ServiceError as exc:
        return _refused(member, key, exc, values, "raters")
    audit("appraisal.raters", f"member:{member_id}", period=key, raters=list(rnd.raters))
    flash(_("评议人名单已更新,共 %(n)s 人。", n=len(rnd.raters)), "success")
    return redirect(url_for("appraisal.show", member_id=member_id, period=key))


@bp.route("/<int:member_id>/<period>/ballot", methods=["POST"])
@require(*BALLOT_ENTRY, write=True)
def ballot(member_id: int, period: str) -> Any:
    """Type in a named rater's paper ballot from the meeting, kept as entered by the secretary on the rater's behalf."""
    member, key = _round_action(member_id, period)
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    data, errors = load_form(BallotForm(), request.form)
    if data is None:
        return _round_page(member, key, {f"ballot-{k}": v for k, v in errors.items()}, 400, values)
    try:
        pa.score_member(jifen().ledger, current_actor(), member_id, key, str(data["score"]), rater=data["rater"])
    except ServiceError as exc:
        if exc.status == 404:
            abort(404)
        field = {"rater": "ballot-rater", "score": "ballot-score"}.get(exc.field, "_")
        return _round_page(member, key, {field: exc.message(lang())}, exc.status, values)
    audit("appraisal.ballot", f"member:{member_id}", period=key, rater=data["rater"])
    flash(_("已代录 %(rater)s 的评议票。", rater=data["rater"]), "success")
    return redirect(url_for("appraisal.show", member_id=member_id, period=key))


@bp.route("/<int:member_id>/<period>/close", methods=["POST"])
@require(*POSTERS, write=True)
def close(member_id: int, period: str) -> Any:
    """Close the round: no more scores; the result can still be posted."""
    member, key = _round_action(member_id, period)
    data, errors = load_form(CloseForm(), request.form)
    if data is None:
        return _round_page(member, key, {"_": errors.get("answer", _("操作未完成。"))}, 400)
    try:
        pa.close_round(jifen().ledger, current_actor(), member_id, key)
    except ServiceError as exc:
        return _refused(member, key, exc, {})
    audit("appraisal.close", f"member:{member_id}", period=key)
    flash(_("评议已结束,不再接受打分。"), "success")
    return redirect(url_for("appraisal.show", member_id=member_id, period=key))


@bp.route("/<int:member_id>/<period>/post", methods=["POST"])
@require(*POSTERS, write=True)
def post(member_id: int, period: str) -> Any:
    """Post the round's result through the service (rule PA-01); refusals are shown on the round page."""
    member, key = _round_action(member_id, period)
    data, errors = load_form(PostForm(), request.form)
    if data is None:
        return _round_page(member, key, {"_": errors.get("answer", _("操作未完成。"))}, 400)
    try:
        result = pa.post_appraisal(jifen().ledger, current_actor(), member_id, key)
    except ServiceError as exc:
        return _refused(member, key, exc, {})
    audit("appraisal.post", f"member:{member_id}", period=key, raters=len(result.scores), average=str(result.average),
          amount=fmt(result.amount))
    flash(_("评议结果已公布:%(name)s 平均 %(avg)s 分,计入零基积分 %(n)s 分。", name=member["name"], avg=str(result.average),
            n=fmt(result.amount, signed=True)), "success")
    return redirect(url_for("appraisal.show", member_id=member_id, period=key))


def village_members() -> list[dict[str, Any]]:
    """Current members of the rater's village's branches, never the rater (whose rounds the service may explain)."""
    ctx = jifen()
    actor = current_actor()
    if actor.village_id is None:
        return []
    with ctx.engine.connect() as conn:
        branches = list(conn.execute(select(Branch.id).where(Branch.village_id == actor.village_id)).scalars())  # type: ignore[call-overload]
        return [m for m in branch_members(conn, branches, ctx.today()) if m["id"] != actor.person_id]


def posted_in_village(period: str | None) -> list[dict[str, Any]]:
    """Members of the rater's village whose result for the period is posted (names only), for the rate page."""
    if period is None:
        return []
    ledger = jifen().ledger
    members = village_members()
    posted: set[int] = set()
    for branch in {m["branch_id"] for m in members}:
        posted |= set(pa.posted_results(ledger, branch, period))
    return [m for m in members if m["id"] in posted]


def _rate_page(period: str | None, errors: dict[str, str], values: dict[str, Any], status: int = 200) -> Any:
    today = jifen().today()
    rows = pa.rounds_to_rate(jifen().ledger, current_actor(), period)
    return render_template("appraisal/rate.html", rows=rows, posted=posted_in_village(period), period=period or "",
                           periods=period_choices(today, period or str(today.year)), errors=errors, values=values), status


@bp.route("/rate", methods=["GET", "POST"])
@require(*RATERS)
def rate() -> Any:
    """A rater scores the open rounds they may score, 0–100 (each member once a period; never oneself)."""
    if request.method == "GET":
        query, errors = load_form(AppraisalQuery(only=("period",)), request.args)
        asked = period_or_none((query or {}).get("period"))
        if request.args.get("period") and asked is None:
            errors["period"] = str(BAD_PERIOD)
        return _rate_page(asked, errors, {}, 400 if errors else 200)
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    shown = period_or_none(values.get("period"))
    data, errors = load_form(ScoreForm(), request.form)
    if data is None:
        row = f"score-{values.get('member', '')}-{shown or ''}"
        return _rate_page(shown, {row if k == "score" else "_": v for k, v in errors.items()}, values, 400)
    period = period_or_none(data["period"])
    if period is None:
        return _rate_page(shown, {"_": str(BAD_PERIOD)}, values, 400)
    member = next((m for m in village_members() if m["id"] == data["member"]), None)
    if member is None:  # not one of the village's members: say nothing about who that id is
        return _rate_page(period, {"_": _("请从列表中选择。")}, values, 400)
    if pa.round_of(jifen().ledger, data["member"], period) is None:  # the site scores opened rounds only
        return _rate_page(period, {"_": ServiceError("wf_round_none").message(lang())}, values, 409)
    try:
        pa.score_member(jifen().ledger, current_actor(), data["member"], period, str(data["score"]))
    except ServiceError as exc:
        field = f"score-{data['member']}-{period}" if exc.field == "score" else "_"
        return _rate_page(period, {field: exc.message(lang())}, values, exc.status if exc.status != 404 else 400)
    audit("appraisal.score", f"member:{data['member']}", period=period)
    flash(_("已为 %(name)s 打分,谢谢。", name=member["name"]), "success")
    return redirect(url_for("appraisal.rate", period=period))


def menu_for_raters() -> list[tuple[str, str, bool]]:
    """The site's menu, less 民主评议 for a villager (member, grid worker, steward) with no open round to score.

    Registered as this blueprint's ``menu`` template global (after ``web.templating``'s, so it wins): a rater sees the
    entry while they are on an open round's list, or the round names no raters and they are of its village.
    """
    from web.templating import menu

    items = menu()
    actor = current_actor()
    if actor.role not in MENU_RATERS:
        return items
    target = url_for("appraisal.rate")
    if not any(item[0] == target for item in items):
        return items
    try:
        if pa.rounds_to_rate(jifen().ledger, actor):
            return items
    except SQLAlchemyError:
        pass  # an error page must still render: leave the entry out
    return [item for item in items if item[0] != target]


def init_app(app: Flask) -> None:
    """Register the appraisal pages and the raters' menu."""
    app.register_blueprint(bp)
    app.context_processor(lambda: {"menu": menu_for_raters})


__all__ = ["bp", "init_app", "menu_for_raters"]
