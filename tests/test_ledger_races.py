"""The ledger at the year end and under concurrent writers: regressions of a review of store/ledger.py.

What a villager or an auditor would check after each story: the balances are what
they should be, none went below zero, nothing was taken back twice, and every
kept balance, earned total and year tally equals what the entries sum to
(``services.queries.recompute_from_ledger``).

The races are steered, not timed: threads start together at a barrier, and where
one interleaving matters a hook holds one writer at the critical point until the
other has read what it reads (or, on PostgreSQL, waits on a lock: seen in
``pg_stat_activity``). Each test here failed on the code before the fix.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select, text

import store.all_models  # noqa: F401  (create_all sees every table)
import store.ledger as ledger_module
from services import claims, queries, shop
from services.actors import Actor
from services.context import AppContext
from services.errors import Conflict
from services.ingest import to_incoming
from services.jobs import post_due_claims
from store.db import is_postgres
from store.ledger import Incoming, Ledger, ReversalRefused
from store.models import Balance, Entry, Tally
from store.models_workflow import Appeal
from store.rules_repo import publish
from tests.builders import County
from tests.test_shop import award, make_ctx, new_item, villager

NEW_YEARS_EVE = datetime(2026, 12, 31, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
NEW_YEARS_DAY = datetime(2027, 1, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing: 2026 is over, its close has not run
JANUARY_5 = datetime(2027, 1, 5, 2, 0, tzinfo=UTC)
CARRY = "year_end: {policy: carry, percent: 20}"  # moral credit in the shipped rules.yaml
RULE_CHANGES = {
    "reset": (CARRY, "year_end: {policy: reset}"),
    "expiring": (CARRY, CARRY + "\n    validity_days: 30"),
}
# PostgreSQL only: the conftest's engine fixture with just its PostgreSQL database (pg_engine).
on_postgres_only = pytest.mark.parametrize("engine", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


@pytest.fixture
def ledger(request: pytest.FixtureRequest, engine: Engine, clock: Any, rules_text: str) -> Ledger:
    """The shipped rules from 2026-01-01; ``indirect`` with a key of RULE_CHANGES to change moral credit."""
    change = getattr(request, "param", None)
    if change:
        old, new = RULE_CHANGES[change]
        assert old in rules_text
        rules_text = rules_text.replace(old, new, 1)
    publish(engine, rules_text, date(2026, 1, 1), "admin", clock())
    return Ledger(engine, clock)


@pytest.fixture
def ctx(engine: Engine, ledger: Ledger, clock: Any) -> AppContext:
    return make_ctx(engine, ledger, clock)


# ---------------------------------------------------------------- what a user checks
def moral(ledger: Ledger, county: County, household: str) -> int:
    """A household's moral credit balance (hundredths)."""
    return ledger.balance("moral", "h", county.ids[household])[0]


def entries(engine: Engine, **where: Any) -> list[Any]:
    """Entries matching column == value, in the order written."""
    with engine.connect() as c:
        return list(c.execute(select(Entry).where(*(getattr(Entry, k) == v for k, v in where.items())).order_by(Entry.id)).all())  # type: ignore[arg-type]


def year_tally(engine: Engine, county: County, household: str, year: str) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.coalesce(func.sum(Tally.amount), 0)).where(
            Tally.point_type == "moral", Tally.period == year, Tally.holder_kind == "h",
            Tally.holder_id == county.ids[household])).scalar_one())


def explained(engine: Engine, entry_id: int) -> list[str]:
    """The steps of ``jifen explain ID`` in English."""
    with engine.connect() as c:
        out = queries.explain(c, entry_id, {}, "en")
    assert out is not None
    return list(out["steps"])


def assert_ledger_agrees(engine: Engine) -> None:
    """No balance below zero; kept balances, earned totals and year tallies equal the entries' sums."""
    rec = queries.recompute_from_ledger(engine)
    with engine.connect() as c:
        kept = {(r.point_type, r.holder_kind, r.holder_id): (int(r.amount), int(r.earned)) for r in c.execute(
            select(Balance.point_type, Balance.holder_kind, Balance.holder_id, Balance.amount, Balance.earned))}
        tallies = {(r.point_type, r.period, r.holder_kind, r.holder_id): int(r.amount) for r in c.execute(
            select(Tally.point_type, Tally.period, Tally.holder_kind, Tally.holder_id, Tally.amount)
            .where(func.length(Tally.period) == 4))}
        scored = c.execute(select(Entry.point_type, Entry.local_day, Entry.holder_kind, Entry.holder_id, Entry.amount)
                           .where((Entry.kind == "award") | ((Entry.kind == "reversal") & (Entry.rule_id != "")))).all()
    assert {k: a for k, (a, _) in kept.items() if a < 0} == {}, "a balance went below zero"
    for k in set(kept) | set(rec["balance"]):
        assert kept.get(k, (0, 0))[0] == rec["balance"].get(k, 0), f"kept balance of {k} differs from its entries"
        assert kept.get(k, (0, 0))[1] == rec["earned"].get(k, 0), f"kept earned of {k} differs from its entries"
    want: dict[tuple[str, str, str, int], int] = {}
    for pt, day, hk, hid, amount in scored:
        key = (pt, str(day)[:4], hk, hid)
        want[key] = want.get(key, 0) + int(amount)
    assert {k: v for k, v in tallies.items() if v} == {k: v for k, v in want.items() if v}, "year tallies differ from the rule entries"


# ---------------------------------------------------------------- steering threads
def together(**work: Callable[[], Any]) -> dict[str, Any]:
    """Run each callable in its own thread (named by its keyword), released at once by a barrier: what each returned or raised."""
    barrier = threading.Barrier(len(work))
    out: dict[str, Any] = {}

    def run(name: str, fn: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            out[name] = fn()
        except Exception as exc:  # reported to the test as the outcome
            out[name] = exc

    threads = [threading.Thread(target=run, args=(name, fn), name=name, daemon=True) for name, fn in work.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return out


def waiting_on_locks(engine: Engine) -> int:
    """Sessions of this PostgreSQL database (other than the asking one) waiting on a lock."""
    with engine.connect() as c:  # a new transaction each time: pg_stat_activity is a snapshot per transaction
        return int(c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'")).scalar_one())


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` every few milliseconds; False when ``timeout`` passed first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def award_ids(engine: Engine, county: County, household: str) -> list[int]:
    with engine.connect() as c:
        return list(c.execute(select(Entry.id).where(Entry.kind == "award", Entry.holder_id == county.ids[household])
                              .order_by(Entry.id)).scalars())


# ---------------------------------------------------------------- 1. spending before the close
def test_spending_the_whole_year_on_new_years_day_before_the_close(ctx: AppContext, county: County, ledger: Ledger,
                                                                    engine: Engine, clock: Any) -> None:
    """H1 spends all its 120 points at the shop on 1 January; the 2026 close runs after and must not cut them again."""
    clock.now = NEW_YEARS_EVE
    award(ledger, "P1", "MB-10", "MB-10", "MB-10", "MB-10")  # H1: 120
    award(ledger, "P2", "MB-10")  # H2: 30, spends nothing
    award(ledger, "P3", "MB-10")  # H3: 30, spends 20 of them
    tv = new_item(ctx, county, name="电视机", price=12000)
    noodles = new_item(ctx, county, name="挂面", price=2000)
    clock.now = NEW_YEARS_DAY
    assert shop.reserve(ctx, villager(county, "H1"), tv).balance == 0
    assert shop.reserve(ctx, villager(county, "H3"), noodles).balance == 1000

    out = ledger.close_period("moral", "2026")

    assert out["already"] is False
    assert moral(ledger, county, "H1") == 0  # nothing left to carry, and not below zero
    assert moral(ledger, county, "H2") == 600  # 20% of 30
    assert moral(ledger, county, "H3") == 200  # 20% of the 10 left of 2026
    closes = {e.holder_id: e.amount for e in entries(engine, kind="close")}
    assert closes == {county.ids["H2"]: -2400, county.ids["H3"]: -800}  # no closing entry cuts H1's spent points
    assert out["entries"] == 2
    assert_ledger_agrees(engine)


# ---------------------------------------------------------------- 2. reversing after the close
@pytest.mark.parametrize(("ledger", "kept", "policy"), [(None, 600, "carry 20%"), ("reset", 0, "reset")],
                         indirect=["ledger"], ids=["carry", "reset"])
def test_reversing_a_2026_award_after_the_2026_close(county: County, ledger: Ledger, engine: Engine, clock: Any,
                                                     kept: int, policy: str) -> None:
    """An appeal upheld in January: the balance loses what the close left of the award, the 2026 score all of it."""
    award(ledger, "P1", "MB-10")  # H1: 30 in May 2026
    (award_id,) = award_ids(engine, county, "H1")
    clock.now = JANUARY_5
    ledger.close_period("moral", "2026")
    assert moral(ledger, county, "H1") == kept

    rev_id = ledger.reverse(award_id, "secretary", "appeal upheld", source="appeal")

    assert ledger.balance("moral", "h", county.ids["H1"]) == (0, 0)  # balance and earned: nothing was ever spent
    assert year_tally(engine, county, "H1", "2026") == 0  # the 2026 score loses the full 30
    reversal, closed = entries(engine, reverses_id=award_id)
    assert (reversal.id, reversal.kind, reversal.amount, reversal.key) == (rev_id, "reversal", -3000, f"rev:{award_id}")
    assert (closed.kind, closed.amount, closed.key, closed.rule_id) == ("close", 3000 - kept, f"rev:{award_id}:closed", "")
    step, params = json.loads(closed.explanation)[0]
    assert step == "step_reversal_closed" and params["period"] == "2026" and params["entry"] == award_id
    assert explained(engine, closed.id) == [
        f"reversal of entry {award_id} (30): 2026 was closed since ({policy}), so the balance loses only {kept // 100}"]
    # Once only: a second reversal is refused and changes nothing.
    with pytest.raises(ReversalRefused) as exc:
        ledger.reverse(award_id, "secretary", "again")
    assert exc.value.reason == "already"
    assert ledger.balance("moral", "h", county.ids["H1"]) == (0, 0)
    assert_ledger_agrees(engine)


# ---------------------------------------------------------------- 3. concurrent writers on PostgreSQL
@on_postgres_only
def test_two_closes_of_one_period_at_once(county: County, ledger: Ledger, engine: Engine, clock: Any) -> None:
    """The scheduler and `jifen close` at the same moment: one closes, the other finds it closed."""
    award(ledger, "P1", "MB-10", "MB-10")  # H1: 60
    award(ledger, "P2", "MB-10")  # H2: 30
    clock.now = JANUARY_5
    first, second = Ledger(engine, clock), Ledger(engine, clock)
    # Hold the first to pass its "closed already?" check until the other has passed its own too, or waits on a lock.
    arrived: list[str] = []

    def checked(lg: Ledger) -> None:
        versions = lg.versions

        def hook(conn: Any = None) -> Any:
            arrived.append(threading.current_thread().name)
            if len(arrived) == 1:
                wait_until(lambda: len(arrived) > 1 or waiting_on_locks(engine) > 0)
            return versions(conn)

        lg.versions = hook  # type: ignore[method-assign]

    checked(first)
    checked(second)
    out = together(a=lambda: first.close_period("moral", "2026"), b=lambda: second.close_period("moral", "2026"))

    assert not [o for o in out.values() if isinstance(o, Exception)], out
    assert sorted(o["already"] for o in out.values()) == [False, True]
    assert out["a"]["entries"] == out["b"]["entries"] == 2
    assert moral(ledger, county, "H1") == 1200 and moral(ledger, county, "H2") == 600  # carried once: 20%
    assert len(entries(engine, kind="close")) == 2
    assert_ledger_agrees(engine)


@on_postgres_only
@pytest.mark.parametrize("ledger", ["expiring"], indirect=True)
def test_two_expiry_runs_at_once(county: County, ledger: Ledger, engine: Engine, clock: Any,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler and `jifen jobs run` expire at the same moment: each award expires once, no run fails."""
    award(ledger, "P1", "MB-10", "MB-09")  # H1: 45, dated May 2026, valid 30 days
    award(ledger, "P2", "MB-10")  # H2: 30
    # Hold the first run at its balances (its holders locked) until the other run waits on a lock.
    held = Ledger._held
    arrived: list[str] = []

    def hook(conn: Any, due: Any) -> Any:
        arrived.append(threading.current_thread().name)
        if len(arrived) == 1:
            wait_until(lambda: waiting_on_locks(engine) > 0)
        return held(conn, due)

    monkeypatch.setattr(Ledger, "_held", staticmethod(hook))
    one, two = Ledger(engine, clock), Ledger(engine, clock)
    out = together(a=lambda: one.expire(date(2026, 6, 30)), b=lambda: two.expire(date(2026, 6, 30)))

    assert not [o for o in out.values() if isinstance(o, Exception)], out
    assert sorted(out.values()) == [0, 3]  # one run expired the three awards, the other found nothing due
    expired = entries(engine, kind="expire")
    assert sorted(e.reverses_id for e in expired) == sorted(award_ids(engine, county, "H1") + award_ids(engine, county, "H2"))
    assert moral(ledger, county, "H1") == 0 and moral(ledger, county, "H2") == 0
    assert_ledger_agrees(engine)


@on_postgres_only
@pytest.mark.parametrize("ledger", ["expiring"], indirect=True)
def test_expiry_racing_a_reversal_of_the_same_award(county: County, ledger: Ledger, engine: Engine, clock: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An expiry run and an upheld appeal take back the same expiring award: it is taken back once, never below zero.

    Several rounds on one household, each with a fresh award: the two started together, then the reversal
    steered between the expiry's reading of what is due and its locking, then while the expiry holds the locks.
    """
    lock_holders = ledger_module.lock_holders
    steer: dict[str, Any] = {}

    def hooked_lock(conn: Any, holders: Any) -> None:
        mode = steer.get("mode")
        if threading.current_thread().name != "expire" or mode == "together" or steer.get("fired"):
            lock_holders(conn, holders)
            return
        steer["fired"] = True
        if mode == "between":  # the expiry has read what is due; the reversal commits before it locks
            steer["go"].set()
            assert steer["reversed"].wait(10)
            lock_holders(conn, holders)
        else:  # "locked": the expiry holds the locks; the reversal comes and waits for them
            lock_holders(conn, holders)
            steer["go"].set()
            wait_until(lambda: steer["reversed"].is_set() or waiting_on_locks(engine) > 0)

    monkeypatch.setattr(ledger_module, "lock_holders", hooked_lock)
    reviewer = Ledger(engine, clock)

    def reverse(award_id: int) -> Any:
        if steer["mode"] != "together":
            assert steer["go"].wait(10)
        try:
            return reviewer.reverse(award_id, "secretary", "appeal upheld", source="appeal")
        except ReversalRefused as exc:
            return exc
        finally:
            steer["reversed"].set()

    for round_no, mode in enumerate(["together", "between", "locked", "together", "together"]):
        award(ledger, "P1", "MB-10", prefix=f"round{round_no}")  # H1: 30 again, dated May 2026
        award_id = award_ids(engine, county, "H1")[-1]
        assert moral(ledger, county, "H1") == 3000
        steer.clear()
        steer.update(mode=mode, go=threading.Event(), reversed=threading.Event())

        out = together(expire=lambda: ledger.expire(date(2026, 6, 30)), reverse=lambda a=award_id: reverse(a))

        assert not isinstance(out["expire"], Exception), (mode, out)
        assert isinstance(out["reverse"], int) or out["reverse"].reason == "expired", (mode, out)
        taken = [(e.kind, e.amount) for e in entries(engine, reverses_id=award_id)]
        assert taken in ([("reversal", -3000)], [("expire", -3000)]), (mode, taken)  # taken back once
        assert moral(ledger, county, "H1") == 0, mode
        assert_ledger_agrees(engine)


@on_postgres_only
def test_a_new_year_award_committed_while_the_close_waits(county: County, ledger: Ledger, engine: Engine, clock: Any) -> None:
    """An award of 1 January is being written when the 2026 close starts: the close carries 2026's points only."""
    clock.now = NEW_YEARS_EVE
    award(ledger, "P1", "MB-10", "MB-10", "MB-10", "MB-10")  # H1: 120 in 2026
    award(ledger, "P2", "MB-10")  # H2: 30 in 2026
    clock.now = datetime(2027, 1, 2, 2, 0, tzinfo=UTC)
    incoming = to_incoming("new-year", {"id": "ny-1", "type": "civility", "occurred_at": "2027-01-01T10:00:00", "person": "P1",
                                        "rule": "MB-10", "approved_by": "secretary"}, ZoneInfo("Asia/Shanghai"), "import", "clerk")
    assert isinstance(incoming, Incoming)
    conn = ledger.write_engine.connect()
    try:
        tx = conn.begin()
        (res,) = ledger.record_in(conn, [incoming])  # written, not yet committed: H1's balance row is locked
        assert [e["amount"] for e in res.entries] == [3000]
        closing: dict[str, Any] = {}
        closer = threading.Thread(target=lambda: closing.update(ledger.close_period("moral", "2026")), daemon=True)
        closer.start()
        assert wait_until(lambda: waiting_on_locks(engine) > 0 or not closer.is_alive())
        tx.commit()
    finally:
        conn.close()
    closer.join(timeout=30)
    assert not closer.is_alive() and closing["already"] is False

    assert moral(ledger, county, "H1") == 2400 + 3000  # 20% of 2026's 120, and the 2027 award whole
    assert moral(ledger, county, "H2") == 600
    closes = {e.holder_id: e.amount for e in entries(engine, kind="close")}
    assert closes == {county.ids["H1"]: -9600, county.ids["H2"]: -2400}
    new_year = entries(engine, event_key="ny-1")
    assert [(e.kind, e.amount, str(e.local_day)) for e in new_year] == [("award", 3000, "2027-01-01")]
    assert year_tally(engine, county, "H1", "2027") == 3000 and year_tally(engine, county, "H1", "2026") == 12000
    assert_ledger_agrees(engine)


# ---------------------------------------------------------------- 4. two reviewers decide one appeal
def test_two_reviewers_decide_one_appeal_at_once(county: County, ledger: Ledger, engine: Engine, clock: Any,
                                                 tmp_path: Path) -> None:
    """The committee upholds an appeal while the secretary dismisses it: one decision, and the ledger says the same.

    The dismissal is let in right after the upholder's reversal is written (as two clicks would interleave):
    it has read the appeal as open and then either waits for the upholder or is turned away.
    """
    config = claims.WorkflowConfig(upload_dir=tmp_path / "uploads", max_upload_bytes=1024, appeal_days=30)
    v = county.ids["V1"]
    p1 = Actor("p1", "villager", person_id=county.ids["P1"], household_id=county.ids["H1"], village_id=v)
    committee = Actor("com1", "committee", village_id=v)
    secretary = Actor("sec1", "secretary", village_id=v, branch_id=county.ids["B-V1"], person_id=county.ids["M1"])
    claim_id = claims.submit(ledger, p1, "MB-08", person="P1", description="简办婚事", config=config).claim.id
    claims.approve(ledger, committee, claim_id, config=config)
    clock.advance(days=7)
    assert post_due_claims(ledger, config=config)["posted"] == [claim_id]
    assert ledger.balance("moral", "h", county.ids["H1"]) == (1000, 1000)
    appeal_id = claims.appeal(ledger, p1, claim_id, "不实")
    entry_id = claims.get_claim(ledger, committee, claim_id).entry_id

    read_open = threading.Event()  # the dismissal passed its checks: it found the appeal open

    def dismissal_clock() -> datetime:
        read_open.set()
        return clock()

    dismisser = Ledger(engine, dismissal_clock)
    outcome: dict[str, Any] = {}

    def dismiss() -> None:
        try:
            outcome["dismiss"] = claims.resolve_appeal(dismisser, secretary, appeal_id, False, "经核实属实,驳回申诉")
        except Exception as exc:  # reported as the outcome
            outcome["dismiss"] = exc

    second = threading.Thread(target=dismiss, daemon=True)
    upholder = Ledger(engine, clock)

    def let_the_dismissal_in() -> None:
        if second.ident is not None:  # once
            return
        second.start()
        assert read_open.wait(10)
        if is_postgres(engine):
            wait_until(lambda: not second.is_alive() or waiting_on_locks(engine) > 0)
        else:  # SQLite shows no waiter: give it the moment it needs to finish if nothing holds it
            second.join(timeout=0.2)

    for name in ("reverse", "reverse_in"):  # the reversal, in its own transaction or in the decision's
        if hasattr(upholder, name):
            original = getattr(upholder, name)

            def after(*args: Any, _original: Callable[..., int] = original, **kw: Any) -> int:
                written = _original(*args, **kw)
                let_the_dismissal_in()
                return written

            setattr(upholder, name, after)

    try:
        outcome["uphold"] = claims.resolve_appeal(upholder, committee, appeal_id, True, "核实有误")
    except Exception as exc:  # reported as the outcome
        outcome["uphold"] = exc
    second.join(timeout=30)
    assert not second.is_alive()

    refused = [o for o in outcome.values() if isinstance(o, Exception)]
    assert len(refused) == 1, outcome
    assert isinstance(refused[0], Conflict) and refused[0].code == "wf_appeal_done"
    view = claims.get_claim(ledger, committee, claim_id)
    with engine.connect() as c:
        appeal = c.execute(select(Appeal.status, Appeal.reversal_entry_id).where(Appeal.id == appeal_id)).one()  # type: ignore[call-overload]
    reversals = [e.id for e in entries(engine, reverses_id=entry_id)]
    if appeal.status == "upheld":
        assert view.status == "reversed" and reversals == [appeal.reversal_entry_id] == [view.reversal_entry_id]
        assert ledger.balance("moral", "h", county.ids["H1"]) == (0, 0)
    else:
        assert appeal.status == "dismissed" and view.status == "posted", (appeal, view.status)
        assert reversals == [], "the appeal was dismissed but its entry was reversed"
        assert ledger.balance("moral", "h", county.ids["H1"]) == (1000, 1000)
    # The upholder had the appeal first here; the dismissal was turned away.
    assert not isinstance(outcome["uphold"], Exception) and outcome["uphold"].status == "reversed"
    assert view.history[-1].to_status == view.status
    assert_ledger_agrees(engine)
