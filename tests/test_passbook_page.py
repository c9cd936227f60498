"""The passbook page and the desk as their readers see them, in Chinese and in English."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import store.all_models  # noqa: F401
from store.db import make_engine
from tests.conftest import Clock
from web.testing import build_world


def test_the_bar_shows_the_share_of_the_next_grade_reached(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    world = build_world(engine, Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)), tmp_path / "uploads")
    # H1: 3 + 2 volunteer hours at 2 points an hour, 10 points this year; the first grade (一星文明户) starts at 20.
    page = world.client("villager").get("/passbook/H1?type=moral").get_data(as_text=True)
    assert "再得 10 分 可评为一星文明户" in page
    assert re.search(r'aria-label="完成 50%"><div class="bar-fill" style="width: 50%"', page), page
    engine.dispose()


def test_a_deduction_is_labelled_a_deduction_and_lists_read_as_lists_in_english(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    world = build_world(engine, Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)), tmp_path / "uploads")
    # H2: −10 for rubbish (MB-23, a rule's award below zero)
    zh = world.client("admin").get("/passbook/H2?type=moral").get_data(as_text=True)
    en = world.client("admin", lang="en").get("/passbook/H2?type=moral").get_data(as_text=True)
    assert "扣分 · 道德积分" in zh and "Deduction · Moral credit" in en and "Award · " not in en
    plus = world.client("admin", lang="en").get("/passbook/H1?type=moral").get_data(as_text=True)
    assert "Award · Moral credit" in plus
    desk = world.client("secretary", lang="en").get("/desk?type=volunteer_hours").get_data(as_text=True)
    assert "Alert line (hours)" in desk and "、" not in desk
    engine.dispose()


def test_the_passbook_still_shows_points_of_a_type_the_live_rules_dropped(tmp_path: Path) -> None:
    import json
    from datetime import date

    from services.ingest import ingest_text
    from store.rules_repo import publish

    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    clock = Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    world = build_world(engine, clock, tmp_path / "uploads")
    text = (Path(__file__).resolve().parent.parent / "rules.yaml").read_text(encoding="utf-8")
    green = text.replace("point_types:\n", "point_types:\n  - {key: green, name: 绿色积分, holder: household, unit: 分, "
                         "step: 0.5, period: year, year_end: {policy: never}, spendable: true}\n", 1)
    green += "  - {id: GC-01, name: 绿色出行, point_type: green, event: volunteer_service, points: {fixed: 3}}\n"
    publish(engine, green, date(2026, 5, 10), "admin", clock())
    event = {"id": "g1", "type": "volunteer_service", "occurred_at": "2026-05-12T10:00:00", "person": "P1", "fields": {"hours": 1}}
    ingest_text(world.ctx.ledger, json.dumps(event), "jsonl", "import", "clerk")
    publish(engine, text, date(2026, 5, 20), "admin", clock())  # the live rules no longer know 绿色积分
    page = world.client("villager").get("/passbook/H1").get_data(as_text=True)
    assert "绿色积分" in page
    assert world.client("villager").get("/passbook/H1?type=green").status_code == 200
    engine.dispose()


def test_a_reversal_on_appeal_says_where_it_came_from_and_who_decided(tmp_path: Path) -> None:
    from sqlalchemy import select

    from store.models import Entry

    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    world = build_world(engine, Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)), tmp_path / "uploads")
    with engine.connect() as c:
        award = c.execute(select(Entry.id).where(Entry.rule_id == "MB-V1").order_by(Entry.id)).scalars().first()
    world.ctx.ledger.reverse(award, "secretary1", "申诉成立", source="appeal")
    zh = world.client("admin").get("/passbook/H1?type=moral").get_data(as_text=True)
    en = world.client("admin", lang="en").get("/passbook/H1?type=moral").get_data(as_text=True)
    assert "申诉处理" in zh and "Appeal decision" in en and ">appeal<" not in en
    with engine.connect() as c:
        assert c.execute(select(Entry.approver).where(Entry.reverses_id == award)).scalar_one() == "secretary1"  # who decided it
    engine.dispose()


def test_the_desk_names_a_point_type_it_does_not_know_instead_of_showing_another(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    world = build_world(engine, Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)), tmp_path / "uploads")
    c = world.client("secretary")
    page = c.get("/desk?type=nope").get_data(as_text=True)
    assert "请从列表中选择。" in page
    export = c.get("/desk/export.csv?type=nope")
    assert export.status_code == 400 and "请从列表中选择。" in export.get_data(as_text=True)
    assert c.get("/desk/export.csv?type=party_work").status_code == 200
    engine.dispose()


def test_a_claims_history_shows_the_amount_a_reviewer_changed(tmp_path: Path) -> None:
    from services import claims as wf

    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    world = build_world(engine, Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)), tmp_path / "uploads")
    claim = wf.submit(world.ctx.ledger, world.actor("grid_worker"), "MB-06", person="P2", points="3").claim
    assert claim is not None
    wf.approve(world.ctx.ledger, world.actor("committee"), claim.id, amount="4")
    page = world.client("committee").get(f"/claims/{claim.id}").get_data(as_text=True)
    assert "分值由 3 改为 4" in page
    assert "Amount changed from 3 to 4" in world.client("committee", lang="en").get(f"/claims/{claim.id}").get_data(as_text=True)
    engine.dispose()


def test_the_leaderboard_heads_its_scores_with_the_types_unit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    world = build_world(engine, Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)), tmp_path / "uploads")
    hours = world.client().get("/leaderboard?type=volunteer_hours&kind=year&period=2026").get_data(as_text=True)
    assert "得分(小时)" in hours
    assert "Score (hours)" in world.client(lang="en").get("/leaderboard?type=volunteer_hours&kind=year&period=2026").get_data(as_text=True)
    assert "得分(分)" in world.client().get("/leaderboard?type=moral&kind=year&period=2026").get_data(as_text=True)
    engine.dispose()


def test_only_a_party_members_passbook_shows_the_party_work_tally(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    world = build_world(engine, Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)), tmp_path / "uploads")
    admin, english = world.client("admin"), world.client("admin", lang="en")
    villager = admin.get("/passbook/P1").get_data(as_text=True)  # 张三, a villager who is no Party member
    assert 'id="pt-volunteer_hours"' in villager and 'id="pt-party_work"' not in villager
    assert 'id="pt-party_work"' not in english.get("/passbook/P1").get_data(as_text=True)
    assert admin.get("/passbook/P1?type=party_work").status_code == 404  # not shown, not reachable either
    member = admin.get("/passbook/M1").get_data(as_text=True)  # 赵六, a Party member of the branch
    assert 'id="pt-party_work"' in member and "零基积分" in member
    assert "Party work points" in english.get("/passbook/M1").get_data(as_text=True)
    engine.dispose()
