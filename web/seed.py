"""Demo logins and a starter shop catalog for a demo county (the dev server and the browser suite).

Every demo login gets a random password, printed once by the caller; there is no
fixed or default password anywhere.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from services.actors import Actor
from services.context import AppContext
from store.models import (
    Area,
    Branch,
    Household,
    HouseholdGrid,
    Linkage,
    Membership,
    PartyMember,
    Person,
)
from store.models_shop import ShopItem
from web import accounts

# The guide's points-supermarket goods (1 point ≈ ¥1) with the pictures shipped in web/static/img/shop.
STARTER_ITEMS = [
    {"name": "洗衣液", "price": 2000, "stock": 40, "picture": "img/shop/laundry.svg", "description": "2 公斤装,爱心企业捐赠"},
    {"name": "挂面", "price": 3000, "stock": 60, "picture": "img/shop/noodles.svg", "description": "5 斤装"},
    {"name": "香皂套装", "price": 2500, "stock": 30, "picture": "img/shop/soap.svg", "description": "3 块装", "limit_qty": 2},
    {"name": "茶苗", "price": 5000, "stock": 20, "picture": "img/shop/tea.svg", "description": "一捆 50 株,春季领取"},
    {"name": "运动背包", "price": 12000, "stock": 5, "picture": "img/shop/bag.svg", "description": "三星文明户及以上可兑",
     "min_grade": "star3"},
]

ROLES = ("villager", "party_member", "grid_worker", "steward", "secretary", "committee", "shopkeeper", "admin", "auditor")


@dataclass
class DemoLogin:
    """A demo account and its one-time-shown password."""

    username: str
    role: str
    password: str
    scope: str


def _password() -> str:
    return secrets.token_urlsafe(9)


def demo_scope(engine: Engine) -> dict[str, Any]:
    """Ids for the demo logins: the first village with a branch, a grid, a linked member and a household of it."""
    with engine.connect() as conn:
        branch = conn.execute(select(Branch.id, Branch.code, Branch.village_id).order_by(Branch.id)).first()
        if branch is None:
            raise LookupError("no village with a Party branch: build the demo county first")
        village = conn.execute(select(Area.id, Area.code, Area.name).where(Area.id == branch.village_id)).one()
        # A member of the branch who looks after households, and one of those households.
        member = conn.execute(
            select(Person.id, Person.code, Person.name).join(PartyMember, PartyMember.person_id == Person.id)  # type: ignore[arg-type]
            .join(Linkage, Linkage.member_id == Person.id).where(PartyMember.branch_id == branch.id, PartyMember.valid_to.is_(None))  # type: ignore[union-attr]
            .group_by(Person.id, Person.code, Person.name).order_by(func.count().desc(), Person.id)).first()
        linked = conn.execute(select(Linkage.household_id).where(Linkage.member_id == member.id).order_by(Linkage.household_id)).scalars().first() if member else None
        household_id = linked or conn.execute(select(Household.id).where(Household.village_id == village.id).order_by(Household.id)).scalar()
        household = conn.execute(select(Household.id, Household.code, Household.head_name).where(Household.id == household_id)).one()
        grid = conn.execute(select(HouseholdGrid.grid_id).where(HouseholdGrid.household_id == household.id, HouseholdGrid.valid_to.is_(None))).scalar()
        head = conn.execute(select(Person.code).join(Membership, Membership.person_id == Person.id).where(  # type: ignore[arg-type]
            Membership.household_id == household.id, Membership.valid_to.is_(None)).order_by(Person.id)).scalars().first()
        grid_name = conn.execute(select(Area.name).where(Area.id == grid)).scalar() if grid else ""
    return {"village": village, "branch": branch, "member": member, "household": household, "grid_id": grid,
            "grid_name": grid_name or "", "head": head}


def create_demo_logins(ctx: AppContext, prefix: str = "demo") -> list[DemoLogin]:
    """One login per role in the demo village, each with a fresh random password (existing ones are reset)."""
    engine = ctx.engine
    s = demo_scope(engine)
    scopes: dict[str, tuple[dict[str, int | None], str]] = {
        "villager": ({"household_id": s["household"].id}, f"{s['household'].head_name}户 {s['household'].code}"),
        "party_member": ({"person_id": s["member"].id if s["member"] else None}, f"{s['member'].name} {s['member'].code}" if s["member"] else ""),
        "grid_worker": ({"grid_id": s["grid_id"]}, f"{s['village'].name} {s['grid_name']}"),
        "steward": ({"village_id": s["village"].id}, s["village"].name),
        "secretary": ({"branch_id": s["branch"].id}, s["branch"].code),
        "committee": ({"village_id": s["village"].id}, s["village"].name),
        "shopkeeper": ({"village_id": s["village"].id}, s["village"].name),
        "admin": ({}, "county"),
        "auditor": ({}, "county"),
    }
    out = []
    for role in ROLES:
        scope, label = scopes[role]
        if any(v is None for v in scope.values()):
            continue
        username = f"{prefix}_{role}"
        password = _password()
        existing = accounts.by_username(engine, username)
        if existing is None:
            accounts.create_user(engine, username, role, password=password, display_name=_display(role), scope=scope,
                                 created_by="devserver", now=ctx.now())
        else:
            accounts.set_password(engine, existing.id or 0, password)
        out.append(DemoLogin(username, role, password, label))
    return out


def _display(role: str) -> str:
    return {"villager": "示范农户", "party_member": "示范党员", "grid_worker": "示范网格员", "steward": "示范道德管家",
            "secretary": "示范支部书记", "committee": "示范村委", "shopkeeper": "示范超市管理员", "admin": "示范管理员",
            "auditor": "示范审计"}[role]


def ensure_catalog(ctx: AppContext) -> int:
    """Stock the points supermarket with the guide's goods when it is empty; how many items were added."""
    with ctx.engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(ShopItem)).scalar():
            return 0
    from services import shop

    admin = Actor("devserver", "admin")
    for item in STARTER_ITEMS:
        shop.create_item(ctx, admin, {"point_type": "moral", "limit_window": "month", **item})
    return len(STARTER_ITEMS)
