"""The rules editor's services: a broken file never goes live; a dry run shows what would change."""

from __future__ import annotations

import json
from datetime import date

import pytest

from services import rules_admin
from services.actors import Actor
from services.context import AppContext
from services.errors import Forbidden, ServiceError
from services.ingest import ingest_text
from store import rules_repo
from store.ledger import Ledger
from tests.builders import County
from tests.conftest import Clock

ADMIN = Actor("admin", "admin")


@pytest.fixture
def ctx(ledger: Ledger, clock: Clock) -> AppContext:
    c = AppContext(str(ledger.engine.url), clock)
    c.__dict__["engine"] = ledger.engine  # share the test's engine and ledger
    c.__dict__["ledger"] = ledger
    return c


def visits(ledger: Ledger) -> None:
    records = [
        {"id": f"v{i}", "type": "household_visit", "occurred_at": f"2026-05-{i + 1:02d}T10:00:00", "person": "M1", "household": h}
        for i, h in enumerate(["H1", "H2", "H1", "H2"])
    ]
    ingest_text(ledger, "\n".join(json.dumps(r) for r in records), "jsonl", "import", "clerk")


def test_validate_names_the_line_of_each_problem(rules_text: str) -> None:
    broken = rules_text.replace("when: rating >= 4", "when: ratting >= 4")
    problems = rules_admin.validate(broken, "en")
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "ratting" in text)
    assert [p["line"] for p in problems] == [line]
    assert "ratting" in problems[0]["message"] and "rating" in problems[0]["message"]


def test_a_broken_file_is_refused_and_the_live_rules_stay(ctx: AppContext, rules_text: str) -> None:
    before = rules_repo.history(ctx.engine)
    with pytest.raises(ServiceError) as err:
        rules_admin.publish(ctx, rules_text.replace("step: 0.5", "step: zero", 1), date(2026, 7, 1), ADMIN)
    assert "未发布" in err.value.message("zh")
    assert rules_repo.history(ctx.engine) == before
    assert rules_admin.live_text(ctx) == rules_text


def test_only_an_administrator_publishes(ctx: AppContext, rules_text: str) -> None:
    with pytest.raises(Forbidden):
        rules_admin.publish(ctx, rules_text, date(2026, 7, 1), Actor("sec", "secretary"))


def test_diff_shows_the_changed_line(rules_text: str) -> None:
    lines = rules_admin.diff(rules_text, rules_text.replace("points: {fixed: 1}\n    multiplier", "points: {fixed: 2}\n    multiplier", 1))
    assert "-    points: {fixed: 1}" in lines and "+    points: {fixed: 2}" in lines


def test_dry_run_shows_how_standings_would_change(ctx: AppContext, ledger: Ledger, county: County, rules_text: str) -> None:
    visits(ledger)
    doubled = rules_text.replace("points: {fixed: 1}\n    multiplier", "points: {fixed: 2}\n    multiplier", 1)
    result = rules_admin.dry_run(ctx, doubled, "2026-05")
    member = ("p", county.ids["M1"])
    change = next(c for c in result.changes if (c.holder_kind, c.holder_id) == member and c.point_type == "party_work")
    # H1 is red (×2) and H2 yellow: 2+1+2+1 = 6 points kept; doubling the base gives 12.
    assert (change.old, change.new) == (600, 1200)
    assert result.events == 4
    # Nothing was written: the kept balance is unchanged.
    assert ledger.balance("party_work", "p", county.ids["M1"]) == (600, 600)


def test_rollback_publishes_an_earlier_text_again(ctx: AppContext, rules_text: str) -> None:
    changed = rules_text.replace("title: 示范县积分制治理细则(2026 版)", "title: 示范县积分制治理细则(修订)")
    rules_admin.publish(ctx, changed, date(2026, 7, 1), ADMIN)
    first = rules_repo.history(ctx.engine)[-1]
    rules_admin.rollback(ctx, first.id, date(2026, 8, 1), ADMIN)
    newest = rules_repo.history(ctx.engine)[0]
    assert newest.version == first.version and newest.effective == date(2026, 8, 1)
