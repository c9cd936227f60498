"""Masked names: one shape everywhere, the first character and two asterisks, whatever the length.

The README promises 张** for deductions on the notice board and for scores of zero or
below on the leaderboards; one asterisk per hidden character would tell the name's length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import update

import store.all_models  # noqa: F401
from services import claims as wf
from services.ingest import ingest_text
from services.privacy import mask_id, mask_name, mask_phone
from store.db import make_engine
from store.models import Household, Person
from tests.conftest import Clock
from web.testing import World, build_world


@pytest.mark.parametrize(("name", "masked"), [
    ("张三丰", "张**"), ("吴一", "吴**"), ("欧阳小明", "欧**"), ("张", "张**"), ("", "**"), ("  ", "**"),
])
def test_mask_name_keeps_the_first_character_and_two_asterisks(name: str, masked: str) -> None:
    """Same length of mask for every name: the length of the name is not revealed."""
    assert mask_name(name) == masked


def test_mask_id_and_phone_are_unchanged() -> None:
    """ID numbers and phones keep their own shapes."""
    assert mask_id("330825196501011234") == "3308**********1234"
    assert mask_phone("13912345678") == "139****5678"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The small county, with names of two, three and four characters behind deductions."""
    tmp = tmp_path_factory.mktemp("privacy")
    engine = make_engine(f"sqlite:///{tmp / 'web.db'}")
    w = build_world(engine, Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)), tmp / "uploads", WTF_CSRF_ENABLED=False)
    ids = w.ids
    with engine.begin() as conn:
        # H2 (李四's household, already at -10 from MB-23) gets a four-character head: 欧阳小明户 on the board.
        conn.execute(update(Household).where(Household.id == ids["H2"]).values(head_name="欧阳小明"))  # type: ignore[arg-type]
        conn.execute(update(Person).where(Person.id == ids["P2"]).values(name="吴一"))  # type: ignore[arg-type]
    # H4 (赵六户, three characters with 户) goes below zero too.
    event = {"id": "x1", "type": "civility", "occurred_at": "2026-05-10T10:00:00", "person": "M1", "rule": "MB-23"}
    ingest_text(w.ctx.ledger, json.dumps(event, ensure_ascii=False), "jsonl", "import", "clerk")
    # A deduction on V1's notice board for 吴一 (two characters).
    claim = wf.submit(w.ctx.ledger, w.actor("grid_worker"), "MB-20", person="P2", description="聚众赌博")
    wf.approve(w.ctx.ledger, w.actor("secretary"), claim.claim.id)  # type: ignore[union-attr]
    yield w
    engine.dispose()


def test_notice_board_masks_a_deduction_as_first_character_and_two_asterisks(world: World) -> None:
    """The board shows 吴** for 吴一's deduction, not 吴* (which tells a two-character name) nor the name."""
    html = world.client().get(f"/notice/{world.ids['V1']}").get_data(as_text=True)
    assert "聚众赌博" in html
    assert re.search(r"<td[^>]*>吴\*\*</td>", html)  # the cell may carry its column's name for phones
    assert "吴一" not in html


def test_leaderboard_masks_every_name_to_the_same_shape(world: World) -> None:
    """Scores below zero show 欧** and 赵** (before: 欧****, one asterisk per hidden character), whatever the length."""
    r = world.client().get(f"/leaderboard?type=moral&scope=village&area={world.ids['V1']}&kind=year&period=2026")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "<td>欧**</td>" in html
    assert "<td>赵**</td>" in html
    for leak in ("欧阳小明", "赵六户"):
        assert leak not in html


def test_a_masked_leaderboard_row_carries_no_code_on_any_board(world: World) -> None:
    """H2 and H4 are below zero: their rows (a period's board or a custom range) keep no code to match elsewhere."""
    from datetime import date

    from services import queries

    v1 = world.ids["V1"]
    with world.ctx.engine.connect() as conn:
        boards = (queries.leaderboard(conn, "moral", "2026", "village", v1),
                  queries.leaderboard_range(conn, "moral", date(2026, 1, 1), date(2026, 12, 31), "village", v1))
    for board in boards:
        masked = [r for r in board.rows if r["score"] <= 0]
        assert sorted(r["name"] for r in masked) == ["欧**", "赵**"]
        assert [r["code"] for r in masked] == ["", ""]
        assert all(r["code"] for r in board.rows if r["score"] > 0)
    for query in ("kind=year&period=2026", "kind=custom&start=2026-01-01&end=2026-12-31"):
        html = world.client("committee").get(f"/leaderboard?type=moral&scope=village&area={v1}&{query}").get_data(as_text=True)
        assert "<td>欧**</td>" in html and "<td>赵**</td>" in html
        assert not re.search(r"\bH[24]\b", html)
