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


def county(tmp_path: Path, rules: Path) -> str:
    """The test directory, ``rules`` from 2026-01-01 and a volunteer's hours and a member's visit."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    build_directory(engine)
    engine.dispose()
    run(url, "rules", "publish", str(rules), "--effective", "2026-01-01")
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in EVENTS), encoding="utf-8")
    run(url, "ingest", str(path))
    return url


@pytest.fixture
def db(tmp_path: Path) -> str:
    """The shipped rules."""
    return county(tmp_path, ROOT / "rules.yaml")


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


def ingest(db: str, tmp_path: Path, *events: dict[str, object]) -> Result:
    """``jifen ingest`` of these records (exit 1 when one is refused)."""
    path = tmp_path / "more.jsonl"
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
    return CliRunner().invoke(main, ["--db", db, "ingest", str(path)])


def test_party_work_points_are_never_scored_for_a_villager_who_is_no_party_member(db: str, tmp_path: Path) -> None:
    """A 主题党日 sign-in typed against a villager is refused, saying why; nothing reaches a 零基积分 line."""
    said = ingest(db, tmp_path, {"id": "x1", "type": "party_day_signin", "occurred_at": "2026-03-05T09:30:00+08:00", "person": "P1"})
    assert said.exit_code == 1
    assert "#1 (x1) [person]: 2026-03-05 这位村民不是党员,零基积分只记给党员" in said.output, said.output
    assert "零基积分" not in run(db, "balance", "P1").output
    en = CliRunner().invoke(main, ["--db", db, "--lang", "en", "ingest", str(tmp_path / "more.jsonl")]).output
    assert "this villager was not a Party member, and Party work points go to Party members only" in en, en
    # The same sign-in by the Party member scores.
    ok = ingest(db, tmp_path, {"id": "x2", "type": "party_day_signin", "occurred_at": "2026-03-05T09:30:00+08:00", "person": "M1"})
    assert ok.exit_code == 0 and "记分 1 条" in ok.output, ok.output


def test_a_villagers_volunteer_hours_score_everything_but_the_party_members_bonus(tmp_path: Path) -> None:
    """Volunteering scores moral credit and hours for anyone; its Party-work rule only for a member, condition or none."""
    shipped = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    assert shipped.count("    when: party_member\n") == 1  # PM-13 says it itself: without it, members_only must
    rules = tmp_path / "rules.yaml"
    rules.write_text(shipped.replace("    when: party_member\n", ""), encoding="utf-8")
    db = county(tmp_path, rules)
    history = run(db, "history", "P1").output
    assert "volunteer_hours" in history and "party_work" not in history, history
    assert "\tmoral\t" in run(db, "history", "H1").output
