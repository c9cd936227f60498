"""积分超市 pages over ``services.shop``: the catalog, redeeming, one's reservations and the shop keeper's counter."""

from __future__ import annotations

import uuid
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
from flask_login import current_user
from sqlalchemy import select

from scoring.points import fmt
from services import shop
from services.errors import ServiceError
from services.queries import household_name
from store.models import Balance, Household
from web.appctx import jifen
from web.auth import audit, current_actor, require, safe_next
from web.extensions import login_manager
from web.forms import FormSchema, integer, load_form, text
from web.i18n import lang
from web.views.claims import replayed_message

bp = Blueprint("shop", __name__, url_prefix="/shop")
COUNTER_ROLES = ("shopkeeper", "admin", "auditor")
REDEEMERS = ("villager", "party_member", "shopkeeper", "admin")


class RedeemForm(FormSchema):
    """How many, for which household (counter only) and which person (items limited per person)."""

    qty = integer(required=True, low=1, high=99)
    household = text(max=64)
    person = text(max=64)
    request_id = text(max=64)


class CancelForm(FormSchema):
    """Cancelling a reservation, with an optional reason."""

    reason = text(max=300)
    next = text(max=300)


def status_name(status: str) -> str:
    """A redemption's state for people."""
    return {"reserved": _("已预订,待领取"), "picked_up": _("已领取"), "done": _("已完成"), "cancelled": _("已取消"),
            "lapsed": _("已过期,积分已退回")}.get(status, status)


def replayed_note(out: Any) -> str:
    """「已提交过,未重复记录」 and where the redemption stands now: said when a button's action was done before."""
    return f"{replayed_message()} · " + _("%(item)s × %(qty)s:%(status)s", item=out.item_name, qty=out.qty, status=status_name(out.status))


def picture_url(item: Any) -> str:
    """Where an item's picture is: a shipped one under static/, an uploaded one, or the placeholder."""
    pic = item.picture or ""
    if pic.startswith("img/"):
        return url_for("static", filename=pic)
    if pic:
        return url_for("shop.picture", item_id=item.id)
    return url_for("static", filename="img/shop/item.svg")


def my_balance() -> dict[str, int]:
    """The visitor's household balances by point type (spendable types only matter here)."""
    actor = current_actor()
    if actor.household_id is None:
        return {}
    with jifen().engine.connect() as conn:
        rows = conn.execute(select(Balance.point_type, Balance.amount).where(Balance.holder_kind == "h", Balance.holder_id == actor.household_id))
        return {r.point_type: int(r.amount) for r in rows}


@bp.route("")
def catalog() -> Any:
    """The catalog with pictures, price, stock, grade needed and limits; the visitor's balance beside."""
    ctx = jifen()
    items = shop.list_items(ctx, current_actor(), lang=lang())  # grades in the reader's language
    return render_template("shop/catalog.html", items=items, balance=my_balance(), picture_url=picture_url,
                           can_redeem=current_actor().role in REDEEMERS)


@bp.route("/item/<int:item_id>", methods=["GET", "POST"])
def item(item_id: int) -> Any:
    """One item; logged-in households (and the counter) redeem it here."""
    ctx = jifen()
    actor = current_actor()
    try:
        it = shop.get_item(ctx, actor, item_id, lang=lang())
    except ServiceError:
        abort(404)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"qty": "1", "request_id": uuid.uuid4().hex, "household": request.args.get("household", "")[:64]}
    if request.method == "POST":
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user_can_redeem():
            abort(403)
        values = request.form.to_dict()
        values.pop("csrf_token", None)
        data, errors = load_form(RedeemForm(), request.form)
        at_counter = actor.role in ("shopkeeper", "admin")
        if data is not None and at_counter and not data.get("household"):
            errors["household"] = _("请填写此项。")  # the counter always names the household it reserves for
        elif data is not None:
            household = data.get("household") if at_counter else None
            try:
                out = shop.reserve(ctx, actor, item_id, household=household, qty=data["qty"],
                                   request_id=data.get("request_id"), person=data.get("person"))
            except ServiceError as exc:
                if exc.status == 404 and exc.field == "household" and household:
                    # A mistyped code (or another village's: the same answer) is told beside the field, the form kept.
                    errors["household"] = _("在本村找不到户号 %(code)s。", code=household)
                elif exc.status == 404:
                    abort(404)
                else:
                    errors[exc.field if exc.field in ("qty", "household", "person") else "_"] = exc.message(lang())
            else:
                msg = _("已预订 %(item)s × %(qty)s,扣 %(amount)s 分。请在 %(until)s 前到积分超市领取。",
                        item=out.item_name, qty=out.qty, amount=out.amount_text,
                        until=out.expires_at.astimezone(ctx.tz).strftime("%Y-%m-%d") if out.expires_at.tzinfo else out.expires_at.strftime("%Y-%m-%d"))
                if out.replayed:  # the same form sent again: the first press reserved it, nothing was paid twice
                    flash(replayed_message(), "info")
                else:
                    flash(msg, "success")
                if at_counter:
                    return redirect(url_for("shop.counter", household=out.household_code))
                return redirect(url_for("shop.reservations"))
    return render_template("shop/item.html", it=it, errors=errors, values=values, balance=my_balance(), picture_url=picture_url,
                           can_redeem=current_user_can_redeem(), counter=actor.role in ("shopkeeper", "admin")), (400 if errors else 200)


def current_user_can_redeem() -> bool:
    """A household login, a Party member with a household, or the counter."""
    actor = current_actor()
    if actor.role in ("shopkeeper", "admin"):
        return True
    return actor.role in REDEEMERS and actor.household_id is not None


@bp.route("/reservations")
@require("villager", "party_member")
def reservations() -> Any:
    """One's household's redemptions: what to pick up and by when; cancel a reservation."""
    ctx = jifen()
    actor = current_actor()
    rows = shop.list_redemptions(ctx, actor, lang=lang()) if actor.household_id is not None else []
    return render_template("shop/reservations.html", rows=rows, status_name=status_name)


@bp.route("/reservations/<int:redemption_id>/cancel", methods=["POST"])
@require("villager", "party_member", "shopkeeper", "admin")
def cancel(redemption_id: int) -> Any:
    """Cancel a reservation: points and stock come back."""
    data, errors = load_form(CancelForm(), request.form)
    back = safe_next((data or {}).get("next"), url_for("shop.reservations") if current_actor().role in ("villager", "party_member") else url_for("shop.counter"))
    if data is None:
        flash(next(iter(errors.values())), "error")
        return redirect(back)
    try:
        out = shop.cancel(jifen(), current_actor(), redemption_id, data.get("reason", ""))
    except ServiceError as exc:
        if exc.status in (403, 404):
            abort(404)
        flash(exc.message(lang()), "error")
    else:
        if out.replayed:  # cancelled (or lapsed) before: its points came back then, not again now; nothing to audit
            flash(replayed_note(out), "info")
            return redirect(back)
        if current_actor().role in ("shopkeeper", "admin"):
            audit("shop.cancel", f"redemption:{redemption_id}", household=out.household_code, reason=data.get("reason", ""))
        flash(_("已取消,%(amount)s 分已退回。", amount=out.amount_text), "success")
    return redirect(back)


@bp.route("/counter")
@require(*COUNTER_ROLES)
def counter() -> Any:
    """The shop keeper's counter: reservations waiting, a household's redemptions and balance, hand-over buttons."""
    ctx = jifen()
    actor = current_actor()
    code = request.args.get("household", "").strip()[:64]
    language = lang()  # households and grades named in the reader's language
    waiting = shop.counter_queue(ctx, actor, lang=language)
    found: list[Any] = []
    household = None
    error = ""
    if code:
        try:
            found = shop.list_redemptions(ctx, actor, household=code, lang=language)
        except ServiceError:
            error = _("在本村找不到户号 %(code)s。", code=code)
        else:
            with ctx.engine.connect() as conn:
                h = conn.execute(select(Household.id, Household.code, Household.head_name).where(Household.code == code)).first()
                bal = conn.execute(select(Balance.point_type, Balance.amount).where(Balance.holder_kind == "h", Balance.holder_id == h.id)).all() if h else []
            household = {"code": h.code, "name": household_name(h.head_name, language), "balances": {r.point_type: int(r.amount) for r in bal}} if h else None
    items = shop.list_items(ctx, actor, lang=language) if actor.role != "auditor" else []
    return render_template("shop/counter.html", waiting=waiting, found=found, code=code, household=household, error=error,
                           items=items, status_name=status_name, read_only=actor.role == "auditor", fmt=fmt)


@bp.route("/counter/<int:redemption_id>/<action>", methods=["POST"])
@require("shopkeeper", "admin")
def counter_action(redemption_id: int, action: str) -> Any:
    """Hand over (pick_up) or complete a redemption at the counter."""
    ctx = jifen()
    fn = {"pick_up": shop.pick_up, "complete": shop.complete}.get(action)
    if fn is None:
        abort(404)
    back = safe_next(request.form.get("next"), url_for("shop.counter"))
    try:
        out = fn(ctx, current_actor(), redemption_id)
    except ServiceError as exc:
        if exc.status == 404 or (exc.status == 403 and exc.code == "forbidden"):
            abort(404)
        flash(exc.message(lang()), "error")
    else:
        if out.replayed:  # handed over (or completed) before, by this press's twin or another keeper: nothing new to audit
            flash(replayed_note(out), "info")
            return redirect(back)
        audit(f"shop.{action}", f"redemption:{redemption_id}", household=out.household_code, item=out.item_name, qty=out.qty)
        flash(_("%(item)s × %(qty)s:%(status)s", item=out.item_name, qty=out.qty, status=status_name(out.status)), "success")
    return redirect(back)


@bp.route("/picture/<int:item_id>")
def picture(item_id: int) -> Any:
    """An uploaded catalog picture (pictures are public like the catalog)."""
    try:
        it = shop.get_item(jifen(), current_actor(), item_id)
    except ServiceError:
        abort(404)
    if not it.picture or it.picture.startswith("img/"):
        abort(404)
    root = Path(current_app.config["UPLOAD_DIR"]).resolve()
    path = (root / it.picture).resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    return send_file(path, max_age=3600)


def init_app(app: Flask) -> None:
    """Register the shop pages."""
    app.register_blueprint(bp)
