"""Loading a rules file: every problem with its line and column, all at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scoring.errors import RulesFileError
from scoring.loader import check_rules, load_rules, version_of

ROOT = Path(__file__).resolve().parent.parent

HEAD = """\
point_types:
  - key: moral
    name: 道德积分
    holder: household
    step: 0.5
event_types:
  - key: deed
    name: 好人好事
    subject: person
    fields:
      - {name: hours, type: decimal}
      - name: kind
        type: choice
        choices: [snow, wedding]
rules:
"""  # the rules start at line 16


def where(text: str) -> list[tuple[int, int, str]]:
    return [(p.line, p.column, p.code) for p in check_rules(text)]


def test_the_shipped_rules_load() -> None:
    text = (ROOT / "rules.yaml").read_text(encoding="utf-8")
    ruleset = load_rules(text)
    assert ruleset.version == version_of(text) and len(ruleset.version) == 12
    assert {"party_work", "moral", "volunteer_hours"} <= ruleset.point_types.keys()
    assert ruleset.rules["LH-01"].name == "走访联系户"
    assert [r.id for r in ruleset.by_event["problem_resolved"]] == ["LH-03", "LH-04"]
    assert ruleset.point_types["moral"].year_end.carry_percent == 20


def test_a_good_file_has_no_problem() -> None:
    assert check_rules(HEAD + "  - {id: R1, name: 一, point_type: moral, event: deed, points: {fixed: 1}}\n") == []


def test_duplicate_ids_name_both_lines() -> None:
    text = HEAD + (
        "  - {id: R1, name: 一, point_type: moral, event: deed, points: {fixed: 1}}\n"
        "  - {id: R1, name: 二, point_type: moral, event: deed, points: {fixed: 2}}\n"
    )
    [problem] = check_rules(text, "county.yaml")
    assert problem.format("zh") == "county.yaml:17:10: 编号 “R1” 重复,第一次出现在第 16 行"
    assert problem.format("en") == "county.yaml:17:10: id 'R1' is used twice; first at line 16"


def test_an_unknown_point_type_is_placed_at_its_value() -> None:
    text = HEAD + "  - id: R1\n    name: 一\n    point_type: morale\n    event: deed\n    points: {fixed: 1}\n"
    [problem] = check_rules(text)
    assert problem.format("en") == (
        "rules.yaml:18:17: unknown point type 'morale'; defined: moral. Check the spelling, or define it first"
    )
    assert problem.format("zh").startswith("rules.yaml:18:17: 未定义的积分类型 “morale”")


@pytest.mark.parametrize(("when", "column"), [
    ("hourz > 1", 11),            # plain: the condition starts at column 11
    ('"hourz > 1"', 12),          # quoted: one column further
    ("hours > 1 and hourz > 1", 25),
])
def test_a_condition_naming_a_missing_field_points_at_the_name(when: str, column: int) -> None:
    text = HEAD + f"  - id: R1\n    name: 一\n    point_type: moral\n    event: deed\n    when: {when}\n    points: {{fixed: 1}}\n"
    [problem] = check_rules(text)
    assert (problem.line, problem.column, problem.code) == (20, column, "expr_name")
    assert "'hourz'" in problem.message("en") and "hours, kind" in problem.message("en")


def test_several_problems_are_reported_at_once_in_file_order() -> None:
    text = HEAD + """\
  - id: R1
    name: 一
    point_type: moral
    event: deed
    when: kind == "funeral"
    points: {fixed: 1.25}
    colour: red
  - id: R2
    name: 二
    point_type: moral
    event: dead
    points: {fixed: 1}
  - id: R3
    name: 三
    point_type: moral
    event: deed
    points: {per_unit: {field: kind, rate: 1}}
    cooldown: {hours: x}
    caps:
      - {window: fortnight, max: 3}
  - id: R3
    name: 四
    point_type: moral
    event: deed
    when: hours ** 2 > 1
    points: {fixed: 1}
"""
    assert where(text) == [
        (20, 19, "expr_choice"),     # "funeral"
        (21, 13, "bad_step"),        # 1.25 is not a multiple of 0.5
        (22, 5, "unknown_key"),      # colour
        (26, 12, "unknown_ref"),     # event type dead
        (32, 13, "per_unit_field"),  # a choice field is not a quantity
        (33, 23, "bad_int"),         # hours: x
        (35, 18, "bad_choice"),      # fortnight
        (36, 9, "duplicate_id"),     # R3 again, and its own problem too
        (40, 11, "expr_node"),       # ** is not allowed
    ]
    with pytest.raises(RulesFileError) as info:
        load_rules(text)
    assert len(info.value.problems) == 9


def test_an_empty_value_is_placed_at_its_key() -> None:
    text = HEAD + "  - id: R1\n    name: 一\n    point_type: moral\n    event: deed\n    when:\n    points: {fixed: 1}\n"
    assert where(text) == [(20, 5, "bad_text")]


def test_missing_keys_are_named() -> None:
    text = HEAD + "  - id: R1\n    point_type: moral\n    event: deed\n"
    assert sorted(p.params["key"] for p in check_rules(text)) == ["name", "points"]


@pytest.mark.parametrize(("text", "line", "column", "code", "zh", "detail"), [
    ("rules:\n  - id: a\n    name: [x, y\n  - id: b\n", 4, 7, "yaml_flow_seq",
     "第 3 行开始的方括号 [ 没有配对的 ],或其中两项之间缺少逗号;请补上 ] 或逗号", "expected ',' or ']'"),
    ("rules:\n\t- id: a\n", 2, 1, "yaml_tab",
     "这里有 Tab 制表符;YAML 只能用空格缩进,请把 Tab 换成空格", "found character '\\t' that cannot start any token"),
    ("title: a\ntitle: b\n", 2, 1, "yaml_duplicate",
     "配置项 “title” 在同一层写了两次(第一次在第 1 行);请删去或合并其中一个", 'found duplicate key "title"'),
    ("point_types:\n  - {key: moral, name: 道德积分\nrules: []\n", 3, 6, "yaml_flow_map",
     "第 2 行开始的花括号 { 没有配对的 },或其中两项之间缺少逗号;请补上 } 或逗号", "expected ',' or '}'"),
    ("title: 细则: 2026\n", 1, 10, "yaml_colon_here",
     "这里不能再出现 “键: 值”:可能是缩进不对,或文字里含有 “: ”;含冒号的文字请加引号", "mapping values are not allowed here"),
    ("rules:\n  - id: a\n    name\n    event: b\n", 4, 5, "yaml_no_colon",
     "第 3 行缺少冒号:每一项应写作 “键: 值”(冒号后加空格)", "could not find expected ':'"),
    ("rules:\n  - id: a\n     name: b\n", 3, 10, "yaml_colon_here",
     "这里不能再出现 “键: 值”:可能是缩进不对,或文字里含有 “: ”;含冒号的文字请加引号", "mapping values are not allowed here"),
    ("rules:\n  - id: a\n - id: b\n", 3, 2, "yaml_indent",
     "缩进不齐:同一层的项要用同样多的空格对齐,下一层多缩进两个空格", "expected <block end>"),
    ('title: "细则\n', 1, 1, "yaml_quote", "第 1 行的引号没有配对;请在文字末尾补上同样的引号", "found unexpected end of stream"),
    # an unclosed quote swallows the lines below it up to the next quote: named where it was opened
    ('title: "细则\ntimezone: Asia/Shanghai\nrules:\n  - {id: A, name: "x"}\n', 1, 1, "yaml_quote", "第 1 行的引号没有配对;请在文字末尾补上同样的引号", ""),
    ("title: @县\n", 1, 8, "yaml_char", '值不能以 “@” 开头;请给这个值加引号,如 "@…"', "cannot start any token"),
])
def test_yaml_syntax_errors_are_placed_and_explained(
    text: str, line: int, column: int, code: str, zh: str, detail: str
) -> None:
    [problem] = check_rules(text)
    assert (problem.line, problem.column, problem.code) == (line, column, code)
    assert problem.message("zh") == zh
    # English readers get the fix and, for the record, the parser's own words.
    assert detail in problem.message("en")


def test_an_unusual_yaml_error_keeps_a_chinese_lead_and_the_parser_words() -> None:
    [problem] = check_rules("title: !!binary 细\n")
    assert problem.code == "yaml_syntax"
    assert problem.message("zh").startswith("YAML 语法错误(解析器原文:")
    assert problem.message("zh").endswith("检查缩进(用空格,不用 Tab)和冒号后的空格")


def test_a_file_that_is_not_a_mapping() -> None:
    assert where("- a\n- b\n") == [(1, 1, "not_mapping")]


def test_settings_problems() -> None:
    text = "timezone: Mars/Olympus\n" + HEAD.replace("step: 0.5", "step: 0.5\n    year_end: {policy: carry, percent: 120}")
    text += "  - {id: R1, name: 一, point_type: moral, event: deed, points: {range: [5, 1]}}\n"
    assert [c for _, _, c in where(text)] == ["bad_timezone", "bad_int_range", "bad_range"]


def test_grade_thresholds_must_go_down() -> None:
    text = HEAD.replace("step: 0.5", "step: 0.5\n    grades:\n      levels:\n        - {key: a, name: 一星, min: 10}\n        - {key: b, name: 二星, min: 20}")
    text += "  - {id: R1, name: 一, point_type: moral, event: deed, points: {fixed: 1}}\n"
    assert [c for _, _, c in where(text)] == ["grade_order"]


def test_a_person_point_type_cannot_be_scored_by_a_household_event() -> None:
    text = HEAD.replace("holder: household", "holder: person").replace("subject: person", "subject: household")
    text += "  - {id: R1, name: 一, point_type: moral, event: deed, points: {fixed: 1}}\n"
    [problem] = check_rules(text)
    assert problem.code == "no_subject" and problem.line == 16


def test_members_only_is_for_person_held_types_and_placed_when_given_to_a_household() -> None:
    rule = "  - {id: R1, name: 好人好事, point_type: moral, event: deed, points: {fixed: 1}}\n"
    household = HEAD.replace("    step: 0.5\n", "    step: 0.5\n    members_only: true\n") + rule
    assert where(household) == [(6, 19, "members_only_person")]
    person = household.replace("holder: household", "holder: person")
    assert where(person) == []
    assert load_rules(person).point_types["moral"].members_only
    assert not load_rules(HEAD + rule).point_types["moral"].members_only  # not said, a household's: everyone's
    # Not said, a person's tally that starts from zero each year (零基, as texts published before the key meant it):
    zero_based = (HEAD + rule).replace("holder: household", "holder: person").replace("    step: 0.5\n", "    step: 0.5\n    year_end: {policy: reset}\n")
    assert load_rules(zero_based).point_types["moral"].members_only
    opened = zero_based.replace("    year_end: {policy: reset}\n", "    year_end: {policy: reset}\n    members_only: false\n")
    assert not load_rules(opened).point_types["moral"].members_only
    assert where(person.replace("members_only: true", "members_only: 是")) == [(6, 19, "bad_choice")]


def test_linked_is_placed_when_the_event_type_names_no_household() -> None:
    text = HEAD.replace("    subject: person\n", "    subject: person\n    linked: true\n") + "  - {id: R1, name: 好人好事, point_type: moral, event: deed, points: {fixed: 1}}\n"
    assert where(text) == [(10, 13, "linked_needs_household")]
    fixed = text.replace("    linked: true\n", "    household: true\n    linked: true\n")
    assert where(fixed) == []


def test_field_bounds_are_numbers_on_number_fields_low_before_high() -> None:
    rule = "  - {id: R1, name: 好人好事, point_type: moral, event: deed, points: {fixed: 1}}\n"
    good = HEAD.replace("{name: hours, type: decimal}", "{name: hours, type: decimal, min: 0.5, max: 24}") + rule
    assert where(good) == []
    assert load_rules(good).event_types["deed"].fields["hours"].high == 24
    swapped = HEAD.replace("{name: hours, type: decimal}", "{name: hours, type: decimal, min: 24, max: 1}") + rule
    assert [c for _, _, c in where(swapped)] == ["bad_range"]
    word = HEAD.replace("{name: hours, type: decimal}", "{name: hours, type: decimal, max: lots}") + rule
    assert [c for _, _, c in where(word)] == ["bad_number"]
    on_choice = HEAD.replace("        type: choice\n", "        type: choice\n        min: 1\n") + rule
    assert [c for _, _, c in where(on_choice)] == ["bound_needs_number"]


def test_fixed_points_above_the_rules_own_cap_are_named() -> None:
    text = HEAD + "  - {id: R1, name: 好人好事, point_type: moral, event: deed, points: {fixed: 20}, caps: [{window: month, max: 15}]}\n"
    [problem] = check_rules(text)
    assert problem.code == "cap_below_points" and problem.line == 16  # the rules start at line 16
    assert problem.message("zh").startswith("规则 R1 每次记 20 分,却超过它自己的月上限 15")
    assert where(text.replace("max: 15", "max: 20")) == []


def test_validity_dates_are_read_from_the_text_as_dates() -> None:
    # The parser no longer builds dates itself (2026-02-30 raised with no place): Node.day does.
    from datetime import date

    text = HEAD + "  - {id: R1, name: 一, point_type: moral, event: deed, points: {fixed: 1}, valid: {from: 2026-03-01, to: 2026-12-31}}\n"
    [valid] = [f for f in load_rules(text).rules["R1"].features if f.key == "valid"]
    assert (valid.start, valid.end) == (date(2026, 3, 1), date(2026, 12, 31))  # type: ignore[attr-defined]
    assert load_rules(HEAD.replace("name: 好人好事", "name: 2026-03-01") + "  - {id: R1, name: 一, point_type: moral, event: deed, points: {fixed: 1}}\n"
                      ).event_types["deed"].name == "2026-03-01"


@pytest.mark.parametrize(("valid", "code"), [
    ("{from: 2026-02-30, to: 2026-12-31}", "bad_date_day"),
    ("{from: 2026-03-01 08:00:00}", "bad_date_time"),
    ("{from: 2026-03-01 08:00:00, to: 2026-12-31}", "bad_date_time"),
    ("{from: 2026-03-01, to: 2026-12-31t23:59:59Z}", "bad_date_time"),
    ("{from: 20260301}", "bad_date"),
])
def test_a_date_that_is_no_day_or_has_a_time_is_placed(valid: str, code: str) -> None:
    text = HEAD + f"  - {{id: R1, name: 一, point_type: moral, event: deed, points: {{fixed: 1}}, valid: {valid}}}\n"
    [(line, _, found)] = where(text)
    assert (line, found) == (16, code)


def test_a_datetime_value_is_no_date() -> None:
    from datetime import datetime

    from scoring.loader import Document, Node

    doc = Document("rules.yaml")
    assert Node(datetime(2026, 3, 1, 8), doc, 3, 9, "valid.from").day() is None
    assert [p.code for p in doc.problems] == ["bad_date_time"]


@pytest.mark.parametrize(("text", "place", "code"), [
    ("title: !!int 0x\n", (1, 8), "yaml_value"),
    ("title: !!float abc\n", (1, 8), "yaml_value"),
    ("title: a\nrules:\n  - {id: R1,\x0c name: 一}\n", (3, 13), "yaml_control_char"),
    ("title: a\nnote: " + "[" * 3000 + "]" * 3000 + "\n", (2, 56), "yaml_too_deep"),
    ("title: a\nnote:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(2000)), (52, 101), "yaml_too_deep"),
])
def test_text_the_parser_refuses_is_a_placed_problem_never_a_crash(text: str, place: tuple[int, int], code: str) -> None:
    [problem] = check_rules(text)
    assert ((problem.line, problem.column), problem.code) == (place, code)
    for lang in ("zh", "en"):  # every parameter filled in
        assert not re.search(r"\{\w+\}", problem.message(lang)), problem.message(lang)


def test_a_full_width_comma_between_roles_is_named_once_where_it_was_typed(rules_text: str) -> None:
    broken = rules_text.replace("roles: [villager, party_member,", "roles: [villager，party_member,", 1)
    problems = check_rules(broken)
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if text.startswith("roles:"))
    assert [(p.line, p.code) for p in problems] == [(line, "full_width_separator")]  # not once per rule naming villager
    assert "全角的 “，”" in problems[0].message("zh") and "ASCII ','" in problems[0].message("en")


def test_an_exclusive_group_across_point_types_is_refused(rules_text: str) -> None:
    """Only the highest of a group counts: 6 moral points and 3 volunteer hours are not comparable."""
    mixed = (rules_text.replace("  - id: MB-V1\n", "  - id: MB-V1\n    exclusive: service\n", 1)
             .replace("  - id: VH-01\n", "  - id: VH-01\n    exclusive: service\n", 1))
    [problem] = check_rules(mixed)
    assert problem.code == "exclusive_types" and "MB-V1" in problem.message("zh") and "volunteer_hours" in problem.message("en")


@pytest.mark.parametrize(("before", "after", "code"), [
    ("year_end: {policy: reset}", "year_end: {policy: reset, percent: 20}", "percent_without_carry"),
    ("repeat: {within_days: 30, factor: 2}", "repeat: {within_days: 0, factor: 2}", "bad_int_range"),
    ("    period: year\n    year_end: {policy: never}\n", "    period: year\n    validity_days: 0\n    year_end: {policy: never}\n", "bad_int_range"),
])
def test_a_setting_that_would_be_silently_ignored_is_named(rules_text: str, before: str, after: str, code: str) -> None:
    assert before in rules_text
    [problem] = check_rules(rules_text.replace(before, after, 1))
    assert problem.code == code


def test_a_text_published_before_a_check_was_added_still_loads_for_the_ledger(rules_text: str) -> None:
    """A version in force is not unpublished by a stricter check: the ledger loads it, check still names it."""
    from scoring.errors import RulesFileError
    from scoring.loader import load_rules

    old = (rules_text.replace("year_end: {policy: reset}", "year_end: {policy: reset, percent: 0}", 1)
           .replace("repeat: {within_days: 30, factor: 2}", "repeat: {within_days: 0, factor: 2}", 1))
    assert [p.code for p in check_rules(old)] == ["percent_without_carry", "bad_int_range"]
    with pytest.raises(RulesFileError):
        load_rules(old)  # not publishable again as it is
    ruleset = load_rules(old, published=True)
    assert ruleset.point_types["party_work"].year_end.policy == "reset"
    assert "MB-24" in ruleset.rules and all(f.key != "repeat" for f in ruleset.rules["MB-24"].features)
    broken = rules_text.replace("step: 0.5", "step: zero", 1)
    with pytest.raises(RulesFileError):
        load_rules(broken, published=True)  # what was always refused stays refused


def test_dates_written_as_yaml_and_python_read_them_before_are_still_dates(rules_text: str) -> None:
    from scoring.loader import load_rules

    for written in ("2026-3-1", "'20260301'", "'2026-03-01'"):
        text = rules_text.replace("valid: {from: 2026-03-01,", f"valid: {{from: {written},", 1)
        assert check_rules(text) == [], written
        assert load_rules(text).rules["MB-11"].features  # the window is read
