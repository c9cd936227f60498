"""积分超市 on a real database (SQLite and PostgreSQL): reserve, hand over, cancel, lapse, refusals."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

import store.all_models  # noqa: F401  (create_all sees every table)
from services import shop
from services.actors import Actor
from services.context import AppContext
from services.errors import Conflict, Forbidden, NotFound, ServiceError
from services.ingest import ingest_text
from services.queries import account_lines
from store.ledger import Ledger
from store.models import Entry, Tally
from store.models_shop import Redemption, ShopItem
from tests.builders import County

ADMIN = Actor("admin", "admin")


def make_ctx(engine: Engine, ledger: Ledger, clock: Any) -> AppContext:
    """An AppContext over the test's engine, ledger and clock."""
    ctx = AppContext(engine.url.render_as_string(hide_password=False), clock)
    ctx.__dict__["engine"] = engine  # cached_property: hand it the test's objects
    ctx.__dict__["ledger"] = ledger
    return ctx


def award(ledger: Ledger, person: str, *rules: str, prefix: str = "ev") -> None:
    """Approved civility events for a villager (points go to their household): MB-10 is +30, MB-09 +15."""
    text = "\n".join(json.dumps({
        "id": f"{prefix}-{person}-{i}", "type": "civility", "occurred_at": f"2026-05-0{1 + i % 9}T10:00:00",
        "person": person, "rule": rule, "approved_by": "secretary",
    }) for i, rule in enumerate(rules))
    report = ingest_text(ledger, text, "jsonl", "import", "clerk")
    assert report.counts["recorded"] == len(rules), [p.format("en") for p in report.problems]


def villager(county: County, household: str, person: str | None = None) -> Actor:
    """The household login of a villager."""
    return Actor(f"u-{household}", "villager", person_id=county.ids[person] if person else None,
                 household_id=county.ids[household], village_id=county.ids["V1"])


def keeper(county: County) -> Actor:
    """The shop keeper of village V1."""
    return Actor("keeper", "shopkeeper", village_id=county.ids["V1"])


def new_item(ctx: AppContext, county: County, **kw: Any) -> int:
    """An item of V1's shop: laundry liquid for 20 points, 10 in stock unless told."""
    data = {"name": "洗衣液", "price": 2000, "stock": 10, **kw}
    return shop.create_item(ctx, keeper(county), data).item.id


def state(engine: Engine, item_id: int, household_id: int) -> tuple[int, int, int, int]:
    """(balance, stock, redemptions, spend/refund entries) — to show that a refusal changed nothing."""
    with engine.connect() as c:
        from store.models import Balance

        bal = c.execute(select(Balance.amount).where(Balance.point_type == "moral", Balance.holder_kind == "h",
                                                     Balance.holder_id == household_id)).scalar() or 0
        stock = c.execute(select(ShopItem.stock).where(ShopItem.id == item_id)).scalar_one()
        reds = c.execute(select(func.count()).select_from(Redemption)).scalar_one()
        entries = c.execute(select(func.count()).select_from(Entry).where(Entry.kind.in_(("spend", "refund")))).scalar_one()  # type: ignore[attr-defined]
    return int(bal), stock, reds, entries


@pytest.fixture
def ctx(engine: Engine, ledger: Ledger, clock: Any) -> AppContext:
    """The services' context on the parametrised engine."""
    return make_ctx(engine, ledger, clock)


def test_reserve_pick_up_and_done(ctx: AppContext, county: County, ledger: Ledger, engine: Engine) -> None:
    award(ledger, "P1", "MB-10")  # H1: 30 points
    item = new_item(ctx, county)
    h1 = county.ids["H1"]
    r = shop.reserve(ctx, villager(county, "H1"), item, qty=1)
    assert r.status == "reserved" and r.amount == 2000 and r.balance == 1000
    assert r.household_code == "H1" and r.item_name == "洗衣液"
    assert state(engine, item, h1) == (1000, 9, 1, 1)
    assert [q.id for q in shop.counter_queue(ctx, keeper(county))] == [r.id]
    assert ledger.balance("moral", "h", h1) == (1000, 3000)  # earned is untouched by spending
    picked = shop.pick_up(ctx, keeper(county), r.id)
    assert picked.status == "picked_up" and picked.handled_by == "keeper" and picked.picked_up_at is not None
    assert shop.counter_queue(ctx, keeper(county)) == []
    done = shop.complete(ctx, keeper(county), r.id)
    assert done.status == "done" and done.done_at is not None
    assert shop.complete(ctx, keeper(county), r.id).replayed
    with pytest.raises(Conflict) as exc:
        shop.cancel(ctx, villager(county, "H1"), r.id)
    assert "已完成" in exc.value.message("zh") and "done" in exc.value.message("en")
    with engine.connect() as c:
        spend = c.execute(select(Entry).where(Entry.kind == "spend")).one()
    assert spend.amount == -2000 and spend.key == f"shop:spend:{r.id}" and spend.source == "shop"
    assert shop.get_redemption(ctx, villager(county, "H1"), r.id).spend_entry_id == spend.id


def test_cancel_refunds_once(ctx: AppContext, county: County, ledger: Ledger, engine: Engine) -> None:
    award(ledger, "P1", "MB-10")
    item = new_item(ctx, county)
    h1 = county.ids["H1"]
    r = shop.reserve(ctx, villager(county, "H1"), item, qty=1)
    first = shop.cancel(ctx, villager(county, "H1"), r.id, reason="不要了")
    assert first.status == "cancelled" and not first.replayed and first.balance == 3000
    again = shop.cancel(ctx, keeper(county), r.id)
    assert again.replayed and again.status == "cancelled" and again.reason == "不要了"
    assert state(engine, item, h1) == (3000, 10, 1, 2)
    assert shop.lapse_reservations(ctx, ctx.now() + timedelta(days=30)) == []
    assert state(engine, item, h1) == (3000, 10, 1, 2)
    with pytest.raises(Conflict):
        shop.pick_up(ctx, keeper(county), r.id)
    # a picked-up redemption cannot be cancelled
    r2 = shop.reserve(ctx, villager(county, "H1"), item)
    shop.pick_up(ctx, keeper(county), r2.id)
    with pytest.raises(Conflict):
        shop.cancel(ctx, keeper(county), r2.id)
    assert state(engine, item, h1) == (1000, 9, 2, 3)


def test_a_lapsed_reservation_releases_stock_and_refunds(ctx: AppContext, county: County, ledger: Ledger,
                                                         engine: Engine, clock: Any) -> None:
    award(ledger, "P1", "MB-10", "MB-10")  # 60
    item = new_item(ctx, county, hold_days=3)
    other = new_item(ctx, county, name="挂面", price=3000)  # the shop's default hold: 7 days
    h1 = county.ids["H1"]
    a = shop.reserve(ctx, villager(county, "H1"), item)
    b = shop.reserve(ctx, villager(county, "H1"), other)
    assert (b.expires_at - b.reserved_at).days == 7
    clock.advance(days=3, seconds=1)
    assert shop.lapse_reservations(ctx) == [a.id]
    assert shop.lapse_reservations(ctx) == []  # a second run (or a second scheduler) changes nothing
    assert shop.get_redemption(ctx, ADMIN, a.id).status == "lapsed"
    assert state(engine, item, h1)[:2] == (6000 - 3000, 10)
    with pytest.raises(Conflict):
        shop.pick_up(ctx, keeper(county), a.id)
    # At the counter before the job ran: nothing is handed over, and the lapse is recorded at once.
    clock.advance(days=5)
    with pytest.raises(Conflict) as exc:
        shop.pick_up(ctx, keeper(county), b.id)
    assert exc.value.code == "shop_lapsed"
    assert shop.get_redemption(ctx, ADMIN, b.id).status == "lapsed"
    assert state(engine, other, h1)[:2] == (6000, 10)
    with engine.connect() as c:
        refunds = c.execute(select(Entry.key, Entry.amount).where(Entry.kind == "refund").order_by(Entry.id)).all()
    assert [tuple(x) for x in refunds] == [(f"shop:refund:{a.id}", 2000), (f"shop:refund:{b.id}", 3000)]


def test_sold_out_changes_nothing(ctx: AppContext, county: County, ledger: Ledger, engine: Engine) -> None:
    award(ledger, "P1", "MB-10", "MB-10")
    item = new_item(ctx, county, stock=1)
    h1 = county.ids["H1"]
    before = state(engine, item, h1)
    with pytest.raises(Conflict) as exc:
        shop.reserve(ctx, villager(county, "H1"), item, qty=2)
    assert exc.value.code == "shop_sold_out" and exc.value.field == "qty"
    assert "剩余 1 件" in exc.value.message("zh") and "1 left" in exc.value.message("en")
    assert state(engine, item, h1) == before
    shop.reserve(ctx, villager(county, "H1"), item)
    with pytest.raises(Conflict):
        shop.reserve(ctx, villager(county, "H1"), item)
    assert state(engine, item, h1)[1] == 0


def test_overdraft_is_refused_and_says_how_many_are_missing(ctx: AppContext, county: County, ledger: Ledger,
                                                            engine: Engine) -> None:
    award(ledger, "P1", "MB-10")  # 30
    item = new_item(ctx, county, price=2500)
    h1 = county.ids["H1"]
    before = state(engine, item, h1)
    with pytest.raises(Conflict) as exc:
        shop.reserve(ctx, villager(county, "H1"), item, qty=2)
    assert exc.value.code == "shop_not_enough_points"
    assert exc.value.message("zh") == "积分不足:还差 20 分(余额 30 分,需要 50 分)"
    assert exc.value.message("en") == "not enough points: 20 short (balance 30, needs 50)"
    assert state(engine, item, h1) == before  # stock, balance, redemptions and entries as they were
    with pytest.raises(Conflict):
        shop.reserve(ctx, villager(county, "H2"), item)  # a household with no account at all


def test_limit_per_household_and_per_person(ctx: AppContext, county: County, ledger: Ledger, clock: Any) -> None:
    award(ledger, "P1", "MB-10", "MB-10", "MB-10")  # 90
    soap = new_item(ctx, county, name="香皂", price=500, limit_qty=2, limit_window="month")
    me = villager(county, "H1")
    a = shop.reserve(ctx, me, soap)
    shop.reserve(ctx, me, soap)
    with pytest.raises(Conflict) as exc:
        shop.reserve(ctx, me, soap)
    assert exc.value.code == "shop_limit_reached"
    assert exc.value.message("zh") == "“香皂” 每户每月限兑 2 件,已兑 2 件"
    assert exc.value.message("en") == "'香皂' is limited to 2 per household per month; 2 already taken"
    shop.cancel(ctx, me, a.id)  # a cancelled one does not count
    shop.reserve(ctx, me, soap)
    clock.advance(days=31)  # July: a new month
    shop.reserve(ctx, me, soap, qty=2)
    tea = new_item(ctx, county, name="茶苗", price=500, limit_qty=1, limit_per="person", limit_window="year")
    with pytest.raises(ServiceError) as exc2:
        shop.reserve(ctx, me, tea)
    assert exc2.value.code == "shop_person_required"
    county.person("P9", "H1", name="张小")
    shop.reserve(ctx, keeper(county), tea, household="H1", person="P1")
    shop.reserve(ctx, keeper(county), tea, household="H1", person="P9")
    with pytest.raises(Conflict):
        shop.reserve(ctx, keeper(county), tea, household="H1", person="P1")
    with pytest.raises(ServiceError) as exc3:
        shop.reserve(ctx, keeper(county), tea, household="H1", person="P2")  # not of this household
    assert exc3.value.field == "person"


def test_grade_eligibility(ctx: AppContext, county: County, ledger: Ledger) -> None:
    award(ledger, "P1", "MB-10")  # 30: 一星 (20)
    bag = new_item(ctx, county, name="运动包", price=1000, min_grade="star3")
    with pytest.raises(Forbidden) as exc:
        shop.reserve(ctx, villager(county, "H1"), bag)
    assert exc.value.code == "shop_grade_too_low"
    assert exc.value.message("zh") == "“运动包” 需达到三星文明户才能兑换,当前为一星文明户"
    with pytest.raises(Forbidden) as exc2:
        shop.reserve(ctx, villager(county, "H2"), bag)
    assert "no grade" in exc2.value.message("en")
    award(ledger, "P1", "MB-10", prefix="more")  # 60: 三星
    assert shop.reserve(ctx, villager(county, "H1"), bag).status == "reserved"
    with pytest.raises(ServiceError) as bad:
        new_item(ctx, county, min_grade="star9")
    assert bad.value.field == "min_grade" and "star3" in bad.value.message("en")


def test_spending_does_not_lower_the_grade(ctx: AppContext, county: County, ledger: Ledger, engine: Engine) -> None:
    award(ledger, "P1", "MB-10", "MB-10")  # 60: 三星文明户
    h1 = county.ids["H1"]
    item = new_item(ctx, county, price=5000)

    def moral() -> Any:
        with engine.connect() as c:
            ruleset = ctx.ruleset()
            assert ruleset is not None
            line = next(x for x in account_lines(c, ruleset, "h", h1, ctx.today()) if x.point_type == "moral")
            tallies = c.execute(select(Tally.period, Tally.amount).where(Tally.holder_id == h1).order_by(Tally.period)).all()
            return line, [tuple(t) for t in tallies]

    line, tallies = moral()
    assert (line.balance, line.score, line.grade_key) == (6000, 6000, "star3")
    r = shop.reserve(ctx, villager(county, "H1"), item)
    after, tallies_after = moral()
    assert (after.balance, after.score, after.grade_key) == (1000, 6000, "star3")
    assert tallies_after == tallies
    shop.cancel(ctx, villager(county, "H1"), r.id)
    assert moral()[1] == tallies


def test_a_retried_request_counts_once(ctx: AppContext, county: County, ledger: Ledger, engine: Engine) -> None:
    award(ledger, "P1", "MB-10")
    item = new_item(ctx, county)
    me = villager(county, "H1")
    first = shop.reserve(ctx, me, item, request_id="app-123")
    again = shop.reserve(ctx, me, item, request_id="app-123")
    assert again.id == first.id and again.replayed and not first.replayed
    assert state(engine, item, county.ids["H1"]) == (1000, 9, 1, 1)
    with pytest.raises(Conflict) as exc:
        shop.reserve(ctx, me, item, request_id="app-123", qty=2)
    assert exc.value.field == "request_id"


def test_catalog_management_returns_audit_lines(ctx: AppContext, county: County) -> None:
    with pytest.raises(Forbidden):
        shop.create_item(ctx, villager(county, "H1"), {"name": "x", "price": 100})
    change = shop.create_item(ctx, keeper(county), {"name": "洗衣液", "price": 2000, "stock": 5, "picture": "shop/soap.jpg"})
    item = change.item
    assert item.village_id == county.ids["V1"] and item.hold_days == 7 and item.price_text == "20"
    assert change.audit.action == "shop.item.create" and change.audit.target == f"shop_item:{item.id}"
    assert change.audit.actor == "keeper" and change.audit.detail["after"]["stock"] == 5
    upd = shop.update_item(ctx, keeper(county), item.id, {"price": 1800, "active": False})
    assert upd.audit.detail["changed"] == {"price": [2000, 1800], "active": [True, False]}
    assert shop.list_items(ctx, villager(county, "H1")) == []
    assert [i.id for i in shop.list_items(ctx, keeper(county), include_inactive=True)] == [item.id]
    with pytest.raises(NotFound):
        shop.get_item(ctx, villager(county, "H1"), item.id)
    with pytest.raises(Conflict):
        shop.reserve(ctx, keeper(county), item.id, household="H1")
    rs = shop.restock(ctx, keeper(county), item.id, 20, note="捐赠")
    assert rs.item.stock == 25 and rs.audit.detail == {"qty": 20, "stock": [5, 25], "note": "捐赠"}
    with pytest.raises(Conflict):
        shop.restock(ctx, keeper(county), item.id, -26)
    assert shop.restock(ctx, keeper(county), item.id, -25).item.stock == 0
    with pytest.raises(ServiceError) as bad:
        shop.create_item(ctx, keeper(county), {"name": "x", "price": 100, "point_type": "party_work"})
    assert bad.value.field == "point_type" and "moral" in bad.value.message("en")
    with pytest.raises(ServiceError) as neg:
        shop.update_item(ctx, keeper(county), item.id, {"price": 0})
    assert neg.value.field == "price"
    other_keeper = Actor("k2", "shopkeeper", village_id=county.ids["V1"] + 999)
    with pytest.raises(NotFound):
        shop.update_item(ctx, other_keeper, item.id, {"price": 1})
    with pytest.raises(NotFound):
        shop.update_item(ctx, ADMIN, 99999, {"price": 1})


def test_scope_reveals_nothing(ctx: AppContext, county: County, ledger: Ledger) -> None:
    award(ledger, "P2", "MB-10")
    item = new_item(ctx, county)
    r = shop.reserve(ctx, villager(county, "H2"), item)
    me = villager(county, "H1")
    with pytest.raises(NotFound) as theirs:
        shop.reserve(ctx, me, item, household="H2")
    with pytest.raises(NotFound) as nobody:
        shop.reserve(ctx, me, item, household="H9")
    assert theirs.value.message("en").replace("H2", "H9") == nobody.value.message("en")
    with pytest.raises(NotFound) as hidden:
        shop.get_redemption(ctx, me, r.id)
    with pytest.raises(NotFound) as missing:
        shop.get_redemption(ctx, me, 99999)
    assert hidden.value.message("zh") == missing.value.message("zh")  # another's looks like none at all
    with pytest.raises(NotFound):
        shop.cancel(ctx, me, r.id)
    with pytest.raises(Forbidden):
        shop.pick_up(ctx, me, r.id)
    with pytest.raises(NotFound):
        shop.get_redemption(ctx, ADMIN, 99999)
    assert shop.list_redemptions(ctx, me) == []
    assert [x.id for x in shop.list_redemptions(ctx, keeper(county))] == [r.id]
    assert [x.id for x in shop.list_redemptions(ctx, ADMIN, household="H2", status="reserved")] == [r.id]
    with pytest.raises(NotFound):
        shop.list_redemptions(ctx, me, household="H2")
    auditor = Actor("aud", "auditor")
    assert [x.id for x in shop.counter_queue(ctx, auditor)] == [r.id]
    with pytest.raises(Forbidden):
        shop.cancel(ctx, auditor, r.id)


def _between_load_and_update(monkeypatch: pytest.MonkeyPatch, ctx: AppContext, step: Any) -> None:
    """Make ``pick_up`` meet ``step`` (another writer's statement) after it read the redemption, before its UPDATE."""
    load = shop._load

    def load_then_step(conn: Any, actor: Actor, redemption_id: int) -> Any:
        row = load(conn, actor, redemption_id)
        step(conn, row)
        return row  # as read: still reserved

    monkeypatch.setattr(shop, "_load", load_then_step)


def test_a_pick_up_that_loses_to_a_cancel_is_refused(ctx: AppContext, county: County, ledger: Ledger, engine: Engine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    award(ledger, "P1", "MB-10")
    item = new_item(ctx, county)
    r = shop.reserve(ctx, villager(county, "H1"), item)
    _between_load_and_update(monkeypatch, ctx, lambda conn, row: shop._release(
        conn, ctx, row, "cancelled", "u-H1", ctx.now(), "不要了"))
    with pytest.raises(Conflict) as exc:
        shop.pick_up(ctx, keeper(county), r.id)
    assert exc.value.code == "shop_bad_state"
    assert "已取消" in exc.value.message("zh") and "is cancelled; cannot hand it over" in exc.value.message("en")
    monkeypatch.undo()
    # The same race for real: the cancel commits, then the hand-over finds nothing to hand over.
    shop.cancel(ctx, villager(county, "H1"), r.id)
    with pytest.raises(Conflict) as again:
        shop.pick_up(ctx, keeper(county), r.id)
    assert "cancelled" in again.value.message("en")
    assert shop.get_redemption(ctx, ADMIN, r.id).status == "cancelled"
    assert state(engine, item, county.ids["H1"]) == (3000, 10, 1, 2)


def test_two_keepers_handing_over_at_once_hand_over_once(ctx: AppContext, county: County, ledger: Ledger,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    award(ledger, "P1", "MB-10")
    r = shop.reserve(ctx, villager(county, "H1"), new_item(ctx, county))
    _between_load_and_update(monkeypatch, ctx, lambda conn, row: shop._hand_over(conn, row.id, "keeper2", ctx.now()))
    out = shop.pick_up(ctx, keeper(county), r.id)
    assert out.replayed and out.status == "picked_up" and out.handled_by == "keeper2"


@pytest.mark.postgres
def test_pick_up_racing_a_cancel_on_postgres(pg_engine: Engine, clock: Any, rules_text: str) -> None:
    """Two threads on PostgreSQL: the cancel holds the redemption's row; the hand-over waits, then is refused."""
    import threading
    from datetime import date

    from store.rules_repo import publish

    publish(pg_engine, rules_text, date(2026, 1, 1), "admin", clock())
    ledger = Ledger(pg_engine, clock)
    c = County(pg_engine)
    c.village("V1")
    c.grid("G1", "V1")
    c.household("H1", "G1", tier="red", head="张三")
    c.person("P1", "H1", name="张三")
    ctx = make_ctx(pg_engine, ledger, clock)
    award(ledger, "P1", "MB-10")
    r = shop.reserve(ctx, villager(c, "H1"), new_item(ctx, c))
    loaded, cancelled = threading.Event(), threading.Event()
    load = shop._load

    def load_and_wait(conn: Any, actor: Actor, redemption_id: int) -> Any:
        row = load(conn, actor, redemption_id)
        if actor.role == "shopkeeper":
            loaded.set()
            assert cancelled.wait(10)
        return row

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(shop, "_load", load_and_wait)
    errors: list[BaseException] = []

    def keeper_thread() -> None:
        try:
            shop.pick_up(ctx, keeper(c), r.id)
        except BaseException as exc:
            errors.append(exc)

    try:
        t = threading.Thread(target=keeper_thread)
        t.start()
        assert loaded.wait(10)
        shop.cancel(ctx, villager(c, "H1"), r.id)  # commits while the keeper's transaction has read "reserved"
        cancelled.set()
        t.join(10)
    finally:
        monkeypatch.undo()
    assert len(errors) == 1 and isinstance(errors[0], Conflict), errors
    assert "cancelled" in errors[0].message("en")
    assert shop.get_redemption(ctx, ADMIN, r.id).status == "cancelled"


# ---------------------------------------------------------------- the site: buttons pressed twice, a mistyped household
def _shop_world(sqlite_engine: Engine, clock: Any, tmp_path: Any) -> tuple[Any, int]:
    """The web world with a V1 item of 5 points; villager1 (H1) has points to spend."""
    from web.testing import build_world

    world = build_world(sqlite_engine, clock, tmp_path / "uploads")
    item = shop.create_item(world.ctx, Actor("admin1", "admin"), {"name": "洗衣液", "price": 500, "stock": 10})
    return world, item.item.id


def _audits(world: Any, action: str) -> int:
    from store.models_web import AuditLog

    with world.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditLog).where(AuditLog.action == action)).scalar_one())  # type: ignore[arg-type]


def _press(c: Any, path: str, data: dict[str, str]) -> tuple[int, str]:
    """Post a form and read the page it leads to (its flashed messages only)."""
    r = c.post(path, data=data)
    assert r.status_code == 302, r.get_data(as_text=True)
    page = c.get(r.headers["Location"]).get_data(as_text=True)
    return r.status_code, " ".join(re.findall(r'class="flash [a-z]+"[^>]*>([^<]*)<', page))


def test_a_hand_over_pressed_twice_is_audited_once_and_says_so(sqlite_engine: Engine, clock: Any, tmp_path: Any) -> None:
    from web.testing import csrf_token

    world, item_id = _shop_world(sqlite_engine, clock, tmp_path)
    red = shop.reserve(world.ctx, world.actor("villager"), item_id)
    c = world.client("shopkeeper")
    data = {"csrf_token": csrf_token(c, "/shop/counter"), "next": "/shop/counter"}
    _, first = _press(c, f"/shop/counter/{red.id}/pick_up", data)
    _, again = _press(c, f"/shop/counter/{red.id}/pick_up", data)
    assert "洗衣液 × 1:已领取" in first
    assert again == "已提交过,未重复记录 · 洗衣液 × 1:已领取"  # said to be done before, not done again
    assert _audits(world, "shop.pick_up") == 1
    _press(c, f"/shop/counter/{red.id}/complete", data)
    _, done_again = _press(c, f"/shop/counter/{red.id}/complete", data)
    assert done_again == "已提交过,未重复记录 · 洗衣液 × 1:已完成"
    assert _audits(world, "shop.complete") == 1


def test_a_cancel_pressed_twice_refunds_and_audits_once_and_does_not_say_refunded_again(
        sqlite_engine: Engine, clock: Any, tmp_path: Any) -> None:
    from web.testing import csrf_token

    world, item_id = _shop_world(sqlite_engine, clock, tmp_path)
    before = state(sqlite_engine, item_id, world.ids["H1"])
    red = shop.reserve(world.ctx, world.actor("villager"), item_id)
    c = world.client("shopkeeper")
    data = {"csrf_token": csrf_token(c, "/shop/counter"), "next": "/shop/counter"}
    _, first = _press(c, f"/shop/reservations/{red.id}/cancel", data)
    _, again = _press(c, f"/shop/reservations/{red.id}/cancel", data)
    assert "已取消,5 分已退回。" in first
    assert again == "已提交过,未重复记录 · 洗衣液 × 1:已取消"  # not 「已取消,5 分已退回」 again
    assert _audits(world, "shop.cancel") == 1
    after = state(sqlite_engine, item_id, world.ids["H1"])
    assert after[:2] == before[:2]  # balance and stock back once
    # The household's own cancel button pressed again after that: told, not refunded again.
    home = world.client("villager")
    _, own = _press(home, f"/shop/reservations/{red.id}/cancel",
                    {"csrf_token": csrf_token(home, "/shop/reservations"), "next": "/shop/reservations"})
    assert own == "已提交过,未重复记录 · 洗衣液 × 1:已取消"
    assert state(sqlite_engine, item_id, world.ids["H1"]) == after


def test_a_reservation_sent_twice_is_one_and_the_second_press_says_so(sqlite_engine: Engine, clock: Any, tmp_path: Any) -> None:
    world, item_id = _shop_world(sqlite_engine, clock, tmp_path)
    c = world.client("villager")
    html = c.get(f"/shop/item/{item_id}").get_data(as_text=True)
    form = dict(re.findall(r'name="(csrf_token|request_id)" value="([^"]*)"', html))
    data = {**form, "qty": "1"}
    _, first = _press(c, f"/shop/item/{item_id}", data)
    _, again = _press(c, f"/shop/item/{item_id}", data)
    assert "已预订 洗衣液 × 1" in first
    assert "已预订 洗衣液" not in again and "已提交过,未重复记录" in again
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Redemption)).scalar_one() == 1


def test_a_mistyped_household_at_the_counter_is_told_beside_the_field(sqlite_engine: Engine, clock: Any, tmp_path: Any) -> None:
    world, item_id = _shop_world(sqlite_engine, clock, tmp_path)
    c = world.client("shopkeeper")
    page = f"/shop/item/{item_id}?household=H999999"
    html = c.get(page).get_data(as_text=True)
    form = dict(re.findall(r'name="(csrf_token|request_id)" value="([^"]*)"', html))
    before = state(sqlite_engine, item_id, world.ids["H1"])
    for code in ("H999999", "H5"):  # no such household; one of another village: the same answer
        r = c.post(f"/shop/item/{item_id}", data={**form, "household": code, "qty": "2"})
        assert r.status_code == 400
        html = r.get_data(as_text=True)
        assert re.search(rf'id="e-household" role="alert">在本村找不到户号 {code}。<', html), html
        assert f'name="household" type="text" value="{code}"' in html and 'name="qty" type="number" value="2"' in html
    r = c.post(f"/shop/item/{item_id}", data={**form, "household": "", "qty": "1"})
    assert r.status_code == 400
    assert re.search(r'id="e-household" role="alert">请填写此项。<', r.get_data(as_text=True))
    assert state(sqlite_engine, item_id, world.ids["H1"]) == before
    ok = c.post(f"/shop/item/{item_id}", data={**form, "household": "H1", "qty": "1"})
    assert ok.status_code == 302


def test_two_posts_of_one_new_item_form_racing_on_two_workers_make_one_item(engine: Engine, county: County, ledger: Ledger,
                                                                             clock: Any) -> None:
    """Two web workers (two threads, each its own connection) create the item of one form at once: one item, one replay."""
    import threading

    ctx = make_ctx(engine, ledger, clock)
    start = threading.Barrier(2)
    changes: list[shop.Change] = []

    def post() -> None:
        start.wait()
        changes.append(shop.create_item(ctx, keeper(county), {"name": "毛巾", "price": 300, "stock": 4}, request_id="form-1"))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c.replayed for c in changes) == [False, True]
    assert changes[0].item.id == changes[1].item.id
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ShopItem).where(ShopItem.name == "毛巾")).scalar() == 1
    assert shop.created_by(ctx, keeper(county), "form-1") == changes[0].item.id
    # Another user's form with the same key is its own item; so is a call without a key.
    other = Actor("admin", "admin")
    assert not shop.create_item(ctx, other, {"name": "毛巾", "price": 300, "village_id": county.ids["V1"]}, request_id="form-1").replayed
    assert not shop.create_item(ctx, keeper(county), {"name": "毛巾", "price": 300}).replayed
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ShopItem).where(ShopItem.name == "毛巾")).scalar() == 3
