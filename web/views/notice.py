"""The notice board (公示栏) of each village: what is on notice, printable on A4, with the objection form."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, render_template
from sqlalchemy import select

from services import claims as wf
from services import queries
from services.claims import actor_village
from store.models import Area
from store.seal import fingerprint
from web.appctx import jifen
from web.auth import current_actor
from web.forms import new_request_key
from web.i18n import lang

bp = Blueprint("notice", __name__, url_prefix="/notice")


@bp.route("")
def index() -> Any:
    """Every village's board, and the visitor's own first."""
    ctx = jifen()
    with ctx.read_engine.connect() as conn:
        villages = queries.scope_options(conn, "village")
        sealed = fingerprint(conn)
    return render_template("notice/index.html", villages=villages, sealed=sealed)


@bp.route("/<int:village_id>")
def board(village_id: int) -> Any:
    """A village's board: praise by name, deductions with the name masked; public, as the wall outside the office."""
    return render_board(village_id)


def render_board(village_id: int, errors: dict[str, str] | None = None, values: dict[str, Any] | None = None,
                 claim_id: int | None = None, status: int = 200) -> Any:
    """The board page; with ``errors``, the objection form of ``claim_id`` shows them and keeps what was typed.

    Each objection form carries its own one-time request key, so a second press records one objection.
    """
    ctx = jifen()
    with ctx.engine.connect() as conn:
        village = conn.execute(select(Area.name, Area.parent_id).where(Area.id == village_id, Area.level == "village")).first()
        if village is None:
            abort(404)
        township = conn.execute(select(Area.name).where(Area.id == village.parent_id)).scalar() or ""
        actor = current_actor()
        mine = actor.county_wide or (actor.role != "anonymous" and actor_village(conn, actor) == village_id)
    items = wf.notice_board(ctx.ledger, village_id, lang())  # rules named in the reader's language
    now = ctx.now()
    can_object = mine and actor.role not in ("auditor", "shopkeeper", "anonymous")
    open_forms = {it.claim_id for it in items if can_object and it.notice_until and it.notice_until > now}
    errors = dict(errors or {})
    if errors and claim_id in open_forms:
        # Beside the reason when it is about the reason; anything else above the button of the same form.
        others = [v for k, v in errors.items() if k != "reason"]
        errors = {k: v for k, v in (("reason", errors.get("reason")), ("_", ";".join(others))) if v}
    elif errors:  # that form is no longer drawn (the notice ended meanwhile): say so on top of the board
        errors, claim_id = {"_": ";".join(errors.values())}, None
    keys = {cid: new_request_key() for cid in open_forms}
    return render_template("notice/board.html", village=village.name, township=township, village_id=village_id, items=items,
                           can_object=can_object, now=now, today=ctx.today(), status_name=_status, errors=errors,
                           values=values or {}, form_claim=claim_id, request_keys=keys), status


def _status(status: str) -> str:
    from web.views.claims import status_name

    return status_name(status)


def init_app(app: Flask) -> None:
    """Register the notice board."""
    app.register_blueprint(bp)
