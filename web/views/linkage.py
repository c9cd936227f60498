"""党员联户 pages.

* ``/linkage`` — a Party member's linked households, when each was last visited, recording a visit or a problem;
* ``/linkage/problems`` — the problems raised for a household: the villager's own, which only that household may
  confirm resolved (the service refuses anyone else, and the page says so); a member's own; officers' village;
* ``/linkage/rate`` — the household rates its linked member (1–5 stars, once a quarter as the service allows).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate
from sqlalchemy import select

from scoring.periods import period_key
from scoring.points import fmt
from services import linkage
from services.errors import ServiceError
from store.models import Household, Person
from web.appctx import jifen
from web.auth import audit, current_actor, require
from web.forms import (
    FormSchema,
    choice,
    integer,
    load_form,
    new_request_key,
    posted_request_key,
    text,
)
from web.i18n import lang
from web.views.claims import replayed_message

bp = Blueprint("linkage", __name__, url_prefix="/linkage")


class VisitForm(FormSchema):
    """A visit (with what was talked about) or a problem the household raised."""

    household = integer(required=True, low=1)
    kind = choice(("visit", "problem"), required=True)
    note = text(max=500)


PROBLEM_VIEWERS = ("villager", "party_member", "secretary", "committee", "admin", "auditor")
STARS = (1, 2, 3, 4, 5)


class ConfirmForm(FormSchema):
    """The household's answer: the problem is resolved (the only answer the button sends)."""

    answer = choice(("resolved",), required=True)


class RatingForm(FormSchema):
    """A household's rating of its linked member: which member, and 1 to 5 stars."""

    member = integer(required=True, low=1)
    rating = fields.Integer(required=True, strict=False, validate=validate.Range(min=1, max=5, error=_l("请选择 1 到 5 颗星。")),
                            error_messages={"required": _l("请选择 1 到 5 颗星。"), "null": _l("请选择 1 到 5 颗星。"),
                                            "invalid": _l("请选择 1 到 5 颗星。")})


def star_words() -> dict[int, str]:
    """What each number of stars means, in the reader's language."""
    return {1: _("很不满意"), 2: _("不满意"), 3: _("一般"), 4: _("满意"), 5: _("非常满意")}


def tier_names() -> dict[str, str]:
    """Tier keys → names of the rules in force in the reader's language (黄色 / 橙色 / 红色)."""
    ruleset = jifen().ruleset()
    language = lang()
    return {t.key: t.label(language) for t in ruleset.tiers} if ruleset else {}


@bp.route("", methods=["GET", "POST"])
@require("party_member")
def index() -> Any:
    """The member's linked households, most attention first, with a form to record a visit or a problem."""
    ctx = jifen()
    actor = current_actor()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if request.method == "POST":
        values = {k: v for k, v in request.form.items() if k not in ("csrf_token", "request_key")}
        data, errors = load_form(VisitForm(), request.form)
        if data is None:  # the note is drawn under its household's form; anything else (a bad kind) on top
            note_at = f"note-{values.get('household', '')}"
            errors = {(note_at if k == "note" else "_"): v for k, v in errors.items()}
        else:
            request_key = posted_request_key()
            key = f"{data['kind']}:web:{actor.username}:{request_key}" if request_key else None
            try:
                if data["kind"] == "problem":
                    if not data.get("note"):
                        raise ServiceError("wf_summary_required", field="note")
                    result = linkage.raise_problem(ctx.ledger, actor, data["household"], data["note"], key=key)
                else:
                    result = linkage.record_visit(ctx.ledger, actor, data["household"], note=data.get("note", ""), key=key)
            except ServiceError as exc:
                errors[f"{exc.field or '_'}-{data['household']}" if exc.field == "note" else "_"] = exc.message(lang())
            else:
                if result.status == "duplicate":  # the same form sent twice: the first press recorded it
                    flash(replayed_message(), "info")
                    return redirect(url_for("linkage.index"))
                audit(f"linkage.{data['kind']}", f"household:{data['household']}", event=result.event_key)
                if result.amount:
                    flash(_("已登记,得 %(n)s 分。", n=fmt(result.amount, signed=True)), "success")
                else:
                    flash(_("已登记。本次不加分:%(why)s", why=";".join(result.skipped) or _("今天已计过")), "info")
                return redirect(url_for("linkage.index"))
    households = linkage.linked_households(ctx.ledger, actor)
    order = {t: i for i, t in enumerate(reversed(list(tier_names())))}
    households.sort(key=lambda h: (order.get(h["tier"], 99), str(h["last_visit"] or ""), h["code"]))
    keys = {h["household_id"]: new_request_key() for h in households}  # one per form: each household's is its own request
    return render_template("linkage/index.html", households=households, tiers=tier_names(), errors=errors, values=values,
                           today=ctx.today(), request_keys=keys), (400 if errors else 200)


def _names(ids: set[int]) -> dict[int, tuple[str, str]]:
    """Person id → (code, name)."""
    if not ids:
        return {}
    with jifen().engine.connect() as conn:
        return {r.id: (r.code, r.name) for r in conn.execute(select(Person.id, Person.code, Person.name).where(Person.id.in_(ids)))}  # type: ignore[call-overload, union-attr]


def problem_lines() -> list[dict[str, Any]]:
    """The problems the visitor may see (the service decides), open ones first, each with its member's and household's names."""
    ctx = jifen()
    rows = linkage.problems(ctx.ledger, current_actor())
    names = _names({r["member_id"] for r in rows})
    hids = {r["household_id"] for r in rows}
    with ctx.engine.connect() as conn:
        heads = {r.id: r.head_name for r in conn.execute(select(Household.id, Household.head_name).where(Household.id.in_(hids)))} if hids else {}  # type: ignore[call-overload, union-attr]
    for r in rows:
        r["member_code"], r["member_name"] = names.get(r["member_id"], ("", ""))
        r["head_name"] = heads.get(r["household_id"], "")
    order = {"handled": 0, "open": 1, "resolved": 2}
    rows.sort(key=lambda r: order.get(r["status"], 3))  # stable: newest first within each state
    return rows


def _problems_page(errors: dict[str, str], status: int = 200) -> Any:
    actor = current_actor()
    rows = problem_lines()
    waiting = sum(1 for r in rows if r["status"] != "resolved")
    return render_template("linkage/problems.html", problems=rows, waiting=waiting, errors=errors,
                           can_confirm=actor.role == "villager", household_id=actor.household_id), status


@bp.route("/problems")
@require(*PROBLEM_VIEWERS)
def problems() -> Any:
    """Problems raised through household-linking: a villager confirms their own household's resolved here."""
    return _problems_page({})


@bp.route("/problems/<int:problem_id>/confirm", methods=["POST"])
@require(*PROBLEM_VIEWERS, write=True)
def confirm(problem_id: int) -> Any:
    """The household confirms its problem resolved; anyone else is refused by the service, with its reason shown."""
    ctx = jifen()
    actor = current_actor()
    try:
        linkage.problem(ctx.ledger, actor, problem_id)
    except ServiceError:
        abort(404)  # another household's problem reads the same as one that does not exist
    data, _errors = load_form(ConfirmForm(), request.form)
    if data is None:
        return _problems_page({"_": _("请点“问题已解决”按钮确认。")}, 400)
    try:
        result = linkage.confirm_resolution(ctx.ledger, actor, problem_id)
    except ServiceError as exc:
        audit("linkage.confirm_refused", f"problem:{problem_id}", reason=exc.code)
        return _problems_page({"_": exc.message(lang())}, exc.status)
    if result.status == "duplicate":  # two presses at once: the other one confirmed it, nothing was scored twice
        flash(replayed_message(), "info")
        return redirect(url_for("linkage.problems"))
    audit("linkage.confirm", f"problem:{problem_id}", event=result.event_key, amount=fmt(result.amount))
    flash(_("已确认问题解决,谢谢您!为您服务的党员因此得 %(n)s 分。", n=fmt(result.amount, signed=True)), "success")
    return redirect(url_for("linkage.problems"))


def _rating_page(errors: dict[str, str], values: dict[str, Any], status: int = 200) -> Any:
    ctx = jifen()
    actor = current_actor()
    today = ctx.today()
    quarter = period_key("quarter", today)
    members: list[dict[str, Any]] = []
    if actor.household_id is not None:
        with ctx.engine.connect() as conn:
            ids = linkage.linked_members(conn, actor.household_id, today)
        given = linkage.household_ratings(ctx.ledger, actor, actor.household_id, quarter)
        names = _names(set(ids))
        members = [{"id": m, "code": names.get(m, ("", ""))[0], "name": names.get(m, ("", ""))[1], "given": given.get(m)} for m in ids]
    return render_template("linkage/rate.html", members=members, quarter=quarter, errors=errors, values=values, stars=STARS,
                           words=star_words()), status


@bp.route("/rate", methods=["GET", "POST"])
@require("villager")
def rate() -> Any:
    """The household rates its linked Party member, 1 to 5 stars, once a quarter."""
    if request.method == "GET":
        return _rating_page({}, {})
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    data, errors = load_form(RatingForm(), request.form)
    if data is None:
        if "member" in errors:
            errors["_"] = errors.pop("member")
        return _rating_page({f"rating-{values.get('member', '')}" if k == "rating" else k: v for k, v in errors.items()}, values, 400)
    ctx = jifen()
    actor = current_actor()
    try:
        result = linkage.rate_member(ctx.ledger, actor, data["rating"], member_id=data["member"])
    except ServiceError as exc:
        field = f"rating-{data['member']}" if exc.field == "rating" else "_"
        return _rating_page({field: exc.message(lang())}, values, exc.status)
    audit("linkage.rate", f"member:{data['member']}", rating=data["rating"], event=result.event_key)
    flash(_("谢谢您的评价!"), "success")
    return redirect(url_for("linkage.rate"))


def init_app(app: Flask) -> None:
    """Register the household-linking pages."""
    app.register_blueprint(bp)
