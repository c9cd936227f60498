"""What every template can use: the actor, language and display preferences, the menu, number and time filters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from scoring.points import fmt
from services.privacy import mask_id, mask_name, mask_phone
from web.appctx import jifen
from web.i18n import lang, pref

# The menu: (endpoint, label) or (endpoint, label, roles). Each entry shows only to the roles its view lets in
# and, when it names roles, only to those (one page may be labelled for each kind of visitor).
MENU: list[tuple[Any, ...]] = [
    ("passbook.mine", _l("我的存折")),
    ("desk.index", _l("支部工作台")),
    ("desk.queue", _l("审核")),
    ("appraisal.index", _l("民主评议")),
    ("shop.counter", _l("兑换柜台")),
    ("linkage.index", _l("我的联系户")),
    ("linkage.problems", _l("我家的问题"), ("villager",)),
    ("linkage.problems", _l("联户问题"), ("party_member",)),
    ("linkage.rate", _l("评价联系党员")),
    ("appraisal.rate", _l("民主评议"), ("villager", "party_member", "grid_worker", "steward")),
    ("claims.new", _l("申报积分")),
    ("claims.mine", _l("我的申报")),
    ("passbook.search", _l("查询存折")),
    ("public.leaderboard", _l("排行榜")),
    ("notice.index", _l("公示栏")),
    ("shop.catalog", _l("积分超市")),
    ("shop.reservations", _l("我的兑换")),
    ("admin.index", _l("管理")),
]


def allowed(endpoint: str) -> bool:
    """Whether the current visitor may open an endpoint (by the roles its view declares)."""
    view = current_app.view_functions.get(endpoint)
    if view is None:
        return False
    roles = getattr(view, "roles", None)
    if roles is None:
        return True
    return bool(current_user.is_authenticated and current_user.role in roles)


def menu() -> list[tuple[str, str, bool]]:
    """(url, label, is-current) for the visitor's menu."""
    out = []
    own = current_user.is_authenticated and (current_user.actor.person_id or current_user.actor.household_id)
    for endpoint, label, *only in MENU:
        if endpoint == "passbook.mine" and not own:
            continue
        if only and not (current_user.is_authenticated and current_user.role in only[0]):
            continue
        if allowed(endpoint):
            out.append((url_for(endpoint), str(label), request.endpoint == endpoint))
    return out


def local_time(value: datetime | None, with_time: bool = True) -> str:
    """A moment in the county's time, 2026-03-01 09:30."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            from datetime import UTC

            value = value.replace(tzinfo=UTC)
        local = value.astimezone(jifen().tz)
        return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


UNITS_EN = {"分": "pts", "小时": "hours", "次": "times", "天": "days"}


def unit_name(unit: str) -> str:
    """A point type's unit in the reader's language (the rules file names it in Chinese)."""
    return UNITS_EN.get(unit, unit) if lang() == "en" else unit


def init_app(app: Flask) -> None:
    """Register the context processor and filters."""

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "lang": lang(),
            "size_pref": pref("size"),
            "contrast_pref": pref("contrast"),
            "menu": menu,
            "allowed": allowed,
            "actor": current_user.actor if current_user.is_authenticated else None,
        }

    app.jinja_env.filters.update(
        points=lambda v: fmt(int(v or 0)),
        signed=lambda v: fmt(int(v or 0), signed=True),
        local=local_time,
        localday=lambda v: local_time(v, False),
        mask_name=mask_name,
        unit=unit_name,
        mask_id=mask_id,
        mask_phone=mask_phone,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
