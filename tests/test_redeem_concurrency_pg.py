"""Redemptions under contention on PostgreSQL: 32 clients at once, no overdraft, stock exact.

``run_contention`` is shared with the SQLite variant (``test_redeem_concurrency_sqlite``).
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from services import shop
from services.actors import Actor
from services.errors import ServiceError
from services.queries import recompute_from_ledger
from store.ledger import Ledger
from store.models import Balance
from store.models_shop import Redemption, ShopItem
from store.rules_repo import publish
from tests.builders import County
from tests.test_shop import award, make_ctx

CLIENTS = 32


def run_contention(engine: Engine, clock: Any, rules_text: str, households: int, awards: int, price: int,
                   stock: int) -> dict[str, Any]:
    """``CLIENTS`` threads each reserve one item at the same moment; returns what became of them and the end state."""
    publish(engine, rules_text, date(2026, 1, 1), "admin", clock())
    ledger = Ledger(engine, clock)
    ctx = make_ctx(engine, ledger, clock)
    county = County(engine)
    county.village("V1")
    county.grid("G1", "V1")
    codes = [f"H{i:02d}" for i in range(households)]
    for code in codes:
        county.household(code, "G1")
        county.person(f"P{code}", code)
        award(ledger, f"P{code}", *(["MB-10"] * awards))  # 30 points each
    keeper = Actor("keeper", "shopkeeper", village_id=county.ids["V1"])
    item = shop.create_item(ctx, keeper, {"name": "洗衣液", "price": price, "stock": stock}).item.id
    barrier = threading.Barrier(CLIENTS)

    def client(n: int) -> str:
        code = codes[n % households]
        actor = Actor(f"u-{code}", "villager", household_id=county.ids[code], village_id=county.ids["V1"])
        barrier.wait()
        try:
            shop.reserve(ctx, actor, item, request_id=f"req-{n}")
            return "ok"
        except ServiceError as exc:
            return exc.code

    with ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = Counter(pool.map(client, range(CLIENTS)))
    with engine.connect() as c:
        left = c.execute(select(ShopItem.stock).where(ShopItem.id == item)).scalar_one()
        reserved = c.execute(select(func.coalesce(func.sum(Redemption.qty), 0))).scalar_one()
        balances = dict(c.execute(select(Balance.holder_id, Balance.amount).where(Balance.point_type == "moral")).all())  # type: ignore[arg-type]
    summed = recompute_from_ledger(engine)["balance"]
    assert all(summed[("moral", "h", hid)] == amount for hid, amount in balances.items())  # kept = summed
    return {"outcomes": outcomes, "stock": left, "reserved": reserved, "balances": balances,
            "ids": [county.ids[c] for c in codes]}


def check_points_bind(engine: Engine, clock: Any, rules_text: str) -> None:
    """One household whose balance covers exactly K = 12 items (60 points, 5 each), stock 20: exactly 12 succeed."""
    out = run_contention(engine, clock, rules_text, households=1, awards=2, price=500, stock=20)
    assert out["outcomes"] == {"ok": 12, "shop_not_enough_points": CLIENTS - 12}
    assert out["stock"] == 20 - 12 and out["reserved"] == 12
    assert out["balances"][out["ids"][0]] == 0


def check_stock_binds(engine: Engine, clock: Any, rules_text: str) -> None:
    """32 households with enough points each and 7 in stock: exactly 7 succeed, stock ends at 0."""
    out = run_contention(engine, clock, rules_text, households=CLIENTS, awards=1, price=1000, stock=7)
    assert out["outcomes"] == {"ok": 7, "shop_sold_out": CLIENTS - 7}
    assert out["stock"] == 0 and out["reserved"] == 7
    assert sorted(out["balances"].values()) == [2000] * 7 + [3000] * (CLIENTS - 7)


@pytest.mark.postgres
def test_32_clients_one_household_exactly_k_succeed(pg_engine: Engine, clock: Any, rules_text: str) -> None:
    check_points_bind(pg_engine, clock, rules_text)


@pytest.mark.postgres
def test_32_clients_stock_is_the_limit(pg_engine: Engine, clock: Any, rules_text: str) -> None:
    check_stock_binds(pg_engine, clock, rules_text)
