"""Administration: the rules editor, households and people, the shop catalog, users and roles, the audit log.

Every change made here is written to the audit log. The auditor role opens every
page here read-only; the village office (committee) manages its villagers' logins
and looks up its own households.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import filetype  # type: ignore[import-untyped]
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
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, validates_schema
from sqlalchemy import Connection, func, or_, select
from sqlmodel import Session
from sqlmodel import select as sm_select

from scoring.errors import RulesFileError
from scoring.periods import parse_period
from scoring.points import SCALE, fmt
from services import queries, roll, rules_admin, shop
from services.errors import ServiceError
from services.ingest import by_record
from services.privacy import mask_id, mask_phone
from services.tables import XLSX_SUFFIXES, open_table
from store.models import (
    Area,
    Branch,
    Household,
    HouseholdGrid,
    HouseholdTier,
    Linkage,
    Membership,
    PartyMember,
    Person,
)
from store.models_web import WEB_ROLES, AuditLog, User
from web import accounts
from web.appctx import jifen
from web.auth import account_message, audit, current_actor, require
from web.forms import (
    FormSchema,
    UserForm,
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
from web.views.linkage import tier_names

bp = Blueprint("admin", __name__, url_prefix="/admin")
PAGE = 50
ROLE_NAMES = {
    "villager": _l("村民(户)"), "party_member": _l("党员"), "grid_worker": _l("网格员"), "steward": _l("道德管家"),
    "secretary": _l("支部书记"), "committee": _l("村委会"), "shopkeeper": _l("超市管理员"), "admin": _l("管理员"),
    "auditor": _l("审计(只读)"),
}


def page_arg() -> int:
    """The ``page`` query argument, 1 or more."""
    try:
        return max(1, min(int(request.args.get("page", "1")), 100000))
    except ValueError:
        return 1


@bp.route("")
@require("admin", "auditor", "committee", "shopkeeper")
def index() -> Any:
    """The administration home: a tile for each section the user may open."""
    ctx = jifen()
    with ctx.engine.connect() as conn:
        counts = {
            "households": conn.execute(select(func.count()).select_from(Household)).scalar() or 0,
            "people": conn.execute(select(func.count()).select_from(Person)).scalar() or 0,
            "users": conn.execute(select(func.count()).select_from(User)).scalar() or 0,
        }
    versions = rules_admin.history(ctx)
    return render_template("admin/index.html", counts=counts, live=versions[0] if versions else None)


# ---------------------------------------------------------------- rules editor
class RulesForm(FormSchema):
    """The rules editor's form: the YAML text, what to do with it, when it takes effect."""

    source = text(required=True, max=500_000, data_key="text")
    action = choice(("check", "diff", "dryrun", "publish"), required=True)
    effective = day()
    period = text(max=10)
    note = text(max=300)

    @validates_schema
    def _needs(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("action") == "publish" and data.get("effective") is None:
            raise ValidationError(_l("请填写生效日期。"), "effective")
        if data.get("period"):
            try:
                parse_period(data["period"])
            except ValueError:
                raise ValidationError(_l("期间应写作 2026、2026-Q2 或 2026-03。"), "period") from None


class RollbackForm(FormSchema):
    """Roll back to an earlier version from a date."""

    effective = day(required=True)


def annotated_lines(source: str, problems: list[dict[str, Any]], context: int = 3) -> list[dict[str, Any]]:
    """The text line by line with the messages of the problems found on each.

    With problems, only the lines around them are kept (``context`` either side) and a
    gap marker stands for the lines left out, so every mistake is on screen beside its line.
    """
    by_line: dict[int, list[str]] = {}
    for p in problems:
        column = _("第 %(c)s 列", c=p["column"]) if p.get("column") else ""
        by_line.setdefault(int(p.get("line") or 0), []).append(f"{p['message']} ({column})" if column else p["message"])
    lines = source.splitlines() or [""]
    wanted = set(range(1, len(lines) + 1))
    if by_line:
        wanted = {n for bad in by_line for n in range(bad - context, bad + context + 1) if 1 <= n <= len(lines)}
        if 0 in by_line:  # a problem without a place: show it on top
            wanted.add(1)
    out: list[dict[str, Any]] = []
    previous = 0
    for n in sorted(wanted):
        if n > previous + 1 and out:
            out.append({"gap": True})
        out.append({"n": n, "text": lines[n - 1], "messages": by_line.get(n, []) + (by_line.get(0, []) if n == 1 else []), "gap": False})
        previous = n
    return out


def dry_run_rows(conn: Connection, result: rules_admin.DryRun, limit: int = 200) -> list[dict[str, Any]]:
    """The dry run's changes with holders' names, biggest change first."""
    changes = result.changes[:limit]
    names = queries.holder_names(conn, [(c.holder_kind, c.holder_id) for c in changes], lang())
    return [{"pt": c.point_type, "code": names.get((c.holder_kind, c.holder_id), ("", ""))[0],
             "name": names.get((c.holder_kind, c.holder_id), ("", ""))[1], "old": c.old, "new": c.new, "delta": c.delta,
             "old_rank": c.old_rank, "new_rank": c.new_rank} for c in changes]


@bp.route("/rules", methods=["GET", "POST"])
@require("admin", "auditor")
def rules() -> Any:
    """The rules editor: check (problems beside their lines), diff against the live rules, dry run, publish."""
    ctx = jifen()
    live = rules_admin.live_text(ctx)
    today = ctx.today()
    values: dict[str, Any] = {"text": live, "effective": (today + timedelta(days=1)).isoformat(), "period": rules_admin.default_period(ctx)}
    errors: dict[str, str] = {}
    problems: list[dict[str, Any]] = []
    diff: list[str] | None = None
    dry: dict[str, Any] | None = None
    checked = False
    if request.method == "POST":
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        data, errors = load_form(RulesForm(), request.form)
        if data is not None:
            source = request.form.get("text", "")
            problems = rules_admin.validate(source, lang())
            checked = True
            action = data["action"]
            if action == "diff":
                diff = rules_admin.diff(live, source)
            elif action == "dryrun" and not problems:
                try:
                    result = rules_admin.dry_run(ctx, source, data.get("period") or None, lang())
                except RulesFileError:
                    pass
                else:
                    with ctx.engine.connect() as conn:
                        dry = {"result": result, "rows": dry_run_rows(conn, result)}
            elif action == "publish":
                if problems:
                    errors["_"] = _("规则有 %(n)s 个问题,未发布;现行规则不变。", n=len(problems))
                else:
                    try:
                        pub = rules_admin.publish(ctx, source, data["effective"], current_actor(), data.get("note", ""))
                    except ServiceError as exc:
                        errors[exc.field if exc.field in ("effective",) else "_"] = exc.message(lang())
                    else:
                        audit("rules.publish", f"rules_version:{pub.id}", version=pub.version, effective=pub.effective.isoformat(),
                              note=data.get("note", ""), lines=len(source.splitlines()))
                        flash(_("已发布规则版本 %(v)s,%(d)s 起施行。", v=pub.version[:10], d=pub.effective.isoformat()), "success")
                        return redirect(url_for("admin.rules_history"))
    status = 400 if errors or (checked and problems and values.get("action") == "publish") else 200
    from web.views.public import point_type_name

    live_rules = ctx.ruleset()
    pt_names = {k: point_type_name(pt) for k, pt in live_rules.point_types.items()} if live_rules else {}
    return render_template("admin/rules.html", values=values, errors=errors, problems=problems, checked=checked, diff=diff, dry=dry,
                           pt_names=pt_names,
                           lines=annotated_lines(values.get("text", ""), problems) if problems else None,
                           read_only=current_actor().role == "auditor", fmt=fmt), status


@bp.route("/rules/history")
@require("admin", "auditor")
def rules_history() -> Any:
    """Every published version, newest first, with rollback."""
    ctx = jifen()
    versions = rules_admin.history(ctx)
    today = ctx.today()
    live = None
    for v in sorted(versions, key=lambda v: (v.effective, v.id), reverse=True):
        if v.effective <= today:
            live = v.id
            break
    return render_template("admin/rules_history.html", versions=versions, live=live, today=today,
                           tomorrow=(today + timedelta(days=1)).isoformat(), read_only=current_actor().role == "auditor", errors={})


@bp.route("/rules/version/<int:version_id>")
@require("admin", "auditor")
def rules_version(version_id: int) -> Any:
    """One published version's text."""
    from store import rules_repo

    ctx = jifen()
    source = rules_repo.source_of(ctx.engine, version_id)
    if source is None:
        abort(404)
    meta = next((v for v in rules_admin.history(ctx) if v.id == version_id), None)
    return render_template("admin/rules_version.html", source=source, meta=meta,
                           lines=annotated_lines(source, []))


@bp.route("/rules/rollback/<int:version_id>", methods=["POST"])
@require("admin")
def rules_rollback(version_id: int) -> Any:
    """Publish an earlier version again from a date (history is never rewritten)."""
    ctx = jifen()
    data, errors = load_form(RollbackForm(), request.form)
    if data is None:
        flash(next(iter(errors.values())), "error")
        return redirect(url_for("admin.rules_history"))
    try:
        pub = rules_admin.rollback(ctx, version_id, data["effective"], current_actor())
    except ServiceError as exc:
        if exc.status == 404:
            abort(404)
        flash(exc.message(lang()), "error")
        return redirect(url_for("admin.rules_history"))
    audit("rules.rollback", f"rules_version:{version_id}", published=pub.id, effective=pub.effective.isoformat())
    flash(_("已恢复为版本 #%(id)s,%(d)s 起施行。", id=version_id, d=pub.effective.isoformat()), "success")
    return redirect(url_for("admin.rules_history"))


# ---------------------------------------------------------------- households and people
def _village_filter() -> int | None:
    """The village the list is limited to: the office's own, or none for the county."""
    actor = current_actor()
    return None if actor.county_wide else (actor.village_id or -1)


@bp.route("/households")
@require("admin", "auditor", "committee")
def households() -> Any:
    """Households, searchable by code or head's name, with grid and tier."""
    ctx = jifen()
    q = request.args.get("q", "").strip()[:50]
    page = page_arg()
    today = ctx.today()
    village = _village_filter()
    with ctx.engine.connect() as conn:
        stmt = select(Household.id, Household.code, Household.head_name, Household.village_id, Area.name.label("village")).join(
            Area, Area.id == Household.village_id)  # type: ignore[arg-type]
        if village is not None:
            stmt = stmt.where(Household.village_id == village)
        if q:
            # A code from its start, in either case (sq0 finds SQ001 …); a head of household by any part of the name.
            stmt = stmt.where(or_(func.upper(Household.code).like(f"{q.upper()}%"), Household.head_name.like(f"%{q}%")))  # type: ignore[attr-defined]
        rows = conn.execute(stmt.order_by(Household.code).limit(PAGE + 1).offset((page - 1) * PAGE)).all()
        ids = [r.id for r in rows]
        tiers = dict(conn.execute(select(HouseholdTier.household_id, HouseholdTier.tier).where(
            HouseholdTier.household_id.in_(ids), HouseholdTier.valid_from <= today,  # type: ignore[attr-defined]
            or_(HouseholdTier.valid_to.is_(None), HouseholdTier.valid_to > today))).all()) if ids else {}  # type: ignore[union-attr, operator]
    names = tier_names()
    tiers = {hid: names.get(key, key) for hid, key in tiers.items()}  # the tier by its name (红色), not its key
    return render_template("admin/households.html", rows=rows[:PAGE], more=len(rows) > PAGE, page=page, q=q, tiers=tiers)


class RollForm(FormSchema):
    """A household roll to import: the day it holds from, whether only to check it, the county's name the first time."""

    effective = day(required=True)
    check = boolean()
    backdate = boolean()
    complete = boolean()
    county = text(max=50)


ROLL_SUFFIXES = (*XLSX_SUFFIXES, ".csv")


@bp.route("/roll", methods=["GET", "POST"])
@require("admin")
def roll_import() -> Any:
    """Import the household roll (户籍名册) from Excel or CSV: checked whole, every problem by row and column."""
    ctx = jifen()
    values: dict[str, Any] = {"effective": ctx.today().isoformat(), "check": "1"}
    errors: dict[str, str] = {}
    report = None
    if request.method == "POST":
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        data, errors = load_form(RollForm(), request.form)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors["file"] = _("请选择名册文件(Excel .xlsx 或 CSV)。")
        elif not upload.filename.lower().endswith(ROLL_SUFFIXES):
            errors["file"] = _("名册须是 Excel(.xlsx)或 CSV 文件;.xls 请在 Excel 中另存为 .xlsx。")
        if data is not None and not errors and upload is not None:
            table = open_table(upload.filename or "", io.BytesIO(upload.read()), is_header=roll.is_roll_header)
            report = roll.import_roll(ctx.engine, table, ctx.ruleset(), data["effective"], check_only=data["check"],
                                      county_name=data.get("county") or "", backdate=data["backdate"], complete=data["complete"])
            if report.written:
                audit("directory.import", f"roll:{upload.filename}", effective=data["effective"].isoformat(), **report.counts)
                flash(report.summary(lang()), "success")
                return redirect(url_for("admin.roll_import"))
    problems = [{"row": p.record.lstrip("#"), "column": p.field, "message": p.message(lang())}
                for p in by_record(report.problems)] if report else []
    status = 400 if errors or problems else 200
    return render_template("admin/roll.html", values=values, errors=errors, report=report, problems=problems,
                           summary=report.summary(lang()) if report else "", columns=roll.COLUMNS, required=roll.REQUIRED), status


@bp.route("/roll/template.xlsx")
@require("admin")
def roll_template() -> Any:
    """An empty roll to fill in: the header the import reads and two example rows (as ``jifen directory template``)."""
    out = io.BytesIO()
    roll.write_template(out, xlsx=True)
    out.seek(0)
    return send_file(out, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", as_attachment=True,
                     download_name="户籍名册模板.xlsx", max_age=0)


@bp.route("/households/<code>")
@require("admin", "auditor", "committee")
def household(code: str) -> Any:
    """One household: members (ID and phone masked), grid and tier over time, linked Party members."""
    ctx = jifen()
    with ctx.engine.connect() as conn:
        h = conn.execute(select(Household).where(Household.code == code)).first()
        if h is None or not current_actor().sees_village(h.village_id):
            abort(404)
        members = conn.execute(select(Person, Membership.relation, Membership.valid_from, Membership.valid_to).join(
            Membership, Membership.person_id == Person.id).where(Membership.household_id == h.id).order_by(Membership.valid_from, Person.code)).all()  # type: ignore[arg-type]
        grids = conn.execute(select(Area.name, HouseholdGrid.valid_from, HouseholdGrid.valid_to).join(Area, Area.id == HouseholdGrid.grid_id)  # type: ignore[arg-type]
                             .where(HouseholdGrid.household_id == h.id).order_by(HouseholdGrid.valid_from)).all()
        tiers = conn.execute(select(HouseholdTier.tier, HouseholdTier.valid_from, HouseholdTier.valid_to)
                             .where(HouseholdTier.household_id == h.id).order_by(HouseholdTier.valid_from)).all()
        links = conn.execute(select(Person.code, Person.name, Linkage.valid_from, Linkage.valid_to).join(Linkage, Linkage.member_id == Person.id)  # type: ignore[arg-type]
                             .where(Linkage.household_id == h.id).order_by(Linkage.valid_from)).all()
        village = conn.execute(select(Area.name).where(Area.id == h.village_id)).scalar()
        logins = conn.execute(select(User.id, User.username, User.active, User.password_hash).where(User.household_id == h.id, User.role == "villager")).all()
    return render_template("admin/household.html", h=h, members=members, grids=grids, tiers=tiers, links=links, village=village,
                           tier_names=tier_names(), logins=logins)


@bp.route("/people")
@require("admin", "auditor", "committee")
def people() -> Any:
    """People, searchable by code or name; ID numbers and phones are always masked."""
    ctx = jifen()
    q = request.args.get("q", "").strip()[:50]
    page = page_arg()
    today = ctx.today()
    village = _village_filter()
    with ctx.engine.connect() as conn:
        stmt = select(Person.id, Person.code, Person.name, Person.gender, Person.birth_year, Person.id_number, Person.phone,
                      Household.code.label("household"), Household.village_id).join(  # type: ignore[attr-defined]
            Membership, Membership.person_id == Person.id).join(Household, Household.id == Membership.household_id).where(  # type: ignore[arg-type]
            Membership.valid_from <= today, or_(Membership.valid_to.is_(None), Membership.valid_to > today))  # type: ignore[union-attr, operator]
        if village is not None:
            stmt = stmt.where(Household.village_id == village)
        if q:
            stmt = stmt.where(or_(Person.code == q, Person.name.like(f"%{q}%")))  # type: ignore[attr-defined]
        rows = conn.execute(stmt.order_by(Person.code).limit(PAGE + 1).offset((page - 1) * PAGE)).all()
        ids = [r.id for r in rows]
        members = set(conn.execute(select(PartyMember.person_id).where(PartyMember.person_id.in_(ids), PartyMember.valid_to.is_(None))).scalars()) if ids else set()  # type: ignore[attr-defined, union-attr]
    out = [{"code": r.code, "name": r.name, "gender": r.gender, "birth_year": r.birth_year, "id_masked": mask_id(r.id_number),
            "phone_masked": mask_phone(r.phone), "household": r.household, "member": r.id in members} for r in rows[:PAGE]]
    return render_template("admin/people.html", rows=out, more=len(rows) > PAGE, page=page, q=q)


# ---------------------------------------------------------------- shop catalog
class ItemForm(FormSchema):
    """A catalog item as the shop keeper edits it."""

    name = text(required=True, max=100)
    description = text(max=1000)
    price = decimal(required=True)
    stock = integer(low=0, high=1_000_000)
    min_grade = text(max=40)
    limit_qty = integer(low=0, high=1000)
    limit_per = choice(("household", "person"))
    limit_window = choice(("day", "week", "month", "quarter", "year", "total"))
    hold_days = integer(low=1, high=365)
    active = boolean()

    @validates_schema
    def _price(self, data: dict[str, Any], **_: Any) -> None:
        price = data.get("price")
        if price is not None and (price <= 0 or price * SCALE != int(price * SCALE)):
            raise ValidationError(_l("价格应大于 0,最多两位小数。"), "price")


class RestockForm(FormSchema):
    """Stock arriving (positive) or written off (negative)."""

    qty = integer(required=True, low=-100000, high=100000)
    note = text(max=200)


def _save_picture() -> tuple[str | None, str | None]:
    """Store an uploaded picture under the upload folder (by content hash); (path, error)."""
    f = request.files.get("picture")
    if f is None or not f.filename:
        return None, None
    data = f.read(5 * 1024 * 1024 + 1)
    if len(data) > 5 * 1024 * 1024:
        return None, _("图片不能超过 5 MB。")
    kind = filetype.guess(data)
    if kind is None or kind.mime not in ("image/jpeg", "image/png", "image/webp", "image/gif"):
        return None, _("请上传 JPEG、PNG、WebP 或 GIF 图片。")
    digest = hashlib.sha256(data).hexdigest()
    rel = f"shop/{digest[:2]}/{digest}.{kind.extension}"
    target = Path(current_app.config["UPLOAD_DIR"]) / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return rel, None


def _item_values(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if v is not None and k != "price"}
    out["price"] = int(Decimal(data["price"]) * SCALE)
    return out


def _grade_options() -> list[tuple[str, str]]:
    ruleset = jifen().ruleset()
    if ruleset is None:
        return []
    out = []
    for pt in ruleset.point_types.values():
        if pt.spendable:
            out += [(g.key, g.label(lang())) for g in pt.grades]
    return out


@bp.route("/catalog")
@require("admin", "shopkeeper", "auditor")
def catalog() -> Any:
    """Every item, the inactive ones too, with stock."""
    from web.views.shop import picture_url

    items = shop.list_items(jifen(), current_actor(), include_inactive=True, lang=lang())
    return render_template("admin/catalog.html", items=items, picture_url=picture_url, read_only=current_actor().role == "auditor")


@bp.route("/catalog/new", methods=["GET", "POST"])
@bp.route("/catalog/<int:item_id>", methods=["GET", "POST"])
@require("admin", "shopkeeper", "auditor")
def catalog_item(item_id: int | None = None) -> Any:
    """Add or change an item (picture upload, price, stock, grade, limits).

    A village shop keeper sees county-wide items read-only: the administrator keeps them.
    """
    ctx = jifen()
    actor = current_actor()
    existing = None
    if item_id is not None:
        try:
            existing = shop.get_item(ctx, actor, item_id, lang=lang())
        except ServiceError:
            abort(404)
    county_item = existing is not None and actor.role != "auditor" and not shop.may_manage_item(actor, existing.village_id)
    values: dict[str, Any] = {"limit_per": "household", "limit_window": "month", "active": "1", "stock": "0",
                              "request_key": new_request_key()}
    if existing is not None:
        values = {"name": existing.name, "description": existing.description, "price": existing.price_text, "stock": existing.stock,
                  "min_grade": existing.min_grade, "limit_qty": existing.limit_qty, "limit_per": existing.limit_per,
                  "limit_window": existing.limit_window, "hold_days": existing.hold_days, "active": "1" if existing.active else ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        if actor.role == "auditor" or county_item:
            abort(403)
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        # The "new item" form's one-time key: a second post of it (a double click, a resent request, on
        # any worker) finds the item the first one created (shop_item.request_key) instead of adding another.
        key = (posted_request_key() or "") if existing is None else ""
        prior = shop.created_by(ctx, actor, key) if key else None
        if prior is not None:
            return redirect(url_for("admin.catalog_item", item_id=prior))
        data, errors = load_form(ItemForm(), request.form)
        picture, pic_error = _save_picture()
        if pic_error:
            errors["picture"] = pic_error
        if data is not None and not errors:
            fields = _item_values(data)
            if picture:
                fields["picture"] = picture
            try:
                if existing is None:
                    change = shop.create_item(ctx, actor, fields, request_id=key or None)
                    if change.replayed:  # a twin post got there first
                        return redirect(url_for("admin.catalog_item", item_id=change.item.id))
                else:
                    fields.pop("stock", None)
                    change = shop.update_item(ctx, actor, existing.id, fields)
            except ServiceError as exc:
                if exc.status in (403, 404):
                    abort(exc.status)
                errors[exc.field or "_"] = exc.message(lang())
            else:
                a = change.audit
                accounts.audit(ctx.engine, actor, a.action, a.target, request.remote_addr or "", a.at, **a.detail)
                flash(_("已保存:%(name)s", name=change.item.name), "success")
                return redirect(url_for("admin.catalog"))
    return render_template("admin/catalog_item.html", it=existing, values=values, errors=errors, grades=_grade_options(),
                           read_only=actor.role == "auditor" or county_item, county_item=county_item), (400 if errors else 200)


@bp.route("/catalog/<int:item_id>/restock", methods=["POST"])
@require("admin", "shopkeeper")
def restock(item_id: int) -> Any:
    """Stock in (a donation arrived) or write off (a negative quantity)."""
    ctx = jifen()
    data, errors = load_form(RestockForm(), request.form)
    if data is None:
        flash(next(iter(errors.values())), "error")
        return redirect(url_for("admin.catalog_item", item_id=item_id))
    try:
        change = shop.restock(ctx, current_actor(), item_id, data["qty"], data.get("note", ""))
    except ServiceError as exc:
        if exc.status in (403, 404):  # 403: visible but not this keeper's (a county item); 404: not visible at all
            abort(exc.status)
        flash(exc.message(lang()), "error")
        return redirect(url_for("admin.catalog_item", item_id=item_id))
    a = change.audit
    accounts.audit(ctx.engine, current_actor(), a.action, a.target, request.remote_addr or "", a.at, **a.detail)
    flash(_("库存已更新为 %(n)s。", n=change.item.stock), "success")
    return redirect(url_for("admin.catalog"))


# ---------------------------------------------------------------- users and roles
def _scope_ids(conn: Connection, data: dict[str, Any]) -> tuple[dict[str, int | None], dict[str, str]]:
    """Codes typed in the user form → ids; an unknown code is an error on its field."""
    out: dict[str, int | None] = {}
    errors: dict[str, str] = {}
    lookups = {
        "person": select(Person.id).where(Person.code == data.get("person")),
        "household": select(Household.id).where(Household.code == data.get("household")),
        "village": select(Area.id).where(Area.code == data.get("village"), Area.level == "village"),
        "grid": select(Area.id).where(Area.code == data.get("grid"), Area.level == "grid"),
        "branch": select(Branch.id).where(Branch.code == data.get("branch")),
    }
    for name, stmt in lookups.items():
        if data.get(name):
            ident = conn.execute(stmt).scalar()
            if ident is None:
                errors[name] = _("找不到这个编号。")
            out[f"{name}_id"] = ident
        else:
            out[f"{name}_id"] = None
    return out, errors


def _account_error(exc: accounts.AccountError) -> tuple[str, str]:
    """A refused account change as (form field, message): a missing scope names its field, a mismatch the village."""
    if exc.code == "scope_missing":
        missing = {
            "household": _("村民账号须指定所属农户(填户号)。"),
            "person": _("党员账号须指定本人的村民编号。"),
            "grid": _("网格员账号须指定网格编号。"),
            "branch": _("支部书记账号须指定党支部编号。"),
            "village": _("这个角色须指定村编号。"),
        }
        if exc.field in missing:
            return exc.field, missing[exc.field]
    if exc.code == "scope_mismatch":
        p = exc.params
        where = {"village": p.get("village", ""), "village_code": p.get("village_code", ""), "code": p.get("record", "")}
        text = {
            "household": _("户号 %(code)s 属于%(village)s(%(village_code)s),与管辖范围中的村不符。", **where),
            "grid": _("网格 %(code)s 属于%(village)s(%(village_code)s),与管辖范围中的村不符。", **where),
            "branch": _("党支部 %(code)s 属于%(village)s(%(village_code)s),与管辖范围中的村不符。", **where),
        }.get(p.get("kind", ""), account_message(exc.code))
        return exc.field or "village", text
    return exc.field or "_", account_message(exc.code)


def _codes(conn: Connection, user: User) -> dict[str, str]:
    def code(model: Any, ident: int | None) -> str:
        return conn.execute(select(model.code).where(model.id == ident)).scalar() or "" if ident else ""

    return {"person": code(Person, user.person_id), "household": code(Household, user.household_id),
            "village": code(Area, user.village_id), "grid": code(Area, user.grid_id), "branch": code(Branch, user.branch_id)}


def _may_manage(user: User | None) -> bool:
    """Administrators manage every account; the village office its own villagers' logins."""
    actor = current_actor()
    if user is None:
        return False
    if actor.role in ("admin", "auditor"):
        return True
    return actor.role == "committee" and user.role == "villager" and user.village_id == actor.village_id


@bp.route("/users")
@require("admin", "auditor", "committee")
def users() -> Any:
    """Accounts with role, scope and whether a password is set."""
    ctx = jifen()
    actor = current_actor()
    q = request.args.get("q", "").strip()[:64]
    page = page_arg()
    with Session(ctx.engine) as session, ctx.engine.connect() as conn:
        stmt = sm_select(User)
        if actor.role == "committee":
            stmt = stmt.where(User.role == "villager", User.village_id == actor.village_id)
        if q:
            stmt = stmt.where(or_(User.username.like(f"%{q}%"), User.display_name.like(f"%{q}%")))  # type: ignore[attr-defined]
        rows = list(session.exec(stmt.order_by(User.username).limit(PAGE + 1).offset((page - 1) * PAGE)).all())  # type: ignore[arg-type]
        villages = dict(conn.execute(select(Area.id, Area.name).where(Area.level == "village")).all())  # type: ignore[arg-type]
    return render_template("admin/users.html", rows=rows[:PAGE], more=len(rows) > PAGE, page=page, q=q, role_names=ROLE_NAMES,
                           villages=villages)


@bp.route("/users/new", methods=["GET", "POST"])
@require("admin", "committee", "auditor")
def user_new() -> Any:
    """Create an account; it gets a one-time code to set its password (no password is ever typed for someone)."""
    ctx = jifen()
    actor = current_actor()
    values: dict[str, Any] = {"role": "villager", "active": "1", "household": request.args.get("household", "")[:64]}
    errors: dict[str, str] = {}
    if request.method == "POST":
        if actor.role == "auditor":
            abort(403)
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        data, errors = load_form(UserForm(), request.form)
        if data is not None:
            if actor.role == "committee" and data["role"] != "villager":
                errors["role"] = _("村委会只能为本村农户开通账号。")
            with ctx.engine.connect() as conn:
                scope, scope_errors = _scope_ids(conn, data)
            errors.update(scope_errors)
            if actor.role == "committee" and scope.get("household_id") is not None:
                with ctx.engine.connect() as conn:
                    village = conn.execute(select(Household.village_id).where(Household.id == scope["household_id"])).scalar()
                if village != actor.village_id:
                    errors["household"] = _("找不到这个编号。")
            if not errors:
                try:
                    user = accounts.create_user(ctx.engine, data["username"], data["role"], display_name=data.get("display_name", ""),
                                                scope=scope, created_by=actor.username, now=ctx.now())
                except accounts.AccountError as exc:
                    name, message = _account_error(exc)
                    errors[name] = message
                else:
                    code = accounts.issue_code(ctx.engine, user.id or 0, current_app.config["CODE_VALID_DAYS"], ctx.now())
                    audit("user.create", f"user:{user.username}", role=user.role, scope={k: v for k, v in scope.items() if v})
                    audit("user.issue_code", f"user:{user.username}")
                    return render_template("admin/user_code.html", user=user, code=code, days=current_app.config["CODE_VALID_DAYS"])
    roles = [(r, ROLE_NAMES[r]) for r in WEB_ROLES] if actor.role != "committee" else [("villager", ROLE_NAMES["villager"])]
    return render_template("admin/user_form.html", values=values, errors=errors, roles=roles, user=None), (400 if errors else 200)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@require("admin", "auditor", "committee")
def user_edit(user_id: int) -> Any:
    """Change an account's role, scope, name, or switch it off (its sessions end)."""
    ctx = jifen()
    actor = current_actor()
    user = accounts.get_user(ctx.engine, user_id)
    if not _may_manage(user):
        abort(404)
    assert user is not None
    with ctx.engine.connect() as conn:
        values: dict[str, Any] = {"username": user.username, "display_name": user.display_name, "role": user.role,
                                  "active": "1" if user.active else "", **_codes(conn, user)}
    errors: dict[str, str] = {}
    if request.method == "POST":
        if actor.role != "admin":
            abort(403)
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        values["username"] = user.username
        data, errors = load_form(UserForm(), {**request.form.to_dict(), "username": user.username})
        if data is not None:
            if user.username == actor.username and (data["role"] != "admin" or not data.get("active")):
                errors["role"] = _("不能取消自己的管理员身份或停用自己。")
            with ctx.engine.connect() as conn:
                scope, scope_errors = _scope_ids(conn, data)
            errors.update(scope_errors)
            if not errors:
                try:
                    updated = accounts.update_user(ctx.engine, user_id, role=data["role"], display_name=data.get("display_name", ""),
                                                   active=bool(data.get("active")), scope=scope)
                except accounts.AccountError as exc:
                    name, message = _account_error(exc)
                    errors[name] = message
                else:
                    audit("user.update", f"user:{updated.username}", role=[user.role, updated.role], active=[user.active, updated.active],
                          scope={k: v for k, v in scope.items() if v})
                    flash(_("已保存。"), "success")
                    return redirect(url_for("admin.users"))
    roles = [(r, ROLE_NAMES[r]) for r in WEB_ROLES]
    return render_template("admin/user_form.html", values=values, errors=errors, roles=roles, user=user,
                           read_only=actor.role != "admin"), (400 if errors else 200)


@bp.route("/users/<int:user_id>/code", methods=["POST"])
@require("admin", "committee")
def user_code(user_id: int) -> Any:
    """Issue a new one-time code (a forgotten password): shown once, on this page only."""
    ctx = jifen()
    user = accounts.get_user(ctx.engine, user_id)
    if not _may_manage(user):
        abort(404)
    assert user is not None
    code = accounts.issue_code(ctx.engine, user_id, current_app.config["CODE_VALID_DAYS"], ctx.now())
    audit("user.issue_code", f"user:{user.username}")
    return render_template("admin/user_code.html", user=user, code=code, days=current_app.config["CODE_VALID_DAYS"])


# ---------------------------------------------------------------- audit log
@bp.route("/audit")
@require("admin", "auditor")
def audit_log() -> Any:
    """Every administrative action, newest first; filter by who or what."""
    ctx = jifen()
    who = request.args.get("actor", "").strip()[:64]
    what = request.args.get("action", "").strip()[:64]
    page = page_arg()
    with Session(ctx.engine) as session, ctx.engine.connect() as conn:
        stmt = sm_select(AuditLog)
        if who:
            stmt = stmt.where(AuditLog.actor == who)
        if what:
            stmt = stmt.where(AuditLog.action.like(f"{what}%"))  # type: ignore[attr-defined]
        rows = list(session.exec(stmt.order_by(AuditLog.id.desc()).limit(PAGE + 1).offset((page - 1) * PAGE)).all())  # type: ignore[union-attr]
        actions = sorted(conn.execute(select(AuditLog.action).distinct()).scalars())
    lines = []
    for r in rows[:PAGE]:
        try:
            detail = json.loads(r.detail or "{}")
        except ValueError:
            detail = {}
        lines.append({"at": r.at, "actor": r.actor, "role": r.role, "action": r.action, "target": r.target, "ip": r.ip,
                      "detail": detail if isinstance(detail, dict) else {"value": detail}})
    return render_template("admin/audit.html", role_names=ROLE_NAMES, rows=lines, more=len(rows) > PAGE, page=page, who=who, what=what, actions=actions)


def init_app(app: Flask) -> None:
    """Register the administration pages."""
    app.register_blueprint(bp)


__all__ = ["bp", "date", "init_app"]
