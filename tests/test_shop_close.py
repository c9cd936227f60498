"""积分超市 and the year-end close (SQLite and PostgreSQL): a refund after the close is cut as the close would have cut it.

Points a reservation holds are out of the balance when the year closes; given
back in full afterwards they would escape the 20% carry (or the reset).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

import store.all_models  # noqa: F401  (create_all sees every table)
from services import queries, shop
from services.context import AppContext
from store.ledger import Ledger
from store.models import Entry
from store.rules_repo import publish
from tests.builders import County
from tests.test_shop import award, keeper, make_ctx, new_item, state, villager

CARRY = "year_end: {policy: carry, percent: 20}"


@pytest.fixture
def ledger(request: pytest.FixtureRequest, engine: Engine, clock: Any, rules_text: str) -> Ledger:
    """The shipped rules from 2026-01-01; ``indirect`` with a year-end policy (``{policy: reset}``) to change moral's."""
    policy = getattr(request, "param", None)
    assert CARRY in rules_text
    text = rules_text.replace(CARRY, f"year_end: {policy}") if policy else rules_text
    publish(engine, text, date(2026, 1, 1), "admin", clock())
    return Ledger(engine, clock)


@pytest.fixture
def ctx(engine: Engine, ledger: Ledger, clock: Any) -> AppContext:
    """The services' context on the parametrised engine."""
    return make_ctx(engine, ledger, clock)


NEW_YEARS_EVE = datetime(2026, 12, 31, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
NEW_YEARS_DAY = datetime(2027, 1, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def refunds(engine: Engine) -> list[Any]:
    with engine.connect() as c:
        return list(c.execute(select(Entry).where(Entry.kind == "refund").order_by(Entry.id)).all())  # type: ignore[arg-type]


def explained(engine: Engine, entry_id: int, lang: str) -> list[str]:
    with engine.connect() as c:
        out = queries.explain(c, entry_id, {}, lang)
    assert out is not None
    return list(out["steps"])


def test_a_cancel_after_the_close_keeps_only_the_carry(ctx: AppContext, county: County, ledger: Ledger,
                                                      engine: Engine, clock: Any) -> None:
    """The reviewer's case: 31 Dec reserve 100 of 120; the close carries 20% of 20; the cancel on 1 Jan gives back 20."""
    clock.now = NEW_YEARS_EVE
    award(ledger, "P1", "MB-10", "MB-10", "MB-10", "MB-10")  # H1: 120
    h1 = county.ids["H1"]
    item = new_item(ctx, county, price=10000)
    r = shop.reserve(ctx, villager(county, "H1"), item)
    assert r.balance == 2000
    clock.now = NEW_YEARS_DAY
    assert ledger.close_period("moral", "2026")["entries"] == 1
    assert ledger.balance("moral", "h", h1)[0] == 400  # 20% of 20
    out = shop.cancel(ctx, villager(county, "H1"), r.id)
    assert out.status == "cancelled" and out.balance == 2400  # 4 carried + 20% of the 100 held
    assert state(engine, item, h1) == (2400, 10, 1, 2)  # the stock comes back whole
    (refund,) = refunds(engine)
    assert refund.amount == 2000 and refund.id == out.refund_entry_id and refund.key == f"shop:refund:{r.id}"
    assert json.loads(refund.explanation)[0][0] == "step_refund_closed"
    spend = json.loads(refund.explanation)[0][1]["entry"]
    assert explained(engine, refund.id, "en") == [f"refund of entry {spend} (100): 2026 was closed since (carry 20%), so 20 comes back"]
    assert explained(engine, refund.id, "zh") == [f"退回第 {spend} 条消费的 100 分:其后 2026 已期末结转(carry 20%),只退回 20 分"]
    # Cancelling again gives nothing more.
    again = shop.cancel(ctx, keeper(county), r.id)
    assert again.replayed and again.status == "cancelled"
    assert state(engine, item, h1) == (2400, 10, 1, 2)
    # Points spent after the close were never out of a closed balance: they come back in full.
    r2 = shop.reserve(ctx, villager(county, "H1"), new_item(ctx, county, name="挂面", price=1000))
    assert shop.cancel(ctx, villager(county, "H1"), r2.id).balance == 2400
    assert [(e.amount, e.explanation) for e in refunds(engine)][1:] == [(1000, "[]")]


def test_a_lapse_after_the_close_is_cut_too(ctx: AppContext, county: County, ledger: Ledger, engine: Engine,
                                            clock: Any) -> None:
    clock.now = NEW_YEARS_EVE
    award(ledger, "P1", "MB-10", "MB-10")  # 60
    h1 = county.ids["H1"]
    item = new_item(ctx, county, price=2500, hold_days=3)
    r = shop.reserve(ctx, villager(county, "H1"), item)  # 35 left
    clock.now = NEW_YEARS_DAY
    ledger.close_period("moral", "2026")
    assert ledger.balance("moral", "h", h1)[0] == 700
    clock.advance(days=3)
    assert shop.lapse_reservations(ctx) == [r.id]
    # 20% of 25 is 5; the step is 0.5, so nothing is rounded off.
    assert state(engine, item, h1) == (1200, 10, 1, 2)


def test_the_carry_is_rounded_down_to_the_step(ctx: AppContext, county: County, ledger: Ledger, engine: Engine,
                                               clock: Any) -> None:
    clock.now = NEW_YEARS_EVE
    award(ledger, "P1", "MB-10")  # 30
    r = shop.reserve(ctx, villager(county, "H1"), new_item(ctx, county, price=1200))  # 12: 20% is 2.4
    clock.now = NEW_YEARS_DAY
    ledger.close_period("moral", "2026")
    shop.cancel(ctx, villager(county, "H1"), r.id)
    assert [e.amount for e in refunds(engine)] == [200]  # 2.4 rounded down to the step 0.5: 2


@pytest.mark.parametrize("ledger", ["{policy: reset}"], indirect=True)
def test_a_reset_type_refunds_nothing_after_its_close(ctx: AppContext, county: County, ledger: Ledger,
                                                      engine: Engine, clock: Any) -> None:
    clock.now = NEW_YEARS_EVE
    award(ledger, "P1", "MB-10", "MB-10", "MB-10", "MB-10")  # 120
    h1 = county.ids["H1"]
    item = new_item(ctx, county, price=10000)
    r = shop.reserve(ctx, villager(county, "H1"), item)
    clock.now = NEW_YEARS_DAY
    ledger.close_period("moral", "2026")
    assert ledger.balance("moral", "h", h1)[0] == 0
    out = shop.cancel(ctx, villager(county, "H1"), r.id)
    assert out.status == "cancelled" and out.balance == 0
    assert state(engine, item, h1) == (0, 10, 1, 2)  # the goods go back on the shelf; the refund is 0, and says why
    (refund,) = refunds(engine)
    assert refund.amount == 0 and out.refund_entry_id == refund.id
    spend = json.loads(refund.explanation)[0][1]["entry"]
    assert explained(engine, refund.id, "en") == [f"refund of entry {spend} (100): 2026 was closed since (reset), so 0 comes back"]
    assert shop.cancel(ctx, villager(county, "H1"), r.id).replayed
    assert len(refunds(engine)) == 1


def test_a_cancel_before_any_close_refunds_in_full(ctx: AppContext, county: County, ledger: Ledger, engine: Engine,
                                                   clock: Any) -> None:
    clock.now = NEW_YEARS_EVE
    award(ledger, "P1", "MB-10", "MB-10", "MB-10", "MB-10")
    h1 = county.ids["H1"]
    item = new_item(ctx, county, price=10000)
    r = shop.reserve(ctx, villager(county, "H1"), item)
    assert shop.cancel(ctx, villager(county, "H1"), r.id).balance == 12000
    assert shop.cancel(ctx, villager(county, "H1"), r.id).replayed
    assert state(engine, item, h1) == (12000, 10, 1, 2)
    assert [(e.amount, e.explanation) for e in refunds(engine)] == [(10000, "[]")]
    # The close cuts the balance the points came back to, once.
    clock.now = NEW_YEARS_DAY
    ledger.close_period("moral", "2026")
    assert ledger.balance("moral", "h", h1)[0] == 2400


def test_a_cancel_after_the_year_ends_but_before_its_close(ctx: AppContext, county: County, ledger: Ledger,
                                                           engine: Engine, clock: Any) -> None:
    clock.now = NEW_YEARS_EVE
    award(ledger, "P1", "MB-10", "MB-10", "MB-10", "MB-10")
    h1 = county.ids["H1"]
    r = shop.reserve(ctx, villager(county, "H1"), new_item(ctx, county, price=10000))
    clock.now = NEW_YEARS_DAY
    shop.cancel(ctx, villager(county, "H1"), r.id)  # 1 Jan, the close not run yet: 120 again
    ledger.close_period("moral", "2026")
    assert ledger.balance("moral", "h", h1)[0] == 2400  # today 10400: the 100 escape the carry
