"""Claims in every state for the demo county, so the site shows a living notice board.

``seed_workflow(engine, ledger, clock)`` picks one village of an existing county (the first with a
Party branch and enough households) and, through the real services, leaves claims submitted,
approved (awaiting notice), rejected, on notice, objected, posted, withdrawn, appealed and
reversed, plus some household-linking work and a democratic appraisal. Older claims are made
with a clock set back 20 days, so their notice has ended and the scheduler's job posts them.
Running it again changes nothing.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from services import appraisal, claims, jobs, linkage
from services.actors import Actor
from services.errors import ServiceError
from store.ledger import Ledger
from store.models import Branch, Claim, Household, HouseholdGrid, Linkage, Membership, PartyMember

log = logging.getLogger("jifen.demo")
PHOTO = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PREFIX = "demo-wf"


def _village(engine: Engine, today: date) -> tuple[int, int, list[dict[str, Any]]] | None:
    """(village id, branch id, households with one current member each) of the first usable village."""
    with engine.connect() as conn:
        for village_id, branch_id in conn.execute(select(Branch.village_id, Branch.id).order_by(Branch.id)).all():  # type: ignore[call-overload]
            rows = conn.execute(
                select(Household.id, Household.code, Membership.person_id, HouseholdGrid.grid_id)
                .join(Membership, Membership.household_id == Household.id)
                .join(HouseholdGrid, HouseholdGrid.household_id == Household.id)
                .where(Household.village_id == village_id, Membership.valid_to.is_(None), HouseholdGrid.valid_to.is_(None))  # type: ignore[union-attr]
                .order_by(Household.id, Membership.id)).all()
            seen: dict[int, dict[str, Any]] = {}
            for hid, code, pid, grid in rows:
                seen.setdefault(hid, {"household_id": hid, "household": code, "person_id": pid, "grid_id": grid})
            if len(seen) >= 6:
                return village_id, branch_id, list(seen.values())
    return None


def _person_code(engine: Engine, pid: int) -> str:
    from store.models import Person

    with engine.connect() as conn:
        return str(conn.execute(select(Person.code).where(Person.id == pid)).scalar_one())  # type: ignore[arg-type]


def seed_workflow(engine: Engine, ledger: Ledger, clock: Callable[[], datetime],
                  config: claims.WorkflowConfig | None = None) -> dict[str, int]:
    """Put claims in every state (and some linking work) into an existing county; counts by state."""
    config = config or claims.WorkflowConfig.from_env()
    with engine.connect() as conn:
        if conn.execute(select(Claim.id).where(Claim.event_key.like(f"{PREFIX}:%"))).first():  # type: ignore[attr-defined]
            return _counts(engine)
    if ledger.versions().latest() is None:
        raise RuntimeError("publish the rules before seeding claims")
    now = clock()
    found = _village(engine, now.date())
    if found is None:
        raise RuntimeError("no village with a Party branch and at least 6 households")
    village_id, branch_id, homes = found
    homes = [{**h, "person": _person_code(engine, h["person_id"])} for h in homes[:10]]
    past = Ledger(engine, lambda: clock() - timedelta(days=20))

    def home(i: int) -> dict[str, Any]:
        return homes[i % len(homes)]

    sec = Actor(f"demo-secretary-{village_id}", "secretary", village_id=village_id, branch_id=branch_id)
    com = Actor(f"demo-committee-{village_id}", "committee", village_id=village_id, branch_id=branch_id)

    def grid(i: int) -> Actor:
        return Actor(f"demo-grid-{home(i)['grid_id']}", "grid_worker", village_id=village_id, grid_id=home(i)["grid_id"])

    def villager(i: int) -> Actor:
        h = home(i)
        return Actor(f"demo-villager-{h['household']}", "villager", person_id=h["person_id"], household_id=h["household_id"], village_id=village_id)

    def submit(led: Ledger, n: int, actor: Actor, i: int, rule: str, text: str, **kw: Any) -> int:
        res = claims.submit(led, actor, rule, person=home(i)["person"], description=text, key=f"{PREFIX}:{village_id}:{n}",
                            occurred_at=led.clock() - timedelta(days=1), config=config, **kw)
        assert res.claim is not None
        return res.claim.id

    def step(what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ServiceError as exc:  # a county without those rules or roles: seed what can be seeded
            log.warning("demo workflow: %s skipped: %s", what, exc.message("en"))
            return None

    photo = [claims.Upload("现场照片.png", PHOTO)]
    # submitted
    step("submitted", lambda: submit(ledger, 1, villager(0), 0, "MB-08", "女儿婚事新办,不收彩礼", evidence=photo))
    # approved, waiting for the notice board
    step("approved", lambda: claims.approve(ledger, com, submit(ledger, 2, grid(1), 1, "MB-09", "庭院整洁、种花种菜"), start_notice=False, config=config))
    # rejected
    step("rejected", lambda: claims.reject(ledger, sec, submit(ledger, 3, villager(2), 2, "MB-10", "儿子考上大学"), "录取通知书尚未提交,请补交后再申报"))
    # on notice (a range rule, amount set by the reviewer)
    step("on_notice", lambda: claims.approve(ledger, com, submit(ledger, 4, grid(3), 3, "MB-06", "参与村道清扫", points="3", evidence=photo), amount="4", config=config))

    # objected
    def objected() -> None:
        cid = submit(ledger, 5, grid(4), 4, "MB-09", "美丽庭院示范户")
        claims.approve(ledger, com, cid, config=config)
        claims.object_to(ledger, villager(5), cid, "他家院子后面还堆着建筑垃圾")
    step("objected", objected)

    # older claims: their notice ended; the scheduler job posts what had no objection
    def older() -> dict[str, int | None]:
        ids: dict[str, int | None] = {}
        ids["posted"] = submit(past, 6, grid(5), 5, "MB-08", "丧事简办")
        ids["withdrawn"] = submit(past, 7, grid(0), 0, "MB-20", "参与聚众赌博")
        ids["appealed"] = submit(past, 8, grid(1), 1, "MB-22", "在承包地上违建")
        ids["reversed"] = submit(past, 9, sec, 2, "MB-29", "向村里报送虚假信息")
        for cid in ids.values():
            claims.approve(past, com, cid, config=config)  # type: ignore[arg-type]
        oid = claims.object_to(past, villager(3), ids["withdrawn"], "当天他在外地务工,有车票为证")  # type: ignore[arg-type]
        claims.resolve_objection(past, sec, oid, True, "核实当事人不在场,撤销")
        jobs.post_due_claims(ledger, config=config)
        claims.appeal(ledger, villager(1), ids["appealed"], "违建已于上月自行拆除")  # type: ignore[arg-type]
        aid = claims.appeal(ledger, villager(2), ids["reversed"], "信息是村民小组长报送的,不是我")  # type: ignore[arg-type]
        claims.resolve_appeal(ledger, com, aid, True, "经核实非本人所报,予以冲正")
        return ids
    step("older claims", older)

    # household-linking work and a democratic appraisal for one member
    def linking() -> None:
        with engine.connect() as conn:
            row = conn.execute(select(Linkage.member_id, Linkage.household_id)
                               .join(PartyMember, PartyMember.person_id == Linkage.member_id)
                               .where(PartyMember.branch_id == branch_id, Linkage.valid_to.is_(None))  # type: ignore[union-attr]
                               .order_by(Linkage.id)).first()
        if row is None:
            return
        member, household = row
        member_actor = Actor(f"demo-member-{member}", "party_member", person_id=member, village_id=village_id, branch_id=branch_id)
        linkage.record_visit(past, member_actor, household, note="了解家中老人身体情况", key=f"{PREFIX}:{village_id}:visit")
        linkage.raise_problem(past, member_actor, household, "门前排水沟堵塞", key=f"{PREFIX}:{village_id}:problem")
        for n, score in enumerate(("92", "88", "75", "96", "81")):
            step("appraisal score", lambda n=n, score=score: appraisal.score_member(
                ledger, Actor(f"demo-rater-{village_id}-{n}", "committee", village_id=village_id), member, str(now.year), score))
        step("appraisal", lambda: appraisal.post_appraisal(ledger, sec, member, str(now.year)))
    step("linking", linking)
    return _counts(engine)


def _counts(engine: Engine) -> dict[str, int]:
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for status in conn.execute(select(Claim.status).where(Claim.event_key.like(f"{PREFIX}:%"))).scalars():  # type: ignore[attr-defined]
            out[status] = out.get(status, 0) + 1
    return out
