"""The passbook's bar measures the way to the grade the line below it names."""

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
