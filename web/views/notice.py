"""The notice board (公示栏) of each village: what is on notice, printable on A4, with the objection form."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, render_template
from sqlalchemy import select

from services import claims as wf
from services import queries
from services.claims import actor_village
from store.models import Area
from web.appctx import jifen
from web.auth import current_actor

bp = Blueprint("notice", __name__, url_prefix="/notice")


@bp.route("")
def index() -> Any:
    """Every village's board, and the visitor's own first."""
    ctx = jifen()
    with ctx.read_engine.connect() as conn:
        villages = queries.scope_options(conn, "village")
    return render_template("notice/index.html", villages=villages)


@bp.route("/<int:village_id>")
def board(village_id: int) -> Any:
    """A village's board: praise by name, deductions with the name masked; public, as the wall outside the office."""
    ctx = jifen()
    with ctx.engine.connect() as conn:
        village = conn.execute(select(Area.name, Area.parent_id).where(Area.id == village_id, Area.level == "village")).first()
        if village is None:
            abort(404)
        township = conn.execute(select(Area.name).where(Area.id == village.parent_id)).scalar() or ""
        actor = current_actor()
        mine = actor.county_wide or (actor.role != "anonymous" and actor_village(conn, actor) == village_id)
    items = wf.notice_board(ctx.ledger, village_id)
    now = ctx.now()
    can_object = mine and actor.role not in ("auditor", "shopkeeper", "anonymous")
    return render_template("notice/board.html", village=village.name, township=township, village_id=village_id, items=items,
                           can_object=can_object, now=now, today=ctx.today(), status_name=_status)


def _status(status: str) -> str:
    from web.views.claims import status_name

    return status_name(status)


def init_app(app: Flask) -> None:
    """Register the notice board."""
    app.register_blueprint(bp)
