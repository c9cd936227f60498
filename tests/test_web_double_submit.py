"""Forms pressed twice record once; refusals are shown where the visitor can read them.

Each claim, objection and visit form carries a one-time request key made when the form is drawn; the
service records a key once, so a second press answers with the first result. An objection refused on the
notice board comes back on the notice board; a claim refused about an input the form does not draw says so
on top; the visit form takes only its two kinds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services import claims as wf
from store.models import Claim
from store.models_web import AuditLog
from store.models_workflow import LinkProblem, Objection, Visit
from tests.conftest import Clock
from web.testing import World, build_world

REPLAYED = "已提交过,未重复记录"


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Any, clock: Clock) -> World:
    return build_world(sqlite_engine, clock, tmp_path / "uploads")


def form_inputs(html: str, action: str | None = None, household: int | None = None) -> dict[str, str]:
    """The hidden csrf_token and request_key of one form of a page (the first posting to ``action``)."""
    forms = re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S)
    for form in forms:
        if action is not None and f'action="{action}"' not in form:
            continue
        if household is not None and f'name="household" value="{household}"' not in form:
            continue
        found = dict(re.findall(r'name="(csrf_token|request_key)" value="([^"]*)"', form))
        if "csrf_token" in found:
            return found
    raise AssertionError(f"no form for {action} / {household}")


def count(world: World, table: Any, *where: Any) -> int:
    with world.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def flashed(c: FlaskClient, path: str) -> str:
    return c.get(path).get_data(as_text=True)


def on_notice_claim(world: World) -> int:
    """A claim about P2 (village V1) on the notice board."""
    made = wf.submit(world.ctx.ledger, world.actor("grid_worker"), "MB-09", person="P2", description="美丽庭院")
    assert made.claim is not None
    wf.approve(world.ctx.ledger, world.actor("committee"), made.claim.id)
    assert wf.get_claim(world.ctx.ledger, world.actor("committee"), made.claim.id).status == "on_notice"
    return made.claim.id


# ---------------------------------------------------------------- 1. pressed twice, recorded once
def test_the_claim_form_carries_a_fresh_one_time_key_each_time_it_is_drawn(world: World) -> None:
    c = world.client("villager")
    first = form_inputs(c.get("/claims/new?rule=MB-05").get_data(as_text=True), "/claims/new?rule=MB-05")
    second = form_inputs(c.get("/claims/new?rule=MB-05").get_data(as_text=True), "/claims/new?rule=MB-05")
    assert re.fullmatch(r"[0-9a-f]{32}", first.get("request_key", ""))
    assert first["request_key"] != second["request_key"]


def test_a_claim_posted_twice_makes_one_claim_and_the_second_press_lands_on_it(world: World) -> None:
    c = world.client("villager")
    form = form_inputs(c.get("/claims/new?rule=MB-05").get_data(as_text=True), "/claims/new?rule=MB-05")
    data = {**form, "rule": "MB-05", "person": "P1", "description": "照顾隔壁孤寡老人"}
    before = count(world, Claim)
    one = c.post("/claims/new?rule=MB-05", data=data)
    two = c.post("/claims/new?rule=MB-05", data=data)
    assert one.status_code == two.status_code == 302
    assert one.headers["Location"] == two.headers["Location"]
    assert count(world, Claim) == before + 1
    assert REPLAYED in flashed(c, two.headers["Location"])


def test_an_objection_posted_twice_from_the_notice_board_is_one_objection(world: World) -> None:
    claim_id = on_notice_claim(world)
    board = f"/notice/{world.ids['V1']}"
    c = world.client("villager")
    form = form_inputs(c.get(board).get_data(as_text=True), f"/claims/{claim_id}/object")
    assert form.get("request_key")
    data = {**form, "reason": "他家院子后面还堆着建筑垃圾", "next": board, "board": str(world.ids["V1"])}
    one = c.post(f"/claims/{claim_id}/object", data=data)
    two = c.post(f"/claims/{claim_id}/object", data=data)
    assert one.status_code == two.status_code == 302
    assert one.headers["Location"] == two.headers["Location"] == board
    assert count(world, Objection, Objection.claim_id == claim_id) == 1
    page = flashed(c, board)
    assert REPLAYED in page
    assert "异议 1" in page and "异议 2" not in page
    assert count(world, AuditLog, AuditLog.action == "claim.object") == 1


def test_two_forms_drawn_separately_may_each_object_once(world: World) -> None:
    claim_id = on_notice_claim(world)
    board = f"/notice/{world.ids['V1']}"
    c = world.client("villager")
    for reason in ("第一条理由", "又想起一条理由"):
        form = form_inputs(c.get(board).get_data(as_text=True), f"/claims/{claim_id}/object")
        assert c.post(f"/claims/{claim_id}/object", data={**form, "reason": reason, "next": board}).status_code == 302
    assert count(world, Objection, Objection.claim_id == claim_id) == 2


def test_a_visit_posted_twice_is_one_visit_row(world: World) -> None:
    c = world.client("party_member")
    h1 = world.ids["H1"]
    form = form_inputs(c.get("/linkage").get_data(as_text=True), "/linkage", household=h1)
    assert form.get("request_key")
    other = form_inputs(c.get("/linkage").get_data(as_text=True), "/linkage", household=world.ids["H2"])
    assert other["request_key"] != form["request_key"]  # each household's form is its own request
    data = {**form, "household": str(h1), "kind": "visit", "note": "了解春耕"}
    before = count(world, Visit, Visit.household_id == h1)
    one = c.post("/linkage", data=data)
    two = c.post("/linkage", data=data)
    assert one.status_code == two.status_code == 302
    assert count(world, Visit, Visit.household_id == h1) == before + 1
    assert count(world, AuditLog, AuditLog.action == "linkage.visit") == 1
    assert REPLAYED in flashed(c, "/linkage")


# ---------------------------------------------------------------- 2. an objection refused on the notice board
def test_an_empty_objection_comes_back_on_the_notice_board_beside_the_reason(world: World) -> None:
    claim_id = on_notice_claim(world)
    board = f"/notice/{world.ids['V1']}"
    c = world.client("villager")
    form = form_inputs(c.get(board).get_data(as_text=True), f"/claims/{claim_id}/object")
    r = c.post(f"/claims/{claim_id}/object", data={**form, "reason": "", "next": board, "board": str(world.ids["V1"])})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "积分公示" in html and "找不到页面" not in html
    assert f'aria-describedby="e-r-{claim_id}"' in html
    assert re.search(rf'id="e-r-{claim_id}"[^>]*role="alert">[^<]+<', html)
    assert count(world, Objection, Objection.claim_id == claim_id) == 0


def test_a_refused_objection_keeps_what_was_typed_on_the_notice_board(world: World) -> None:
    claim_id = on_notice_claim(world)
    board = f"/notice/{world.ids['V1']}"
    c = world.client("villager")
    form = form_inputs(c.get(board).get_data(as_text=True), f"/claims/{claim_id}/object")
    typed = "太长的理由" * 300  # over the form's limit of 1000 characters
    r = c.post(f"/claims/{claim_id}/object", data={**form, "reason": typed, "next": board, "board": str(world.ids["V1"])})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "积分公示" in html and typed in html
    assert count(world, Objection, Objection.claim_id == claim_id) == 0


# ---------------------------------------------------------------- 3. a claim refused about an input not on the form
def test_a_refusal_about_an_input_the_form_does_not_draw_shows_on_top(world: World) -> None:
    c = world.client("villager")
    form = form_inputs(c.get("/claims/new?rule=MB-05").get_data(as_text=True), "/claims/new?rule=MB-05")
    before = count(world, Claim)
    # a household posted beside the villager's own person: the rule's form draws no household input
    r = c.post("/claims/new?rule=MB-05", data={**form, "rule": "MB-05", "person": "P1", "household": "H2", "description": "照顾老人"})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert 'id="f-household"' not in html  # no household field to show it beside
    assert re.search(r'class="flash error" role="alert">[^<]*“H2” 不是本户户号', html), html
    assert count(world, Claim) == before


def test_a_code_outside_ones_area_is_refused_beside_the_field_that_held_it(world: World) -> None:
    c = world.client("secretary")
    form = form_inputs(c.get("/claims/new?rule=MB-05").get_data(as_text=True), "/claims/new?rule=MB-05")
    before = count(world, Claim)
    r = c.post("/claims/new?rule=MB-05", data={**form, "rule": "MB-05", "person": "P5", "description": "照顾老人"})
    assert r.status_code == 400
    assert re.search(r'id="e-person" role="alert">[^<]*不在您的管辖范围内', r.get_data(as_text=True))
    assert count(world, Claim) == before


# ---------------------------------------------------------------- 4. the visit form takes only its kinds
def test_a_visit_of_an_unknown_kind_is_refused_and_records_nothing(world: World) -> None:
    c = world.client("party_member")
    h1 = world.ids["H1"]
    form = form_inputs(c.get("/linkage").get_data(as_text=True), "/linkage", household=h1)
    before = count(world, Visit)
    r = c.post("/linkage", data={**form, "household": str(h1), "kind": "zzz", "note": "随便"})
    assert r.status_code == 400
    assert re.search(r'class="flash error" role="alert">[^<]+<', r.get_data(as_text=True))
    assert count(world, Visit) == before
    with world.ctx.engine.connect() as conn:
        actions = set(conn.execute(select(AuditLog.action)).scalars())  # type: ignore[call-overload]
    assert not {a for a in actions if a.startswith("linkage.")}


# ---------------------------------------------------------------- 5. a linking form pressed again a moment later
def test_a_visit_pressed_again_seconds_later_is_answered_as_a_replay(world: World, clock: Clock) -> None:
    c = world.client("party_member")
    h1 = world.ids["H1"]
    form = form_inputs(c.get("/linkage").get_data(as_text=True), "/linkage", household=h1)
    data = {**form, "household": str(h1), "kind": "visit", "note": "了解春耕"}
    before = count(world, Visit, Visit.household_id == h1)
    one = c.post("/linkage", data=data)
    clock.advance(seconds=3)  # the second press comes a little later: it is stamped with its own now
    two = c.post("/linkage", data=data)
    assert one.status_code == two.status_code == 302, two.get_data(as_text=True)
    assert count(world, Visit, Visit.household_id == h1) == before + 1
    assert count(world, AuditLog, AuditLog.action == "linkage.visit") == 1
    page = flashed(c, "/linkage")
    assert REPLAYED in page and "已用于另一条不同的事件" not in page


def test_a_problem_pressed_again_seconds_later_is_one_problem(world: World, clock: Clock) -> None:
    c = world.client("party_member")
    h1 = world.ids["H1"]
    form = form_inputs(c.get("/linkage").get_data(as_text=True), "/linkage", household=h1)
    data = {**form, "household": str(h1), "kind": "problem", "note": "门前路灯坏了"}
    before = count(world, LinkProblem)
    one = c.post("/linkage", data=data)
    clock.advance(seconds=3)
    two = c.post("/linkage", data=data)
    assert one.status_code == two.status_code == 302, two.get_data(as_text=True)
    assert count(world, LinkProblem) == before + 1
    assert count(world, AuditLog, AuditLog.action == "linkage.problem") == 1
    assert REPLAYED in flashed(c, "/linkage")
