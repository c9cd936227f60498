"""The branch desk (支部工作台): members' tallies, who is below the line, household-linking coverage,
the approval queue and a one-click CSV export."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from scoring.grades import grade
from scoring.model import PointType, Ruleset
from scoring.periods import parse_period, period_key
from scoring.points import fmt
from services import claims as wf
from services import exports, queries
from services.errors import ServiceError
from store.models import Area, Branch
from web.appctx import jifen
from web.auth import current_actor, require
from web.forms import DeskQuery, load_form
from web.i18n import lang
from web.views.claims import status_name
from web.views.public import point_type_name, recent_periods

bp = Blueprint("desk", __name__, url_prefix="/desk")
DESK_ROLES = ("secretary", "committee", "admin", "auditor")
VISIT_DAYS = 30


def member_types(ruleset: Ruleset) -> list[PointType]:
    """Point types held by persons (the Party members' tallies first)."""
    return sorted((pt for pt in ruleset.point_types.values() if pt.holder == "person"), key=lambda p: not p.members_only)


def branch_for(args: dict[str, Any]) -> tuple[int, str, int]:
    """(branch id, name, village id) the desk shows: the actor's own, or the one an administrator picks."""
    actor = current_actor()
    ctx = jifen()
    with ctx.engine.connect() as conn:
        if actor.county_wide:
            wanted = args.get("branch")
            q = select(Branch.id, Branch.name, Branch.village_id)
            row = conn.execute(q.where(Branch.id == wanted)).first() if wanted else conn.execute(q.order_by(Branch.code)).first()
        elif actor.branch_id is not None:
            row = conn.execute(select(Branch.id, Branch.name, Branch.village_id).where(Branch.id == actor.branch_id)).first()
        else:
            row = conn.execute(select(Branch.id, Branch.name, Branch.village_id).where(Branch.village_id == actor.village_id)).first()
    if row is None:
        abort(404)
    return int(row.id), str(row.name), int(row.village_id)


def desk_data(args: Any) -> dict[str, Any]:
    """Everything the desk and its export show, from validated query arguments."""
    ctx = jifen()
    ruleset = ctx.ruleset()
    if ruleset is None:
        abort(404)
    data, errors = load_form(DeskQuery(), args)
    data = data or {}
    branch_id, branch_name, village_id = branch_for(data)
    types = member_types(ruleset)
    if not types:
        abort(404)
    pt = next((t for t in types if t.key == data.get("type")), types[0])
    if data.get("type") and pt.key != data["type"]:  # named, not silently shown as the first type
        errors["type"] = _("请从列表中选择。")
    today = ctx.today()
    period = data.get("period") or period_key(pt.period, today)
    try:
        parse_period(period)
    except ValueError:
        errors["period"] = _("期间应写作 2026、2026-Q2 或 2026-03。")
        period = period_key(pt.period, today)
    lowest = pt.grades[-1].min if pt.grades else 0
    threshold = int(Decimal(data["threshold"]) * 100) if data.get("threshold") is not None else lowest
    with ctx.engine.connect() as conn:
        rows = queries.branch_tallies(conn, branch_id, pt.key, period, today)
        branches = [(r.id, r.name) for r in conn.execute(select(Branch.id, Branch.name).order_by(Branch.code))] if current_actor().county_wide else []
        village = conn.execute(select(Area.name).where(Area.id == village_id)).scalar() or ""
    language = lang()
    for r in rows:
        g = grade(pt, r["score"], r["vetoed"])
        r["grade"] = g.grade.label(language) if g.grade else ""
        r["flag"] = r["score"] < threshold or r["vetoed"]
    rows.sort(key=lambda r: (not r["flag"], r["score"], r["code"]))
    return {"pt": pt, "pt_name": point_type_name(pt), "types": [(t.key, point_type_name(t)) for t in types], "period": period,
            "periods": recent_periods(pt.period, today, 6), "threshold": threshold, "rows": rows, "branch_id": branch_id,
            "branch_name": branch_name, "village_id": village_id, "village": village, "branches": branches, "errors": errors}


@bp.route("")
@require(*DESK_ROLES)
def index() -> Any:
    """The desk: members' tallies (flagged below the threshold), linking coverage and the queue at a glance."""
    d = desk_data(request.args)
    ctx = jifen()
    actor = current_actor()
    coverage = None
    try:
        from dataclasses import replace

        backlog = wf_linkage().visit_backlog(ctx.ledger, replace(actor, branch_id=d["branch_id"]) if actor.county_wide else actor,
                                             days=VISIT_DAYS, branch_id=d["branch_id"])
    except (ServiceError, ModuleNotFoundError):
        backlog = None
    if backlog is not None:
        linked = sum(m.linked for m in backlog)
        overdue = sum(len(m.overdue) for m in backlog)
        coverage = {"members": backlog, "linked": linked, "overdue": overdue, "visited": linked - overdue,
                    "percent": round(100 * (linked - overdue) / linked) if linked else 0, "days": VISIT_DAYS}
    language = lang()  # rules and households named in the reader's language
    queue = wf.review_queue(ctx.ledger, actor, limit=200, lang=language) if actor.role != "auditor" else \
        wf.list_claims(ctx.ledger, actor, status=wf.SUBMITTED, village_id=d["village_id"], limit=200, lang=language)
    flagged = sum(1 for r in d["rows"] if r["flag"])
    return render_template("desk/index.html", **d, coverage=coverage, queue=queue[:10], queue_count=len(queue), flagged=flagged,
                           export_url=url_for("desk.export", branch=d["branch_id"] if actor.county_wide else None, type=d["pt"].key,
                                              period=d["period"], threshold=fmt(d["threshold"])),
                           sheets=appraisal_links(d, actor.county_wide))


def appraisal_links(d: dict[str, Any], county_wide: bool) -> list[tuple[str, str]]:
    """(label, url) of the village's appraisal sheets: the desk's point type, and each household type (moral credit)."""
    ctx = jifen()
    ruleset, today, kind = ctx.ruleset(), ctx.today(), parse_period(d["period"]).kind  # each a query or a parse: once
    kinds = [d["pt"], *(pt for pt in ruleset.point_types.values() if pt.holder == "household")] if ruleset else [d["pt"]]
    out = []
    for pt in kinds:
        # The desk's period when it is of the type's kind (the year 2026 for both): in January, last year's sheet.
        period = d["period"] if kind == pt.period else period_key(pt.period, today)
        out.append((_("%(type)s 评定表(Excel)", type=point_type_name(pt)),
                    url_for("desk.appraisal_sheet", branch=d["branch_id"] if county_wide else None, type=pt.key, period=period)))
    return out


def wf_linkage() -> Any:
    """The household-linking service (imported late: it is optional for the desk)."""
    from services import linkage

    return linkage


@bp.route("/export.csv")
@require(*DESK_ROLES)
def export() -> Any:
    """The members' tallies as CSV (UTF-8 with BOM so Excel opens the Chinese correctly)."""
    d = desk_data(request.args)
    if d["errors"]:  # a file of another type or period than asked would be taken for the one asked
        from web.errors import render_error

        return render_error(400, ";".join(str(v) for v in d["errors"].values()))
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow([_("编号"), _("姓名"), _("积分类型"), _("期间"), _("得分"), _("等级"), _("一票否决"), _("低于提醒线")])
    for r in d["rows"]:  # every cell guarded: a name typed as =HYPERLINK(…) must not run in Excel; -12.5 stays a number
        w.writerow([exports.csv_cell(v) for v in (r["code"], r["name"], d["pt_name"], d["period"], fmt(r["score"]), r["grade"],
                                                  _("是") if r["vetoed"] else "", _("是") if r["flag"] else "")])
    from web.auth import audit

    audit("desk.export", f"branch:{d['branch_id']}", type=d["pt"].key, period=d["period"], rows=len(d["rows"]))
    name = f"branch-{d['branch_id']}-{d['pt'].key}-{d['period']}.csv"
    # A bare mimetype: werkzeug adds "; charset=utf-8" to text/* itself (giving it here doubled the charset).
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@bp.route("/appraisal.xlsx")
@require(*DESK_ROLES)
def appraisal_sheet() -> Any:
    """The village's year-end appraisal sheet (年度评星定级表) of a point type, as an Excel workbook.

    Every household of the village for household points (moral credit), every person with points
    otherwise; the grades frozen at the close once the period is closed. No ID or phone number.
    """
    from web.errors import render_error

    ctx = jifen()
    ruleset = ctx.ruleset()
    if ruleset is None:
        abort(404)
    data, errors = load_form(DeskQuery(), request.args)
    data = data or {}
    types = member_types(ruleset)
    # As the desk's CSV: without a type, the members' tally; without a period, the one running today.
    pt = ruleset.point_types.get(data["type"]) if data.get("type") else (types[0] if types else None)
    period = data.get("period") or (period_key(pt.period, ctx.today()) if pt else "")
    try:
        parse_period(period)
    except ValueError:
        errors["period"] = _("期间应写作 2026、2026-Q2 或 2026-03。")
    if pt is None:
        errors["type"] = _("请从列表中选择。")
    if errors or pt is None:
        return render_error(400, ";".join(str(v) for v in errors.values()))
    village_id = branch_for(data)[2]  # the actor's own village; an administrator's pick
    with ctx.engine.connect() as conn:
        sheet = exports.appraisal(conn, ruleset, pt.key, period, village_id, lang())
        code = conn.execute(select(Area.code).where(Area.id == village_id)).scalar() or str(village_id)
    out = io.BytesIO()
    exports.write_sheet(sheet, out, True, f"{point_type_name(pt)} {period}", lang())
    from web.auth import audit

    audit("desk.appraisal", f"village:{village_id}", type=pt.key, period=period, rows=len(sheet.rows))
    name = f"appraisal-{code}-{pt.key}-{period}.xlsx"  # the village as people know it, not its row number
    return Response(out.getvalue(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@bp.route("/queue")
@require(*DESK_ROLES)
def queue() -> Any:
    """The approval queue: claims to review, objections and appeals to decide, approved claims waiting for notice."""
    ctx = jifen()
    actor = current_actor()
    village = None if actor.county_wide else actor.village_id
    language = lang()  # rules and households named in the reader's language
    to_review = wf.review_queue(ctx.ledger, actor, limit=200, lang=language) if actor.role != "auditor" else \
        wf.list_claims(ctx.ledger, actor, status=wf.SUBMITTED, limit=200, lang=language)
    disputed = wf.list_claims(ctx.ledger, actor, status=[wf.OBJECTED, wf.APPEALED], village_id=village, limit=200, lang=language)
    waiting = wf.list_claims(ctx.ledger, actor, status=wf.APPROVED, village_id=village, limit=200, lang=language)
    on_notice = wf.list_claims(ctx.ledger, actor, status=wf.ON_NOTICE, village_id=village, limit=200, lang=language)
    return render_template("desk/queue.html", to_review=to_review, disputed=disputed, waiting=waiting, on_notice=on_notice,
                           status_name=status_name)


def init_app(app: Flask) -> None:
    """Register the desk pages."""
    app.register_blueprint(bp)


__all__ = ["Ruleset", "bp", "init_app"]
