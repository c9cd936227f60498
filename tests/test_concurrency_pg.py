"""Concurrent writers on PostgreSQL: caps hold, balances equal their entries, an event counts once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from store.ledger import Incoming, Ledger, RecordResult
from store.models import Balance, Counter, Entry, EventRecord, Tally
from store.rules_repo import publish
from tests.builders import County

pytestmark = pytest.mark.postgres

THREADS = 16
RULES = """\
point_types:
  - {key: work, name: 零基积分, holder: person, step: 0.5, period: year}
event_types:
  - {key: signin, name: 签到, subject: person}
  - {key: lesson, name: 党课, subject: person}
categories:
  - {key: learning, name: 学习教育, point_type: work, caps: [{window: month, max: 12}]}
rules:
  - {id: S1, name: 签到, point_type: work, event: signin, points: {fixed: 2}, caps: [{window: month, max: 7}]}
  - {id: L1, name: 党课, point_type: work, event: lesson, category: learning, points: {fixed: 1.5}}
"""
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def run_together(work: Callable[[int], list[RecordResult]]) -> list[RecordResult]:
    """Start every thread at the same moment; re-raise the first error."""
    barrier = threading.Barrier(THREADS)
    results: list[RecordResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def target(i: int) -> None:
        try:
            barrier.wait()
            out = work(i)
            with lock:
                results.extend(out)
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def setup(pg_engine: Engine) -> tuple[Ledger, int]:
    county = County(pg_engine)
    county.household("H1", "G1")
    member = county.person("M1", "H1", member_of=None)
    publish(pg_engine, RULES, date(2026, 1, 1), "admin", START)
    return Ledger(pg_engine, lambda: START + timedelta(days=1)), member  # entered the day after: none is in the future


def sums(engine: Engine, member: int) -> tuple[int, int, int]:
    """(kept balance, sum of entries, kept year tally) of the member's work points."""
    with engine.connect() as c:
        balance = c.execute(select(Balance.amount).where(Balance.holder_id == member, Balance.point_type == "work")).scalar()
        entries = c.execute(select(func.sum(Entry.amount)).where(Entry.holder_id == member)).scalar()
        tally = c.execute(select(func.sum(Tally.amount)).where(Tally.holder_id == member, Tally.period == "2026")).scalar()
    return int(balance or 0), int(entries or 0), int(tally or 0)


def test_capped_rules_hold_under_sixteen_concurrent_writers(setup: tuple[Ledger, int]) -> None:
    ledger, member = setup

    def work(i: int) -> list[RecordResult]:
        out = []
        for j in range(3):  # three small batches per thread, each a signin and a lesson
            at = START + timedelta(hours=i, minutes=j)
            out += ledger.record([
                Incoming(f"s-{i}-{j}", "signin", at, person="M1", ref=f"s-{i}-{j}"),
                Incoming(f"l-{i}-{j}", "lesson", at, person="M1", ref=f"l-{i}-{j}"),
            ])
        return out

    results = run_together(work)
    assert len(results) == THREADS * 6 and all(r.status in ("recorded", "nothing") for r in results)
    with ledger.engine.connect() as c:
        by_rule = dict(c.execute(select(Entry.rule_id, func.sum(Entry.amount)).group_by(Entry.rule_id)).all())
        counters = dict(c.execute(select(Counter.key, Counter.value)).all())
    # 2 + 2 + 2 + 1 of a cap of 7; 1.5 × 8 of a category cap of 12: never more, however the threads interleave.
    assert by_rule == {"S1": 700, "L1": 1200}
    assert counters["cap|R:S1|month|2026-03"] == 700
    assert counters["cap|C:learning|month|2026-03"] == 1200
    balance, entries, tally = sums(ledger.engine, member)
    assert balance == entries == tally == 1900


def test_the_same_event_sent_by_many_threads_at_once_counts_once(setup: tuple[Ledger, int]) -> None:
    ledger, member = setup

    def work(i: int) -> list[RecordResult]:
        return ledger.record([Incoming("same", "lesson", START, person="M1", ref=f"thread {i}")])

    results = run_together(work)
    statuses = sorted(r.status for r in results)
    assert statuses == ["duplicate"] * (THREADS - 1) + ["recorded"]
    with ledger.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Entry)).scalar() == 1
        assert c.execute(select(func.count()).select_from(EventRecord)).scalar() == 1
    assert sums(ledger.engine, member) == (150, 150, 150)


def test_one_event_id_reused_for_different_people_at_once_refuses_that_record_alone(pg_engine: Engine) -> None:
    """Holders differ, so their locks do not meet: the batch that loses the id race keeps its other records."""
    county = County(pg_engine)
    for i in range(THREADS):  # each in a household of their own: no lock in common
        county.household(f"H{i}", "G1")
    members = [county.person(f"M{i}", f"H{i}", member_of=None) for i in range(THREADS)]
    publish(pg_engine, RULES, date(2026, 1, 1), "admin", START)
    ledger = Ledger(pg_engine, lambda: START + timedelta(days=1))

    def work(i: int) -> list[RecordResult]:
        own = [Incoming(f"own-{i}-{j}", "signin", START + timedelta(minutes=j), person=f"M{i}", ref=f"own-{i}-{j}") for j in range(3)]
        shared = Incoming("shared-id", "lesson", START, person=f"M{i}", ref=f"shared by M{i}",
                          payload=f'{{"id": "shared-id", "person": "M{i}"}}')  # a different event each time
        return ledger.record([*own, shared])

    results = run_together(work)  # no batch dies on the unique key
    shared = [r for r in results if r.key == "shared-id"]
    assert sorted(r.status for r in shared) == ["recorded"] + ["rejected"] * (THREADS - 1)
    assert all(p.code == "duplicate_conflict" for r in shared if r.status == "rejected" for p in r.problems)
    assert all(r.status == "recorded" for r in results if r.key != "shared-id")
    with pg_engine.connect() as c:
        assert c.execute(select(func.count()).select_from(EventRecord)).scalar() == THREADS * 3 + 1
    # six points of signing in each, and 1.5 for the one whose lesson was recorded
    assert sorted(sums(pg_engine, m)[0] for m in members) == [600] * (THREADS - 1) + [750]
