"""党员联户 for a Party member: the linked households, when each was last visited, and recording a visit or a problem."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from scoring.points import fmt
from services import linkage
from services.errors import ServiceError
from web.appctx import jifen
from web.auth import audit, current_actor, require
from web.forms import FormSchema, integer, load_form, text
from web.i18n import lang

bp = Blueprint("linkage", __name__, url_prefix="/linkage")


class VisitForm(FormSchema):
    """A visit (with what was talked about) or a problem the household raised."""

    household = integer(required=True, low=1)
    kind = text(required=True, max=10)
    note = text(max=500)


def tier_names() -> dict[str, str]:
    """Tier keys → names of the rules in force (黄色 / 橙色 / 红色)."""
    ruleset = jifen().ruleset()
    return {t.key: t.name for t in ruleset.tiers} if ruleset else {}


@bp.route("", methods=["GET", "POST"])
@require("party_member")
def index() -> Any:
    """The member's linked households, most attention first, with a form to record a visit or a problem."""
    ctx = jifen()
    actor = current_actor()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if request.method == "POST":
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        data, errors = load_form(VisitForm(), request.form)
        if data is not None:
            try:
                if data["kind"] == "problem":
                    if not data.get("note"):
                        raise ServiceError("wf_summary_required", field="note")
                    result = linkage.raise_problem(ctx.ledger, actor, data["household"], data["note"])
                else:
                    result = linkage.record_visit(ctx.ledger, actor, data["household"], note=data.get("note", ""))
            except ServiceError as exc:
                errors[f"{exc.field or '_'}-{data['household']}" if exc.field == "note" else "_"] = exc.message(lang())
            else:
                audit(f"linkage.{data['kind']}", f"household:{data['household']}", event=result.event_key)
                if result.amount:
                    flash(_("已登记,得 %(n)s 分。", n=fmt(result.amount, signed=True)), "success")
                else:
                    flash(_("已登记。本次不加分:%(why)s", why=";".join(result.skipped) or _("今天已计过")), "info")
                return redirect(url_for("linkage.index"))
    households = linkage.linked_households(ctx.ledger, actor)
    order = {t: i for i, t in enumerate(reversed(list(tier_names())))}
    households.sort(key=lambda h: (order.get(h["tier"], 99), str(h["last_visit"] or ""), h["code"]))
    return render_template("linkage/index.html", households=households, tiers=tier_names(), errors=errors, values=values,
                           today=ctx.today()), (400 if errors else 200)


def init_app(app: Flask) -> None:
    """Register the member's linking page."""
    app.register_blueprint(bp)
