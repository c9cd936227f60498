"""积分超市 (the points supermarket): catalog, reservations, the counter and lapses.

A redemption is reserved → picked_up → done, or cancelled / lapsed before it is
picked up. Reserving is one transaction that locks the household's account
(``lock_holders``; SQLite's ``BEGIN IMMEDIATE`` does the same), then checks the
grade and the per-person or per-household limit, writes the redemption, spends
the points with ``Ledger.spend`` (a conditional UPDATE: no overdraft) and last
lowers the stock with a conditional UPDATE (``stock >= qty``) — last, because
the item's row is the one lock all households share, so it is held only for the
moment before commit. Any refusal
raises a ``ServiceError`` and the transaction rolls back whole: stock, points
and redemption together. Cancelling or lapsing moves the redemption out of
``reserved`` with a conditional UPDATE, so its points (``Ledger.credit``) and
stock come back once only, however often it is asked.

Spending is not scoring: spend and refund entries change the balance, never the
period tallies that grades and leaderboards read, so a household's star grade
does not fall when it shops.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, NoReturn

from sqlalchemy import Connection, bindparam, case, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from scoring.grades import grade
from scoring.model import GradeLevel, PointType
from scoring.periods import WINDOWS, parse_period, period_key, previous_period
from scoring.points import fmt
from services.actors import SYSTEM, Actor
from services.context import AppContext
from services.errors import Conflict, Forbidden, NotFound, ServiceError
from services.messages import add
from services.queries import household_name
from store.db import aware, is_postgres, lock_holders
from store.directory import chunks
from store.ledger import Ledger, Overdraft
from store.models import (
    Area,
    Balance,
    Entry,
    GradeSnapshot,
    Household,
    Membership,
    Person,
    RulesVersion,
)
from store.models_shop import Redemption, ShopItem

ITEM = ShopItem.__table__  # type: ignore[attr-defined]
BALANCE = Balance.__table__  # type: ignore[attr-defined]
ENTRY = Entry.__table__  # type: ignore[attr-defined]
REDEMPTION = Redemption.__table__  # type: ignore[attr-defined]

MANAGERS = ("shopkeeper", "admin")  # may change the catalog
COUNTER = ("shopkeeper", "admin", "system")  # may hand over, cancel for others, see every reservation
STATUSES = ("reserved", "picked_up", "done", "cancelled", "lapsed")
LIMIT_PER = ("household", "person")
DEFAULT_HOLD_DAYS = 7
EDITABLE = ("name", "description", "picture", "price", "min_grade", "limit_qty", "limit_per", "limit_window",
            "hold_days", "active", "village_id", "point_type")

_STATUS_NAMES = {
    "reserved": ("已预订", "reserved"), "picked_up": ("已领取", "picked up"), "done": ("已完成", "done"),
    "cancelled": ("已取消", "cancelled"), "lapsed": ("已过期", "lapsed"),
}
_ACTIONS = {
    "cancel": ("取消", "cancel it"), "pick_up": ("领取", "hand it over"), "complete": ("完成", "complete it"),
}
_WINDOW_NAMES = {
    "day": ("天", "day"), "week": ("周", "week"), "month": ("月", "month"), "quarter": ("季度", "quarter"),
    "year": ("年", "year"), "total": ("累计", "all time"),
}
_PER_NAMES = {"household": ("户", "household"), "person": ("人", "person")}

add({
    "shop_item_unknown": ("找不到该商品", "no such item"),
    "shop_redemption_unknown": ("找不到该兑换单", "no such redemption"),
    "shop_household_unknown": ("找不到农户 “{value}”", "no household '{value}'"),
    "shop_person_unknown": ("找不到村民 “{value}”,或其不属于该户", "no villager '{value}' in this household"),
    "shop_item_inactive": ("“{item}” 已下架,不能兑换", "'{item}' is no longer offered"),
    "shop_sold_out": ("“{item}” 库存不足:剩余 {stock} 件,需要 {qty} 件", "'{item}' is sold out: {stock} left, {qty} asked"),
    "shop_not_enough_points": ("积分不足:还差 {missing} 分(余额 {balance} 分,需要 {amount} 分)",
                               "not enough points: {missing} short (balance {balance}, needs {amount})"),
    "shop_limit_reached": ("“{item}” 每{per}每{window}限兑 {limit} 件,已兑 {used} 件",
                           "'{item}' is limited to {limit} per {per} per {window}; {used} already taken"),
    "shop_grade_too_low": ("“{item}” 需达到{grade}才能兑换,当前为{current}",
                           "'{item}' needs grade {grade} or above; current: {current}"),
    "shop_no_grade": ("无等级", "no grade"),
    "shop_bad_state": ("兑换单 {id} 当前{status},不能{action}", "redemption {id} is {status}; cannot {action}"),
    "shop_lapsed": ("兑换单 {id} 已超过领取期限,积分和库存已退回", "redemption {id} passed its pick-up date; points and stock were returned"),
    "shop_person_required": ("该商品按人限兑,请指定兑换人", "this item is limited per person; name the person"),
    "shop_item_request_reused": ("请求编号 “{value}” 已用于新增另一件商品({item});重试请发送原样的内容,新商品请用新的编号",
                                 "request id '{value}' already created another item ({item}): a retry sends the same item; a new item needs a new id"),
    "shop_request_reused": ("请求编号 “{value}” 已用于另一笔兑换", "request id '{value}' was used for another redemption"),
    "shop_point_type": ("积分类型 “{value}” 不能用于兑换;可用:{allowed}", "point type '{value}' cannot be spent; spendable: {allowed}"),
    "shop_bad_grade": ("“{value}” 不是积分类型 {ptype} 的等级;可选:{allowed}", "'{value}' is not a grade of {ptype}; grades: {allowed}"),
    "shop_bad_choice": ("“{value}” 不是可选值之一:{allowed}", "'{value}' is not one of: {allowed}"),
    "shop_positive": ("必须大于 0", "must be greater than 0"),
    "shop_not_negative": ("不能小于 0", "must not be below 0"),
    "shop_required": ("必填", "required"),
    "shop_no_rules": ("尚未发布积分细则", "no rules have been published yet"),
    "shop_bad_village": ("找不到村 “{value}”", "no village '{value}'"),
})


# ---------------------------------------------------------------- what services return
@dataclass
class ItemOut:
    """A catalog item as pages and the API show it (``price`` in hundredths; ``price_text`` for people)."""

    id: int
    name: str
    description: str
    picture: str
    point_type: str
    price: int
    price_text: str
    stock: int
    village_id: int | None
    min_grade: str
    min_grade_name: str
    limit_qty: int
    limit_per: str
    limit_window: str
    hold_days: int
    active: bool
    updated_at: datetime
    updated_by: str


@dataclass
class RedemptionOut:
    """A redemption; ``replayed`` is true when a retried or repeated request found it as it was."""

    id: int
    item_id: int
    item_name: str
    household_id: int
    household_code: str
    household_name: str
    person_code: str | None
    point_type: str
    qty: int
    unit_price: int
    amount: int
    amount_text: str
    status: str
    reserved_at: datetime
    expires_at: datetime
    reserved_by: str
    picked_up_at: datetime | None
    done_at: datetime | None
    closed_at: datetime | None
    handled_by: str
    reason: str
    spend_entry_id: int | None
    refund_entry_id: int | None
    replayed: bool = False
    balance: int | None = None  # the account's balance after this call, when it changed it


@dataclass
class Audit:
    """Enough for one audit-log line: who did what to which record, with the values before and after."""

    at: datetime
    actor: str
    role: str
    action: str  # shop.item.create | shop.item.update | shop.item.restock
    target: str  # shop_item:<id>
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Change:
    """A catalog change: the item as it now is and its audit line; ``replayed`` when a retry found the item it made."""

    item: ItemOut
    audit: Audit
    replayed: bool = False


# ---------------------------------------------------------------- helpers
def hold_days_default() -> int:
    """Days a reservation is held when its item names none (``JIFEN_SHOP_HOLD_DAYS``, 7)."""
    try:
        return max(1, int(os.environ.get("JIFEN_SHOP_HOLD_DAYS", DEFAULT_HOLD_DAYS)))
    except ValueError:
        return DEFAULT_HOLD_DAYS


def _hidden(actor: Actor, code: str, field_name: str = "", **params: Any) -> ServiceError:
    """A record missing or outside the actor's sight: the same 404 either way, so nothing leaks."""
    return NotFound(code, field_name, **params)


def _item_out(row: Any, pt: PointType | None, lang: str = "zh") -> ItemOut:
    """An item as shown, its grade named in ``lang``."""
    names = {g.key: g.label(lang) for g in pt.grades} if pt else {}
    return ItemOut(
        id=row.id, name=row.name, description=row.description, picture=row.picture, point_type=row.point_type,
        price=int(row.price), price_text=fmt(int(row.price)), stock=row.stock, village_id=row.village_id,
        min_grade=row.min_grade, min_grade_name=names.get(row.min_grade, row.min_grade), limit_qty=row.limit_qty,
        limit_per=row.limit_per, limit_window=row.limit_window, hold_days=row.hold_days or hold_days_default(),
        active=bool(row.active), updated_at=row.updated_at, updated_by=row.updated_by,
    )


def _point_types(ctx: AppContext) -> dict[str, PointType]:
    ruleset = ctx.ruleset()
    return dict(ruleset.point_types) if ruleset else {}


def _sees_item(actor: Actor, village_id: int | None) -> bool:
    return village_id is None or actor.sees_village(village_id)


def _window_bounds(window: str, day: date) -> tuple[date, date]:
    """The local dates [start, end) of the limit window a day falls in."""
    if window == "day":
        return day, day + timedelta(days=1)
    if window == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if window == "total":
        return date.min, date.max
    p = parse_period(period_key(window, day))
    return p.start, p.end


def holder_grade(conn: Connection, ctx: AppContext, pt: PointType, holder_kind: str, holder_id: int,
                 today: date) -> GradeLevel | None:
    """The grade that counts at the counter: the better of this period's so far and the last period's frozen one.

    A five-star household of last year keeps its privileges in January, when the
    new year's score starts low. Only rule entries count (tallies); spending does not.
    """
    period = period_key(pt.period, today)
    score, vetoed = ctx.ledger.period_score(conn, pt.key, period, holder_kind, holder_id)
    best = grade(pt, score, vetoed).grade
    last = previous_period(parse_period(period)).key
    snap = conn.execute(select(GradeSnapshot.grade).where(  # type: ignore[call-overload]
        GradeSnapshot.point_type == pt.key, GradeSnapshot.period == last,
        GradeSnapshot.holder_kind == holder_kind, GradeSnapshot.holder_id == holder_id)).scalar()
    frozen = next((g for g in pt.grades if g.key == snap), None)
    if frozen is not None and (best is None or frozen.min > best.min):
        best = frozen
    return best


# ---------------------------------------------------------------- catalog
def list_items(ctx: AppContext, actor: Actor, include_inactive: bool = False,
               village_id: int | None = None, lang: str = "zh") -> list[ItemOut]:
    """Items the actor can see (county-wide ones and their village's), by name; inactive ones for managers (grades in ``lang``)."""
    q = select(ShopItem).order_by(ShopItem.name, ShopItem.id)  # type: ignore[arg-type]
    if not (include_inactive and actor.role in (*MANAGERS, "auditor")):
        q = q.where(ShopItem.active.is_(True))  # type: ignore[attr-defined]
    if village_id is not None:
        if not actor.sees_village(village_id):
            raise Forbidden("forbidden", "village")
        q = q.where((ShopItem.village_id == village_id) | ShopItem.village_id.is_(None))  # type: ignore[union-attr]
    pts = _point_types(ctx)
    with ctx.engine.connect() as conn:
        rows = conn.execute(q).all()
    return [_item_out(r, pts.get(r.point_type), lang) for r in rows if _sees_item(actor, r.village_id)]


def get_item(ctx: AppContext, actor: Actor, item_id: int, lang: str = "zh") -> ItemOut:
    """One item within the actor's sight (its grade named in ``lang``)."""
    with ctx.engine.connect() as conn:
        row = conn.execute(select(ShopItem).where(ShopItem.id == item_id)).first()
    if row is None or not _sees_item(actor, row.village_id) or (not row.active and actor.role not in (*MANAGERS, "auditor")):
        raise _hidden(actor, "shop_item_unknown", "item_id")
    return _item_out(row, _point_types(ctx).get(row.point_type), lang)


def _check_item_fields(ctx: AppContext, actor: Actor, data: dict[str, Any], conn: Connection) -> None:
    """Domain checks of item fields (types were checked by the schema); raises on the first bad field."""
    pts = _point_types(ctx)
    if not pts:
        raise ServiceError("shop_no_rules")
    if "name" in data and not str(data["name"] or "").strip():
        raise ServiceError("shop_required", "name")
    if "point_type" in data:
        spendable = [k for k, p in pts.items() if p.spendable]
        if data["point_type"] not in spendable:
            raise ServiceError("shop_point_type", "point_type", value=data["point_type"], allowed=", ".join(spendable))
    if "price" in data and int(data["price"]) <= 0:
        raise ServiceError("shop_positive", "price")
    for name in ("stock", "limit_qty"):
        if name in data and int(data[name]) < 0:
            raise ServiceError("shop_not_negative", name)
    if "hold_days" in data and data["hold_days"] is not None and int(data["hold_days"]) <= 0:
        raise ServiceError("shop_positive", "hold_days")
    if "limit_per" in data and data["limit_per"] not in LIMIT_PER:
        raise ServiceError("shop_bad_choice", "limit_per", value=data["limit_per"], allowed=", ".join(LIMIT_PER))
    if "limit_window" in data and data["limit_window"] not in WINDOWS:
        raise ServiceError("shop_bad_choice", "limit_window", value=data["limit_window"], allowed=", ".join(WINDOWS))
    if data.get("village_id") is not None:
        level = conn.execute(select(Area.level).where(Area.id == data["village_id"])).scalar()
        if level != "village":
            raise ServiceError("shop_bad_village", "village_id", value=data["village_id"])
    if "village_id" in data and not actor.county_wide and data["village_id"] != actor.village_id:
        raise Forbidden("forbidden", "village_id")


def _check_grade(ctx: AppContext, point_type: str, min_grade: str) -> None:
    if not min_grade:
        return
    pt = _point_types(ctx).get(point_type)
    keys = [g.key for g in pt.grades] if pt else []
    if min_grade not in keys:
        raise ServiceError("shop_bad_grade", "min_grade", value=min_grade, ptype=point_type, allowed=", ".join(keys) or "-")


def _snapshot(row: Any) -> dict[str, Any]:
    return {k: (int(getattr(row, k)) if k == "price" else getattr(row, k)) for k in (*EDITABLE, "stock")}


def create_item(ctx: AppContext, actor: Actor, data: dict[str, Any], lang: str = "zh", request_id: str | None = None) -> Change:
    """Add an item to the catalog (shop keeper of the village, or an administrator).

    ``data``: name, price (hundredths), and optionally description, picture,
    point_type (moral), stock, village_id (a shop keeper's own village by default),
    min_grade, limit_qty, limit_per, limit_window, hold_days, active. With a
    ``request_id`` (a form's one-time key, an API client's retry key) a second call
    by the same user, on any worker and however close, gets the first item back
    (``replayed``) instead of adding another: the key is unique in the database.
    """
    if actor.role not in MANAGERS:
        raise Forbidden("forbidden")
    data = dict(data)
    data.setdefault("point_type", "moral")
    if "village_id" not in data and not actor.county_wide:
        data["village_id"] = actor.village_id
    for required in ("name", "price"):
        if data.get(required) in (None, ""):
            raise ServiceError("shop_required", required)
    now = ctx.now()
    with ctx.ledger.write_engine.begin() as conn:
        _check_item_fields(ctx, actor, data, conn)
        _check_grade(ctx, data["point_type"], data.get("min_grade") or "")
        values = {k: data[k] for k in (*EDITABLE, "stock") if k in data}
        key = f"{actor.username}:{request_id}" if request_id else None
        values.update(created_at=now, updated_at=now, updated_by=actor.username, request_key=key)
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(ITEM).values(**values)
        # A racing twin waits on the unique key, then inserts nothing and reads the first one's item.
        item_id = conn.execute(insert.on_conflict_do_nothing(index_elements=["request_key"]).returning(ITEM.c.id)).scalar()
        replayed = item_id is None
        row = conn.execute(select(ShopItem).where(
            ShopItem.request_key == key if replayed else ShopItem.id == item_id)).one()  # type: ignore[arg-type]
        if replayed and any(getattr(row, k) != values[k] for k in ("name", "price", "village_id", "point_type") if k in values):
            # The key came back with another item: a client bug, never a retry (as reservations refuse it).
            raise Conflict("shop_item_request_reused", "request_id", value=request_id, item=row.name)
    item = _item_out(row, _point_types(ctx).get(row.point_type), lang)
    return Change(item, Audit(now, actor.username, actor.role, "shop.item.create", f"shop_item:{item.id}", {"after": _snapshot(row)}),
                  replayed)


def created_by(ctx: AppContext, actor: Actor, request_id: str) -> int | None:
    """The item this user's call with ``request_id`` already created, if any (see ``create_item``)."""
    with ctx.engine.connect() as conn:
        found = conn.execute(select(ITEM.c.id).where(ITEM.c.request_key == f"{actor.username}:{request_id}")).scalar()
    return int(found) if found is not None else None


def may_manage_item(actor: Actor, village_id: int | None) -> bool:
    """Whether the actor may change an item of this village (None: county-wide, kept by the administrator)."""
    return actor.role in MANAGERS and (actor.county_wide or (village_id is not None and village_id == actor.village_id))


def _managed_item(conn: Connection, actor: Actor, item_id: int) -> Any:
    """The item to change; 404 when the actor cannot see it, 403 when they see it but may not change it."""
    if actor.role not in MANAGERS:
        raise Forbidden("forbidden")
    row = conn.execute(select(ShopItem).where(ShopItem.id == item_id)).first()
    if row is None or not _sees_item(actor, row.village_id):
        raise _hidden(actor, "shop_item_unknown", "item_id")
    if not may_manage_item(actor, row.village_id):
        raise Forbidden("shop_item_county", "item_id")
    return row


def update_item(ctx: AppContext, actor: Actor, item_id: int, changes: dict[str, Any], lang: str = "zh") -> Change:
    """Change an item's fields (not its stock: see ``restock``); the audit line keeps what changed."""
    now = ctx.now()
    with ctx.ledger.write_engine.begin() as conn:
        before = _managed_item(conn, actor, item_id)
        changes = {k: v for k, v in changes.items() if k in EDITABLE}
        _check_item_fields(ctx, actor, changes, conn)
        _check_grade(ctx, changes.get("point_type", before.point_type), changes.get("min_grade", before.min_grade))
        if changes:
            conn.execute(update(ITEM).where(ITEM.c.id == item_id).values(**changes, updated_at=now, updated_by=actor.username))
        row = conn.execute(select(ShopItem).where(ShopItem.id == item_id)).one()
    old, new = _snapshot(before), _snapshot(row)
    diff = {k: [old[k], new[k]] for k in new if old[k] != new[k]}
    item = _item_out(row, _point_types(ctx).get(row.point_type), lang)
    return Change(item, Audit(now, actor.username, actor.role, "shop.item.update", f"shop_item:{item_id}", {"changed": diff}))


def restock(ctx: AppContext, actor: Actor, item_id: int, qty: int, note: str = "", lang: str = "zh") -> Change:
    """Add ``qty`` to the stock (a donation arrived); negative ``qty`` writes off goods, never below zero."""
    if qty == 0:
        raise ServiceError("shop_restock_zero", "qty")
    now = ctx.now()
    with ctx.ledger.write_engine.begin() as conn:
        before = _managed_item(conn, actor, item_id)
        done = conn.execute(update(ITEM).where(ITEM.c.id == item_id, ITEM.c.stock + qty >= 0)
                            .values(stock=ITEM.c.stock + qty, updated_at=now, updated_by=actor.username))
        if done.rowcount != 1:
            raise Conflict("shop_sold_out", "qty", item=before.name, stock=before.stock, qty=-qty)
        row = conn.execute(select(ShopItem).where(ShopItem.id == item_id)).one()
    item = _item_out(row, _point_types(ctx).get(row.point_type), lang)
    return Change(item, Audit(now, actor.username, actor.role, "shop.item.restock", f"shop_item:{item_id}",
                              {"qty": qty, "stock": [before.stock, row.stock], "note": note}))


# ---------------------------------------------------------------- redemptions
def _redemption_out(conn: Connection | None, row: Any, replayed: bool = False, balance: int | None = None,
                    names: tuple[str, str, str, str | None] | None = None, lang: str = "zh") -> RedemptionOut:
    """A redemption as shown, the household named in ``lang``; ``names`` (item, household code, head, person code) when the caller has them."""
    if names is None:
        assert conn is not None
        item_name = conn.execute(select(ShopItem.name).where(ShopItem.id == row.item_id)).scalar() or ""
        hh = conn.execute(select(Household.code, Household.head_name).where(Household.id == row.household_id)).first()
        person = conn.execute(select(Person.code).where(Person.id == row.person_id)).scalar() if row.person_id else None
        names = (item_name, hh.code if hh else "", hh.head_name if hh else "", person)
    item_name, hh_code, head, person = names
    return RedemptionOut(
        id=row.id, item_id=row.item_id, item_name=item_name, household_id=row.household_id,
        household_code=hh_code, household_name=household_name(head, lang) if hh_code else "", person_code=person,
        point_type=row.point_type, qty=row.qty, unit_price=int(row.unit_price), amount=int(row.amount),
        amount_text=fmt(int(row.amount)), status=row.status, reserved_at=row.reserved_at, expires_at=row.expires_at,
        reserved_by=row.reserved_by, picked_up_at=row.picked_up_at, done_at=row.done_at, closed_at=row.closed_at,
        handled_by=row.handled_by, reason=row.reason, spend_entry_id=row.spend_entry_id,
        refund_entry_id=row.refund_entry_id, replayed=replayed, balance=balance,
    )


def _may_redeem_for(actor: Actor, household_id: int, village_id: int | None) -> bool:
    if actor.role == "auditor":
        return False
    if actor.household_id is not None and actor.household_id == household_id:
        return True
    return actor.role in COUNTER and actor.sees_village(village_id)


def _sees_redemption(actor: Actor, row: Any) -> bool:
    if actor.household_id is not None and actor.household_id == row.household_id:
        return True
    return actor.role in (*COUNTER, "auditor") and actor.sees_village(row.village_id)


def _household(conn: Connection, actor: Actor, household: str | None) -> Any:
    if household is None:
        if actor.household_id is None:
            raise ServiceError("shop_required", "household")
        q = select(Household.id, Household.code, Household.head_name, Household.village_id).where(Household.id == actor.household_id)
    else:
        q = select(Household.id, Household.code, Household.head_name, Household.village_id).where(Household.code == household)
    row = conn.execute(q).first()
    if row is None or not _may_redeem_for(actor, row.id, row.village_id):
        # Another's household answers exactly as a missing one does.
        raise NotFound("shop_household_unknown", "household", value=household)
    return row


def _person(conn: Connection, code: str, household_id: int, day: date) -> int:
    pid = conn.execute(
        select(Person.id).join(Membership, Membership.person_id == Person.id).where(  # type: ignore[arg-type]
            Person.code == code, Membership.household_id == household_id, Membership.valid_from <= day,
            (Membership.valid_to.is_(None)) | (Membership.valid_to > day))  # type: ignore[union-attr, operator]
    ).scalar()
    if pid is None:
        raise ServiceError("shop_person_unknown", "person", value=code)
    return int(pid)


def reserve(ctx: AppContext, actor: Actor, item_id: int, household: str | None = None, qty: int = 1,
            request_id: str | None = None, person: str | None = None, lang: str = "zh") -> RedemptionOut:
    """Reserve ``qty`` of an item for a household (by code; the actor's own when None), paying now.

    One transaction: grade, limit, stock (conditional UPDATE), points
    (``Ledger.spend``) and the redemption; a refusal changes nothing.
    ``request_id`` makes a retried request count once: the same actor sending
    the same id again gets the first redemption back with ``replayed`` set.

    Few round trips (on PostgreSQL, with the pool's ping, BEGIN and COMMIT: 7
    for an item without grade or limit): one SELECT reads the household, the
    item, the rules' version stamp and the redemption's id, and takes the
    household's advisory lock; ``Ledger.spend`` is one statement; the
    redemption's INSERT carries the limit check and meets a repeated request id
    on its unique key (``ON CONFLICT DO NOTHING``); the stock UPDATE comes last.
    Only a refusal reads more (the first redemption of a repeated request, the
    limit used, the stock left), to answer exactly as before. The redemption comes back named in ``lang``.
    """
    if qty < 1:
        raise ServiceError("shop_positive", "qty")
    if household is None and actor.household_id is None:
        raise ServiceError("shop_required", "household")
    now = ctx.now()
    try:
        with ctx.ledger.write_engine.begin() as conn:
            row, balance, names = _reserve(conn, ctx, actor, item_id, household, qty, request_id, person, now, lang)
        return _redemption_out(None, row, balance=balance, names=names, lang=lang)  # built after COMMIT: the locks are gone
    except _Replay as replay:  # rolled back: the first redemption answers
        return replay.out
    except IntegrityError:
        # Two copies of one request raced past the check; the first one's redemption stands.
        if request_id is None:
            raise
        with ctx.engine.connect() as conn:
            hh = _household(conn, actor, household)
            row = conn.execute(select(Redemption).where(Redemption.request_key == _request_key(actor, hh.id, request_id))).first()  # type: ignore[arg-type]
            if row is None:
                raise
            return _redemption_out(conn, row, replayed=True, lang=lang)


def _request_key(actor: Actor, household_id: int, request_id: str) -> str:
    return f"{actor.username}|{household_id}|{request_id}"


class _Replay(Exception):
    """The request was served before: the transaction is rolled back and the first redemption answers."""

    def __init__(self, out: RedemptionOut):
        super().__init__(out.id)
        self.out = out


def _rules_today(versions: Any, now: datetime) -> tuple[date, dict[str, PointType]]:
    latest = versions.latest()
    if latest is None:
        raise ServiceError("shop_no_rules")
    today = now.astimezone(latest.timezone).date()
    return today, dict((versions.at(today) or latest).point_types)


_LIVE = ("reserved", "picked_up", "done")


@lru_cache(maxsize=64)
def _head_statement(pg: bool, by_code: bool, with_person: bool, with_code: bool, lock: bool) -> Any:
    """The one SELECT that opens a reservation: household, item, rules stamp, the redemption's id (and lock).

    The household's advisory lock (``lock_holders``' key for ``("h", id)``) is
    taken in it when the item is paid from a household account, so the reads
    that must follow the lock (limit used, balance) come in later statements.
    """
    hh = Household.__table__  # type: ignore[attr-defined]
    rv = RulesVersion.__table__  # type: ignore[attr-defined]
    cols: list[Any] = [
        hh.c.id, hh.c.code, hh.c.head_name, hh.c.village_id, ITEM.c.id.label("item_id"), ITEM.c.name.label("item_name"),
        ITEM.c.point_type, ITEM.c.price, ITEM.c.stock, ITEM.c.village_id.label("item_village_id"), ITEM.c.min_grade,
        ITEM.c.limit_qty, ITEM.c.limit_per, ITEM.c.limit_window, ITEM.c.hold_days, ITEM.c.active,
        select(func.count(rv.c.id)).scalar_subquery().label("rules_n"),
        select(func.coalesce(func.max(rv.c.id), 0)).scalar_subquery().label("rules_max"),
    ]
    if pg:  # an id from the sequence now, so the spend entry's key can name it before the row is written
        cols.append(func.nextval(func.pg_get_serial_sequence("redemption", "id")).label("rid"))
    else:  # SQLite: the write lock is held since BEGIN IMMEDIATE, so max + 1 is this transaction's alone
        cols.append((select(func.coalesce(func.max(REDEMPTION.c.id), 0)).scalar_subquery() + 1).label("rid"))
    if with_person:
        ms = Membership.__table__  # type: ignore[attr-defined]
        pe = Person.__table__  # type: ignore[attr-defined]
        day = bindparam("day", type_=ms.c.valid_from.type)
        cols.append(select(pe.c.id).join(ms, ms.c.person_id == pe.c.id).where(
            pe.c.code == bindparam("person"), ms.c.household_id == hh.c.id, ms.c.valid_from <= day,
            ms.c.valid_to.is_(None) | (ms.c.valid_to > day)).limit(1).scalar_subquery().label("person_id"))
    if with_code:
        pe = Person.__table__  # type: ignore[attr-defined]
        cols.append(select(pe.c.code).where(pe.c.id == bindparam("actor_person")).scalar_subquery().label("actor_code"))
    if lock:
        cols.append(case((ITEM.c.point_type.in_(bindparam("locked_types", expanding=True)),
                          func.pg_advisory_xact_lock(hh.c.id * 2 + 1)), else_=None).label("locked"))
    q = select(*cols).select_from(hh.outerjoin(ITEM, ITEM.c.id == bindparam("item_id")))
    return q.where(hh.c.code == bindparam("household") if by_code else hh.c.id == bindparam("household_id"))


_REDEMPTION_COLS = ("id", "request_key", "item_id", "household_id", "person_id", "village_id", "point_type", "holder_kind",
                    "holder_id", "qty", "unit_price", "amount", "status", "local_day", "reserved_at", "expires_at",
                    "reserved_by", "handled_by", "reason", "spend_entry_id")


@lru_cache(maxsize=16)
def _insert_statement(pg: bool, limited: bool, per_person: bool) -> Any:
    """INSERT the redemption unless its request key exists (then nothing: the caller replays) or the limit is used up.

    On PostgreSQL the stock's conditional UPDATE rides in the same statement (a
    data-modifying CTE): the row is written only if the stock was there, and the
    item's row — the one lock all households share — is held from here to commit.
    """
    stmt = (postgresql.insert if pg else sqlite.insert)(REDEMPTION)
    source = select(*(bindparam(f"v_{c}", type_=REDEMPTION.c[c].type) for c in _REDEMPTION_COLS))
    if pg:
        took = (update(ITEM).where(ITEM.c.id == bindparam("item_id"), ITEM.c.active.is_(True), ITEM.c.stock >= bindparam("qty"))
                .values(stock=ITEM.c.stock - bindparam("qty")).returning(ITEM.c.stock).cte("took"))
        source = source.select_from(took)
    if limited:  # read after the household's lock, in this statement's own snapshot: no other writer for it
        used = select(func.coalesce(func.sum(REDEMPTION.c.qty), 0)).where(
            REDEMPTION.c.item_id == bindparam("v_item_id"), REDEMPTION.c.household_id == bindparam("v_household_id"),
            REDEMPTION.c.status.in_(_LIVE), REDEMPTION.c.local_day >= bindparam("win_start", type_=REDEMPTION.c.local_day.type),
            REDEMPTION.c.local_day < bindparam("win_end", type_=REDEMPTION.c.local_day.type))
        if per_person:
            used = used.where(REDEMPTION.c.person_id == bindparam("v_person_id"))
        source = source.where(used.scalar_subquery() + bindparam("v_qty") <= bindparam("lim_qty"))
    elif not pg:
        source = source.where(true())  # SQLite parses INSERT … SELECT … ON CONFLICT only after a WHERE
    stmt = stmt.from_select(list(_REDEMPTION_COLS), source)
    return stmt.on_conflict_do_nothing(index_elements=["request_key"]).returning(REDEMPTION.c.id)


_TAKE = (update(ITEM).where(ITEM.c.id == bindparam("item_id"), ITEM.c.active.is_(True), ITEM.c.stock >= bindparam("qty"))
         .values(stock=ITEM.c.stock - bindparam("qty")))


def _limit_refusal(conn: Connection, head: Any, qty: int, today: date, person_id: int | None) -> Conflict | None:
    """The limit's refusal when ``qty`` more would pass it, else None (read under the household's lock)."""
    start, end = _window_bounds(head.limit_window, today)
    used_q = select(func.coalesce(func.sum(REDEMPTION.c.qty), 0)).where(
        REDEMPTION.c.item_id == head.item_id, REDEMPTION.c.household_id == head.id,
        REDEMPTION.c.status.in_(_LIVE), REDEMPTION.c.local_day >= start, REDEMPTION.c.local_day < end)
    if head.limit_per == "person":
        used_q = used_q.where(REDEMPTION.c.person_id == person_id)
    used = int(conn.execute(used_q).scalar() or 0)
    if used + qty <= head.limit_qty:
        return None
    return Conflict("shop_limit_reached", "qty", item=head.item_name, limit=head.limit_qty, used=used,
                    per=_PER_NAMES[head.limit_per], window=_WINDOW_NAMES.get(head.limit_window, head.limit_window))


def _reserve(conn: Connection, ctx: AppContext, actor: Actor, item_id: int, household: str | None, qty: int,
             request_id: str | None, person: str | None, now: datetime,
             lang: str = "zh") -> tuple[Any, int, tuple[str, str, str, str | None]]:
    """The reservation's writes; returns the redemption's row, the balance left and the names to show."""
    ledger = ctx.ledger
    pg = is_postgres(conn)
    # The rules as last loaded; the head statement reads the stamp, and a newer publication reloads them.
    stamp = ledger._versions_stamp  # read before the table: versions() sets the table first, then the stamp
    cached = ledger._versions
    known = cached is not None and cached.latest() is not None
    today, pts = _rules_today(cached, now) if known else (None, {})
    locked_types = tuple(k for k, p in pts.items() if p.spendable and p.holder == "household") if pg else ()
    params: dict[str, Any] = {"item_id": item_id}
    if household is None:
        params["household_id"] = actor.household_id
    else:
        params["household"] = household
    with_person = bool(person) and today is not None
    if with_person:
        params.update(person=person, day=today)
    if actor.person_id is not None and not person:
        params["actor_person"] = actor.person_id
    if locked_types:
        params["locked_types"] = list(locked_types)
    head = conn.execute(_head_statement(pg, household is not None, with_person, "actor_person" in params,
                                        bool(locked_types)), params).first()
    if not known or head is None or (head.rules_n, head.rules_max) != stamp:
        versions = ledger.versions(conn)  # published since (or first use): reload, then as before
        today, pts = _rules_today(versions, now)
        with_person = False
    if head is None or not _may_redeem_for(actor, head.id, head.village_id):
        # Another's household answers exactly as a missing one does.
        raise NotFound("shop_household_unknown", "household", value=household)
    hh_id = head.id
    if head.item_id is None or not _sees_item(actor, head.item_village_id) or (
            head.item_village_id is not None and head.item_village_id != head.village_id):
        raise _hidden(actor, "shop_item_unknown", "item_id")
    pt = pts.get(head.point_type)
    if pt is None or not pt.spendable:
        raise ServiceError("shop_point_type", "item_id", value=head.point_type,
                           allowed=", ".join(k for k, p in pts.items() if p.spendable))
    if person:
        person_id: int | None = head.person_id if with_person else _person(conn, person, hh_id, today)
        if person_id is None:
            raise ServiceError("shop_person_unknown", "person", value=person)
    else:
        person_id = actor.person_id if actor.household_id == hh_id else None
    holder_kind, holder_id = ("h", hh_id) if pt.holder == "household" else ("p", person_id)
    if holder_id is None:
        raise ServiceError("shop_person_required", "person")
    # One writer per account from here on (PostgreSQL advisory lock; SQLite holds its write lock already).
    if not (holder_kind == "h" and head.point_type in locked_types):
        lock_holders(conn, [(holder_kind, holder_id), ("h", hh_id)])
    key = _request_key(actor, hh_id, request_id) if request_id else None

    def refuse(exc: ServiceError | None, limit_first: bool = True) -> NoReturn:
        """Answer a refusal as the checks in their order would: a repeated request, then the limit, then ``exc``."""
        if key is not None:
            prior = conn.execute(select(Redemption).where(Redemption.request_key == key)).first()  # type: ignore[arg-type]
            if prior is not None:
                if prior.item_id != item_id or prior.qty != qty:
                    raise Conflict("shop_request_reused", "request_id", value=request_id)
                raise _Replay(_redemption_out(conn, prior, replayed=True, lang=lang))
        if limit_first and head.limit_qty:
            over = _limit_refusal(conn, head, qty, today, person_id)  # type: ignore[arg-type]
            if over is not None:
                raise over
        if exc is None:  # nothing else stood in the way: the stock did (read again: it moved since the first look)
            stock = conn.execute(select(ITEM.c.stock).where(ITEM.c.id == item_id)).scalar() or 0
            exc = Conflict("shop_sold_out", "qty", item=head.item_name, stock=stock, qty=qty)
        raise exc

    if not head.active:
        refuse(Conflict("shop_item_inactive", "item_id", item=head.item_name), limit_first=False)
    if head.min_grade:
        need = next((g for g in pt.grades if g.key == head.min_grade), None)
        have = holder_grade(conn, ctx, pt, holder_kind, holder_id, today)  # type: ignore[arg-type]
        if need is not None and (have is None or have.min < need.min):
            refuse(Forbidden("shop_grade_too_low", "item_id", item=head.item_name, grade=need.names(),
                             current=have.names() if have else ("无等级", "no grade")), limit_first=False)
    if head.limit_qty and head.limit_per == "person" and person_id is None:
        refuse(ServiceError("shop_person_required", "person"), limit_first=False)
    if head.stock < qty:  # seen before any write: the usual sold-out answer costs no lock on the item
        refuse(Conflict("shop_sold_out", "qty", item=head.item_name, stock=head.stock, qty=qty))
    price = int(head.price)
    amount = price * qty
    rid = int(head.rid)
    try:
        entry_id, balance = ledger.spend(conn, pt.key, holder_kind, holder_id, amount, f"shop:spend:{rid}", actor.username,
                                         note=f"{head.item_name} × {qty}", source="shop", with_balance=True)
    except Overdraft as exc:
        refuse(Conflict("shop_not_enough_points", "item_id", missing=fmt(exc.amount - exc.balance),
                        balance=fmt(exc.balance), amount=fmt(exc.amount)))
    values: dict[str, Any] = dict(
        id=rid, request_key=key or f"{actor.username}|{hh_id}|auto:{os.urandom(12).hex()}", item_id=item_id,
        household_id=hh_id, person_id=person_id, village_id=head.village_id, point_type=pt.key,
        holder_kind=holder_kind, holder_id=holder_id, qty=qty, unit_price=price, amount=amount,
        status="reserved", local_day=today, reserved_at=now, expires_at=now + timedelta(days=head.hold_days or hold_days_default()),
        reserved_by=actor.username, handled_by="", reason="", spend_entry_id=entry_id,
    )
    bind = {f"v_{k}": v for k, v in values.items()}
    bind.update(item_id=item_id, qty=qty)
    limited = bool(head.limit_qty)
    if limited:
        start, end = _window_bounds(head.limit_window, today)  # type: ignore[arg-type]
        bind.update(win_start=start, win_end=end, lim_qty=head.limit_qty)  # no key may name a column of either table
    if conn.execute(_insert_statement(pg, limited, limited and head.limit_per == "person"), bind).first() is None:
        refuse(None)  # the request key exists (a replay), the limit is used up, or (PostgreSQL) the stock ran out
    # The item's row is the one lock every household shares: take it last, so it is held only until commit.
    if not pg and conn.execute(_TAKE, {"item_id": item_id, "qty": qty}).rowcount != 1:
        stock = conn.execute(select(ITEM.c.stock).where(ITEM.c.id == item_id)).scalar() or 0
        raise Conflict("shop_sold_out", "qty", item=head.item_name, stock=stock, qty=qty)
    row = SimpleNamespace(**values, picked_up_at=None, done_at=None, closed_at=None, refund_entry_id=None)
    if person:
        code: str | None = person
    else:  # the actor's own person, whose code the head statement read
        code = head.actor_code if person_id is not None and "actor_person" in params else None
    return row, balance, (head.item_name, head.code, head.head_name, code)


def _balance(conn: Connection, point_type: str, holder_kind: str, holder_id: int) -> int:
    from store.models import Balance

    return int(conn.execute(select(Balance.amount).where(
        Balance.point_type == point_type, Balance.holder_kind == holder_kind, Balance.holder_id == holder_id)).scalar() or 0)


def _release(conn: Connection, ctx: AppContext, row: Any, status: str, who: str, now: datetime, reason: str) -> bool:
    """Move a reserved redemption to cancelled or lapsed and give points and stock back; False if it had moved on.

    The points come back as the year-end policy would have left them: see ``_refund_due``.
    """
    lock_holders(conn, [(row.holder_kind, row.holder_id)])
    moved = conn.execute(update(REDEMPTION).where(REDEMPTION.c.id == row.id, REDEMPTION.c.status == "reserved")
                         .values(status=status, closed_at=now, handled_by=who, reason=reason))
    if moved.rowcount != 1:
        return False
    note = ("预订过期退回" if status == "lapsed" else "取消兑换退回") + (f":{reason}" if reason else "")
    amount, steps = _refund_due(conn, ctx.ledger, row)
    entry_id = ctx.ledger.credit(conn, row.point_type, row.holder_kind, row.holder_id, amount, f"shop:refund:{row.id}", who,
                                 note=note, source="shop", explanation=json.dumps(steps, ensure_ascii=False),
                                 reverses_id=row.spend_entry_id)
    conn.execute(update(REDEMPTION).where(REDEMPTION.c.id == row.id).values(refund_entry_id=entry_id))
    # The item's row is the one lock every household shares: taken last, as when reserving.
    conn.execute(update(ITEM).where(ITEM.c.id == row.item_id).values(stock=ITEM.c.stock + row.qty))
    return True


def _refund_due(conn: Connection, ledger: Ledger, row: Any) -> tuple[int, list[list[Any]]]:
    """What a refund gives back, and the explanation's steps when that is less than was spent.

    Points a reservation holds are out of the balance when a period closes, so
    the close neither resets nor carries them; given back in full after the
    close they would escape the year-end policy, so each period closed since the
    spend cuts them as it would have (``Ledger.kept_after_closes``).
    """
    spent_on = conn.execute(select(ENTRY.c.local_day).where(ENTRY.c.id == row.spend_entry_id)).scalar() \
        if row.spend_entry_id is not None else None
    return ledger.kept_after_closes(conn, row.point_type, row.holder_kind, row.holder_id, int(row.amount),
                                    spent_on or row.local_day, "step_refund_closed", row.spend_entry_id)


def _load(conn: Connection, actor: Actor, redemption_id: int) -> Any:
    row = conn.execute(select(Redemption).where(Redemption.id == redemption_id)).first()  # type: ignore[arg-type]
    if row is None or not _sees_redemption(actor, row):
        raise _hidden(actor, "shop_redemption_unknown", "id")
    return row


def _reload(conn: Connection, redemption_id: int) -> Any:
    return conn.execute(select(Redemption).where(Redemption.id == redemption_id)).one()  # type: ignore[arg-type]


def cancel(ctx: AppContext, actor: Actor, redemption_id: int, reason: str = "", lang: str = "zh") -> RedemptionOut:
    """Cancel a reservation: points and stock come back once; cancelling again returns it unchanged (named in ``lang``)."""
    now = ctx.now()
    with ctx.ledger.write_engine.begin() as conn:
        row = _load(conn, actor, redemption_id)
        if actor.role == "auditor" or not _may_redeem_for(actor, row.household_id, row.village_id):
            raise Forbidden("forbidden")
        if row.status in ("cancelled", "lapsed"):
            return _redemption_out(conn, row, replayed=True, lang=lang)
        if not _release(conn, ctx, row, "cancelled", actor.username, now, reason):
            row = _reload(conn, redemption_id)
            if row.status in ("cancelled", "lapsed"):
                return _redemption_out(conn, row, replayed=True, lang=lang)
            raise Conflict("shop_bad_state", "id", id=row.id, status=_STATUS_NAMES[row.status], action=_ACTIONS["cancel"])
        row = _reload(conn, redemption_id)
        return _redemption_out(conn, row, balance=_balance(conn, row.point_type, row.holder_kind, row.holder_id), lang=lang)


def pick_up(ctx: AppContext, actor: Actor, redemption_id: int, lang: str = "zh") -> RedemptionOut:
    """At the counter: the goods are handed over (reserved → picked_up). A lapsed reservation is released instead."""
    if actor.role not in COUNTER:
        raise Forbidden("forbidden")
    now = ctx.now()
    lapsed = False
    with ctx.ledger.write_engine.begin() as conn:
        row = _load(conn, actor, redemption_id)
        if row.status == "reserved" and aware(row.expires_at) <= now:
            lapsed = _release(conn, ctx, row, "lapsed", actor.username, now, "")
        elif row.status == "reserved" and _hand_over(conn, row.id, actor.username, now):
            return _redemption_out(conn, _reload(conn, redemption_id), lang=lang)
        if not lapsed:
            if row.status == "reserved":  # moved on since it was read (a cancel at the same moment): read it again
                row = _reload(conn, redemption_id)
            if row.status == "picked_up":  # handed over already (or by another keeper just now): as a repeat
                return _redemption_out(conn, row, replayed=True, lang=lang)
            raise Conflict("shop_bad_state", "id", id=row.id, status=_STATUS_NAMES[row.status], action=_ACTIONS["pick_up"])
    # Committed: the lapse stands, and the keeper is told why nothing is handed over.
    raise Conflict("shop_lapsed", "id", id=redemption_id)


def _hand_over(conn: Connection, redemption_id: int, who: str, now: datetime) -> bool:
    """reserved → picked_up, only if it is still reserved; False when it had moved on."""
    moved = conn.execute(update(REDEMPTION).where(REDEMPTION.c.id == redemption_id, REDEMPTION.c.status == "reserved")
                         .values(status="picked_up", picked_up_at=now, handled_by=who))
    return moved.rowcount == 1


def complete(ctx: AppContext, actor: Actor, redemption_id: int, lang: str = "zh") -> RedemptionOut:
    """Close a handed-over redemption (picked_up → done); completing again returns it unchanged."""
    if actor.role not in COUNTER:
        raise Forbidden("forbidden")
    now = ctx.now()
    with ctx.ledger.write_engine.begin() as conn:
        row = _load(conn, actor, redemption_id)
        if row.status == "done":
            return _redemption_out(conn, row, replayed=True, lang=lang)
        if row.status != "picked_up":
            raise Conflict("shop_bad_state", "id", id=row.id, status=_STATUS_NAMES[row.status], action=_ACTIONS["complete"])
        conn.execute(update(REDEMPTION).where(REDEMPTION.c.id == row.id, REDEMPTION.c.status == "picked_up")
                     .values(status="done", done_at=now, handled_by=actor.username))
        return _redemption_out(conn, _reload(conn, redemption_id), lang=lang)




def get_redemption(ctx: AppContext, actor: Actor, redemption_id: int, lang: str = "zh") -> RedemptionOut:
    """One redemption within the actor's sight (named in ``lang``)."""
    with ctx.engine.connect() as conn:
        return _redemption_out(conn, _load(conn, actor, redemption_id), lang=lang)


def list_redemptions(ctx: AppContext, actor: Actor, household: str | None = None, status: str | None = None,
                     village_id: int | None = None, limit: int = 100, offset: int = 0, lang: str = "zh") -> list[RedemptionOut]:
    """Redemptions the actor may see, newest first: a villager their household's, the counter its village's (named in ``lang``)."""
    if status is not None and status not in STATUSES:
        raise ServiceError("shop_bad_choice", "status", value=status, allowed=", ".join(STATUSES))
    q = select(Redemption)
    with ctx.engine.connect() as conn:
        if household is not None:
            hh = conn.execute(select(Household.id, Household.village_id).where(Household.code == household)).first()
            if hh is None or not (actor.household_id == hh.id or (actor.role in (*COUNTER, "auditor") and actor.sees_village(hh.village_id))):
                raise NotFound("shop_household_unknown", "household", value=household)
            q = q.where(Redemption.household_id == hh.id)
        elif actor.role in (*COUNTER, "auditor"):
            if village_id is not None:
                if not actor.sees_village(village_id):
                    raise Forbidden("forbidden", "village")
                q = q.where(Redemption.village_id == village_id)
            elif not actor.county_wide:
                q = q.where(Redemption.village_id == actor.village_id)
        elif actor.household_id is not None:
            q = q.where(Redemption.household_id == actor.household_id)
        else:
            raise Forbidden("forbidden")
        if status is not None:
            q = q.where(Redemption.status == status)
        q = q.order_by(Redemption.reserved_at.desc(), Redemption.id.desc()).limit(limit).offset(offset)  # type: ignore[attr-defined]
        return [_redemption_out(conn, r, lang=lang) for r in conn.execute(q).all()]


def counter_queue(ctx: AppContext, actor: Actor, village_id: int | None = None, lang: str = "zh") -> list[RedemptionOut]:
    """The shop keeper's list: reservations waiting to be handed over, oldest first (named in ``lang``)."""
    if actor.role not in (*COUNTER, "auditor"):
        raise Forbidden("forbidden")
    if village_id is not None and not actor.sees_village(village_id):
        raise Forbidden("forbidden", "village")
    vid = village_id if village_id is not None else (None if actor.county_wide else actor.village_id)
    q = select(Redemption).where(Redemption.status == "reserved")
    if vid is not None:
        q = q.where(Redemption.village_id == vid)
    q = q.order_by(Redemption.reserved_at, Redemption.id)  # type: ignore[arg-type]
    with ctx.engine.connect() as conn:
        return [_redemption_out(conn, r, lang=lang) for r in conn.execute(q).all()]


def lapse_reservations(ctx: AppContext, now: datetime | None = None, actor: Actor = SYSTEM) -> list[int]:
    """Release every reservation past its pick-up date (points and stock back); safe to run again and in parallel.

    For the scheduler: each redemption is released in its own short transaction,
    and the conditional UPDATE lets only one run release it.
    """
    now = now or ctx.now()
    with ctx.engine.connect() as conn:
        ids = list(conn.execute(select(Redemption.id).where(
            Redemption.status == "reserved", Redemption.expires_at <= now).order_by(Redemption.id)).scalars())  # type: ignore[arg-type]
    released: list[int] = []
    for part in chunks(ids, 200):
        for rid in _release_many(ctx, part, now, actor):
            released.append(rid)
    return released


def _release_many(ctx: AppContext, ids: Iterable[int], now: datetime, actor: Actor) -> list[int]:
    out = []
    for rid in ids:
        with ctx.ledger.write_engine.begin() as conn:
            row = _reload(conn, rid)
            if row.status == "reserved" and _release(conn, ctx, row, "lapsed", actor.username, now, ""):
                out.append(rid)
    return out
