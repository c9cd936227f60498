"""A county-shaped demo dataset, made deterministically from a seed.

``build_model(spec)`` lays out the county in compact arrays (townships,
villages with a Party branch each, grids, households with tiers, persons,
Party members and their linked households, and the few moves of the year);
``insert_directory`` writes it with bulk ``executemany`` on the store tables;
``events`` yields a year of events as the JSONL envelope that
``services.ingest`` reads, in time order, without holding them in memory.

The same seed and size give the same county and the same events, so building
twice is a no-op and re-ingesting finds every event already recorded.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text

from demo import names as N
from services.privacy import id_check_character
from store.db import is_postgres, writer
from store.models import (
    Area,
    Branch,
    Household,
    HouseholdGrid,
    HouseholdTier,
    Linkage,
    Membership,
    PartyMember,
    Person,
)

COUNTY_CODE = "DEMO"
TIERS = ("yellow", "orange", "red")
TIER_SHARE = (0.80, 0.15, 0.05)  # most yellow, some orange, few red
SINCE = date(2020, 1, 1)  # directory rows valid from here (before the demo year)
ROWS_PER_STATEMENT = 20_000


@dataclass(frozen=True)
class Spec:
    """How big a county to make, and from which seed."""

    townships: int
    villages: int
    grids: int
    households: int
    events: int
    seed: int = 2026
    year: int = 2026
    member_share: float = 0.025  # Party members among persons

    def describe(self) -> dict[str, int]:
        """The sizes as a plain dict."""
        return {"townships": self.townships, "villages": self.villages, "grids": self.grids,
                "households": self.households, "events": self.events, "seed": self.seed}


PRESETS: dict[str, Spec] = {
    "tiny": Spec(townships=1, villages=2, grids=2, households=100, events=2_000),
    "small": Spec(townships=3, villages=20, grids=60, households=3_000, events=60_000),
    # Longyou-sized: 600 grids, 200,000 households, ~600,000 persons, ~15,000 Party members.
    "county": Spec(townships=15, villages=300, grids=600, households=200_000, events=1_000_000),
}


def spec_for(size: str = "small", households: int | None = None, events: int | None = None,
             seed: int | None = None) -> Spec:
    """A preset, optionally resized: ``households`` rescales grids, villages and townships alike."""
    spec = PRESETS[size]
    if households:
        per_grid = spec.households / spec.grids
        grids = max(1, round(households / per_grid))
        villages = max(1, min(grids, round(grids * spec.villages / spec.grids)))
        townships = max(1, min(villages, round(villages * spec.townships / spec.villages)))
        spec = replace(spec, households=households, grids=grids, villages=villages, townships=townships)
    if events is not None:
        spec = replace(spec, events=events)
    if seed is not None:
        spec = replace(spec, seed=seed)
    return spec


# ------------------------------------------------------------------ the county in arrays
@dataclass
class Model:
    """The county as indices: households, persons and members are numbered from 0.

    Households are laid out grid by grid and grids village by village, so a
    village's (or grid's) households are one contiguous range; a household's
    persons are contiguous too. Codes are derived from the numbers.
    """

    spec: Spec
    townships: list[tuple[str, str]]
    villages: list[tuple[str, str, int]]  # code, name, township
    grids: list[tuple[str, str, int]]  # code, name, village
    grid_start: array  # type: ignore[type-arg]  # first household of each grid (+ end)
    hh_tier: bytearray
    hh_first: array  # type: ignore[type-arg]  # first person of each household (+ end)
    person_hh: array  # type: ignore[type-arg]
    birth_year: array  # type: ignore[type-arg]
    female: bytearray
    members: array  # type: ignore[type-arg]  # person numbers of Party members
    links: list[array]  # type: ignore[type-arg]  # households each member looks after
    hh_moves: dict[int, tuple[date, int]] = field(default_factory=dict)  # household → (day, new grid)
    person_moves: dict[int, tuple[date, int]] = field(default_factory=dict)  # person → (day, new household)
    tier_changes: dict[int, tuple[date, int]] = field(default_factory=dict)  # household → (day, new tier)

    @property
    def n_households(self) -> int:
        """How many households."""
        return len(self.hh_tier)

    @property
    def n_persons(self) -> int:
        """How many persons."""
        return len(self.person_hh)

    def hh_code(self, h: int) -> str:
        """The household code of household number ``h``."""
        return f"H{h + 1:06d}"

    def person_code(self, p: int) -> str:
        """The person code of person number ``p``."""
        return f"P{p + 1:07d}"

    def grid_of(self, h: int) -> int:
        """The grid a household starts the year in."""
        return bisect.bisect_right(self.grid_start, h) - 1

    def village_range(self, v: int) -> tuple[int, int]:
        """Households of a village: [start, end)."""
        gs = [g for g, (_, _, gv) in enumerate(self.grids) if gv == v]
        return self.grid_start[gs[0]], self.grid_start[gs[-1] + 1]


def _split(total: int, parts: int, rng: random.Random, spread: float = 0.3) -> list[int]:
    """``total`` split into ``parts`` positive counts of roughly equal size."""
    weights = [1 + rng.uniform(-spread, spread) for _ in range(parts)]
    s = sum(weights)
    counts = [max(1, int(total * w / s)) for w in weights]
    i = 0
    while sum(counts) < total:
        counts[i % parts] += 1
        i += 1
    while sum(counts) > total:
        j = max(range(parts), key=counts.__getitem__)
        counts[j] -= 1
    return counts


def _place(rng: random.Random, used: set[str]) -> str:
    for _ in range(100):
        name = rng.choice(N.PLACE_FIRST) + rng.choice(N.PLACE_SECOND)
        if name not in used:
            used.add(name)
            return name
    name = rng.choice(N.PLACE_FIRST) + rng.choice(N.PLACE_SECOND) + str(len(used))
    used.add(name)
    return name


def build_model(spec: Spec) -> Model:
    """Lay out the county deterministically from the spec's seed."""
    rng = random.Random(spec.seed)
    used: set[str] = set()
    townships = [(f"{COUNTY_CODE}-T{t + 1:02d}", _place(rng, used) + rng.choice(N.TOWNSHIP_SUFFIX)) for t in range(spec.townships)]
    v_per_t = _split(spec.villages, spec.townships, rng)
    villages: list[tuple[str, str, int]] = []
    for t, n in enumerate(v_per_t):
        for i in range(n):
            villages.append((f"{townships[t][0]}-V{i + 1:02d}", _place(rng, used) + "村", t))
    g_per_v = _split(spec.grids, len(villages), rng) if spec.grids >= len(villages) else [1] * len(villages)
    grids: list[tuple[str, str, int]] = []
    for v, n in enumerate(g_per_v):
        for i in range(n):
            grids.append((f"{villages[v][0]}-G{i + 1:02d}", f"第{i + 1}网格", v))
    h_per_g = _split(spec.households, len(grids), rng, 0.2)
    grid_start = array("i", [0])
    for n in h_per_g:
        grid_start.append(grid_start[-1] + n)
    n_h = grid_start[-1]

    tier_draw = rng.choices(range(3), weights=TIER_SHARE, k=n_h)
    hh_tier = bytearray(tier_draw)
    sizes = rng.choices((2, 3, 4), weights=(1, 1, 1), k=n_h)  # 2-4 persons, 3 on average
    hh_first = array("i", [0])
    for s in sizes:
        hh_first.append(hh_first[-1] + s)
    n_p = hh_first[-1]
    person_hh = array("i", bytes(4 * n_p))
    birth_year = array("H", bytes(2 * n_p))
    female = bytearray(n_p)
    year = spec.year
    for h in range(n_h):
        first, end = hh_first[h], hh_first[h + 1]
        head_age = rng.randint(30, 78)
        head_female = rng.random() < 0.15
        for i, p in enumerate(range(first, end)):
            person_hh[p] = h
            if i == 0:
                age, fem = head_age, head_female
            elif i == 1:
                age, fem = max(20, head_age + rng.randint(-5, 3)), not head_female
            elif head_age > 45 and rng.random() < 0.7:
                age, fem = rng.randint(max(1, head_age - 40), head_age - 22), rng.random() < 0.5
            else:
                age, fem = min(95, head_age + rng.randint(22, 30)), rng.random() < 0.6
            birth_year[p] = year - age
            female[p] = fem

    adults = [p for p in range(n_p) if year - birth_year[p] >= 20]
    n_members = min(len(adults), max(1, round(n_p * spec.member_share)))
    members = array("i", sorted(rng.sample(adults, n_members)))

    # 党员联户: each member looks after 5-20 households of the village, red ones first.
    links: list[array] = [array("i") for _ in range(n_members)]  # type: ignore[type-arg]
    by_village: dict[int, list[int]] = {}
    for m, p in enumerate(members):
        by_village.setdefault(grids[bisect.bisect_right(grid_start, person_hh[p]) - 1][2], []).append(m)
    village_ranges = _village_ranges(grids, grid_start)
    for v, ms in by_village.items():
        a, b = village_ranges[v]
        chosen: dict[int, set[int]] = {m: set() for m in ms}
        reds = [h for h in range(a, b) if hh_tier[h] == 2]
        for i, h in enumerate(reds):
            chosen[ms[i % len(ms)]].add(h)
        for m in ms:
            want = min(b - a, rng.randint(5, 20))
            own = person_hh[members[m]]
            g = bisect.bisect_right(grid_start, own) - 1
            ga, gb = grid_start[g], grid_start[g + 1]
            tries = 0
            while len(chosen[m]) < want and tries < want * 4:
                tries += 1
                h = rng.randrange(ga, gb) if rng.random() < 0.7 else rng.randrange(a, b)
                if h != own:
                    chosen[m].add(h)
            links[m] = array("i", sorted(chosen[m]))

    model = Model(spec, townships, villages, grids, grid_start, hh_tier, hh_first, person_hh, birth_year,
                  female, members, links)
    # A few households move grid, change tier, and persons move household during the year.
    start = date(year, 1, 1)
    for h in rng.sample(range(n_h), max(1, n_h // 200)):
        g = model.grid_of(h)
        v = grids[g][2]
        same_village = [x for x in range(len(grids)) if grids[x][2] == v and x != g] if len(grids) < 2000 else []
        if not same_village:  # a county too large to list: a neighbouring grid, when it is of the same village
            same_village = [x for x in (g - 1, g + 1) if 0 <= x < len(grids) and grids[x][2] == v]
        if same_village:  # a household never moves village by changing grid (its village is on the household)
            model.hh_moves[h] = (start + timedelta(days=rng.randint(60, 300)), rng.choice(same_village))
    for h in rng.sample(range(n_h), max(1, n_h // 200)):
        model.tier_changes[h] = (start + timedelta(days=rng.randint(30, 330)), rng.choice([t for t in range(3) if t != hh_tier[h]]))
    for p in rng.sample(range(n_p), max(1, n_p // 300)):
        h = person_hh[p]
        a, b = village_ranges[grids[model.grid_of(h)][2]]
        if b - a > 1:
            other = rng.randrange(a, b - 1)
            model.person_moves[p] = (start + timedelta(days=rng.randint(30, 330)), other if other < h else other + 1)
    return model


def _village_ranges(grids: list[tuple[str, str, int]], grid_start: Any) -> dict[int, tuple[int, int]]:
    ranges: dict[int, tuple[int, int]] = {}
    for g, (_, _, v) in enumerate(grids):
        a, b = grid_start[g], grid_start[g + 1]
        lo, hi = ranges.get(v, (a, b))
        ranges[v] = (min(lo, a), max(hi, b))
    return ranges


# ------------------------------------------------------------------ the directory in the database
def _id_number(rng: random.Random, p: int, birth_year: int, female: bool) -> str:
    """Person ``p``'s 18-digit ID number: a valid check digit, an impossible region code (99…), unique in the county.

    Random sequence digits let two villagers born the same day share a number (a roll import
    refuses that, as a county office would): the region's last four digits and the sequence are
    the person's number instead, unique up to a million persons. The draws are kept, so the rest
    of the county is what it was.
    """
    month, day, _ = rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 99)
    body = f"{N.FAKE_REGION[:2]}{p // 100 % 10000:04d}{birth_year:04d}{month:02d}{day:02d}{p % 100:02d}"
    body += str(rng.randrange(0, 10, 2) + (0 if female else 1))
    return body + id_check_character(body)


def _next_ids(conn: Connection, tables: Iterable[Any]) -> dict[str, int]:
    return {t.__tablename__: int(conn.execute(select(func.coalesce(func.max(t.id), 0))).scalar_one()) for t in tables}


def already_built(engine: Engine) -> bool:
    """Whether a demo county is in the database already."""
    with engine.connect() as conn:
        return conn.execute(select(Area.id).where(Area.code == COUNTY_CODE)).first() is not None


def insert_directory(engine: Engine, model: Model, log: Callable[[str], None] = lambda s: None) -> dict[str, int]:
    """Write the county with bulk inserts in one transaction; return the row count of each table."""
    spec = model.spec
    rng = random.Random(f"{spec.seed}-people")
    tables = (Area, Branch, Household, HouseholdGrid, HouseholdTier, Person, Membership, PartyMember, Linkage)
    counts: dict[str, int] = {}
    with writer(engine).begin() as conn:
        base = _next_ids(conn, tables)

        def put(model_cls: Any, rows: Iterable[dict[str, Any]]) -> None:
            table = model_cls.__table__
            name = model_cls.__tablename__
            it = iter(rows)
            while chunk := list(itertools.islice(it, ROWS_PER_STATEMENT)):
                conn.execute(table.insert(), chunk)
                counts[name] = counts.get(name, 0) + len(chunk)
            log(f"{name}: {counts.get(name, 0)}")

        a0 = base["area"]
        county_id = a0 + 1
        t_id = [a0 + 2 + t for t in range(len(model.townships))]
        v_id = [t_id[-1] + 1 + v for v in range(len(model.villages))]
        g_id = [v_id[-1] + 1 + g for g in range(len(model.grids))]
        areas = [{"id": county_id, "code": COUNTY_CODE, "name": "示范县", "level": "county", "parent_id": None}]
        areas += [{"id": t_id[t], "code": c, "name": n, "level": "township", "parent_id": county_id} for t, (c, n) in enumerate(model.townships)]
        areas += [{"id": v_id[v], "code": c, "name": n, "level": "village", "parent_id": t_id[t]} for v, (c, n, t) in enumerate(model.villages)]
        areas += [{"id": g_id[g], "code": c, "name": f"{model.villages[v][1]}{n}", "level": "grid", "parent_id": v_id[v]} for g, (c, n, v) in enumerate(model.grids)]
        put(Area, areas)
        b0 = base["branch"]
        put(Branch, ({"id": b0 + 1 + v, "code": f"B-{c}", "name": f"{n}党支部", "village_id": v_id[v]} for v, (c, n, _) in enumerate(model.villages)))

        h0, p0 = base["household"], base["person"]
        n_h = model.n_households
        grid_of = array("i", bytes(4 * n_h))
        for g in range(len(model.grids)):
            for h in range(model.grid_start[g], model.grid_start[g + 1]):
                grid_of[h] = g
        surnames = [s for s, _ in N.SURNAMES]
        s_weights = list(itertools.accumulate(w for _, w in N.SURNAMES))
        head_names: list[str] = []

        def people() -> Iterator[dict[str, Any]]:
            for h in range(n_h):
                family = rng.choices(surnames, cum_weights=s_weights)[0]
                for i, p in enumerate(range(model.hh_first[h], model.hh_first[h + 1])):
                    fem = model.female[p]
                    surname = family if i != 1 else rng.choices(surnames, cum_weights=s_weights)[0]
                    name = surname + rng.choice(N.GIVEN_FEMALE if fem else N.GIVEN_MALE)
                    if i == 0:
                        head_names.append(name)
                    yield {"id": p0 + 1 + p, "code": model.person_code(p), "name": name, "gender": "女" if fem else "男",
                           "id_number": _id_number(rng, p, model.birth_year[p], bool(fem)),
                           "phone": rng.choice(N.PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}",
                           "birth_year": model.birth_year[p]}

        put(Person, people())
        village_of = [v for _, _, v in model.grids]
        put(Household, ({"id": h0 + 1 + h, "code": model.hh_code(h), "head_name": head_names[h],
                         "village_id": v_id[village_of[grid_of[h]]],
                         "address": f"{model.villages[village_of[grid_of[h]]][1]}{h - model.grid_start[grid_of[h]] + 1}号",
                         "created_on": SINCE} for h in range(n_h)))
        del head_names[:]

        def spans(h_or_p: int, first: int, change: tuple[date, int] | None) -> Iterator[tuple[date, date | None, int]]:
            if change is None:
                yield SINCE, None, first
            else:
                yield SINCE, change[0], first
                yield change[0], None, change[1]

        put(HouseholdGrid, ({"household_id": h0 + 1 + h, "grid_id": g_id[g], "valid_from": a, "valid_to": b}
                            for h in range(n_h) for a, b, g in spans(h, grid_of[h], model.hh_moves.get(h))))
        put(HouseholdTier, ({"household_id": h0 + 1 + h, "tier": TIERS[t], "valid_from": a, "valid_to": b}
                            for h in range(n_h) for a, b, t in spans(h, model.hh_tier[h], model.tier_changes.get(h))))
        relations = N.RELATIONS

        def memberships() -> Iterator[dict[str, Any]]:
            for h in range(n_h):
                for i, p in enumerate(range(model.hh_first[h], model.hh_first[h + 1])):
                    for a, b, hh in spans(p, h, model.person_moves.get(p)):
                        yield {"person_id": p0 + 1 + p, "household_id": h0 + 1 + hh,
                               "relation": relations[min(i, len(relations) - 1)] if hh == h else "子女", "valid_from": a, "valid_to": b}

        put(Membership, memberships())
        b_of_v = [b0 + 1 + v for v in range(len(model.villages))]
        put(PartyMember, ({"person_id": p0 + 1 + p, "branch_id": b_of_v[village_of[grid_of[model.person_hh[p]]]],
                           "valid_from": date(max(1970, model.birth_year[p] + 22 + (p % 20)), 7, 1) if model.birth_year[p] + 22 + (p % 20) < spec.year else SINCE,
                           "valid_to": None} for p in model.members))
        put(Linkage, ({"member_id": p0 + 1 + model.members[m], "household_id": h0 + 1 + h, "valid_from": SINCE, "valid_to": None}
                      for m, hs in enumerate(model.links) for h in hs))
        if is_postgres(conn):
            # Ids were given explicitly: move each serial past them.
            for t in tables:
                name = t.__tablename__
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), GREATEST((SELECT max(id) FROM \"{name}\"), 1))"))
    return counts


# ------------------------------------------------------------------ a year of events
# Weights of the everyday events; party days (sign-in, attendance, organisational life) and the
# year-end appraisal are scheduled per branch on top of these.
EVERYDAY: tuple[tuple[str, float], ...] = (
    ("household_visit", 40), ("problem_raised", 8), ("problem_resolved", 6), ("household_rating", 4),
    ("volunteer_service", 14), ("civility", 14), ("mediation", 3), ("task_result", 2),
    ("labour_absent", 0.5), ("misconduct", 0.1), ("honour", 0.2), ("campaign_role", 0.3),
)
MEMBER_TYPES = {"household_visit", "problem_raised", "problem_resolved", "household_rating", "task_result",
                "labour_absent", "misconduct", "honour", "campaign_role"}
# 道德银行 items by rule: (rule, weight, needs approval, range of points or None, months it happens in or None).
CIVILITY: tuple[tuple[str, float, bool, tuple[int, int] | None, tuple[int, ...] | None], ...] = (
    ("MB-07", 10, False, None, (1, 2, 12)),  # snow
    ("MB-11", 25, False, None, tuple(range(3, 13))),  # rubbish-sorting campaign
    ("MB-23", 8, False, None, None), ("MB-24", 12, False, None, None), ("MB-25", 6, False, None, None),
    ("MB-27", 3, False, None, (1, 2)), ("MB-28", 6, False, None, None),
    ("MB-05", 5, True, None, None), ("MB-06", 10, True, (1, 5), None), ("MB-08", 3, True, None, None),
    ("MB-09", 2, True, None, None), ("MB-10", 1, True, None, (7, 8, 9)), ("MB-01", 0.2, True, (10, 50), None),
    ("MB-20", 0.5, True, None, None), ("MB-21", 0.05, True, None, None), ("MB-22", 0.3, True, None, None),
    ("MB-26", 0.2, True, None, None), ("MB-29", 0.5, True, None, None),
)
NOTES = ("了解家庭近况", "宣传政策", "查看房屋安全", "送医保缴费通知", "了解就业需求", "看望老人", "检查用电安全")
PROBLEMS = ("路灯不亮", "水渠堵塞", "低保咨询", "宅基地纠纷", "垃圾清运不及时", "房屋漏雨", "医保报销咨询", "道路破损")


def party_day(v: int) -> int:
    """The day of the month of a village branch's 主题党日."""
    return 1 + (v * 7) % 25


def events(model: Model, n: int | None = None, until: date | None = None) -> Iterator[dict[str, Any]]:
    """A year of events in time order, as JSONL envelope dicts; exactly ``n`` (the spec's count) of them.

    ``until``: the last day with events (a living demo stops at yesterday: the ledger refuses events
    dated after its clock); the same count is then spread over the days before it.
    """
    spec = model.spec
    total = spec.events if n is None else n
    rng = random.Random(f"{spec.seed}-events")
    year = spec.year
    days = [date(year, 1, 1) + timedelta(days=i) for i in range((date(year + 1, 1, 1) - date(year, 1, 1)).days)]
    if until is not None:
        days = [d for d in days if d <= until] or days[:1]
    members_of: dict[int, list[int]] = {}
    grid_village = [v for _, _, v in model.grids]
    for m, p in enumerate(model.members):
        members_of.setdefault(grid_village[model.grid_of(model.person_hh[p])], []).append(m)
    n_m = len(model.members)
    # Scheduled per member and year: ~11 sign-ins, 4 attendance records, ~4 organisational lives, 1 appraisal.
    full_scheduled = n_m * 20
    share = min(1.0, 0.4 * total / full_scheduled) if full_scheduled else 0.0
    scheduled_left = full_scheduled * share
    per_day_scheduled = {d: 0.0 for d in range(1, 32)}
    for v in members_of:
        per_day_scheduled[party_day(v)] += len(members_of[v]) * share * 20 / 12
    types = [t for t, _ in EVERYDAY if n_m or t not in MEMBER_TYPES]
    cum = list(itertools.accumulate(w for t, w in EVERYDAY if t in types))
    civ_cum: dict[int, tuple[list[Any], list[float]]] = {}
    for month in range(1, 13):
        items = [c for c in CIVILITY if c[4] is None or month in c[4]]
        civ_cum[month] = (items, list(itertools.accumulate(c[1] for c in items)))
    grid_codes = [c for c, _, _ in model.grids]
    village_codes = [c for c, _, _ in model.villages]
    n_p = model.n_persons
    produced = 0
    seq = 0

    def envelope(day: date, kind: str, person: int, **extra: Any) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        secs = rng.randrange(7 * 3600, 20 * 3600)
        rec = {"id": f"ev{spec.seed}-{seq:07d}", "type": kind,
               "occurred_at": f"{day.isoformat()}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}+08:00",
               "person": model.person_code(person)}
        rec.update(extra)
        return rec

    for i, day in enumerate(days):
        todays: list[dict[str, Any]] = []
        month = day.month
        # 主题党日 of the branches meeting today.
        for v, ms in members_of.items():
            if party_day(v) != day.day:
                continue
            quarter_start = month in (1, 4, 7, 10)
            secretary = f"sec:{village_codes[v]}"
            for m in ms:
                if share < 1 and rng.random() >= share:
                    continue
                p = model.members[m]
                present = rng.random() < 0.9
                if present:
                    todays.append(envelope(day, "party_day_signin", p, actor=secretary))
                if quarter_start:
                    status = rng.choices(("present", "late", "early", "absent"), (85, 6, 3, 6))[0] if present else "absent"
                    todays.append(envelope(day, "meeting_attendance", p, fields={"status": status}, actor=secretary))
                    if present:
                        todays.append(envelope(day, "org_life", p, actor=secretary))
                if month == 12:
                    score = f"{rng.randint(120, 200) / 2:.1f}"  # 60-100 after dropping highest and lowest
                    todays.append(envelope(day, "appraisal", p, fields={"score": score}, actor=secretary, approved_by=secretary))
        scheduled_left -= len(todays)
        days_left = len(days) - i
        expected_sched_after = sum(per_day_scheduled[d.day] for d in days[i + 1:]) if days_left < 40 else max(0.0, scheduled_left)
        if days_left == 1:
            quota = total - produced - len(todays)
        else:
            quota = round((total - produced - len(todays) - expected_sched_after) / (days_left - 1 + 1))
        quota = max(0, quota)
        # Fewer records on Sundays, more mid-week.
        quota = int(quota * (0.8 if day.weekday() == 6 else 1.05 if day.weekday() in (1, 2, 3) else 1.0)) if days_left > 1 else quota
        for _ in range(quota):
            kind = rng.choices(types, cum_weights=cum)[0]
            todays.append(_everyday(kind, day, model, rng, envelope, civ_cum[month], grid_codes, village_codes, n_p))
        todays.sort(key=lambda e: e["occurred_at"])
        for rec in todays:
            if produced >= total:
                return
            produced += 1
            yield rec
        if produced >= total:
            return


def _everyday(kind: str, day: date, model: Model, rng: random.Random, envelope: Callable[..., dict[str, Any]],
              civ: tuple[list[Any], list[float]], grid_codes: list[str], village_codes: list[str], n_p: int) -> dict[str, Any]:
    if kind in MEMBER_TYPES:
        m = rng.randrange(len(model.members))
        p = model.members[m]
        links = model.links[m]
        grid = model.grid_of(model.person_hh[p])
        village = village_codes[model.grids[grid][2]]
        actor = f"app:{model.person_code(p)}"
        if kind in ("household_visit", "problem_raised", "problem_resolved", "household_rating") and links:
            h = links[rng.randrange(len(links))]
            if model.hh_tier[h] != 2 and rng.random() < 0.3:  # red households are visited more
                h = links[rng.randrange(len(links))]
            hh = model.hh_code(h)
            if kind == "household_visit":
                return envelope(day, kind, p, household=hh, fields={"note": rng.choice(NOTES)}, actor=actor)
            if kind == "problem_raised":
                return envelope(day, kind, p, household=hh, fields={"summary": rng.choice(PROBLEMS)}, actor=actor)
            if kind == "problem_resolved":
                days_ = rng.randint(1, 3) if rng.random() < 0.5 else rng.randint(4, 20)
                return envelope(day, kind, p, household=hh, fields={"days_to_resolve": days_}, actor=actor)
            rating = rng.choices((1, 2, 3, 4, 5), (2, 3, 15, 40, 40))[0]
            return envelope(day, kind, p, household=hh, fields={"rating": rating}, actor=f"grid:{grid_codes[grid]}")
        secretary = f"sec:{village}"
        if kind == "task_result":
            status = rng.choices(("done", "unfinished", "refused"), (85, 12, 3))[0]
            return envelope(day, kind, p, fields={"status": status}, actor=secretary)
        if kind == "labour_absent":
            return envelope(day, kind, p, actor=secretary)
        approved = {"approved_by": f"committee:{village}"} if rng.random() < 0.6 else {}
        if kind == "misconduct":
            k = rng.choices(("law", "gambling", "superstition", "lavish"), (3, 4, 1, 2))[0]
            return envelope(day, kind, p, fields={"kind": k}, actor=f"grid:{grid_codes[grid]}", **approved)
        if kind == "honour":
            return envelope(day, kind, p, actor=secretary, **approved)
        if approved:
            approved["points"] = rng.randint(5, 10)
        return envelope(day, "campaign_role", p, actor=secretary, **approved)
    # Villagers: anyone over twelve.
    p = rng.randrange(n_p)
    if model.spec.year - model.birth_year[p] < 12:
        p = rng.randrange(n_p)
    grid = model.grid_of(model.person_hh[p])
    actor = f"grid:{grid_codes[grid]}"
    if kind == "volunteer_service":
        hours = rng.choices((1, 2, 3, 4, 5, 6, 8), (10, 30, 20, 20, 8, 8, 4))[0] / 2
        fields: dict[str, Any] = {"hours": hours}
        if rng.random() < 0.7:
            fields["checked_in"] = True
        return envelope(day, kind, p, fields=fields, actor=actor)
    if kind == "mediation":
        level = rng.choices(("basic", "effective", "major"), (70, 25, 5))[0]
        extra = {"approved_by": f"committee:{village_codes[model.grids[grid][2]]}"} if level == "major" and rng.random() < 0.6 else {}
        return envelope(day, kind, p, fields={"level": level}, actor=actor, **extra)
    items, cum = civ
    rule, _, approval, span, _ = rng.choices(items, cum_weights=cum)[0]
    extra = {}
    if approval and rng.random() < 0.6:
        # Approved at the village committee's monthly review before it was entered.
        extra["approved_by"] = f"committee:{village_codes[model.grids[grid][2]]}"
        if span:
            extra["points"] = rng.randint(*span)
    return envelope(day, "civility", p, rule=rule, actor=actor, **extra)


def write_jsonl(records: Iterable[dict[str, Any]], path: str) -> int:
    """Write records as JSON lines; return how many."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False))
            f.write("\n")
            n += 1
    return n


def numbered(records: Iterable[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Records as ``services.ingest.ingest`` takes them: each with its reference."""
    for n, rec in enumerate(records, 1):
        yield f"#{n}", rec
