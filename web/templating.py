"""What every template can use: the actor, language and display preferences, the menu, number and time filters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, current_app, request, url_for
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from scoring.messages import unit_label
from scoring.points import fmt
from services.privacy import mask_id, mask_name, mask_numbers, mask_phone
from store.db import aware
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


def _role() -> str | None:
    """The visitor's role, None for a visitor not logged in."""
    user = current_user._get_current_object()  # type: ignore[attr-defined]  # the proxy costs a lookup per use
    return user.role if user.is_authenticated else None  # type: ignore[no-any-return]


def allowed(endpoint: str) -> bool:
    """Whether the current visitor may open an endpoint (by the roles its view declares)."""
    return _allowed_for(endpoint, _role())


def _allowed_for(endpoint: str, role: str | None) -> bool:
    view = current_app.view_functions.get(endpoint)
    if view is None:
        return False
    roles = getattr(view, "roles", None)
    if roles is None:
        return True
    return role is not None and role in roles


# The menu's entries per (role, has own passbook, language, script root): the same for every page a
# kind of visitor opens, so the role checks and url_for run once per worker, not on every page.
_MENUS: dict[tuple[Any, ...], list[tuple[str, str, str]]] = {}


def menu() -> list[tuple[str, str, bool]]:
    """(url, label, is-current) for the visitor's menu."""
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    role = user.role if user.is_authenticated else None
    own = bool(role and (user.actor.person_id or user.actor.household_id))
    key = (role, own, lang(), request.script_root)
    entries = _MENUS.get(key)
    if entries is None:
        entries = []
        for endpoint, label, *only in MENU:
            if endpoint == "passbook.mine" and not own:
                continue
            if only and role not in only[0]:
                continue
            if _allowed_for(endpoint, role):
                entries.append((endpoint, url_for(endpoint), str(label)))
        _MENUS[key] = entries
    here = request.endpoint
    return [(url, label, endpoint == here) for endpoint, url, label in entries]


def _page_gettext(translations: Any) -> dict[str, Any]:
    """``_``/``gettext``/``ngettext`` for one page, bound to the request's translations once.

    Flask-Babel's own callables look the locale and catalog up again on every
    string (a page has dozens); these do what Jinja's new-style gettext does
    (escape, then ``%`` the variables) with the catalog already in hand.
    """
    plain, plural = translations.ugettext, translations.ungettext

    @pass_context
    def gettext(context: Context, message: str, **variables: Any) -> str:
        rv = plain(message)
        if context.eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables  # type: ignore[no-any-return]

    @pass_context
    def ngettext(context: Context, singular: str, plural_: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        rv = plural(singular, plural_, num)
        if context.eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables  # type: ignore[no-any-return]

    return {"gettext": gettext, "_": gettext, "ngettext": ngettext}


def local_time(value: datetime | None, with_time: bool = True) -> str:
    """A moment in the county's time, 2026-03-01 09:30."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        local = aware(value).astimezone(jifen().tz)  # type: ignore[union-attr]
        return local.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def unit_name(unit: str) -> str:
    """A point type's unit in the reader's language (the rules file names it in Chinese)."""
    return unit_label(unit, lang())


def init_app(app: Flask) -> None:
    """Register the context processor and filters."""

    @app.context_processor
    def _globals() -> dict[str, Any]:
        user = current_user._get_current_object()  # type: ignore[attr-defined]
        return {
            "lang": lang(),
            "size_pref": pref("size"),
            "contrast_pref": pref("contrast"),
            "menu": menu,
            "allowed": allowed,
            "actor": user.actor if user.is_authenticated else None,
            **_page_gettext(get_translations()),
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
        mask_numbers=mask_numbers,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
