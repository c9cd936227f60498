"""One mistake in the shipped rules file gives exactly one problem, worded with its fix.

Each case breaks one value of ``rules.yaml`` and asserts the whole list a checker prints:
a bad value in a point type, event type, category or tier must not make every rule that
names it "unknown" (the cascade reviewers saw: one ``step: abc`` gave 39 problems).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.loader import check_rules

SHIPPED = (Path(__file__).resolve().parent.parent / "rules.yaml").read_text(encoding="utf-8")
PARTY_WORK = "    step: 0.5\n    period: year\n    year_end: {policy: reset}"  # the first point type
GRADES = SHIPPED[SHIPPED.index("    grades:\n      name: 星级党员") : SHIPPED.index("\n  - key: moral") + 1]
RESOLVED = "    name: 问题办结(户确认)\n    subject: person\n    household: true"  # an event type with a condition on it


def checked(old: str, new: str) -> list[str]:
    """The problems of the shipped file with ``old`` replaced by ``new`` (once), in Chinese."""
    assert old in SHIPPED
    return [p.format("zh") for p in check_rules(SHIPPED.replace(old, new, 1))]


def test_the_shipped_file_has_no_problem() -> None:
    assert checked("", "") == []


@pytest.mark.parametrize(("old", "new", "expected"), [
    # -- point types: 38 rules use party_work; none of them may be reported
    (PARTY_WORK, PARTY_WORK.replace("0.5", "abc"),
     "rules.yaml:27:11: “abc” 不是精确的分值;请写成数字,如 5 或 0.5(最多两位小数,不超过 10 亿)"),
    (PARTY_WORK, PARTY_WORK.replace("0.5", "0"), "rules.yaml:27:11: 步长 “0” 必须大于 0;请写成正数,如 0.5 或 1"),
    (PARTY_WORK, PARTY_WORK.replace("step", "stpe"), "rules.yaml:27:5: 未知的配置项 “stpe”;是不是 “step”?请改正拼写"),
    ("    holder: person\n    unit: 分\n    step: 0.5\n    period: year\n    year_end: {policy: reset}",
     "    holder: persn\n    unit: 分\n    step: 0.5\n    period: year\n    year_end: {policy: reset}",
     "rules.yaml:25:13: “persn” 不是可选值之一:person, household"),
    (PARTY_WORK, PARTY_WORK.replace("period: year", "period: yearly"),
     "rules.yaml:28:13: “yearly” 不是可选值之一:month, quarter, year"),
    ("year_end: {policy: reset}", "year_end: {policy: zero}", "rules.yaml:29:24: “zero” 不是可选值之一:reset, carry, never"),
    ("        - {key: star5, name: 五星党员, min: 120}", "        - {key: star5, name: 五星党员, min: lots}",
     "rules.yaml:34:41: “lots” 不是精确的分值;请写成数字,如 5 或 0.5(最多两位小数,不超过 10 亿)"),
    (GRADES, "    grades: stars\n",
     "rules.yaml:31:13: 这里应为键值映射(key: value)。检查缩进(用空格,不用 Tab)和冒号后的空格"),
    ("    name: 零基积分\n", "    name:\n", "rules.yaml:22:5: 缺少必填项 “name”"),
    # -- event types: rules on problem_resolved use its field and the household tier
    (RESOLVED, RESOLVED.replace("subject: person", "subject: persn"),
     "rules.yaml:92:14: “persn” 不是可选值之一:person, household"),
    (RESOLVED, RESOLVED.replace("household: true", "household: yes"),
     "rules.yaml:93:16: “yes” 不是可选值之一:true, false"),
    (RESOLVED, RESOLVED.replace("household", "househld"),
     "rules.yaml:93:5: 未知的配置项 “househld”;是不是 “household”?请改正拼写"),
    ("{name: days_to_resolve, type: int,", "{name: days_to_resolve, type: integer,",
     "rules.yaml:96:39: “integer” 不是可选值之一:int, decimal, text, choice, bool, date"),
    ("{name: days_to_resolve, type: int,", "{nme: days_to_resolve, type: int,",
     "rules.yaml:96:10: 未知的配置项 “nme”;是不是 “name”?请改正拼写"),
    ("min: 0, max: 366", "min: none, max: 366", "rules.yaml:96:65: “none” 应为数字,例如 24 或 0.5"),
    ("choices: [present, late, early, absent]", "choices: [present, late, early, {x: 1}]",
     "rules.yaml:120:70: “choices” 中的这一项应为非空文字"),
    # -- categories and tiers: rules name the category, conditions and multipliers the tier
    ("    name: 党员联户\n    point_type: party_work", "    name: 党员联户\n    point_type: party_wrk",
     "rules.yaml:160:17: 未定义的积分类型 “party_wrk”;已定义:party_work, moral, volunteer_hours。检查拼写,或先在上面定义它"),
    ("    name: 党员联户\n", "    name:\n", "rules.yaml:158:5: 缺少必填项 “name”"),
    ("      - {window: month, max: 40}\n  - key: party_conduct", "      - {window: fortnight, max: 40}\n  - key: party_conduct",
     "rules.yaml:162:18: “fortnight” 不是可选值之一:day, week, month, quarter, year, total"),
    ("floor: {base: 20, window: year}", "floor: {base: twenty, window: year}",
     "rules.yaml:166:19: “twenty” 不是精确的分值;请写成数字,如 5 或 0.5(最多两位小数,不超过 10 亿)"),
    ("{key: red, name: 红色,", "{key: red, name: [x],", "rules.yaml:17:22: “name” 应为非空文字"),
])
def test_one_bad_value_is_one_problem(old: str, new: str, expected: str) -> None:
    assert checked(old, new) == [expected]


def test_a_bad_step_is_one_problem_in_english_too() -> None:
    broken = SHIPPED.replace(PARTY_WORK, PARTY_WORK.replace("0.5", "abc"), 1)
    assert [p.format("en") for p in check_rules(broken)] == [
        "rules.yaml:27:11: 'abc' is not an exact amount; write a number such as 5 or 0.5 (at most two decimals, at most a billion)"
    ]


def test_a_real_problem_of_a_rule_is_still_reported_beside_its_broken_type() -> None:
    # The point type's holder is unknown, but a rule's own bad amount is its own mistake.
    old = "    holder: person\n    unit: 分\n    step: 0.5\n    period: year\n    year_end: {policy: reset}"
    text = SHIPPED.replace(old, old.replace("person", "persn"), 1).replace("points: {fixed: 5}", "points: {fixed: 5.25}", 1)
    assert [p.format("zh") for p in check_rules(text)] == [
        "rules.yaml:25:13: “persn” 不是可选值之一:person, household",
        "rules.yaml:207:13: 分值 5.25 不是步长 0.5 的整数倍",
    ]


@pytest.mark.parametrize(("old", "new", "zh", "en"), [
    ("points: {fixed: 5}", "points: {fixed: five}",
     "rules.yaml:207:21: “five” 不是精确的分值;请写成数字,如 5 或 0.5(最多两位小数,不超过 10 亿)",
     "rules.yaml:207:21: 'five' is not an exact amount; write a number such as 5 or 0.5 (at most two decimals, at most a billion)"),
    ("when: days_to_resolve <= 3", "when: len(days_to_resolve) <= 3",
     "rules.yaml:206:11: 条件中不能使用函数调用(如 len(x))。"
     "条件只能写字段名、数字、加引号的文字、比较(== != < <= > >= in)和 and / or / not",
     "rules.yaml:206:11: function calls such as len(x) cannot be used in a condition. "
     "A condition may use field names, numbers, quoted text, comparisons (== != < <= > >= in) and and / or / not"),
    ("when: days_to_resolve <= 3", "when: days_to_resolve =< 3",
     "rules.yaml:206:27: 条件写法有误(第 17 个字符附近)。“小于等于”写作 <=,“大于等于”写作 >=",
     "rules.yaml:206:27: the condition cannot be read near character 17 (invalid syntax). "
     "Write 'at most' as <= and 'at least' as >="),
])
def test_messages_name_the_fix_in_both_languages(old: str, new: str, zh: str, en: str) -> None:
    assert old in SHIPPED
    [problem] = check_rules(SHIPPED.replace(old, new, 1))
    assert problem.format("zh") == zh
    assert problem.format("en") == en
