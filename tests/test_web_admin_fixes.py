"""Administration pages: county items read-only for a village shop keeper, one item per "new item" form,
restock quantities, consistent account scopes and a named household field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

import store.all_models  # noqa: F401
from services import shop
from services.actors import Actor
from store.models_shop import ShopItem
from store.models_web import User
from tests.conftest import Clock
from web.testing import World, build_world, csrf_token


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Any, clock: Clock) -> World:
    return build_world(sqlite_engine, clock, tmp_path / "uploads")


def county_item(world: World) -> int:
    change = shop.create_item(world.ctx, Actor("admin1", "admin"), {"name": "挂面", "price": 300, "stock": 5})
    assert change.item.village_id is None
    return change.item.id


def error_of(html: str, name: str) -> str:
    """The error text shown beside a form field ('' when none)."""
    m = re.search(rf'<span class="error-text" id="e-{name}" role="alert">([^<]*)</span>', html)
    return m.group(1) if m else ""


def count_items(world: World, name: str) -> int:
    with world.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ShopItem).where(ShopItem.name == name)).scalar() or 0)


# ---------------------------------------------------------------- 1. county items
def test_a_county_item_is_read_only_for_a_village_shop_keeper(world: World) -> None:
    item = county_item(world)
    c = world.client("shopkeeper")
    html = c.get(f"/admin/catalog/{item}").get_data(as_text=True)
    assert "县级商品由管理员维护" in html
    assert f'action="/admin/catalog/{item}"' not in html and f'action="/admin/catalog/{item}/restock"' not in html
    assert 'name="qty"' not in html and 'name="price"' not in html
    token = csrf_token(c, "/admin/catalog")
    r = c.post(f"/admin/catalog/{item}", data={"csrf_token": token, "name": "挂面", "price": "2"})
    assert r.status_code == 403
    r = c.post(f"/admin/catalog/{item}/restock", data={"csrf_token": token, "qty": "5"})
    assert r.status_code == 403
    assert shop.get_item(world.ctx, Actor("admin1", "admin"), item).stock == 5
    english = world.client("shopkeeper", lang="en").get(f"/admin/catalog/{item}").get_data(as_text=True)
    assert "County items are kept by the administrator" in english


def test_the_administrator_and_the_keeper_of_the_village_still_edit(world: World) -> None:
    item = county_item(world)
    html = world.client("admin").get(f"/admin/catalog/{item}").get_data(as_text=True)
    assert "县级商品由管理员维护" not in html and f'action="/admin/catalog/{item}/restock"' in html
    own = shop.create_item(world.ctx, world.actor("shopkeeper"), {"name": "肥皂", "price": 100, "stock": 1}).item.id
    html = world.client("shopkeeper").get(f"/admin/catalog/{own}").get_data(as_text=True)
    assert "县级商品由管理员维护" not in html and f'action="/admin/catalog/{own}/restock"' in html


def test_an_item_of_another_village_stays_hidden(world: World) -> None:
    other = shop.create_item(world.ctx, Actor("admin1", "admin"), {"name": "酱油", "price": 100, "village_id": world.ids["V2"]}).item.id
    c = world.client("shopkeeper")
    token = csrf_token(c, "/admin/catalog")
    assert c.get(f"/admin/catalog/{other}").status_code == 404
    assert c.post(f"/admin/catalog/{other}/restock", data={"csrf_token": token, "qty": "5"}).status_code == 404


# ---------------------------------------------------------------- 2. one item per form
def new_item_form(c: FlaskClient) -> dict[str, str]:
    html = c.get("/admin/catalog/new").get_data(as_text=True)
    m = re.search(r'name="request_key" value="([^"]+)"', html)
    assert m, "the new-item form carries a one-time request key"
    return {"csrf_token": csrf_token(c, "/admin/catalog/new"), "request_key": m.group(1), "name": "毛巾", "price": "3",
            "stock": "4", "limit_per": "household", "limit_window": "month", "active": "1"}


def test_a_second_post_of_the_new_item_form_returns_the_first_item(world: World) -> None:
    c = world.client("shopkeeper")
    form = new_item_form(c)
    first = c.post("/admin/catalog/new", data=form)
    assert first.status_code == 302
    second = c.post("/admin/catalog/new", data=form)
    assert count_items(world, "毛巾") == 1
    with world.ctx.engine.connect() as conn:
        item_id = conn.execute(select(ShopItem.id).where(ShopItem.name == "毛巾")).scalar_one()
    assert second.status_code == 302 and second.headers["Location"].endswith(f"/admin/catalog/{item_id}")
    # A post racing the first (its session cookie not yet updated) finds the item too.
    other = world.client("shopkeeper")
    again = other.post("/admin/catalog/new", data={**form, "csrf_token": csrf_token(other, "/admin/catalog/new")})
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/admin/catalog/{item_id}")
    assert count_items(world, "毛巾") == 1
    # A fresh form is a new item.
    assert c.post("/admin/catalog/new", data=new_item_form(c)).status_code == 302
    assert count_items(world, "毛巾") == 2


def test_a_refused_form_keeps_its_key_and_creates_nothing(world: World) -> None:
    c = world.client("shopkeeper")
    form = new_item_form(c)
    r = c.post("/admin/catalog/new", data={**form, "price": "0"})
    assert r.status_code == 400 and f'value="{form["request_key"]}"' in r.get_data(as_text=True)
    assert count_items(world, "毛巾") == 0
    assert c.post("/admin/catalog/new", data=form).status_code == 302
    assert count_items(world, "毛巾") == 1


# ---------------------------------------------------------------- 3. restock quantities
def test_restock_of_zero_explains_both_directions_and_a_write_off_works(world: World) -> None:
    item = county_item(world)
    c = world.client("admin")
    token = csrf_token(c, "/admin/catalog")
    html = c.post(f"/admin/catalog/{item}/restock", data={"csrf_token": token, "qty": "0"}, follow_redirects=True).get_data(as_text=True)
    assert "报损出库填负数" in html and "必须大于 0" not in html
    assert c.post(f"/admin/catalog/{item}/restock", data={"csrf_token": token, "qty": "-2", "note": "破损"}).status_code == 302
    assert shop.get_item(world.ctx, Actor("admin1", "admin"), item).stock == 3
    c.post(f"/admin/catalog/{item}/restock", data={"csrf_token": token, "qty": "-9"})
    assert shop.get_item(world.ctx, Actor("admin1", "admin"), item).stock == 3
    english = world.client("admin", lang="en")
    html = english.post(f"/admin/catalog/{item}/restock", data={"csrf_token": csrf_token(english, "/admin/catalog"), "qty": "0"},
                        follow_redirects=True).get_data(as_text=True)
    assert "a negative one writes goods off" in html


# ---------------------------------------------------------------- 4. and 5. account scopes
def new_user(world: World, lang: str | None = None, **fields: str) -> tuple[int, str]:
    c = world.client("admin", lang=lang)
    r = c.post("/admin/users/new", data={"csrf_token": csrf_token(c, "/admin/users/new"), "active": "1", **fields})
    return r.status_code, r.get_data(as_text=True)


def user_exists(world: World, username: str) -> bool:
    with world.ctx.engine.connect() as conn:
        return conn.execute(select(User.id).where(User.username == username)).first() is not None


def test_a_secretary_with_a_branch_of_another_village_is_refused_beside_the_village(world: World) -> None:
    status, html = new_user(world, username="sec9", role="secretary", branch="B-V1", village="V2")
    assert status == 400 and not user_exists(world, "sec9")
    message = error_of(html, "village")
    assert "B-V1" in message and "白塘村" in message and "V1" in message
    status, html = new_user(world, lang="en", username="sec9", role="secretary", branch="B-V1", village="V2")
    assert status == 400 and "Party branch B-V1 belongs to 白塘村 (V1)" in error_of(html, "village")
    assert new_user(world, username="sec9", role="secretary", branch="B-V1", village="V1")[0] == 200
    assert user_exists(world, "sec9")


def test_a_grid_or_household_of_another_village_is_refused(world: World) -> None:
    status, html = new_user(world, username="grid9", role="grid_worker", grid="G3", village="V1")
    assert status == 400 and "G3" in error_of(html, "village") and "石桥村" in error_of(html, "village")
    status, html = new_user(world, username="hh9", role="villager", household="H5", village="V1")
    assert status == 400 and "H5" in error_of(html, "village")
    status, html = new_user(world, username="hh9", role="villager", household="H1", grid="G3")
    assert status == 400 and "G3" in error_of(html, "grid")
    assert not user_exists(world, "grid9") and not user_exists(world, "hh9")


def test_editing_a_user_keeps_its_consistent_scope(world: World) -> None:
    # The edit form sends back every code the account carries; a consistent scope saves as before.
    c = world.client("admin")
    with world.ctx.engine.connect() as conn:
        uid = conn.execute(select(User.id).where(User.username == "partymember1")).scalar_one()
    html = c.get(f"/admin/users/{uid}").get_data(as_text=True)
    codes = dict(re.findall(r'name="(household|person|grid|branch|village)" type="text" value="([^"]*)"', html))
    r = c.post(f"/admin/users/{uid}", data={"csrf_token": csrf_token(c, f"/admin/users/{uid}"), "role": "party_member",
                                            "active": "1", **codes})
    assert r.status_code == 302
    r = c.post(f"/admin/users/{uid}", data={"csrf_token": csrf_token(c, f"/admin/users/{uid}"), "role": "party_member",
                                            "active": "1", **codes, "village": "V2"})
    assert r.status_code == 400 and error_of(r.get_data(as_text=True), "village")


def test_a_villager_without_a_household_is_told_beside_the_household_field(world: World) -> None:
    status, html = new_user(world, username="vil9", role="villager")
    assert status == 400 and "村民账号须指定所属农户" in error_of(html, "household")
    status, html = new_user(world, lang="en", username="vil9", role="villager")
    assert status == 400 and "must name its household" in error_of(html, "household")
    assert not user_exists(world, "vil9")
