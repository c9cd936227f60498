"""Numbers past the database's 64-bit range: an unknown id (404) or a form error, never a 500.

SQLite refuses a Python int past 2**63-1 with OverflowError, so each route used to answer 500
for ``/notice/99999999999999999999``; the site's ``int`` converter and its form schemas now stop
such numbers before they reach a query. Also: an unexpected error is logged once, not twice,
and the desk's CSV export names its charset once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

import store.all_models  # noqa: F401
from store.db import make_engine
from tests.conftest import Clock
from web.bounds import MAX_ID
from web.testing import World, build_world, csrf_token

HUGE = "99999999999999999999"  # past 2**63-1


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A small county (CSRF off: these tests only read pages)."""
    tmp = tmp_path_factory.mktemp("bounds")
    engine = make_engine(f"sqlite:///{tmp / 'web.db'}")
    w = build_world(engine, Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)), tmp / "uploads", WTF_CSRF_ENABLED=False)
    yield w
    engine.dispose()


@pytest.mark.parametrize(("role", "path"), [
    (None, f"/notice/{HUGE}"),
    (None, f"/shop/item/{HUGE}"),
    (None, f"/shop/picture/{HUGE}"),
    ("admin", f"/claims/{HUGE}"),
    ("admin", f"/claims/evidence/{HUGE}"),
    ("admin", f"/appraisal/{HUGE}/2026"),
    ("admin", f"/admin/users/{HUGE}"),
    ("admin", f"/admin/rules/version/{HUGE}"),
    ("admin", f"/admin/catalog/{HUGE}"),
    ("admin", f"/notice/{MAX_ID + 1}"),  # the first number past the range
])
def test_huge_id_in_the_path_is_not_found(world: World, role: str | None, path: str) -> None:
    """A number no row can have answers like any unknown id: the 404 page."""
    r = world.client(role).get(path)
    assert r.status_code == 404
    assert "找不到页面" in r.get_data(as_text=True)


def test_largest_id_is_still_an_id(world: World) -> None:
    """2**63-1 itself is a valid id: it reaches the view, which finds no such village (404, not a 500)."""
    assert world.client().get(f"/notice/{MAX_ID}").status_code == 404


@pytest.fixture(scope="module")
def api_token(world: World) -> str:
    """An administrator's API token."""
    from web.api import tokens

    return tokens.issue(world.ctx.engine, "bounds", "admin", "test", world.ctx.now()).token


@pytest.mark.parametrize("path", [f"/claims/{HUGE}", f"/shop/items/{HUGE}", f"/entries/{HUGE}"])
def test_huge_id_under_the_api_is_a_json_404(world: World, api_token: str, path: str) -> None:
    """The API's ``<int:...>`` routes share the converter: past the range is an unknown path, in JSON."""
    r = world.client().get(f"/api/v1{path}", headers={"Authorization": f"Bearer {api_token}"})
    assert r.status_code == 404
    assert r.is_json and set(r.json) == {"code", "errors", "message", "status"}  # the one shape of every API error


def test_a_known_api_path_asked_with_another_method_is_405_naming_the_methods_it_takes(world: World, api_token: str) -> None:
    r = world.client().delete("/api/v1/claims", headers={"Authorization": f"Bearer {api_token}"})
    assert r.status_code == 405 and r.json["code"] == "api_method"
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST"}
    assert world.client().delete("/api/v1/no-such-thing", headers={"Authorization": f"Bearer {api_token}"}).status_code == 404


def test_an_error_the_router_gives_before_the_api_is_chosen_has_the_api_shape(world: World) -> None:
    from web.errors import render_error

    with world.app.test_request_context("/api/v1/entries/1"):
        resp, status = render_error(404)
    assert status == 404 and set(resp.json) == {"code", "errors", "message", "status"}


@pytest.mark.parametrize("path", [f"/claims?village_id={HUGE}", f"/shop/items?village_id={HUGE}",
                                  f"/leaderboards/moral?scope=village&scope_id={HUGE}", f"/claims?offset={HUGE}"])
def test_huge_number_in_an_api_query_is_a_validation_error(world: World, api_token: str, path: str) -> None:
    """An API query number past the range is a bad field (400, named, in the caller's language), never a 500."""
    r = world.client().get(f"/api/v1{path}", headers={"Authorization": f"Bearer {api_token}"})
    assert r.status_code == 400
    assert "数字太大" in next(iter(r.get_json()["errors"].values()))[0]
    en = world.client().get(f"/api/v1{path}&lang=en", headers={"Authorization": f"Bearer {api_token}"})
    assert "Number too large." in next(iter(en.get_json()["errors"].values()))[0]


def test_huge_branch_on_the_desk_is_a_form_error(world: World) -> None:
    """``/desk?branch=<huge>`` answers as any invalid branch (``branch=0``): the default desk and the message."""
    admin = world.client("admin")
    huge = admin.get(f"/desk?branch={HUGE}")
    invalid = admin.get("/desk?branch=0")
    assert huge.status_code == invalid.status_code == 200
    assert "数字太大。" in huge.get_data(as_text=True)


def test_huge_threshold_on_the_desk_is_a_form_error(world: World) -> None:
    """A threshold the Decimal context cannot hold in hundredths is refused by the form, not a 500."""
    r = world.client("secretary").get("/desk?threshold=1e999999999")
    assert r.status_code == 200
    assert "数字太大。" in r.get_data(as_text=True)


def test_huge_area_on_the_leaderboard_is_a_form_error(world: World) -> None:
    """``area`` past the range answers as an unknown area: 400 with the form's message."""
    unknown = world.client().get("/leaderboard?type=moral&scope=village&area=987654")
    huge = world.client().get(f"/leaderboard?type=moral&scope=village&area={HUGE}")
    assert huge.status_code == unknown.status_code == 400


def test_an_unexpected_error_is_logged_once(world: World, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """One traceback per failure: Flask logs it; the 500 handler only renders the page."""

    def broken() -> Any:
        raise RuntimeError("boom")

    monkeypatch.setitem(world.app.view_functions, "public.index", broken)
    monkeypatch.setitem(world.app.config, "PROPAGATE_EXCEPTIONS", False)  # TESTING re-raises; serve the 500 page
    with caplog.at_level(logging.ERROR):
        r = world.client().get("/")
    assert r.status_code == 500
    assert "系统出错了" in r.get_data(as_text=True)
    assert len([rec for rec in caplog.records if rec.exc_info]) == 1


def test_desk_export_names_its_charset_once(world: World) -> None:
    """The CSV's Content-Type is exactly ``text/csv; charset=utf-8``."""
    r = world.client("secretary").get("/desk/export.csv")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"


def test_a_price_past_a_billion_points_is_a_form_error_not_a_500(world: World) -> None:
    c = world.client("admin")
    token = csrf_token(c, "/admin/catalog/new")
    r = c.post("/admin/catalog/new", data={"name": "挂面", "price": "1e30", "stock": "5", "csrf_token": token})
    assert r.status_code == 400 and "数字太大" in r.get_data(as_text=True)
