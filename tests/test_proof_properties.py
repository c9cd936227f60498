"""Property tests (hypothesis): for any stream of events the shipped rules may meet, the ledger keeps its promises.

Random streams of household visits, volunteer hours, environment deductions, misconduct and absences
for a small village, each sent once in one batch to one ledger, and to another split into random
batches with random records sent again. Whatever the stream:

* both ledgers hold the same entries, amount for amount: a record sent again changes nothing, and for a
  stream in time order (as a 台账 is kept) how it is cut into batches changes nothing either. (Out of
  order, which of two deductions a used-up floor absorbs, or which of two visits the same day counts,
  follows the order records arrive in: posted entries are never rescored, so a late record meets the
  ledger as it stands. A late visit still meets the cooldown of a visit the same day, and a late
  offence is still the repeat of an earlier one: ``tests/test_core_engine.py``.)
* every balance and tally equals its entries;
* no category cap is passed (联户 40 a month, 志愿 20 a month, 党员实绩 60 a year) and no floor
  (扣完为止: 环境卫生 30 a year, 党员日常表现 20 a year) is gone through.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import store.all_models  # noqa: F401
from services import consistency
from services.ingest import ingest_text
from store.db import create_all, make_engine
from store.ledger import Ledger
from store.models import Balance, Entry, Tally
from store.rules_repo import publish
from tests.builders import County

RULES = (Path(__file__).resolve().parent.parent / "rules.yaml").read_text(encoding="utf-8")
NOW = datetime(2026, 7, 1, tzinfo=UTC)
CAPS = {("linkage", "month"): 4000, ("volunteer", "month"): 2000, ("party_merit", "year"): 6000}
FLOORS = {"environment": 3000, "party_conduct": 2000}

day = st.dates(min_value=date(2026, 3, 1), max_value=date(2026, 5, 31))
moment = st.tuples(day, st.integers(6, 21), st.integers(0, 59)).map(lambda t: f"{t[0].isoformat()}T{t[1]:02d}:{t[2]:02d}:00")
villager = st.sampled_from(["P1", "P2", "P3"])
event = st.one_of(
    st.builds(lambda m, h: {"type": "household_visit", "occurred_at": m, "person": "M1", "household": h},
              moment, st.sampled_from(["H1", "H2"])),
    st.builds(lambda m, p, h: {"type": "volunteer_service", "occurred_at": m, "person": p, "fields": {"hours": h}},
              moment, st.sampled_from(["P1", "P2", "P3", "M1"]), st.sampled_from(["0.5", "1", "2", "3.5", "8"])),
    st.builds(lambda m, p, r: {"type": "civility", "occurred_at": m, "person": p, "rule": r},
              moment, villager, st.sampled_from(["MB-23", "MB-24", "MB-25"])),
    st.builds(lambda m, k: {"type": "misconduct", "occurred_at": m, "person": "M1", "fields": {"kind": k}, "approved_by": "sec1"},
              moment, st.sampled_from(["law", "gambling", "superstition", "lavish"])),
    st.builds(lambda m: {"type": "labour_absent", "occurred_at": m, "person": "M1"}, moment),
)
stream = st.lists(event, min_size=1, max_size=60).map(lambda evs: [{"id": f"e{i}", **e} for i, e in enumerate(evs)])


def fresh_ledger(folder: str, name: str) -> Ledger:
    """A village of four households (M1, a Party member, looks after H1 and H2) under the shipped rules."""
    engine = make_engine(f"sqlite:///{folder}/{name}.db")
    create_all(engine)
    c = County(engine)
    c.village("V1")
    c.grid("G1", "V1")
    c.grid("G2", "V1")
    for code, grid, tier in (("H1", "G1", "red"), ("H2", "G1", "yellow"), ("H3", "G2", "orange"), ("H4", "G2", "yellow")):
        c.household(code, grid, tier=tier)
    for code, home in (("P1", "H1"), ("P2", "H2"), ("P3", "H3")):
        c.person(code, home)
    c.person("M1", "H4", member_of="B-V1")
    c.link("M1", "H1")
    c.link("M1", "H2")
    publish(engine, RULES, date(2026, 1, 1), "admin", NOW)
    return Ledger(engine, lambda: NOW)


def send(ledger: Ledger, events: list[dict[str, Any]]) -> None:
    report = ingest_text(ledger, "\n".join(json.dumps(e, ensure_ascii=False) for e in events), "jsonl", "import", "clerk")
    assert not report.counts["rejected"], [p.format("en") for p in report.problems]


def entries(ledger: Ledger) -> list[tuple[str, int]]:
    with ledger.engine.connect() as c:
        return sorted((k, int(a)) for k, a in c.execute(select(Entry.key, Entry.amount)))


def tallies(ledger: Ledger) -> list[tuple[str, str, str, int, int, int]]:
    with ledger.engine.connect() as c:
        return sorted((pt, p, hk, int(h), int(a), int(v)) for pt, p, hk, h, a, v in c.execute(
            select(Tally.point_type, Tally.period, Tally.holder_kind, Tally.holder_id, Tally.amount, Tally.vetoes)))


def balances(ledger: Ledger) -> list[tuple[str, str, int, int]]:
    with ledger.engine.connect() as c:
        return sorted((pt, hk, int(h), int(a)) for pt, hk, h, a in c.execute(
            select(Balance.point_type, Balance.holder_kind, Balance.holder_id, Balance.amount)))


# A stream where every cap and floor binds (random streams rarely fill a month's 40 linking points):
# 56 days of visits in March (84 points against the cap of 40), eight rubbish deductions for one household
# (-80 against the floor of 30), five misconducts (against the floor of 20), a month of volunteering.
DENSE = [{"id": f"d{i}", **e} for i, e in enumerate(
    [{"type": "household_visit", "occurred_at": f"2026-03-{d:02d}T09:00:00", "person": "M1", "household": h}
     for d in range(1, 29) for h in ("H1", "H2")]
    + [{"type": "civility", "occurred_at": f"2026-04-{d:02d}T10:00:00", "person": "P1", "rule": "MB-23"} for d in range(1, 9)]
    + [{"type": "misconduct", "occurred_at": f"2026-04-{d:02d}T11:00:00", "person": "M1", "fields": {"kind": "lavish"},
        "approved_by": "sec1"} for d in range(1, 6)]
    + [{"type": "volunteer_service", "occurred_at": f"2026-05-{d:02d}T08:00:00", "person": "P2", "fields": {"hours": "8"}}
       for d in range(1, 8)])]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(events=DENSE, cuts=[10, 30, 60], resent=[0, 3, 5, 40], in_time_order=True).via("every cap and floor binds")
@example(events=[{"id": "e0", "type": "household_visit", "occurred_at": "2026-03-18T06:00:00", "person": "M1", "household": "H1"},
                 {"id": "e1", "type": "household_visit", "occurred_at": "2026-05-23T06:00:00", "person": "M1", "household": "H1"},
                 {"id": "e2", "type": "household_visit", "occurred_at": "2026-03-18T06:00:00", "person": "M1", "household": "H1"}],
         cuts=[2], resent=[], in_time_order=False).via("a visit entered late, the same day as one counted")
@given(events=stream, cuts=st.lists(st.integers(0, 60), max_size=5), resent=st.lists(st.integers(0, 59), max_size=8),
       in_time_order=st.booleans())
def test_any_stream_counts_once_whatever_its_batches_and_keeps_caps_floors_and_sums(
        events: list[dict[str, Any]], cuts: list[int], resent: list[int], in_time_order: bool) -> None:
    dense = events is DENSE
    if in_time_order:
        events = sorted(events, key=lambda e: e["occurred_at"])
    with tempfile.TemporaryDirectory() as folder:
        bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
        once = fresh_ledger(folder, "once")
        if in_time_order:
            send(once, events)  # one batch: how the stream is cut must not matter
        else:
            for a, b in pairwise(bounds):  # the same batches: only the records sent again differ
                send(once, events[a:b])

        split = fresh_ledger(folder, "split")
        sent: list[dict[str, Any]] = []
        for a, b in pairwise(bounds):
            again = [sent[i] for i in resent if i < len(sent)]  # a retry of records already delivered, before the next batch
            send(split, again + events[a:b])
            sent += events[a:b]
        send(split, events)  # and the whole file once more at the end

        assert entries(split) == entries(once)
        assert balances(split) == balances(once)
        assert tallies(split) == tallies(once)
        found = consistency.check(split.engine)
        assert found.ok, (found.balance_diffs, found.tally_diffs)

        with split.engine.connect() as c:
            rows = c.execute(select(Entry.category, Entry.holder_kind, Entry.holder_id, Entry.local_day, Entry.amount)
                             .where(Entry.kind == "award")).all()
        used: dict[tuple[str, str, int, str], int] = defaultdict(int)
        taken: dict[tuple[str, str, int, int], int] = defaultdict(int)
        for category, kind, holder, on, amount in rows:
            for (cat, window), _cap in CAPS.items():
                if category == cat:
                    used[(cat, kind, holder, on.isoformat()[:7] if window == "month" else str(on.year))] += amount
            if category in FLOORS and amount < 0:
                taken[(category, kind, holder, on.year)] += -amount
        for (cat, *_), total in used.items():
            window = next(w for (c, w) in CAPS if c == cat)
            assert total <= CAPS[(cat, window)], (cat, total)
        for (cat, *_), total in taken.items():
            assert total <= FLOORS[cat], (cat, total)
        if dense:  # the example above: each limit is reached, not merely unpassed
            assert max(used[k] for k in used if k[0] == "linkage") == CAPS[("linkage", "month")]
            assert max(used[k] for k in used if k[0] == "volunteer") == CAPS[("volunteer", "month")]
            assert {cat: max(t for k, t in taken.items() if k[0] == cat) for cat in FLOORS} == FLOORS
