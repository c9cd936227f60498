"""The engine on an in-memory State: drafts, explanations, counters and problems, no database."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from scoring.engine import Engine, Outcome
from scoring.grades import closing_delta, grade
from scoring.loader import load_rules
from scoring.messages import render
from scoring.model import Event, PublishedVersion, VersionTable

SH = ZoneInfo("Asia/Shanghai")

RULES = """\
point_types:
  - {key: work, name: 零基积分, holder: person, step: 0.5, period: year, year_end: {policy: reset},
     grades: {levels: [{key: s2, name: 二星, min: 20}, {key: s1, name: 一星, min: 10}]}}
  - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year, year_end: {policy: carry, percent: 20}}
event_types:
  - {key: visit, name: 走访, subject: person, household: true}
  - key: resolved
    name: 办结
    subject: person
    household: true
    fields: [{name: days, type: int, required: true}]
  - {key: civility, name: 文明行为, subject: person, pick_rule: true}
  - key: volunteer
    name: 志愿服务
    subject: person
    fields: [{name: hours, type: decimal, required: true, label: 小时}, {name: checked_in, type: bool}]
categories:
  - {key: linkage, name: 联户, point_type: work, caps: [{window: month, max: 4}]}
rules:
  - id: V
    name: 走访
    point_type: work
    event: visit
    category: linkage
    points: {fixed: 1}
    multiplier: {by: tier, values: {yellow: 1, orange: 1.5, red: 2}}
    cooldown: {hours: 24, per: household}
  - {id: R3, name: 三日办结, point_type: work, event: resolved, when: days <= 3, points: {fixed: 5}, exclusive: r}
  - {id: R5, name: 五日办结, point_type: work, event: resolved, when: days <= 5, points: {fixed: 5}, exclusive: r}
  - {id: C1, name: 见义勇为, point_type: moral, event: civility, points: {range: [10, 50]},
     approval: {required: true, notice_days: 7}}
  - {id: C2, name: 赌博, point_type: moral, event: civility, points: {fixed: -20}, veto: true}
  - {id: H1, name: 志愿, point_type: moral, event: volunteer, when: checked_in, points: {per_unit: {field: hours, rate: 2}}}
"""


class DictState:
    """The State protocol over a dict."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], int] = {}

    def get(self, holder: str, key: str) -> int:
        return self.values.get((holder, key), 0)

    def put(self, holder: str, key: str, value: int) -> None:
        self.values[(holder, key)] = value


@pytest.fixture
def engine() -> Engine:
    return Engine(VersionTable([PublishedVersion(date(2026, 1, 1), load_rules(RULES))]))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def event(ident: str, kind: str, when: str, **kw: object) -> Event:
    fields = kw.pop("fields", {})
    return Event(ident, kind, at(when), fields, **kw)  # type: ignore[arg-type]


def visit(ident: str, when: str, household: int, tier: str) -> Event:
    return event(ident, "visit", when, person_id=1, household_id=household, attrs={"tier": tier})


def lines(outcome: Outcome, lang: str = "zh") -> list[list[str]]:
    return [[render(s.code, lang, **s.params) for s in d.steps] for d in outcome.drafts]


def test_multiplier_cooldown_and_category_cap(engine: Engine) -> None:
    state = DictState()
    first = engine.evaluate(visit("a", "2026-03-02T09:00", 7, "red"), state)
    assert [(d.rule_id, d.holder, d.amount, d.category) for d in first.drafts] == [("V", "p:1", 200, "linkage")]
    assert lines(first) == [["基础分 +1", "农户分类为红色,× 2 = +2"]]
    again = engine.evaluate(visit("b", "2026-03-02T15:00", 7, "red"), state)
    assert again.drafts == [] and [(r, s.code) for r, s in again.skipped] == [("V", "step_cooldown")]
    other = engine.evaluate(visit("c", "2026-03-02T15:00", 8, "orange"), state)
    assert [d.amount for d in other.drafts] == [150]
    capped = engine.evaluate(visit("d", "2026-03-03T15:00", 9, "red"), state)
    assert [d.amount for d in capped.drafts] == [50]
    # The category by its name, not its key: 联户 has no name_en in this file, so English shows the Chinese name.
    assert lines(capped)[0][-1] == "联户月上限 4,已得 3.5,本次计 +0.5"
    assert lines(capped, "en")[0][-1] == "联户 month cap 4, 3.5 already, this time +0.5"
    assert state.get("p:1", "cap|C:linkage|month|2026-03") == 400
    april = engine.evaluate(visit("e", "2026-04-01T09:00", 9, "red"), state)
    assert [d.amount for d in april.drafts] == [200]


def test_exclusive_ties_keep_the_earlier_rule_and_losers_write_nothing(engine: Engine) -> None:
    state = DictState()
    out = engine.evaluate(event("r", "resolved", "2026-03-02T09:00", person_id=1, household_id=7,
                                attrs={"tier": "yellow"}, fields={"days": "2"}), state)
    assert [(d.rule_id, d.amount) for d in out.drafts] == [("R3", 500)]
    assert lines(out)[0][-1] == "同组 “r” 中取最高的一项"


def test_a_rule_needing_approval_waits_and_takes_the_top_of_its_range(engine: Engine) -> None:
    state = DictState()
    out = engine.evaluate(event("b", "civility", "2026-03-02T09:00", person_id=1, home_household_id=4, rule_id="C1"), state)
    [draft] = out.drafts
    assert (draft.pending, draft.amount, draft.holder, draft.notice_days) == (True, 5000, "h:4", 7)
    assert state.values == {}
    approved = engine.evaluate(event("b", "civility", "2026-03-02T09:00", person_id=1, home_household_id=4,
                                     rule_id="C1", points=2000, approved_by="书记"), state)
    assert [(d.pending, d.amount) for d in approved.drafts] == [(False, 2000)]


def test_veto_marks_the_draft_and_bars_the_grade(engine: Engine) -> None:
    out = engine.evaluate(event("g", "civility", "2026-03-02T09:00", person_id=1, home_household_id=4, rule_id="C2"), DictState())
    [draft] = out.drafts
    assert draft.veto and draft.amount == -2000
    pt = engine.versions.at(date(2026, 3, 2)).point_types["work"]  # type: ignore[union-attr]
    assert grade(pt, 2500, vetoed=False).key == "s2"
    assert grade(pt, 2500, vetoed=True).grade is None
    g = grade(pt, 1200, vetoed=False)
    assert (g.key, g.next_grade.key if g.next_grade else "", g.needed) == ("s1", "s2", 800)


def test_per_unit_with_a_bool_condition(engine: Engine) -> None:
    state = DictState()
    yes = engine.evaluate(event("v", "volunteer", "2026-03-02T09:00", person_id=1, home_household_id=4,
                                fields={"hours": "1.75", "checked_in": "是"}), state)
    assert [d.amount for d in yes.drafts] == [350]
    assert lines(yes) == [["1.75 小时 × 2 = +3.5"]]
    no = engine.evaluate(event("w", "volunteer", "2026-03-02T09:00", person_id=1, home_household_id=4,
                               fields={"hours": "3"}), state)
    assert no.ok and no.drafts == []


@pytest.mark.parametrize(("ev", "code", "field"), [
    (event("x", "party", "2026-03-02T09:00", person_id=1), "event_type_unknown", "type"),
    (event("x", "resolved", "2026-03-02T09:00", person_id=1, household_id=7, fields={}), "event_missing", "days"),
    (event("x", "resolved", "2026-03-02T09:00", person_id=1, household_id=7, fields={"days": "two"}), "event_field_type", "days"),
    (event("x", "resolved", "2026-03-02T09:00", person_id=1, household_id=7, fields={"days": 1, "x": 1}), "event_field_unknown", "x"),
    (event("x", "visit", "2026-03-02T09:00", person_id=1), "event_missing", "household"),
    (event("x", "civility", "2026-03-02T09:00", person_id=1, home_household_id=4), "event_missing", "rule"),
    (event("x", "civility", "2026-03-02T09:00", person_id=1, home_household_id=4, rule_id="C9"), "event_field_choice", "rule"),
    (event("x", "civility", "2026-03-02T09:00", person_id=1, home_household_id=4, rule_id="C1",
           approved_by="书记"), "range_needs_points", "points"),
    (event("x", "civility", "2026-03-02T09:00", person_id=1, home_household_id=4, rule_id="C1",
           approved_by="书记", points=5100), "range_outside", "points"),
    (event("x", "civility", "2026-03-02T09:00", person_id=1, home_household_id=4, rule_id="C1",
           approved_by="书记", points=2030), "range_step", "points"),  # 20.3: inside the range, off the 0.5 step
    # A villager in no household that day: the household-held points have nowhere to go, and that is what is said.
    (event("x", "civility", "2026-03-02T09:00", person_id=1, rule_id="C2"), "no_household_at", "person"),
    (event("x", "visit", "2025-12-31T23:59", person_id=1, household_id=7), "no_rules_version", "occurred_at"),
])
def test_bad_events_are_named_and_touch_no_counter(engine: Engine, ev: Event, code: str, field: str) -> None:
    state = DictState()
    out = engine.evaluate(ev, state)
    assert not out.ok and out.drafts == []
    assert (out.problems[0].code, out.problems[0].field) == (code, field)
    assert state.values == {}


def test_the_version_in_force_on_the_local_day_scores() -> None:
    v1 = load_rules(RULES)
    v2 = load_rules(RULES.replace("points: {fixed: 1}", "points: {fixed: 3}"))
    engine = Engine(VersionTable([PublishedVersion(date(2026, 7, 1), v2), PublishedVersion(date(2026, 1, 1), v1)]))
    before = engine.evaluate(visit("a", "2026-06-30T23:59", 7, "yellow"), DictState())
    after = engine.evaluate(visit("b", "2026-07-01T00:01", 7, "yellow"), DictState())
    assert (before.ruleset, [d.amount for d in before.drafts]) == (v1, [100])
    assert (after.ruleset, [d.amount for d in after.drafts]) == (v2, [300])


@pytest.mark.parametrize(("policy", "balance", "delta"), [
    ("reset", 1300, -1300), ("reset", -250, 250), ("never", 1300, 0),
    ("carry", 1300, -1050),   # 20% of 13 = 2.6, kept 2.5 (rounded down to the step)
    ("carry", 1000, -800), ("carry", -1300, 1050), ("carry", 0, 0),
])
def test_closing_deltas(policy: str, balance: int, delta: int) -> None:
    year_end = "{policy: carry, percent: 20}" if policy == "carry" else f"{{policy: {policy}}}"
    text = RULES.replace("year_end: {policy: carry, percent: 20}", f"year_end: {year_end}")
    pt = load_rules(text).point_types["moral"]
    assert closing_delta(pt, balance) == delta


class RecordingState(DictState):
    """A DictState that notes every counter read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: set[tuple[str, str]] = set()

    def get(self, holder: str, key: str) -> int:
        self.reads.add((holder, key))
        return super().get(holder, key)


def test_counter_keys_name_every_counter_scoring_reads() -> None:
    # Storage fetches the pairs Engine.counter_keys names before scoring a batch; a pair it misses is
    # looked up alone (slowly). Every capped, floored, cooled-down and repeated rule of rules.yaml.
    from pathlib import Path

    shipped = load_rules((Path(__file__).resolve().parent.parent / "rules.yaml").read_text(encoding="utf-8"))
    eng = Engine(VersionTable([PublishedVersion(date(2026, 1, 1), shipped)]))
    member = {"person_id": 5, "home_household_id": 50, "attrs": {"tier": "red", "party_member": True, "linked": True}}
    events = [
        event("v1", "household_visit", "2026-03-02T09:00", household_id=7, **member),
        event("v2", "household_visit", "2026-03-02T15:00", household_id=7, **member),
        event("p1", "problem_raised", "2026-03-03T09:00", household_id=8, **member),
        event("s1", "volunteer_service", "2026-03-04T09:00", fields={"hours": "24", "checked_in": True}, **member),
        *(event(f"c{i}", "civility", f"2026-03-{5 + i:02d}T09:00", person_id=6, home_household_id=60, rule_id=rule)
          for i, rule in enumerate(["MB-24", "MB-24", "MB-07", "MB-07", "MB-27", "MB-27"])),
    ]
    state = RecordingState()
    for ev in events:
        day = ev.occurred_at.date()
        named = set(eng.counter_keys(ev, day))
        before = set(state.reads)
        outcome = eng.evaluate(ev, state, day=day)
        assert outcome.ok, (ev.id, outcome.problems)
        assert state.reads - before <= named, (ev.id, state.reads - before - named)
    kinds = {key.split("|")[0] for _, key in state.reads}
    assert kinds == {"cap", "last", "rep", "floor"}  # in time order; the slices (cd|…) are read only for an event entered late


def test_household_linking_scores_only_the_member_linked_to_the_household() -> None:
    # rules.yaml declares the linking event types `linked: true`: a visit to a household the member
    # does not look after (or by a villager who is no member) is refused, naming the household field.
    from pathlib import Path

    shipped = load_rules((Path(__file__).resolve().parent.parent / "rules.yaml").read_text(encoding="utf-8"))
    eng = Engine(VersionTable([PublishedVersion(date(2026, 1, 1), shipped)]))
    base = {"person_id": 5, "home_household_id": 50, "household_id": 7}
    linked = event("v1", "household_visit", "2026-03-02T09:00", attrs={"tier": "red", "party_member": True, "linked": True}, **base)
    stranger = event("v2", "household_visit", "2026-03-02T09:00", attrs={"tier": "red", "party_member": True, "linked": False}, **base)
    villager = event("v3", "problem_raised", "2026-03-02T09:00", attrs={"tier": "red", "party_member": False, "linked": False}, **base)
    assert [d.amount for d in eng.evaluate(linked, DictState()).drafts] == [200]
    for ev in (stranger, villager):
        out = eng.evaluate(ev, DictState())
        assert not out.drafts
        assert [(p.code, p.field) for p in out.problems] == [("event_not_linked", "household")]
        assert "联系党员" in out.problems[0].message("zh") and "register the link" in out.problems[0].message("en")


def test_a_number_outside_its_declared_bounds_is_refused_naming_the_field() -> None:
    from pathlib import Path

    shipped = load_rules((Path(__file__).resolve().parent.parent / "rules.yaml").read_text(encoding="utf-8"))
    eng = Engine(VersionTable([PublishedVersion(date(2026, 1, 1), shipped)]))
    person = {"person_id": 6, "home_household_id": 60, "attrs": {"party_member": False}}
    for hours, code in (("-5", "event_field_min"), ("0", "event_field_min"), ("1e9", "event_field_max")):
        out = eng.evaluate(event("s", "volunteer_service", "2026-03-04T09:00", fields={"hours": hours}, **person), DictState())
        assert not out.drafts and [(p.code, p.field) for p in out.problems] == [(code, "hours")]
    out = eng.evaluate(event("s", "volunteer_service", "2026-03-04T09:00", fields={"hours": "-5"}, **person), DictState())
    # Named by its label, as a 台账 heads the column; the problem's field stays the key an API client sends.
    assert out.problems[0].message("zh") == "字段 “小时” 不能小于 0.5,收到 “-5”;请核对数值(扣分请用扣分项,不要填负数)"
    assert out.problems[0].message("en").startswith("field 'Hours' cannot be less than 0.5, got '-5'")
    good = eng.evaluate(event("s", "volunteer_service", "2026-03-04T09:00", fields={"hours": "24"}, **person), DictState())
    assert good.ok and good.drafts
    # The Party-work rule of volunteering is passed over for a villager who is no member, and says so.
    assert {d.point_type for d in good.drafts} == {"moral", "volunteer_hours"}
    [(rule, step)] = good.skipped
    assert rule == "PM-13" and render(step.code, "zh", **step.params) == "不是党员,不记零基积分"
    assert render(step.code, "en", **step.params) == "not a Party member: no Party work points"


def test_points_a_record_names_for_a_rule_that_sets_its_own_are_refused_not_ignored() -> None:
    from pathlib import Path

    shipped = load_rules((Path(__file__).resolve().parent.parent / "rules.yaml").read_text(encoding="utf-8"))
    eng = Engine(VersionTable([PublishedVersion(date(2026, 1, 1), shipped)]))
    villager = {"person_id": 6, "home_household_id": 60, "attrs": {"party_member": False}}
    fixed = next(r for r in shipped.rules.values() if r.event_type == "civility" and not r.chooses_points)
    out = eng.evaluate(event("c", "civility", "2026-03-04T09:00", rule_id=fixed.id, points="9999", **villager), DictState())
    assert not out.drafts and [(p.code, p.field) for p in out.problems] == [("points_not_chosen", "points")]
    assert out.problems[0].message("zh").startswith("记录写了分值 9999,但规则")
    plain = eng.evaluate(event("c", "civility", "2026-03-04T09:00", rule_id=fixed.id, **villager), DictState())
    assert plain.ok and plain.drafts


CAPPED = """\
point_types:
  - {key: work, name: 零基积分, holder: person, step: 0.5, period: year}
event_types:
  - {key: lesson, name: 党课, subject: person}
categories:
  - {key: learning, name: 学习教育, point_type: work, caps: [{window: month, max: 5}]}
rules:
  - {id: L1, name: 党课, point_type: work, event: lesson, category: learning, points: {fixed: 4}, caps: [{window: year, max: 10}]}
"""


def test_a_rule_cap_counts_what_the_category_cap_left_not_what_it_let_through() -> None:
    # L1 gives 4, at most 10 a year, in a category of at most 5 a month. March: 4, then 1 (the
    # category's cap); the rule's year counter must read 5, not 8, or May is refused points it may have.
    eng = Engine(VersionTable([PublishedVersion(date(2026, 1, 1), load_rules(CAPPED))]))
    state = DictState()
    amounts = []
    for ident, day in (("a", "2026-03-02"), ("b", "2026-03-03"), ("c", "2026-04-02"), ("d", "2026-05-02")):
        out = eng.evaluate(event(ident, "lesson", f"{day}T10:00", person_id=1), state)
        amounts.append([d.amount for d in out.drafts])
        if ident == "b":
            assert state.get("p:1", "cap|R:L1|year|2026") == 500
            assert state.get("p:1", "cap|C:learning|month|2026-03") == 500
    assert amounts == [[400], [100], [400], [100]]
    assert state.get("p:1", "cap|R:L1|year|2026") == 1000
    assert state.get("p:1", "cap|C:learning|month|2026-05") == 100


HUGE = """\
point_types:
  - {key: moral, name: 道德积分, holder: person, step: 0.5}
event_types:
  - {key: volunteer, name: 志愿服务, subject: person, fields: [{name: hours, type: decimal, required: true}]}
  - {key: deed, name: 好人好事, subject: person}
rules:
  - {id: H1, name: 志愿, point_type: moral, event: volunteer, points: {per_unit: {field: hours, rate: 2}}}
  - {id: D1, name: 好事, point_type: moral, event: deed, points: {fixed: 1000000000}, repeat: {within_days: 30, factor: 100}}
"""


def test_an_amount_past_the_largest_entry_is_refused_not_overflowed() -> None:
    eng = Engine(VersionTable([PublishedVersion(date(2026, 1, 1), load_rules(HUGE))]))
    state = DictState()
    out = eng.evaluate(event("v", "volunteer", "2026-03-02T09:00", person_id=1, fields={"hours": "1e20"}), state)
    assert not out.drafts and [(p.code, p.field) for p in out.problems] == [("amount_too_large", "hours")]
    assert out.problems[0].message("zh").startswith("按规则 H1 算出的分值 200000000000000000000 超过单条上限 1000000000 分,未记录")
    assert "more than the 1000000000 one entry may hold" in out.problems[0].message("en")
    assert state.values == {}
    first = eng.evaluate(event("d1", "deed", "2026-03-02T09:00", person_id=1), state)
    assert [d.amount for d in first.drafts] == [100_000_000_000]  # a billion points: the most one entry holds
    again = eng.evaluate(event("d2", "deed", "2026-03-03T09:00", person_id=1), state)
    assert not again.drafts and [(p.code, p.field) for p in again.problems] == [("amount_too_large", "points")]


def test_a_visit_entered_late_is_held_to_the_cooldown_of_the_visit_it_repeats(engine: Engine) -> None:
    """One visit a day per household counts, whatever order the visits are entered in."""
    state = DictState()
    assert [d.amount for d in engine.evaluate(visit("e0", "2026-03-18T06:00", 7, "red"), state).drafts] == [200]
    assert [d.amount for d in engine.evaluate(visit("e1", "2026-05-23T06:00", 7, "red"), state).drafts] == [200]
    late = engine.evaluate(visit("e2", "2026-03-18T20:00", 7, "red"), state)  # the same day as e0, entered after May's
    assert late.drafts == [] and [s.code for _, s in late.skipped] == ["step_cooldown"]
    later_still = engine.evaluate(visit("e3", "2026-03-17T05:00", 7, "red"), state)  # 25 hours before e0: counts
    assert [d.amount for d in later_still.drafts] == [200]


def test_an_offence_entered_late_is_a_repeat_of_the_earlier_one_within_its_window() -> None:
    """MB-24 (-5, twice as much again within 30 days): the factor follows the dates, not the order of entry."""
    from pathlib import Path

    shipped = load_rules((Path(__file__).resolve().parent.parent / "rules.yaml").read_text(encoding="utf-8"))
    eng = Engine(VersionTable([PublishedVersion(date(2026, 1, 1), shipped)]))

    def amounts(order: list[tuple[str, str]]) -> dict[str, int]:
        state, out = DictState(), {}
        for ident, when in order:
            drafts = eng.evaluate(event(ident, "civility", when, person_id=6, home_household_id=60, rule_id="MB-24"), state).drafts
            out[ident] = drafts[0].amount
        return out

    in_order = amounts([("a", "2026-03-01T09:00"), ("c", "2026-03-10T09:00"), ("b", "2026-06-01T09:00")])
    entered_late = amounts([("a", "2026-03-01T09:00"), ("b", "2026-06-01T09:00"), ("c", "2026-03-10T09:00")])
    assert in_order == entered_late == {"a": -500, "c": -1000, "b": -500}  # c repeats a; b is 83 days after c


def test_a_vetoing_offence_is_recorded_even_when_the_floor_took_all_its_points() -> None:
    """一票否决: PM-06 (a breach of the law) bars the grade; a floor used up by earlier deductions must not hide it."""
    from pathlib import Path

    shipped = load_rules((Path(__file__).resolve().parent.parent / "rules.yaml").read_text(encoding="utf-8"))
    eng = Engine(VersionTable([PublishedVersion(date(2026, 1, 1), shipped)]))
    state = DictState()
    member = {"person_id": 5, "home_household_id": 50, "attrs": {"party_member": True}, "approved_by": "sec"}
    for i, kind in enumerate(["lavish", "lavish", "lavish", "lavish"]):  # deductions until the floor of 20 a year is used
        eng.evaluate(event(f"m{i}", "misconduct", f"2026-04-0{i + 1}T09:00", fields={"kind": kind}, **member), state)
    law = eng.evaluate(event("law", "misconduct", "2026-04-09T09:00", fields={"kind": "law"}, **member), state)
    assert [(d.rule_id, d.amount, d.veto) for d in law.drafts] == [("PM-06", 0, True)]
    assert [s.code for s in law.drafts[0].steps][-1] == "step_floor"  # its explanation says why it is 0
