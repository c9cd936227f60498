"""``jifen balance CODE`` lists the point types the holder can hold: the Party members' tally (零基积分) only to a Party member."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlmodel import SQLModel

import store.all_models  # noqa: F401  (every table)
from services.cli import main
from store.db import make_engine
from web.testing import build_directory

ROOT = Path(__file__).resolve().parent.parent
EVENTS = [  # P1 is a villager, no Party member; M1 is a Party member linked to P1's red household H1
    {"id": "b1", "type": "volunteer_service", "occurred_at": "2026-03-01T09:30:00+08:00", "person": "P1", "fields": {"hours": 2}},
    {"id": "b2", "type": "household_visit", "occurred_at": "2026-03-02T09:30:00+08:00", "person": "M1", "household": "H1"},
]


def run(db: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--db", db, *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def db(tmp_path: Path) -> str:
    """The test directory, the shipped rules from 2026-01-01 and a volunteer's hours and a member's visit."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    build_directory(engine)
    engine.dispose()
    run(url, "rules", "publish", str(ROOT / "rules.yaml"), "--effective", "2026-01-01")
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in EVENTS), encoding="utf-8")
    run(url, "ingest", str(path))
    return url


def test_a_villager_who_is_no_party_member_sees_no_party_work_line(db: str) -> None:
    zh = run(db, "balance", "P1").output
    assert "志愿服务时长" in zh and "零基积分" not in zh, zh
    en = run(db, "--lang", "en", "balance", "P1").output
    assert "Volunteer hours" in en and "Party work points" not in en, en


def test_a_party_member_sees_the_party_work_line(db: str) -> None:
    zh = run(db, "balance", "M1").output
    assert "零基积分:余额 2 分,2026 得分 2" in zh, zh  # a visit to a red household: 1 × 2
    en = run(db, "--lang", "en", "balance", "M1").output
    assert "Party work points: balance 2 pts, 2026 score 2" in en, en
