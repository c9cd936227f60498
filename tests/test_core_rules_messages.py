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
RESOLVED = "    name_en: Problem resolved (confirmed by the household)\n    subject: person\n    household: true"  # an event type with a condition on it


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
    ("        - {key: star5, name: 五星党员, name_en: Five-star Party member, min: 120}",
     "        - {key: star5, name: 五星党员, name_en: Five-star Party member, min: lots}",
     "rules.yaml:36:74: “lots” 不是精确的分值;请写成数字,如 5 或 0.5(最多两位小数,不超过 10 亿)"),
    (GRADES, "    grades: stars\n",
     "rules.yaml:32:13: 这里应为键值映射(key: value)。检查缩进(用空格,不用 Tab)和冒号后的空格"),
    ("    name: 零基积分\n", "    name:\n", "rules.yaml:22:5: 缺少必填项 “name”"),
    # -- event types: rules on problem_resolved use its field and the household tier
    (RESOLVED, RESOLVED.replace("subject: person", "subject: persn"),
     "rules.yaml:99:14: “persn” 不是可选值之一:person, household"),
    (RESOLVED, RESOLVED.replace("household: true", "household: yes"),
     "rules.yaml:100:16: “yes” 不是可选值之一:true, false"),
    (RESOLVED, RESOLVED.replace("household", "househld"),
     "rules.yaml:100:5: 未知的配置项 “househld”;是不是 “household”?请改正拼写"),
    ("{name: days_to_resolve, type: int,", "{name: days_to_resolve, type: integer,",
     "rules.yaml:103:39: “integer” 不是可选值之一:int, decimal, text, choice, bool, date"),
    ("{name: days_to_resolve, type: int,", "{nme: days_to_resolve, type: int,",
     "rules.yaml:103:10: 未知的配置项 “nme”;是不是 “name”?请改正拼写"),
    ("min: 0, max: 366", "min: none, max: 366", "rules.yaml:103:65: “none” 应为数字,例如 24 或 0.5"),
    ("choices: [present, late, early, absent]", "choices: [present, late, early, {x: 1}]",
     "rules.yaml:132:70: “choices” 中的这一项应为非空文字"),
    # -- categories and tiers: rules name the category, conditions and multipliers the tier
    ("    name_en: Household linking\n    point_type: party_work", "    name_en: Household linking\n    point_type: party_wrk",
     "rules.yaml:181:17: 未定义的积分类型 “party_wrk”;已定义:party_work, moral, volunteer_hours。检查拼写,或先在上面定义它"),
    ("    name: 党员联户\n", "    name:\n", "rules.yaml:178:5: 缺少必填项 “name”"),
    ("      - {window: month, max: 40}\n  - key: party_conduct", "      - {window: fortnight, max: 40}\n  - key: party_conduct",
     "rules.yaml:183:18: “fortnight” 不是可选值之一:day, week, month, quarter, year, total"),
    ("floor: {base: 20, window: year}", "floor: {base: twenty, window: year}",
     "rules.yaml:188:19: “twenty” 不是精确的分值;请写成数字,如 5 或 0.5(最多两位小数,不超过 10 亿)"),
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
        "rules.yaml:235:13: 分值 5.25 不是步长 0.5 的整数倍",
    ]


@pytest.mark.parametrize(("old", "new", "zh", "en"), [
    ("points: {fixed: 5}", "points: {fixed: five}",
     "rules.yaml:235:21: “five” 不是精确的分值;请写成数字,如 5 或 0.5(最多两位小数,不超过 10 亿)",
     "rules.yaml:235:21: 'five' is not an exact amount; write a number such as 5 or 0.5 (at most two decimals, at most a billion)"),
    ("when: days_to_resolve <= 3", "when: len(days_to_resolve) <= 3",
     "rules.yaml:234:11: 条件中不能使用函数调用(如 len(x))。"
     "条件只能写字段名、数字、加引号的文字、比较(== != < <= > >= in)和 and / or / not",
     "rules.yaml:234:11: function calls such as len(x) cannot be used in a condition. "
     "A condition may use field names, numbers, quoted text, comparisons (== != < <= > >= in) and and / or / not"),
    ("when: days_to_resolve <= 3", "when: days_to_resolve =< 3",
     "rules.yaml:234:27: 条件写法有误(第 17 个字符附近)。“小于等于”写作 <=,“大于等于”写作 >=",
     "rules.yaml:234:27: the condition cannot be read near character 17 (invalid syntax). "
     "Write 'at most' as <= and 'at least' as >="),
])
def test_messages_name_the_fix_in_both_languages(old: str, new: str, zh: str, en: str) -> None:
    assert old in SHIPPED
    [problem] = check_rules(SHIPPED.replace(old, new, 1))
    assert problem.format("zh") == zh
    assert problem.format("en") == en


VALID = "valid: {from: 2026-03-01, to: 2026-12-31}"
LH01_NAME = "    name: 走访联系户\n"


@pytest.mark.parametrize(("old", "new", "zh", "en"), [
    # -- dates: no such day, or a time of day (which would crash scoring, or the check beside a `to`)
    (VALID, "valid: {from: 2026-02-30, to: 2026-12-31}",
     "rules.yaml:462:19: “2026-02-30” 不是日历上有的日期(这个月没有这一天);请核对月份和日子,如 2026-03-01",
     "rules.yaml:462:19: '2026-02-30' is not a day of the calendar (the month has no such day); check the month and day, e.g. 2026-03-01"),
    (VALID, "valid: {from: 2026-03-01 08:00:00}",
     "rules.yaml:462:19: “2026-03-01 08:00:00” 带有时刻;这里只写日期,如 2026-03-01(有效期按整天算,首尾两天都算在内)",
     "rules.yaml:462:19: '2026-03-01 08:00:00' has a time of day; write a date only, like 2026-03-01 (validity counts whole days, both ends included)"),
    (VALID, "valid: {from: 2026-03-01T08:00:00+08:00, to: 2026-12-31}",
     "rules.yaml:462:19: “2026-03-01T08:00:00+08:00” 带有时刻;这里只写日期,如 2026-03-01(有效期按整天算,首尾两天都算在内)",
     "rules.yaml:462:19: '2026-03-01T08:00:00+08:00' has a time of day; write a date only, like 2026-03-01 (validity counts whole days, both ends included)"),
    # -- text the parser itself refuses: a pasted form feed, brackets nested past any need
    (LH01_NAME, "    name: 走访\x0c联系户\n",
     "rules.yaml:210:13: 这里有一个看不见的控制字符 U+000C(常从 Word、网页或聊天软件复制时带入);请删去它,或重新输入这段文字",
     "rules.yaml:210:13: there is an invisible control character U+000C here (often pasted from Word, a web page or a chat); delete it, or type the text again"),
    (LH01_NAME, "    name: " + "[" * 2000 + "]" * 2000 + "\n",
     "rules.yaml:210:58: 括号或缩进在这里嵌套超过 50 层,规则文件用不到这么多层;请检查是否多写了 [ 或 {",
     "rules.yaml:210:58: brackets or indentation nest more than 50 levels deep here, deeper than any rules file needs; look for stray [ or {"),
    # -- caps: more than 0, with their own message (not "the points are above the cap")
    ("      - {window: month, max: 40}\n  - key: party_conduct", "      - {window: month, max: -40}\n  - key: party_conduct",
     "rules.yaml:183:30: 上限 “-40” 必须大于 0;请写成正数,如 40(要让规则停止计分,请用 valid 写明截止日期)",
     "rules.yaml:183:30: cap '-40' must be more than 0; write a positive number such as 40 (to stop a rule scoring, give it an end date with valid)"),
    ("      - {window: quarter, max: 30}", "      - {window: quarter, max: -30}",
     "rules.yaml:287:32: 上限 “-30” 必须大于 0;请写成正数,如 40(要让规则停止计分,请用 valid 写明截止日期)",
     "rules.yaml:287:32: cap '-30' must be more than 0; write a positive number such as 40 (to stop a rule scoring, give it an end date with valid)"),
    ("      - {window: quarter, max: 30}", "      - {window: quarter, max: 0}",
     "rules.yaml:287:32: 上限 “0” 必须大于 0;请写成正数,如 40(要让规则停止计分,请用 valid 写明截止日期)",
     "rules.yaml:287:32: cap '0' must be more than 0; write a positive number such as 40 (to stop a rule scoring, give it an end date with valid)"),
    ("floor: {base: 20, window: year}", "floor: {base: -20, window: year}",
     "rules.yaml:188:19: 扣分底数 “-20” 必须大于 0;请写成正数,如 20(底数为 0 时这一类的扣分全部不扣)",
     "rules.yaml:188:19: floor base '-20' must be more than 0; write a positive number such as 20 (a base of 0 would cancel every deduction of the category)"),
    # -- factors: more than 0 and at most 100
    ("red: 2}", "red: -2}",
     "rules.yaml:216:66: 倍数 “-2” 应大于 0、不超过 100,最多四位小数,如 1.5 或 2",
     "rules.yaml:216:66: factor '-2' must be more than 0 and at most 100, with at most four decimals, e.g. 1.5 or 2"),
    ("factor: 2}", "factor: -2}",
     "rules.yaml:296:39: 倍数 “-2” 应大于 0、不超过 100,最多四位小数,如 1.5 或 2",
     "rules.yaml:296:39: factor '-2' must be more than 0 and at most 100, with at most four decimals, e.g. 1.5 or 2"),
    ("factor: 2}", "factor: 1e300}",
     "rules.yaml:296:39: 倍数 “1e+300” 应大于 0、不超过 100,最多四位小数,如 1.5 或 2",
     "rules.yaml:296:39: factor '1e+300' must be more than 0 and at most 100, with at most four decimals, e.g. 1.5 or 2"),
    # -- numbers of days and percentages within their range (a date past 9999 crashed the claims flow)
    ("notice_days: 7", "notice_days: 100000000",
     "rules.yaml:321:45: notice_days 应为 0 到 365 之间的整数,这里写的是 “100000000”;请改正",
     "rules.yaml:321:45: notice_days must be a whole number from 0 to 365, not '100000000'; correct it"),
    ("percent: 20}", "percent: 150}",
     "rules.yaml:49:40: percent 应为 0 到 100 之间的整数,这里写的是 “150”;请改正",
     "rules.yaml:49:40: percent must be a whole number from 0 to 100, not '150'; correct it"),
    ("    spendable: true", "    spendable: true\n    validity_days: 100000000",
     "rules.yaml:51:20: validity_days 应为 1 到 36500 之间的整数,这里写的是 “100000000”;请改正",
     "rules.yaml:51:20: validity_days must be a whole number from 1 to 36500, not '100000000'; correct it"),
])
def test_values_that_crashed_or_misled_are_one_placed_problem(old: str, new: str, zh: str, en: str) -> None:
    assert old in SHIPPED
    [problem] = check_rules(SHIPPED.replace(old, new, 1))
    assert problem.format("zh") == zh
    assert problem.format("en") == en


@pytest.mark.parametrize("factor", ["100", "1.5", "0.25", "1.0001"])
def test_factors_within_bounds_pass(factor: str) -> None:
    assert check_rules(SHIPPED.replace("factor: 2}", f"factor: {factor}}}", 1)) == []
