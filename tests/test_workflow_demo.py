"""The demo seeding leaves claims in every state, and running it again changes nothing."""

from __future__ import annotations

from pathlib import Path

from services import claims
from services.demo_workflow import seed_workflow
from store.ledger import Ledger
from tests.builders import County
from tests.test_workflow_claims import snapshot


def test_seed_workflow_puts_claims_in_every_state(ledger: Ledger, county: County, clock, tmp_path: Path) -> None:
    county.household("H5", "G1", tier="orange")
    county.household("H6", "G2", tier="red")
    county.person("P5", "H5")
    county.person("P6", "H6")
    config = claims.WorkflowConfig(upload_dir=tmp_path / "up")
    counts = seed_workflow(ledger.engine, ledger, clock, config)
    assert set(counts) == {"submitted", "approved", "rejected", "on_notice", "objected", "posted", "withdrawn",
                           "appealed", "reversed"}, counts
    board = claims.notice_board(ledger, county.ids["V1"])
    assert {i.status for i in board} == {"on_notice", "objected"}
    before = snapshot(ledger.engine)
    assert seed_workflow(ledger.engine, ledger, clock, config) == counts
    assert snapshot(ledger.engine) == before
