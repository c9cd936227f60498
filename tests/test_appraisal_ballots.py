"""Paper ballots (代录纸质评议票) name real raters: one of the member's village, never the member, once each.

The county is ``web.testing.build_world``'s: M1 赵六 (branch B-V1 of 白塘村 V1) is under appraisal; 张三 P1,
李四 P2 and 王五 P3 live in V1; 钱七 P5 and Party member 孙八 M2 (branch B-V2) live in 石桥村 V2.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services import appraisal as pa
from services.errors import ServiceError
from store.models import Membership, Person
from store.models_workflow import AppraisalScore
from tests.conftest import Clock
from web.testing import SINCE, World, _add, add_user, build_world, csrf_token


@pytest.fixture
def world(tmp_path: Path, sqlite_engine: Any, clock: Clock) -> World:
    w = build_world(sqlite_engine, clock, tmp_path / "uploads")
    w.users.update(villager2="villager2", committee2="committee2")
    pa.open_round(w.ctx.ledger, w.actor("secretary"), w.ids["M1"], "2026")
    return w


def ballot(world: World, rater: str, score: str = "90", period: str = "2026") -> int:
    return pa.score_member(world.ctx.ledger, world.actor("secretary"), world.ids["M1"], period, score, rater=rater)


def refused(world: World, rater: str, code: str) -> ServiceError:
    before = kept(world)
    with pytest.raises(ServiceError) as info:
        ballot(world, rater)
    assert info.value.code == code, info.value.code
    assert info.value.field == "rater"
    assert kept(world) == before
    return info.value


def kept(world: World) -> list[str]:
    with world.ctx.engine.connect() as conn:
        return list(conn.execute(select(AppraisalScore.rater).where(  # type: ignore[call-overload]
            AppraisalScore.member_id == world.ids["M1"]).order_by(AppraisalScore.id)).scalars())


def test_a_rater_no_one_is_refused_and_the_message_says_how_to_name_one(world: World) -> None:
    err = refused(world, "不存在的人", "wf_ballot_unknown")
    assert err.status == 400
    assert "不存在的人" in err.message("zh") and "编号、登录名或准确姓名" in err.message("zh")
    assert "code, login or exact name" in err.message("en")


@pytest.mark.parametrize("rater", ["赵六", "M1", "partymember1"])
def test_the_member_under_appraisal_is_refused_by_name_code_or_login(world: World, rater: str) -> None:
    err = refused(world, rater, "wf_ballot_member")
    assert err.status == 403 and "不能给自己打分" in err.message("zh")


@pytest.mark.parametrize("rater", ["钱七", "P5", "孙八", "M2", "villager2", "committee2"])
def test_a_rater_of_another_village_or_branch_is_refused_as_online_scoring_is(world: World, rater: str) -> None:
    err = refused(world, rater, "wf_ballot_scope")
    assert err.status == 403 and "本村" in err.message("zh")


def test_online_scoring_refuses_the_same_other_village_raters(world: World) -> None:
    for role in ("villager2", "committee2"):
        with pytest.raises(ServiceError) as online:
            pa.score_member(world.ctx.ledger, world.actor(role), world.ids["M1"], "2026", "90")
        assert online.value.code == "wf_rate_scope"


def test_one_human_scores_once_under_any_of_their_names(world: World) -> None:
    add_user(world, "lisi", "villager", {"person_id": world.ids["P2"]})
    world.users["lisi"] = "lisi"
    ballot(world, "张三")
    refused(world, "P1", "wf_ballot_twice")
    refused(world, "张三", "wf_ballot_twice")
    ballot(world, "P2")  # kept under 李四's own login
    assert kept(world) == ["P1", "lisi"]
    refused(world, "李四", "wf_ballot_twice")
    refused(world, "lisi", "wf_ballot_twice")
    with pytest.raises(ServiceError) as online:
        pa.score_member(world.ctx.ledger, world.actor("lisi"), world.ids["M1"], "2026", "60")
    assert online.value.code == "wf_rate_twice"
    # … and a login that scored online has no paper ballot besides.
    pa.score_member(world.ctx.ledger, world.actor("villager"), world.ids["M1"], "2026", "70")
    refused(world, "villager1", "wf_ballot_twice")
    result = pa.appraisal(world.ctx.ledger, world.ids["M1"], "2026")
    assert len(result.scores) == 3


def test_valid_paper_ballots_are_kept_and_counted(world: World) -> None:
    for rater, score in (("张三", "80"), ("P3", "90"), ("villager1", "100"), ("steward1", "70")):
        ballot(world, rater, score)
    assert kept(world) == ["P1", "P3", "villager1", "steward1"]
    assert pa.who_scored(world.ctx.ledger, world.ids["M1"], "2026") == dict.fromkeys(kept(world), "secretary1")
    result = pa.post_appraisal(world.ctx.ledger, world.actor("secretary"), world.ids["M1"], "2026")
    assert len(result.scores) == 4 and str(result.average) == "85.00"


def test_a_name_two_villagers_share_asks_for_the_code(world: World) -> None:
    twin = _add(world.ctx.engine, Person(code="P9", name="张三", birth_year=1990))
    _add(world.ctx.engine, Membership(person_id=twin, household_id=world.ids["H2"], valid_from=SINCE))
    err = refused(world, "张三", "wf_ballot_ambiguous")
    assert "2 人" in err.message("zh") and "编号" in err.message("zh")
    ballot(world, "P9")
    ballot(world, "P1")
    assert kept(world) == ["P9", "P1"]


def test_a_designated_list_names_raters_by_login_code_or_name(world: World) -> None:
    ledger, sec, m1 = world.ctx.ledger, world.actor("secretary"), world.ids["M1"]
    pa.open_round(ledger, sec, m1, "2026-Q2", ["villager1", "王五", "不存在的人"])
    pa.score_member(ledger, sec, m1, "2026-Q2", "90", rater="P3")  # 王五 by code
    with pytest.raises(ServiceError) as info:
        pa.score_member(ledger, sec, m1, "2026-Q2", "90", rater="王五")
    assert info.value.code == "wf_ballot_twice"
    for rater, code in (("张三", "wf_ballot_not_designated"), ("不存在的人", "wf_ballot_unknown")):
        with pytest.raises(ServiceError) as info:
            pa.score_member(ledger, sec, m1, "2026-Q2", "90", rater=rater)
        assert info.value.code == code


@pytest.mark.parametrize("lang, text", [(None, "找不到评议人“不存在的人”"), ("en", "no rater \u201c不存在的人\u201d")])
def test_the_page_shows_the_refusal_next_to_the_rater_field(world: World, lang: str | None, text: str) -> None:
    c = world.client("secretary", lang=lang)
    page = f"/appraisal/{world.ids['M1']}/2026"
    r = c.post(f"{page}/ballot", data={"rater": "不存在的人", "score": "90", "csrf_token": csrf_token(c, page)})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    field = re.search(r'<div class="field has-error">\s*<label for="f-ballot-rater">.*?</div>', html, re.S)
    assert field is not None and text in field.group(0).replace("&#34;", '"')
    assert 'value="不存在的人"' in field.group(0)
    assert kept(world) == []
    r = c.post(f"{page}/ballot", data={"rater": "张三", "score": "90", "csrf_token": csrf_token(c, page)})
    assert r.status_code == 302 and kept(world) == ["P1"]


def test_a_listed_rater_who_scored_under_another_name_is_marked_and_no_longer_offered(world: World) -> None:
    ledger, sec, m1 = world.ctx.ledger, world.actor("secretary"), world.ids["M1"]
    pa.open_round(ledger, sec, m1, "2026-Q2", ["王五", "villager1"])
    pa.score_member(ledger, sec, m1, "2026-Q2", "90", rater="P3")
    assert pa.listed_scored(ledger, m1, "2026-Q2") == {"王五"}
    html = world.client("secretary").get(f"/appraisal/{m1}/2026-Q2").get_data(as_text=True)
    assert re.search(r"<li>王五 <span class=\"tag ok small\">", html)
    assert '<option value="王五"' not in html and '<option value="villager1"' in html


@pytest.mark.parametrize(("role", "offered"), [("secretary", True), ("committee", True), ("admin", False), ("auditor", False)])
def test_the_link_to_rate_is_offered_only_to_those_the_rating_page_lets_in(world: World, role: str, offered: bool) -> None:
    c = world.client(role)
    page = c.get("/appraisal").get_data(as_text=True)
    assert ("/appraisal/rate" in page) is offered
    assert (c.get("/appraisal/rate").status_code == 200) is offered


def round_log(world: World, period: str = "2026") -> list[str]:
    """The round page's record of who opened, closed and posted it, and when (its lines, tags stripped)."""
    html = world.client("secretary").get(f"/appraisal/{world.ids['M1']}/{period}").get_data(as_text=True)
    log = re.search(r'<ul class="round-log" id="round-log">(.*?)</ul>', html, re.S)
    assert log is not None, html
    return [re.sub(r"\s+", " ", line).strip() for line in re.findall(r"<li[^>]*>(.*?)</li>", log.group(1), re.S)]


def test_the_round_page_keeps_who_opened_closed_and_posted_it_and_when(world: World, clock: Clock) -> None:
    # The fixture opened the round at 08:00 local time (2026-06-01 00:00 UTC) as secretary1.
    assert round_log(world) == ["secretary1 于 2026-06-01 08:00 开始"]
    for rater in ("张三", "李四", "王五"):
        ballot(world, rater)
    clock.advance(hours=1)
    pa.close_round(world.ctx.ledger, world.actor("secretary"), world.ids["M1"], "2026")
    closed = ["secretary1 于 2026-06-01 08:00 开始", "secretary1 于 2026-06-01 09:00 结束,不再接受打分"]
    assert round_log(world) == closed
    clock.advance(hours=1)
    pa.post_appraisal(world.ctx.ledger, world.actor("committee"), world.ids["M1"], "2026")
    assert round_log(world) == [*closed, "结果已公布 · committee1 · 2026-06-01 10:00"]
    html = world.client("secretary").get(f"/appraisal/{world.ids['M1']}/2026").get_data(as_text=True)
    assert "已公布" in html


def test_a_result_posted_while_the_round_was_open_shows_it_closed_and_posted_by_the_poster(world: World, clock: Clock) -> None:
    for rater in ("张三", "李四", "王五"):
        ballot(world, rater)
    clock.advance(minutes=30)
    pa.post_appraisal(world.ctx.ledger, world.actor("secretary"), world.ids["M1"], "2026")
    assert round_log(world) == ["secretary1 于 2026-06-01 08:00 开始", "secretary1 于 2026-06-01 08:30 结束,不再接受打分",
                                "结果已公布 · secretary1 · 2026-06-01 08:30"]
