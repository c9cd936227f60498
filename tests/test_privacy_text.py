"""Numbers someone typed into a public description are masked like the directory's own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

import store.all_models  # noqa: F401
from services import claims as wf
from services.privacy import mask_numbers
from store.db import make_engine
from tests.conftest import Clock
from web.testing import build_world


@pytest.mark.parametrize(("typed", "shown"), [
    ("联系电话 13912345678", "联系电话 139****5678"),
    ("身份证号33082519650101123X,已核实", "身份证号3308**********123X,已核实"),
    ("电话:13912345678。", "电话:139****5678。"),
    # amounts, dates, household codes and longer digit runs are not people's numbers
    ("2026年11月26日 扣 10 分,户号 H000157", "2026年11月26日 扣 10 分,户号 H000157"),
    ("流水号 139123456789012", "流水号 139123456789012"),
    ("", ""),
])
def test_phone_and_id_numbers_in_free_text_are_masked_and_nothing_else(typed: str, shown: str) -> None:
    assert mask_numbers(typed) == shown


def test_the_public_notice_board_masks_a_phone_number_typed_into_a_description(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    world = build_world(engine, Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC)), tmp_path / "uploads", WTF_CSRF_ENABLED=False)
    claim = wf.submit(world.ctx.ledger, world.actor("grid_worker"), "MB-20", person="P2",
                      description="聚众赌博,举报人电话 13912345678")
    wf.approve(world.ctx.ledger, world.actor("secretary"), claim.claim.id)  # type: ignore[union-attr]
    page = world.client().get(f"/notice/{world.ids['V1']}").get_data(as_text=True)
    assert "举报人电话 139****5678" in page
    assert "13912345678" not in page
    engine.dispose()
