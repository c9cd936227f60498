"""Pages anyone may open: the home page, leaderboards and the display preferences."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Flask, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from scoring.model import Named, Ruleset
from scoring.periods import parse_period, period_key
from services import queries
from web.appctx import jifen
from web.auth import current_actor, safe_next
from web.forms import BoardQuery, load_form
from web.i18n import PREF_COOKIES, lang

bp = Blueprint("public", __name__)

SCOPE_LABELS = {"county": "全县", "township": "乡镇", "village": "村", "grid": "网格", "branch": "党支部"}


def point_type_name(pt: Named) -> str:
    """A point type's name in the reader's language (rules.yaml's ``name_en`` in English, where it gives one)."""
    return pt.label(lang())


def recent_periods(kind: str, today: date, count: int) -> list[str]:
    """The latest ``count`` period keys of a kind, newest first."""
    out: list[str] = []
    day = today
    while len(out) < count:
        key = period_key(kind, day)
        if key not in out:
            out.append(key)
        day = parse_period(key).start - timedelta(days=1)
    return out


def holder_for(actor: Any, holder: str) -> tuple[str, int] | None:
    """The logged-in user's own account for a point type held by a person or a household."""
    if holder == "person" and actor.person_id:
        return ("p", actor.person_id)
    if holder == "household" and actor.household_id:
        return ("h", actor.household_id)
    return None


@bp.route("/")
def index() -> Any:
    """Home: what the site is, and the way to each part."""
    ctx = jifen()
    ruleset = ctx.ruleset()
    with ctx.read_engine.connect() as conn:  # a replica when there is one: public pages only read
        villages = queries.scope_options(conn, "village")
    types = [(pt.key, point_type_name(pt)) for pt in ruleset.point_types.values()] if ruleset else []
    return render_template("public/index.html", villages=villages, types=types, title=ruleset.title if ruleset else "")


@bp.route("/leaderboard")
def leaderboard() -> Any:
    """Public leaderboard by point type, scope and period, with the tie-break spelled out."""
    ctx = jifen()
    ruleset: Ruleset | None
    ruleset, today, _tz = queries.in_force(ctx.ledger.versions(), ctx.now())  # one look at the versions
    if ruleset is None:
        return render_template("public/leaderboard.html", ruleset=None, errors={}, values={}), 200
    values = request.args.to_dict()
    data, errors = load_form(BoardQuery(), request.args)
    if data is None:
        # Keep what can be kept of a bad query, so the form shows it back beside the message.
        data = {k: v for k, v in values.items() if k in ("type", "period") or
                (k == "kind" and v in ("month", "quarter", "year", "custom")) or
                (k == "scope" and v in ("county", "township", "village", "grid", "branch"))}
    types = list(ruleset.point_types.values())
    pt = ruleset.point_types.get(data.get("type") or "") or types[0]
    if data.get("type") and data["type"] not in ruleset.point_types:
        errors["type"] = _("没有这种积分。")
    scope = data.get("scope") or "county"
    kind = data.get("kind") or pt.period
    period = data.get("period") or period_key(kind if kind != "custom" else "month", today)
    start, end = data.get("start"), data.get("end")
    top = data.get("top") or 50
    board = None
    label = ""
    with ctx.read_engine.connect() as conn:  # a replica when there is one: public pages only read
        options = queries.scope_options(conn, scope) if scope != "county" else []
        area = data.get("area")
        if scope != "county":
            if area is None and options:
                area = options[0][0]
            if area not in {o[0] for o in options}:
                errors.setdefault("area", _("请从列表中选择。"))
        me = holder_for(current_actor(), pt.holder)
        if not errors:
            if kind == "custom" and start and end:
                board = queries.leaderboard_range(conn, pt.key, start, end, scope, area, top, me, lang())
                label = f"{start.isoformat()} – {end.isoformat()}"
            else:
                try:
                    p = parse_period(period)
                except ValueError:
                    errors["period"] = _("期间应写作 2026、2026-Q2 或 2026-03。")
                else:
                    if p.kind != kind:
                        errors["period"] = _("期间与所选的统计方式不一致。")
                    else:
                        board = queries.leaderboard(conn, pt.key, period, scope, area, top, me, lang())
                        label = period
    periods = {k: recent_periods(k, today, n) for k, n in (("month", 12), ("quarter", 8), ("year", 5))}
    return render_template(
        "public/leaderboard.html", ruleset=ruleset, types=[(t.key, point_type_name(t)) for t in types], pt=pt,
        pt_name=point_type_name(pt), scope=scope, area=area, options=options, kind=kind, period=period, periods=periods,
        start=start, end=end, board=board, label=label, errors=errors, values=values, top=top,
    ), (400 if errors else 200)


@bp.route("/prefs")
def prefs() -> Any:
    """Set language, type size or contrast (a plain link works without JavaScript); remembered a year."""
    resp = make_response(redirect(safe_next(request.args.get("next"), url_for("public.index"))))
    for name, allowed in PREF_COOKIES.items():
        value = request.args.get(name)
        if value in allowed:
            resp.set_cookie(name, value, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                            secure=bool(request.is_secure))
    return resp


def init_app(app: Flask) -> None:
    """Register the public pages."""
    app.register_blueprint(bp)
