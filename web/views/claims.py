"""Claims pages (申报 → 审核 → 公示): declare an item, follow one's claims, review, object, appeal.

Every action calls ``services.claims``; refusals come back as ``ServiceError`` and
are shown beside the field they name, in the reader's language.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from marshmallow import Schema
from sqlalchemy import or_, select

from scoring.model import EventType, Rule, Ruleset
from scoring.points import fmt
from services import claims as wf
from services.errors import NotFound, ServiceError
from services.messages import render
from store.models import Household, Membership, Person
from web.appctx import jifen
from web.auth import EVERYONE, STAFF, audit, current_actor, require, safe_next
from web.forms import (
    FormSchema,
    boolean,
    choice,
    day,
    decimal,
    integer,
    load_form,
    new_request_key,
    posted_request_key,
    text,
)
from web.i18n import lang
from web.views.public import point_type_name

bp = Blueprint("claims", __name__, url_prefix="/claims")
ENTERERS = ("villager", "party_member", "grid_worker", "steward", "secretary", "committee", "admin")
REVIEWERS = ("secretary", "committee", "admin")


def replayed_message() -> str:
    """「已提交过,未重复记录」 in the reader's language."""
    return render("wf_replayed", lang())


def workflow_config() -> wf.WorkflowConfig:
    """The claims flow's settings with this site's upload folder."""
    return dataclasses.replace(wf.WorkflowConfig.from_env(), upload_dir=Path(current_app.config["UPLOAD_DIR"]))


def status_name(status: str) -> str:
    """A claim's state in the reader's language."""
    zh, en = wf.STATUS_NAMES.get(status, (status, status))
    return en if lang() == "en" else zh


def rules_for(ruleset: Ruleset, role: str) -> list[Rule]:
    """The rules this role may declare, in file order."""
    out = []
    for rule in sorted(ruleset.rules.values(), key=lambda r: r.order):
        allowed = rule.roles or wf.STAFF_ROLES
        if role == "admin" or role in allowed:
            out.append(rule)
    return out


def rule_label(ruleset: Ruleset, rule: Rule) -> str:
    """``MB-05 照顾老人 (+5 道德积分)`` for the rule picker, in the reader's language."""
    pt = ruleset.point_types.get(rule.point_type)
    points = ""
    if rule.fixed_points is not None:
        points = fmt(rule.fixed_points, signed=True)
    elif rule.points_range is not None:
        points = f"{fmt(rule.points_range[0])}~{fmt(rule.points_range[1])}"
    tail = f" ({points} {point_type_name(pt)})" if points and pt else (f" ({point_type_name(pt)})" if pt else "")
    return f"{rule.id} {rule.label(lang())}{tail}"


def field_schema(event_type: EventType) -> Schema:
    """A marshmallow schema for the declared fields of an event type (inputs named ``f_<name>``)."""
    made: dict[str, Any] = {}
    for spec in event_type.fields.values():
        kw = {"required": spec.required, "data_key": f"f_{spec.name}"}
        if spec.type == "int":
            made[spec.name] = integer(**kw)
        elif spec.type == "decimal":
            made[spec.name] = decimal(**kw)
        elif spec.type == "choice":
            made[spec.name] = choice(spec.choices, **kw)
        elif spec.type == "bool":
            made[spec.name] = boolean(data_key=f"f_{spec.name}")
        elif spec.type == "date":
            made[spec.name] = day(**kw)
        else:
            made[spec.name] = text(max=500, **kw)
    return FormSchema.from_dict(made, name=f"Fields_{event_type.key}")()


class ClaimForm(FormSchema):
    """The envelope of a claim: rule, who, when, what happened and, for a range rule, the points proposed."""

    rule = text(required=True, max=40)
    person = text(max=64)
    household = text(max=64)
    occurred_on = day()
    description = text(max=500)
    points = decimal()


class ReasonForm(FormSchema):
    """A reason (objections, appeals, rejections)."""

    reason = text(required=True, max=1000)


class ApproveForm(FormSchema):
    """Approval, with the amount a reviewer chooses for a range rule."""

    amount = decimal()
    note = text(max=500)


class DecideForm(FormSchema):
    """Uphold or dismiss an objection or appeal, with the reason."""

    decision = choice(("uphold", "dismiss"), required=True)
    reason = text(required=True, max=1000)


def household_members(household_id: int | None, day_: date) -> list[tuple[str, str]]:
    """(code, name) of a household's members today, for the villager's picker."""
    if household_id is None:
        return []
    with jifen().engine.connect() as conn:
        return [(r.code, r.name) for r in conn.execute(select(Person.code, Person.name).join(Membership, Membership.person_id == Person.id).where(  # type: ignore[arg-type]
            Membership.household_id == household_id, Membership.valid_from <= day_,
            or_(Membership.valid_to.is_(None), Membership.valid_to > day_)).order_by(Person.code))]  # type: ignore[union-attr, operator]


def occurred_moment(on: date | None, today: date) -> str | None:
    """When it happened: now for today, midday local time for an earlier day."""
    if on is None or on == today:
        return None
    return datetime.combine(on, time(12, 0)).isoformat()


@bp.route("/new", methods=["GET", "POST"])
@require(*ENTERERS)
def new() -> Any:
    """Declare an item of the rule table: pick the rule, then fill who, when, what (works without JavaScript)."""
    ctx = jifen()
    ruleset = ctx.ruleset()
    if ruleset is None:
        abort(404)
    actor = current_actor()
    today = ctx.today()
    rules = rules_for(ruleset, actor.role)
    values: dict[str, Any] = request.values.to_dict()
    values.pop("csrf_token", None)
    errors: dict[str, str] = {}
    rule = ruleset.rules.get(values.get("rule", "")) if values.get("rule") else None
    if rule is not None and rule not in rules:
        errors["rule"] = _("您的角色不能申报这一项。")
        rule = None
    event_type = ruleset.event_types.get(rule.event_type) if rule else None
    if request.method == "POST":
        data, errors = load_form(ClaimForm(), request.form)
        fields, field_errors = ({}, {})
        if event_type is not None:
            fields, field_errors = load_form(field_schema(event_type), request.form)
            errors.update(field_errors)  # already keyed by the inputs' names (f_<field>)
        if data is not None and rule is None:
            errors["rule"] = _("请从列表中选择。")
        if data is not None and not errors and rule is not None:
            if data.get("occurred_on") and data["occurred_on"] > today:
                errors["occurred_on"] = _("发生日期不能晚于今天。")
            else:
                person = data.get("person")
                household = data.get("household")
                if actor.role == "villager" and not person and not household and event_type is not None and event_type.subject != "person":
                    household = _own_household_code(actor.household_id)  # 「— 本户 —」: a rule about the household
                request_key = posted_request_key()
                uploads = [wf.Upload(f.filename or "photo", f.read()) for f in request.files.getlist("evidence") if f and f.filename]
                try:
                    result = wf.submit(
                        ctx.ledger, actor, rule.id, person=person, household=household,
                        occurred_at=occurred_moment(data.get("occurred_on"), today), description=data.get("description", ""),
                        fields={k: (str(v) if not isinstance(v, bool | int | str) else v) for k, v in (fields or {}).items() if v is not None},
                        points=str(data["points"]) if data.get("points") is not None else None, evidence=uploads,
                        key=f"claim:web:{actor.username}:{request_key}" if request_key else None,
                        source="web", config=workflow_config(), lang=lang(),
                    )
                except ServiceError as exc:
                    errors[_form_field(exc.field)] = exc.message(lang())
                else:
                    if result.status == "nothing":
                        errors["_"] = _("按规则这一项不计分:%(why)s", why=";".join(result.skipped) or _("条件不符"))
                    elif result.claim is not None:
                        if result.status == "posted":
                            flash(_("已记入,积分 %(n)s。", n=fmt(result.claim.amount, signed=True)), "success")
                        elif result.status == "duplicate":
                            flash(replayed_message(), "info")
                        else:
                            flash(_("已提交,等待审核。审核通过后会在公示栏公示。"), "success")
                        return redirect(url_for("claims.show", claim_id=result.claim.id))
    options = [(r.id, rule_label(ruleset, r)) for r in rules]
    spec_fields = list(event_type.fields.values()) if event_type else []
    members = household_members(actor.household_id, today) if actor.role == "villager" else []
    own_person = _own_person_code(actor.person_id, members)
    rng = rule.points_range if rule else None
    on_page = _inputs_on_page(event_type, spec_fields, bool(members), rng is not None)
    stray = [k for k in errors if k != "_" and k not in on_page]
    if stray:  # a refusal about an input this form does not draw (e.g. the household of a person rule): show it on top
        errors["_"] = ";".join([*([errors["_"]] if errors.get("_") else []), *(errors.pop(k) for k in stray)])
    values["request_key"] = new_request_key()
    return render_template("claims/new.html", options=options, rule=rule, event_type=event_type, spec_fields=spec_fields,
                           values=values, errors=errors, members=members, own_person=own_person, today=today, rng=rng,
                           rng_text=(fmt(rng[0]), fmt(rng[1])) if rng else None), (400 if errors and request.method == "POST" else 200)


def _inputs_on_page(event_type: EventType | None, spec_fields: list[Any], members: bool, rng: bool) -> set[str]:
    """The inputs claims/new.html draws (and shows an error beside) for this rule."""
    names = {"rule"}
    if event_type is None:
        return names
    names |= {"occurred_on", "description", "evidence"} | {f"f_{s.name}" for s in spec_fields if s.type != "bool"}
    if rng:
        names.add("points")
    if members:
        names.add("person")
    else:
        if event_type.subject == "person":
            names.add("person")
        if event_type.subject == "household" or event_type.household:
            names.add("household")
    return names


def _form_field(name: str) -> str:
    """Where a service names a field, which input it is on the form."""
    return {"occurred_at": "occurred_on", "evidence": "evidence", "points": "points", "person": "person",
            "household": "household", "rule": "rule", "key": "_"}.get(name, f"f_{name}" if name else "_")


def _own_person_code(person_id: int | None, members: list[tuple[str, str]]) -> str | None:
    """The person picker's default: the login's own villager when one of the household's members, else a sole member."""
    if not members:
        return None
    if person_id is not None:
        with jifen().engine.connect() as conn:
            code = conn.execute(select(Person.code).where(Person.id == person_id)).scalar()  # type: ignore[arg-type]
        if code in {c for c, _name in members}:
            return code  # type: ignore[no-any-return]
    return members[0][0] if len(members) == 1 else None


def _own_household_code(household_id: int | None) -> str | None:
    if household_id is None:
        return None
    with jifen().engine.connect() as conn:
        return conn.execute(select(Household.code).where(Household.id == household_id)).scalar()  # type: ignore[no-any-return]


@bp.route("/mine")
@require(*ENTERERS, "auditor")
def mine() -> Any:
    """Claims the user entered or that concern them, newest first, with their state."""
    ctx = jifen()
    actor = current_actor()
    status = request.args.get("status") or None
    if status is not None and status not in wf.STATUSES:
        status = None
    rows = wf.list_claims(ctx.ledger, actor, status=status, limit=100, lang=lang())
    if actor.role not in ("villager", "admin", "auditor"):
        rows = [c for c in rows if c.entered_by == actor.username or c.person_id == actor.person_id] if request.args.get("all") != "1" else rows
    return render_template("claims/list.html", claims=rows, status=status, statuses=[(s, status_name(s)) for s in wf.STATUSES],
                           status_name=status_name)


@bp.route("/<int:claim_id>")
@require(*EVERYONE)
def show(claim_id: int) -> Any:
    """A claim: what, who, its history, photos, objections and appeals, and the buttons the visitor may press."""
    ctx = jifen()
    actor = current_actor()
    try:
        view = wf.get_claim(ctx.ledger, actor, claim_id, lang=lang())
    except NotFound:
        abort(404)
    actions = wf.allowed_actions(actor, view, ctx.now())
    return render_template("claims/show.html", c=view, actions=actions, status_name=status_name, errors={}, values={},
                           request_key=new_request_key(), rng_text=(fmt(view.range[0]), fmt(view.range[1])) if view.range else None)


def _act(claim_id: int, fn: Any, ok: str, schema: Schema, target: str,
         on_error: Callable[[dict[str, str], dict[str, Any]], Any] | None = None) -> Any:
    """Run one claim action from a posted form; show the claim again with the error beside its field on refusal.

    ``fn`` returning True means the form was sent before (same request key): nothing new was recorded, so the
    visitor goes where the first press led, told so. ``on_error`` draws another page than the claim's on refusal.
    """
    ctx = jifen()
    actor = current_actor()
    data, errors = load_form(schema, request.form)
    if data is not None:
        try:
            replayed = fn(ctx, actor, data) is True
        except ServiceError as exc:
            if exc.status == 404:
                abort(404)
            errors[exc.field or "_"] = exc.message(lang())
        else:
            if replayed:
                flash(replayed_message(), "info")
            else:
                audit(target, f"claim:{claim_id}", **{k: str(v) for k, v in data.items()})
                flash(ok, "success")
            return redirect(safe_next(request.form.get("next"), url_for("claims.show", claim_id=claim_id)))
    values = request.form.to_dict()
    values.pop("csrf_token", None)
    values.pop("request_key", None)
    if not errors:
        errors = {"_": _("操作未完成。")}
    if on_error is not None:
        return on_error(errors, values)
    try:
        view = wf.get_claim(ctx.ledger, actor, claim_id, lang=lang())
    except NotFound:
        abort(404)
    return render_template("claims/show.html", c=view, actions=wf.allowed_actions(actor, view, ctx.now()), status_name=status_name,
                           errors=errors, values=values, form=target, request_key=new_request_key(),
                           rng_text=(fmt(view.range[0]), fmt(view.range[1])) if view.range else None), 400


@bp.route("/<int:claim_id>/approve", methods=["POST"])
@require(*REVIEWERS)
def approve(claim_id: int) -> Any:
    """审核通过 (a range rule's amount may be set)."""
    return _act(claim_id, lambda ctx, a, d: wf.approve(ctx.ledger, a, claim_id, amount=str(d["amount"]) if d.get("amount") is not None else None,
                                                       note=d.get("note", ""), config=workflow_config()),
                _("已审核通过,进入公示。"), ApproveForm(), "claim.approve")


@bp.route("/<int:claim_id>/reject", methods=["POST"])
@require(*REVIEWERS)
def reject(claim_id: int) -> Any:
    """驳回, with a reason the villager will read."""
    return _act(claim_id, lambda ctx, a, d: wf.reject(ctx.ledger, a, claim_id, d["reason"]), _("已驳回。"), ReasonForm(), "claim.reject")


@bp.route("/<int:claim_id>/notice", methods=["POST"])
@require(*REVIEWERS)
def notice(claim_id: int) -> Any:
    """Put an approved claim on the notice board now."""
    return _act(claim_id, lambda ctx, a, d: wf.start_notice(ctx.ledger, a, [claim_id], config=workflow_config()),
                _("已开始公示。"), FormSchema(), "claim.notice")


@bp.route("/<int:claim_id>/object", methods=["POST"])
@require(*EVERYONE)
def object_(claim_id: int) -> Any:
    """异议 during the notice period, from the claim's page or the village's notice board (which the form names).

    The form's request key makes a second press return the first objection; a refusal sent from the notice board
    is shown on the notice board again (a villager may not be able to see the claim's own page).
    """
    request_key = posted_request_key()
    board = request.form.get("board", type=int)

    def on_board(errors: dict[str, str], values: dict[str, Any]) -> Any:
        from web.views.notice import render_board

        return render_board(board, errors=errors, values=values, claim_id=claim_id, status=400)  # type: ignore[arg-type]

    return _act(claim_id, lambda ctx, a, d: wf.object_once(ctx.ledger, a, claim_id, d["reason"], key=request_key)[1],
                _("异议已提交,村里会调查并答复。"), ReasonForm(), "claim.object", on_error=on_board if board else None)


@bp.route("/<int:claim_id>/appeal", methods=["POST"])
@require(*EVERYONE)
def appeal(claim_id: int) -> Any:
    """申诉 after posting."""
    return _act(claim_id, lambda ctx, a, d: wf.appeal(ctx.ledger, a, claim_id, d["reason"]),
                _("申诉已提交。"), ReasonForm(), "claim.appeal")


@bp.route("/<int:claim_id>/objections/<int:objection_id>", methods=["POST"])
@require(*REVIEWERS)
def decide_objection(claim_id: int, objection_id: int) -> Any:
    """Uphold (withdraw the claim) or dismiss an objection."""
    return _act(claim_id, lambda ctx, a, d: wf.resolve_objection(ctx.ledger, a, objection_id, d["decision"] == "uphold", d["reason"],
                                                                 config=workflow_config()),
                _("异议已处理。"), DecideForm(), "claim.objection")


@bp.route("/<int:claim_id>/appeals/<int:appeal_id>", methods=["POST"])
@require(*REVIEWERS)
def decide_appeal(claim_id: int, appeal_id: int) -> Any:
    """Uphold (reverse the entry) or dismiss an appeal."""
    return _act(claim_id, lambda ctx, a, d: wf.resolve_appeal(ctx.ledger, a, appeal_id, d["decision"] == "uphold", d["reason"]),
                _("申诉已处理。"), DecideForm(), "claim.appeal_decision")


@bp.route("/evidence/<int:evidence_id>")
@require(*EVERYONE)
def evidence(evidence_id: int) -> Any:
    """An evidence photo, for those who may see its claim (404 otherwise)."""
    config = workflow_config()
    try:
        path, mime, _name = wf.evidence_file(jifen().ledger, current_actor(), evidence_id, config)
    except NotFound:
        abort(404)
    root = config.upload_dir.resolve()
    full = path.resolve()
    if root not in full.parents or not full.is_file():
        abort(404)
    return send_file(full, mimetype=mime, max_age=3600)


def init_app(app: Flask) -> None:
    """Register the claims pages."""
    app.register_blueprint(bp)


__all__ = ["STAFF", "bp", "init_app"]
