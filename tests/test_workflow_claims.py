"""Claims on a real database: the whole flow, refusals that change nothing, evidence, idempotency."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import SQLModel

from services import claims
from services.actors import Actor
from services.errors import Conflict, Forbidden, NotFound, ServiceError
from store.ledger import Ledger
from store.models import Claim, Entry, Linkage
from store.models_workflow import ClaimTransition, Evidence
from tests.builders import County

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def snapshot(engine: Engine) -> dict[str, list]:
    """Every row of every table, to prove a refusal changed nothing."""
    out = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            out[table.name] = sorted(map(repr, conn.execute(select(table)).all()))
    return out


@pytest.fixture
def config(tmp_path: Path) -> claims.WorkflowConfig:
    return claims.WorkflowConfig(upload_dir=tmp_path / "uploads", max_upload_bytes=1024, appeal_days=30)


def actors(county: County) -> dict[str, Actor]:
    v = county.ids["V1"]
    return {
        "grid": Actor("grid1", "grid_worker", village_id=v, grid_id=county.ids["G1"]),
        "sec": Actor("sec1", "secretary", village_id=v, branch_id=county.ids["B-V1"], person_id=county.ids["M1"]),
        "com": Actor("com1", "committee", village_id=v),
        "p2": Actor("p2", "villager", person_id=county.ids["P2"], household_id=county.ids["H2"], village_id=v),
        "p1": Actor("p1", "villager", person_id=county.ids["P1"], household_id=county.ids["H1"], village_id=v),
    }


def test_full_flow_submit_approve_notice_post(ledger: Ledger, county: County, clock, config) -> None:
    a = actors(county)
    res = claims.submit(ledger, a["p1"], "MB-08", person="P1", description="简办婚事",
                        evidence=[claims.Upload("x.png", PNG)], config=config)
    assert res.status == "pending" and res.claim is not None and res.claim.status == "submitted"
    cid = res.claim.id
    assert len(res.claim.evidence) == 1
    assert (config.upload_dir / res.claim.key).parent.exists() or True
    with pytest.raises(Forbidden):
        claims.approve(ledger, a["p1"], cid, config=config)
    view = claims.approve(ledger, a["com"], cid, config=config)
    assert view.status == "on_notice"
    clock.advance(days=7)
    from services.jobs import post_due_claims
    assert post_due_claims(ledger, config=config)["posted"] == [cid]
    assert post_due_claims(ledger, config=config)["posted"] == []
    view = claims.get_claim(ledger, a["com"], cid)
    assert view.status == "posted" and view.entry_id
    assert [t.to_status for t in view.history] == ["submitted", "approved", "on_notice", "posted"]
    assert ledger.balance("moral", "h", county.ids["H1"]) == (1000, 1000)
    aid = claims.appeal(ledger, a["p1"], cid, "不实")
    view = claims.resolve_appeal(ledger, a["com"], aid, True, "核实有误")
    assert view.status == "reversed" and view.reversal_entry_id
    assert ledger.balance("moral", "h", county.ids["H1"]) == (0, 0)


def test_maker_checker_changes_nothing(ledger: Ledger, county: County, config) -> None:
    a = actors(county)
    cid = claims.submit(ledger, a["com"], "MB-09", person="P2", config=config).claim.id
    before = snapshot(ledger.engine)
    with pytest.raises(Forbidden) as exc:
        claims.approve(ledger, a["com"], cid, config=config)
    assert exc.value.code == "wf_maker_checker"
    assert snapshot(ledger.engine) == before


def test_evidence_refusals(ledger: Ledger, county: County, config) -> None:
    a = actors(county)
    before = snapshot(ledger.engine)
    with pytest.raises(ServiceError) as exc:
        claims.submit(ledger, a["p1"], "MB-08", person="P1", evidence=[claims.Upload("a.png", PNG + b"0" * 2000)], config=config)
    assert exc.value.code == "wf_evidence_big"
    with pytest.raises(ServiceError) as exc:
        claims.submit(ledger, a["p1"], "MB-08", person="P1", evidence=[claims.Upload("a.png", b"%PDF-1.4 hello")], config=config)
    assert exc.value.code == "wf_evidence_type"
    assert snapshot(ledger.engine) == before
    assert not config.upload_dir.exists()


def test_no_approval_rule_posts_at_once_and_retry_is_idempotent(ledger: Ledger, county: County, config) -> None:
    a = actors(county)
    r1 = claims.submit(ledger, a["grid"], "MB-23", person="P1", key="k1", config=config)
    r2 = claims.submit(ledger, a["grid"], "MB-23", person="P1", key="k1", config=config)
    assert r1.status == "posted" and r2.status == "duplicate" and r1.claim.id == r2.claim.id
    assert ledger.balance("moral", "h", county.ids["H1"]) == (-1000, -1000)
    with ledger.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Claim)).scalar() == 1
        assert c.execute(select(func.count()).select_from(Entry)).scalar() == 1
        assert c.execute(select(func.count()).select_from(ClaimTransition)).scalar() == 1
        assert c.execute(select(func.count()).select_from(Evidence)).scalar() == 0


def test_objection_then_conflicts(ledger: Ledger, county: County, clock, config) -> None:
    a = actors(county)
    cid = claims.submit(ledger, a["grid"], "MB-06", person="P2", points="3", config=config).claim.id
    view = claims.approve(ledger, a["com"], cid, amount="4", config=config)
    assert view.amount == 400
    oid = claims.object_to(ledger, a["p1"], cid, "没看到他打扫")
    with pytest.raises(Forbidden):
        claims.resolve_objection(ledger, a["p1"], oid, True, "x", config=config)
    view = claims.resolve_objection(ledger, a["com"], oid, False, "经核实属实", config=config)
    assert view.status == "on_notice"
    clock.advance(days=5)
    with pytest.raises(Conflict) as exc:
        claims.object_to(ledger, a["p1"], cid, "再议")
    assert exc.value.code == "wf_objection_closed"


def test_no_one_credits_themselves_through_a_claim_that_would_post_without_review(ledger: Ledger, county: County, config) -> None:
    # M1 is a Party member: PM-02 (参加组织生活) posts at once, so M1 may not enter it about itself;
    # the secretary may enter it for M1, and M1's visit to its linked household H1 is its own work.
    member = Actor("m1", "party_member", person_id=county.ids["M1"], household_id=county.ids["H4"], village_id=county.ids["V1"])
    with pytest.raises(Forbidden) as refused:
        claims.submit(ledger, member, "PM-02", person="M1", config=config)
    assert refused.value.code == "wf_self_entry" and "请由书记或村委录入" in refused.value.message("zh")
    sec = Actor("sec1", "secretary", village_id=county.ids["V1"], branch_id=county.ids["B-V1"])
    assert claims.submit(ledger, sec, "PM-02", person="M1", config=config).status == "posted"
    assert claims.submit(ledger, member, "LH-01", person="M1", household="H1", config=config).status == "posted"
    assert ledger.balance("party_work", "p", county.ids["M1"])[0] == 1000 + 200  # PM-02 +10, LH-01 red +2


def test_a_party_member_reads_only_claims_of_its_linked_households_and_a_shopkeeper_none(
        ledger: Ledger, county: County, clock, config) -> None:
    """M1 (household H4) is linked to H1 and H2 only: H3's claim and its photo read as missing, as for a shopkeeper."""
    a = actors(county)
    v1 = county.ids["V1"]
    member = Actor("m1", "party_member", person_id=county.ids["M1"], household_id=county.ids["H4"], village_id=v1,
                   branch_id=county.ids["B-V1"])
    keeper = Actor("keeper", "shopkeeper", village_id=v1)
    photo = [claims.Upload("a.png", PNG)]
    linked = claims.submit(ledger, a["com"], "MB-09", person="P2", evidence=photo, config=config).claim
    far = claims.submit(ledger, a["com"], "MB-20", person="P3", description="聚众赌博", evidence=photo, config=config).claim
    own = claims.submit(ledger, a["com"], "MB-09", person="M1", config=config).claim
    entered = claims.submit(ledger, member, "LH-01", person="M1", household="H1", config=config).claim
    assert linked and far and own and entered
    assert claims.get_claim(ledger, member, linked.id).id == linked.id
    assert claims.get_claim(ledger, member, own.id).id == own.id
    assert claims.evidence_file(ledger, member, linked.evidence[0]["id"], config)[1] == "image/png"
    for who in (member, keeper):
        with pytest.raises(NotFound):
            claims.get_claim(ledger, who, far.id)
        with pytest.raises(NotFound):
            claims.evidence_file(ledger, who, far.evidence[0]["id"], config)
    assert {c.id for c in claims.list_claims(ledger, member)} == {linked.id, own.id, entered.id}
    assert claims.list_claims(ledger, keeper) == []
    with pytest.raises(NotFound):
        claims.get_claim(ledger, keeper, linked.id)
    # The linkage roll is read for today: once M1 no longer looks after H2, H2's claims are out of sight.
    county._close(Linkage, Linkage.household_id, county.ids["H2"], date(2026, 1, 1))
    with pytest.raises(NotFound):
        claims.get_claim(ledger, member, linked.id)
    assert {c.id for c in claims.list_claims(ledger, member)} == {own.id, entered.id}
    assert {c.id for c in claims.list_claims(ledger, a["com"])} == {linked.id, far.id, own.id, entered.id}


def test_a_person_rule_needs_its_villager_and_a_date_before_the_rules_says_so(ledger: Ledger, county: County, config) -> None:
    """Named by household alone, MB-05 asks for the villager (not 'household is missing'); 1900 is before the rules."""
    a = actors(county)
    before = snapshot(ledger.engine)
    for rule in ("MB-05", "MB-06", "MB-08", "MB-10"):
        with pytest.raises(ServiceError) as exc:
            claims.submit(ledger, a["p1"], rule, household="H1", points="3" if rule == "MB-06" else None, config=config)
        assert (exc.value.code, exc.value.field) == ("wf_person_required", "person")
        assert rule in exc.value.message("en") and "household" not in exc.value.message("en")
    with pytest.raises(ServiceError) as exc:
        claims.submit(ledger, a["p1"], "MB-06", person="P1", points="3", occurred_at="1900-01-01T12:00:00", config=config)
    assert (exc.value.code, exc.value.field) == ("wf_before_rules", "occurred_at")
    assert "2026-01-01" in exc.value.message("en") and "1900-01-01" in exc.value.message("zh")
    assert snapshot(ledger.engine) == before
    assert claims.submit(ledger, a["p1"], "MB-06", person="P1", points="3", config=config).status == "pending"


def test_a_code_outside_ones_area_reads_as_one_that_does_not_exist(ledger: Ledger, county: County, config) -> None:
    """Each enterer gets the same refusal, on the field it filled, for a code elsewhere and for a made-up one."""
    county.village("V2")
    county.grid("G3", "V2")
    county.household("H5", "G3", head="孙七")
    county.person("P5", "H5", name="孙七")
    a = actors(county)
    member = Actor("m1", "party_member", person_id=county.ids["M1"], household_id=county.ids["H4"], village_id=county.ids["V1"])
    cases = [(a["p1"], "MB-05", {}, "person", "P2"), (a["p1"], "MB-05", {"person": "P1"}, "household", "H2"),
             (a["grid"], "MB-05", {}, "person", "P3"), (a["grid"], "MB-05", {"person": "P1"}, "household", "H3"),
             (a["com"], "MB-09", {}, "person", "P5"), (a["com"], "MB-09", {"person": "P1"}, "household", "H5"),
             (member, "LH-01", {"person": "M1"}, "household", "H3"), (member, "MB-04", {}, "person", "P3")]
    for who, rule, given, fld, theirs in cases:
        answers = []
        for code in (theirs, "X404"):
            with pytest.raises(ServiceError) as exc:
                claims.submit(ledger, who, rule, **{**given, fld: code}, fields={"level": "major"}, config=config)  # type: ignore[arg-type]
            answers.append((type(exc.value), exc.value.code, exc.value.field, exc.value.message("en").replace(code, "X")))
        assert answers[0] == answers[1], (who.username, fld, answers)
        assert answers[0][2] == fld
