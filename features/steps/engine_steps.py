"""Step definitions for the engine scenarios (features/engine/*.feature).

Every scenario runs through the real ledger on the ``engine`` fixture, so it runs
once on SQLite and once on PostgreSQL. Steps speak the users' language: villages,
households, events as a clerk would enter them, balances, tallies, grades, the
explanation of an entry and the error text in Chinese and English.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from parse import with_pattern
from pytest_bdd import given, parsers, then, when
from sqlalchemy import Engine, func, select

from scoring.engine import parse_moment
from scoring.errors import RulesFileError, ScoringError
from scoring.grades import grade
from scoring.loader import version_of
from scoring.messages import render
from scoring.model import Ruleset
from scoring.periods import parse_period
from scoring.points import fmt, parse_amount
from store.ledger import Incoming, Ledger, RecordResult
from store.models import Entry, GradeSnapshot, RulesVersion, Tally
from store.rules_repo import publish
from tests.builders import County

TZ = ZoneInfo("Asia/Shanghai")

# What a clerk sees as the outcome of a record.
STATUS = {"已记分": "recorded", "待审核": "pending", "已记录过": "duplicate", "退回": "rejected", "未计分": "nothing"}
YES = ("是", "yes", "true", "1")


class World:
    """One scenario's county, ledger and what the last steps produced."""

    def __init__(self, engine: Engine, clock: Any):
        self.engine = engine
        self.clock = clock
        self.ledger = Ledger(engine, clock)
        self.county = County(engine)
        self.persons: set[str] = set()
        self.households: set[str] = set()
        self.published: list[str] = []  # version hashes, in publishing order
        self.last_batches: list[list[Incoming]] = []
        self.results: dict[str, RecordResult] = {}
        self.error: Exception | None = None

    # -- directory ---------------------------------------------------------------
    def holder(self, code: str) -> tuple[str, int]:
        """A code to the account holder (person or household)."""
        if code in self.persons:
            return "p", self.county.ids[code]
        if code in self.households:
            return "h", self.county.ids[code]
        raise KeyError(f"no person or household {code!r} in this scenario")

    def ruleset(self) -> Ruleset:
        """The latest published rules."""
        latest = self.ledger.versions().latest()
        assert latest is not None, "no rules were published"
        return latest

    # -- rules -----------------------------------------------------------------
    def publish(self, text: str, effective: date) -> None:
        """Publish a rules file; a refused file is kept as the step's error."""
        self.error = None
        try:
            published = publish(self.engine, text, effective, "admin", self.clock())
        except RulesFileError as exc:
            self.error = exc
            return
        self.published.append(published.version)

    # -- events ----------------------------------------------------------------
    def incoming(self, row: dict[str, str]) -> Incoming:
        """One row of an events table as the clerk typed it."""
        fields: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in row.get("字段", "").split(";"))):
            name, _, value = part.partition("=")
            fields[name.strip()] = value.strip()
        points = row.get("分值", "").strip()
        return Incoming(
            key=row["编号"],
            type=row["类型"],
            occurred_at=parse_moment(row["时间"].strip().replace(" ", "T"), TZ),
            person=row.get("村民") or None,
            household=row.get("农户") or None,
            fields=fields,
            points=parse_amount(points) if points else None,
            rule=row.get("规则", ""),
            approved_by=row.get("审核人", ""),
            actor="clerk",
            source="import",
            ref=row["编号"],
        )

    def record(self, batches: list[list[Incoming]]) -> None:
        """Record batches one after another, keeping each record's result by event id."""
        self.last_batches = batches
        for batch in batches:
            # Events are entered after they happen: the clock moves on to the batch's latest event when
            # it stands before (the ledger refuses events from the future).
            latest = max((i.occurred_at for i in batch), default=self.clock.now)
            self.clock.now = max(self.clock.now, latest.astimezone(UTC))
            for res in self.ledger.record(batch):
                self.results[res.key] = res

    # -- reading ---------------------------------------------------------------
    def entry(self, key: str) -> dict[str, Any] | None:
        """A ledger entry by its key (``event/rule``)."""
        with self.engine.connect() as c:
            row = c.execute(select(Entry).where(Entry.key == key)).mappings().first()
            return dict(row) if row else None

    def score(self, code: str, point_type: str, period: str, grid: str | None = None) -> tuple[int, bool]:
        """A holder's tally in a period (all grids, or one), and whether it holds a veto."""
        kind, ident = self.holder(code)
        where = [Tally.point_type == point_type, Tally.period == period, Tally.holder_kind == kind, Tally.holder_id == ident]
        if grid is not None:
            where.append(Tally.grid_id == self.county.ids[grid])
        with self.engine.connect() as c:
            amount, vetoes = c.execute(
                select(func.coalesce(func.sum(Tally.amount), 0), func.coalesce(func.sum(Tally.vetoes), 0)).where(*where)
            ).one()
        return int(amount), bool(vetoes)


def table(datatable: list[list[str]]) -> list[dict[str, str]]:
    """A Gherkin table as dicts by its header row."""
    header = [h.strip() for h in datatable[0]]
    return [dict(zip(header, (c.strip() for c in row), strict=True)) for row in datatable[1:]]


def explanation(entry: dict[str, Any], lang: str) -> str:
    """The explanation lines of an entry as the ledger shows them."""
    return "\n".join(render(code, lang, **params) for code, params in json.loads(entry["explanation"]))


@with_pattern(r"\S+")
def _word(text: str) -> str:
    return text


def P(text: str) -> parsers.parse:
    """A step pattern whose ``{x:W}`` fields are single words (codes, periods, amounts)."""
    return parsers.parse(text, extra_types={"W": _word})


def day(text: str) -> date:
    return date.fromisoformat(text.strip())


# ============================================================================ fixtures
@pytest.fixture
def world(engine: Engine, clock: Any) -> World:
    """A fresh county and ledger on the scenario's database."""
    return World(engine, clock)


# ============================================================================ given
@given(P("规则文件如下:"))
def rules_inline(world: World, docstring: str) -> None:
    world.publish(docstring, date(2026, 1, 1))
    assert world.error is None, world.error


@given("使用县里发布的规则文件")
def rules_shipped(world: World, rules_text: str) -> None:
    world.publish(rules_text, date(2026, 1, 1))
    assert world.error is None, world.error


@given("村里有以下农户:")
def households(world: World, datatable: list[list[str]]) -> None:
    for row in table(datatable):
        grid = row["网格"]
        if grid not in world.county.ids:
            world.county.grid(grid, "V1")
        world.county.household(row["户号"], grid, tier=row.get("颜色", "yellow"))
        world.households.add(row["户号"])


@given("村里有以下村民:")
def persons(world: World, datatable: list[list[str]]) -> None:
    for row in table(datatable):
        member = row.get("党员", "否") in YES
        if member and "B-V1" not in world.county.ids:
            world.county.village("V1")
        world.county.person(row["编号"], row["户号"], member_of="B-V1" if member else None)
        world.persons.add(row["编号"])


@given(P("党员 {member:W} 联系农户 {households}"))
def links(world: World, member: str, households: str) -> None:
    """党员联户: the member looks after each household named (separated by 、)."""
    for code in households.split("、"):
        world.county.link(member, code.strip())


@given(P("农户 {code:W} 自 {on:W} 起划入网格 {grid:W}"))
def household_moves(world: World, code: str, on: str, grid: str) -> None:
    world.county.move_household(code, grid, day(on))


@given(P("村民 {code:W} 自 {on:W} 起迁入农户 {household:W}"))
def person_moves(world: World, code: str, on: str, household: str) -> None:
    world.county.move_person(code, household, day(on))


@given(P("农户 {code:W} 自 {on:W} 起颜色为 {tier:W}"))
def tier_changes(world: World, code: str, on: str, tier: str) -> None:
    world.county.set_tier(code, tier, day(on))


# ============================================================================ when
@when("录入以下事件:")
@given("已录入以下事件:")
def record_one_batch(world: World, datatable: list[list[str]]) -> None:
    world.record([[world.incoming(r) for r in table(datatable)]])


@when("逐条录入以下事件:")
def record_each(world: World, datatable: list[list[str]]) -> None:
    world.record([[world.incoming(r)] for r in table(datatable)])


@when("再次录入同一批事件")
def record_again(world: World) -> None:
    world.record(world.last_batches)


@when(P("自 {on:W} 起发布规则文件:"))
def publish_version(world: World, on: str, docstring: str) -> None:
    world.publish(docstring, day(on))


@when(P("冲正事件 {event:W} 按规则 {rule:W} 的记录,理由“{reason}”"))
def reverse_entry(world: World, event: str, rule: str, reason: str) -> None:
    entry = world.entry(f"{event}/{rule}")
    assert entry is not None, f"no entry {event}/{rule}"
    world.error = None
    try:
        world.ledger.reverse(entry["id"], "secretary", reason)
    except ValueError as exc:
        world.error = exc


@when(P("结算 {point_type:W} 的 {period:W} 期"))
def close(world: World, point_type: str, period: str) -> None:
    """Close as the scheduler does: the clock is first moved past the period's end when it stands before."""
    after = datetime.combine(parse_period(period).end, time(0, 30), tzinfo=TZ).astimezone(UTC)
    world.clock.now = max(world.clock.now, after)
    world.ledger.close_period(point_type, period)


@when(P("在 {on:W} 结算 {point_type:W} 的 {period:W} 期"))
def close_on(world: World, on: str, point_type: str, period: str) -> None:
    world.clock.now = datetime.combine(day(on), time(9, 0), tzinfo=TZ).astimezone(UTC)
    world.error = None
    try:
        world.ledger.close_period(point_type, period)
    except ScoringError as exc:
        world.error = exc


@then("结转被拒绝,提示:")
def close_refused(world: World, docstring: str) -> None:
    assert isinstance(world.error, ScoringError), "the period was closed"
    assert "\n".join(p.format("zh") for p in world.error.problems) == docstring.strip()


@when(P("{code:W} 在积分超市花费 {amount:W} 分 {point_type:W}"))
def spend(world: World, code: str, amount: str, point_type: str) -> None:
    kind, ident = world.holder(code)
    with world.ledger.write_engine.begin() as conn:
        world.ledger.spend(conn, point_type, kind, ident, parse_amount(amount), f"spend:{code}:{amount}", "shop")


@when(P("在 {on:W} 清理过期记录"))
def expire(world: World, on: str) -> None:
    world.ledger.expire(day(on))


# ============================================================================ then: accounts
@then(P("{code:W} 的 {point_type:W} 余额为 {amount:W}"))
def balance_is(world: World, code: str, point_type: str, amount: str) -> None:
    kind, ident = world.holder(code)
    got = world.ledger.balance(point_type, kind, ident)[0]
    assert fmt(got) == fmt(parse_amount(amount)), f"{code} {point_type}: {fmt(got)}"


@then(P("{code:W} 的 {point_type:W} 在 {period:W} 的得分为 {amount:W}"))
def score_is(world: World, code: str, point_type: str, period: str, amount: str) -> None:
    got, _ = world.score(code, point_type, period)
    assert fmt(got) == fmt(parse_amount(amount)), f"{code} {point_type} {period}: {fmt(got)}"


@then(P("{code:W} 的 {point_type:W} 在 {period:W} 网格 {grid:W} 的得分为 {amount:W}"))
def grid_score_is(world: World, code: str, point_type: str, period: str, grid: str, amount: str) -> None:
    got, _ = world.score(code, point_type, period, grid)
    assert fmt(got) == fmt(parse_amount(amount)), f"{code} {point_type} {period} {grid}: {fmt(got)}"


@then(P("{code:W} 共有 {count:d} 条 {point_type:W} 记录"))
def entry_count(world: World, code: str, count: int, point_type: str) -> None:
    kind, ident = world.holder(code)
    with world.engine.connect() as c:
        n = c.execute(select(func.count()).select_from(Entry).where(
            Entry.holder_kind == kind, Entry.holder_id == ident, Entry.point_type == point_type)).scalar()
    assert n == count


@then(P("{code:W} 的 {point_type:W} 在 {period:W} 的等级为“{name}”"))
def grade_is(world: World, code: str, point_type: str, period: str, name: str) -> None:
    score, vetoed = world.score(code, point_type, period)
    result = grade(world.ruleset().point_types[point_type], score, vetoed)
    assert result.grade is not None and result.grade.name == name, (fmt(score), vetoed, result)


@then(P("{code:W} 的 {point_type:W} 在 {period:W} 没有等级"))
def no_grade(world: World, code: str, point_type: str, period: str) -> None:
    score, vetoed = world.score(code, point_type, period)
    assert grade(world.ruleset().point_types[point_type], score, vetoed).grade is None


@then(P("{code:W} 的 {point_type:W} 在 {period:W} 被一票否决"))
def vetoed(world: World, code: str, point_type: str, period: str) -> None:
    assert world.score(code, point_type, period)[1]


@then(P("{code:W} 距“{name}”还差 {amount:W} 分({point_type:W},{period:W})"))
def needed(world: World, code: str, name: str, amount: str, point_type: str, period: str) -> None:
    score, vetoed = world.score(code, point_type, period)
    result = grade(world.ruleset().point_types[point_type], score, vetoed)
    assert result.next_grade is not None and result.next_grade.name == name
    assert fmt(result.needed) == fmt(parse_amount(amount))


@then(P("冻结的 {point_type:W} {period:W} 等级中 {code:W} 为“{grade_key}”"))
def frozen_grade(world: World, point_type: str, period: str, code: str, grade_key: str) -> None:
    kind, ident = world.holder(code)
    with world.engine.connect() as c:
        got = c.execute(select(GradeSnapshot.grade).where(
            GradeSnapshot.point_type == point_type, GradeSnapshot.period == period,
            GradeSnapshot.holder_kind == kind, GradeSnapshot.holder_id == ident)).scalar_one()
    assert got == grade_key


# ============================================================================ then: records
@then(P("事件 {event:W} 的结果为“{status}”"))
def status_is(world: World, event: str, status: str) -> None:
    res = world.results[event]
    assert res.status == STATUS[status], (res.status, [p.format("en") for p in res.problems])


@then(P("事件 {event:W} 按规则 {rule:W} 记 {amount:W} 分"))
def entry_amount(world: World, event: str, rule: str, amount: str) -> None:
    entry = world.entry(f"{event}/{rule}")
    assert entry is not None, f"no entry for {event}/{rule}: {world.results[event]}"
    assert fmt(entry["amount"]) == fmt(parse_amount(amount))


@then(P("事件 {event:W} 按规则 {rule:W} 记 {amount:W} 分,说明为:"))
def entry_explained_zh(world: World, event: str, rule: str, amount: str, docstring: str) -> None:
    entry_amount(world, event, rule, amount)
    entry = world.entry(f"{event}/{rule}")
    assert entry is not None
    assert explanation(entry, "zh") == docstring.strip()


@then(P("事件 {event:W} 按规则 {rule:W} 的英文说明为:"))
def entry_explained_en(world: World, event: str, rule: str, docstring: str) -> None:
    entry = world.entry(f"{event}/{rule}")
    assert entry is not None
    assert explanation(entry, "en") == docstring.strip()


@then(P("事件 {event:W} 没有按规则 {rule:W} 记分"))
def no_entry(world: World, event: str, rule: str) -> None:
    assert world.entry(f"{event}/{rule}") is None


@then(P("事件 {event:W} 按规则 {rule:W} 未计分,原因是“{reason}”"))
def skipped_because(world: World, event: str, rule: str, reason: str) -> None:
    res = world.results[event]
    reasons = {rid: render(s.code, "zh", **s.params) for rid, s in res.skipped}
    assert reasons.get(rule) == reason, reasons
    assert world.entry(f"{event}/{rule}") is None


@then(P("事件 {event:W} {outcome:W},提示:"))
def rejected_with(world: World, event: str, outcome: str, docstring: str) -> None:
    res = world.results[event]
    assert res.status == {"被退回": "rejected", "已记录过": "duplicate"}[outcome], res.status
    got = "\n".join(p.format("zh") for p in res.problems) + "\n" + "\n".join(p.format("en") for p in res.problems)
    assert got == docstring.strip(), got


@then(P("事件 {event:W} 按规则 {rule:W} 的记录由第 {n:d} 版规则计分"))
def scored_by_version(world: World, event: str, rule: str, n: int) -> None:
    entry = world.entry(f"{event}/{rule}")
    assert entry is not None
    assert entry["rules_version"] == world.published[n - 1]


@then(P("事件 {event:W} 按规则 {rule:W} 的记录在网格 {grid:W}"))
def entry_grid(world: World, event: str, rule: str, grid: str) -> None:
    entry = world.entry(f"{event}/{rule}")
    assert entry is not None
    assert entry["grid_id"] == world.county.ids[grid]


@then(P("事件 {event:W} 按规则 {rule:W} 的记录记在农户 {household:W} 名下,由 {person:W} 挣得"))
def entry_holder(world: World, event: str, rule: str, household: str, person: str) -> None:
    entry = world.entry(f"{event}/{rule}")
    assert entry is not None
    assert (entry["holder_kind"], entry["holder_id"]) == ("h", world.county.ids[household])
    assert entry["person_id"] == world.county.ids[person]


# ============================================================================ then: reversal
@then(P("事件 {event:W} 按规则 {rule:W} 的记录已被冲正:一条 {amount:W} 分的新记录,说明“{text}”"))
def reversed_by(world: World, event: str, rule: str, amount: str, text: str) -> None:
    orig = world.entry(f"{event}/{rule}")
    assert orig is not None
    rev = world.entry(f"rev:{orig['id']}")
    assert rev is not None
    assert rev["id"] != orig["id"] and rev["reverses_id"] == orig["id"] and rev["kind"] == "reversal"
    assert fmt(rev["amount"]) == fmt(parse_amount(amount))
    assert explanation(rev, "zh") == text.replace("{id}", str(orig["id"]))
    # The original entry is untouched: the ledger is append-only.
    assert orig["amount"] == -rev["amount"]


@then("再次冲正被拒绝")
def reverse_refused(world: World) -> None:
    assert isinstance(world.error, ValueError) and "already reversed" in str(world.error)


# ============================================================================ then: rules versions
@then("发布被拒绝,问题为:")
def refused_with(world: World, docstring: str) -> None:
    assert isinstance(world.error, RulesFileError), "the rules file was published"
    got = "\n".join(p.format("zh") for p in world.error.problems)
    assert got == docstring.strip(), got


@then("英文问题为:")
def refused_with_en(world: World, docstring: str) -> None:
    assert isinstance(world.error, RulesFileError)
    got = "\n".join(p.format("en") for p in world.error.problems)
    assert got == docstring.strip(), got


@then(P("已发布的规则版本共 {n:d} 个"))
def version_count(world: World, n: int) -> None:
    with world.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(RulesVersion)).scalar() == n
    assert len(world.published) == n


@then(P("第 {n:d} 版规则的版本号是规则文件内容的哈希"))
def version_is_hash(world: World, n: int) -> None:
    with world.engine.connect() as c:
        source = c.execute(select(RulesVersion.source).where(RulesVersion.version == world.published[n - 1])).scalar_one()
    assert world.published[n - 1] == version_of(source)



@then(P("冻结的 {point_type:W} {period:W} 等级中 {code:W} 没有等级,记为一票否决"))
def frozen_vetoed(world: World, point_type: str, period: str, code: str) -> None:
    kind, ident = world.holder(code)
    with world.engine.connect() as c:
        got = c.execute(select(GradeSnapshot.grade, GradeSnapshot.vetoed).where(
            GradeSnapshot.point_type == point_type, GradeSnapshot.period == period,
            GradeSnapshot.holder_kind == kind, GradeSnapshot.holder_id == ident)).one()
    assert tuple(got) == ("", True)
