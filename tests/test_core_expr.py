"""The condition checker: every problem named and placed (column within the condition)."""

from __future__ import annotations

import ast
from decimal import Decimal

import pytest

from scoring.expr import (
    _ALLOWED,
    BOOL,
    NODE_NAMES,
    NUMBER,
    TEXT,
    FieldInfo,
    compile_condition,
    plain_name,
)

FIELDS = {
    "hours": FieldInfo(NUMBER),
    "rating": FieldInfo(NUMBER),
    "status": FieldInfo(TEXT, ("present", "late", "absent")),
    "tier": FieldInfo(TEXT, ("yellow", "orange", "red")),
    "note": FieldInfo(TEXT),
    "party_member": FieldInfo(BOOL),
}


def problems(source: str) -> list[tuple[str, int, str, str]]:
    condition, found = compile_condition(source, FIELDS, "meeting")
    assert (condition is None) == bool(found)
    return [(p.code, p.column, p.message("zh"), p.message("en")) for p in found]


def test_an_unknown_name_is_named_with_the_fields_there_are() -> None:
    [(code, column, zh, en)] = problems("rating >= 4 and statuss == 'late'")
    assert (code, column) == ("expr_name", 17)
    assert "statuss" in zh and "meeting" in zh and "hours, note, party_member, rating, status, tier" in zh
    assert en.startswith("the condition names 'statuss', which event type 'meeting' does not have")
    assert en.endswith("Declare the field under event_types for this event type, or use a declared one")


@pytest.mark.parametrize(("source", "column", "en"), [
    ("hours == 'x'", 1, "type mismatch in condition: number and text cannot be compared with =="),
    ("tier > 'red'", 1, "type mismatch in condition: text and text cannot be compared with >"),
    ("hours + note > 1", 1, "type mismatch in condition: number and text cannot be compared with +"),
    ("status in 'late'", 1, "type mismatch in condition: text and text cannot be compared with in"),
    ("rating >= 4 and hours in ['a']", 17, "type mismatch in condition: number and list:text cannot be compared with in"),
    ("-note == 1", 1, "type mismatch in condition: text and - cannot be compared with -"),
])
def test_type_mismatches(source: str, column: int, en: str) -> None:
    [(code, col, _zh, message)] = problems(source)
    assert (code, col) == ("expr_type", column)
    assert message.startswith(en)


def test_a_value_that_is_not_among_the_choices_is_placed_at_the_value() -> None:
    [(code, column, zh, en)] = problems('tier == "red" or status == "lat"')
    assert (code, column) == ("expr_choice", 28)
    assert zh == "“lat” 不是字段 “status” 的可选值:present, late, absent"
    assert en == "'lat' is not a value of field 'status': present, late, absent"
    assert problems('status in ["late", "gone"]')[0][:2] == ("expr_choice", 20)
    assert problems('"purple" == tier')[0][:2] == ("expr_choice", 1)


@pytest.mark.parametrize(("source", "zh", "en", "column"), [
    ("len(note) > 2", "函数调用(如 len(x))", "function calls such as len(x)", 1),
    ("hours > 1 and note.upper() == 'X'", "函数调用(如 len(x))", "function calls such as len(x)", 15),
    ("note.real == 1", "属性访问(如 a.b)", "attribute access (a.b)", 1),
    ("(lambda: True)()", "函数调用(如 len(x))", "function calls such as len(x)", 1),
    ("lambda: True", "lambda 函数", "lambda functions", 1),
    ("note[0] == 'a'", "下标(如 a[0])", "subscripts (a[0])", 1),
    ("[h for h in [1]] == [1]", "推导式(如 [x for x in …])", "comprehensions ([x for x in …])", 1),
    ("hours ** 2 > 100", "乘方 **", "powers (**)", 1),
    ("rating % 2 == 0", "取余 %", "remainders (%)", 1),
    ("rating // 2 == 1", "整除 //", "floor division (//)", 1),
    ("rating << 40 > 1", "移位 <<", "bit shifts (<<)", 1),
    ("~rating > 1", "按位取反 ~", "bitwise not (~)", 1),
    ("party_member is True", "is(比较请用 ==)", "'is' (compare with ==)", 1),
    ("hours if party_member else 0", "条件表达式(x if y else z)", "inline if-else (x if y else z)", 1),
    ("__import__('os')", "函数调用(如 len(x))", "function calls such as len(x)", 1),
    ("{'a': 1} == note", "字典 {…: …}", "dictionaries ({…: …})", 1),
    ("None == note", "空值 None", "the empty value None", 1),
])
def test_disallowed_nodes_are_refused_in_plain_words(source: str, zh: str, en: str, column: int) -> None:
    found = problems(source)
    assert (found[0][0], found[0][1]) == ("expr_node", column)
    assert found[0][2] == (
        f"条件中不能使用{zh}。条件只能写字段名、数字、加引号的文字、比较(== != < <= > >= in)和 and / or / not"
    )
    assert found[0][3] == (
        f"{en} cannot be used in a condition. A condition may use field names, numbers, quoted text, "
        "comparisons (== != < <= > >= in) and and / or / not"
    )


def _refusable() -> list[type]:
    """Every node type the checker can meet and refuse: the expression, operator and constant kinds."""
    kinds = [ast.expr, ast.operator, ast.unaryop, ast.cmpop, ast.boolop]
    return [c for k in kinds for c in k.__subclasses__() if c not in _ALLOWED]


@pytest.mark.parametrize("kind", _refusable(), ids=lambda k: k.__name__)
def test_every_refusable_node_has_a_plain_name(kind: type) -> None:
    # A Python class name (Call, Subscript …) must never reach the reader.
    zh, en = NODE_NAMES[kind]
    assert kind.__name__ not in zh and kind.__name__ not in en


@pytest.mark.parametrize("value", [None, ..., b"x", 1j])
def test_refused_constants_have_plain_names(value: object) -> None:
    zh, en = plain_name(ast.Constant(value))
    assert zh != "这种写法" and en != "this kind of value"


def test_a_syntax_error_is_placed() -> None:
    assert problems("hours >")[0][:2] == ("expr_syntax", 8)
    assert problems("hours > > 2")[0][:2] == ("expr_syntax", 9)
    assert problems("tier = 'red'")[0][0] == "expr_syntax"


@pytest.mark.parametrize(("source", "zh", "en"), [
    ("hours > > 2",
     "条件写法有误(第 9 个字符附近)。比较用 ==,文字要加引号,并且/或者写作 and/or,如 hours >= 2 and tier == \"red\"",
     "the condition cannot be read near character 9 (invalid syntax). Compare with ==, put text in quotes, "
     "join with and / or, e.g. hours >= 2 and tier == \"red\""),
    ("tier = 'red'",
     "条件写法有误(第 6 个字符附近)。相等要写两个等号 ==,如 tier == \"red\"",
     "the condition cannot be read near character 6 (invalid syntax). "
     "Test equality with two equals signs ==, e.g. tier == \"red\""),
    ("hours => 3",
     "条件写法有误(第 7 个字符附近)。“小于等于”写作 <=,“大于等于”写作 >=",
     "the condition cannot be read near character 7 (invalid syntax). Write 'at most' as <= and 'at least' as >="),
    ("hours > 1 并且 tier == 'red'",
     "条件写法有误(第 11 个字符附近)。“并且/或者/不是”写作 and / or / not,比较用 == != < <= > >= 符号",
     "the condition cannot be read near character 11 (invalid syntax). "
     "Write and / or / not between conditions and compare with == != < <= > >="),
    ("tier == 'red",
     "条件写法有误(第 9 个字符附近)。文字两边的引号要成对,如 \"red\"",
     "the condition cannot be read near character 9 (unterminated string literal (detected at line 1)). "
     "Put a quote at both ends of a text, e.g. \"red\""),
    ("(hours > 1",
     "条件写法有误(第 1 个字符附近)。括号要成对:每个 ( 都要有对应的 )",
     "the condition cannot be read near character 1 ('(' was never closed). "
     "Parentheses come in pairs: close every ( with a )"),
    ("tier == “red”",
     "条件里有全角或中文符号 ““”(第 9 个字符)。请用英文半角符号:引号 \" 或 ',括号 ( ),比较 == >= <=",
     "the condition holds the full-width or Chinese mark '“' (character 9). "
     "Use plain ASCII marks: quotes \" or ', parentheses ( ), comparisons == >= <="),
])
def test_a_syntax_error_is_explained_with_its_fix(source: str, zh: str, en: str) -> None:
    [(_, _, got_zh, got_en)] = problems(source)
    assert got_zh == zh
    assert got_en == en
    # The parser's English never reaches the Chinese reader.
    assert "invalid" not in got_zh and "syntax" not in got_zh


def test_a_condition_must_be_true_or_false() -> None:
    assert problems("hours + 1")[0][:2] == ("expr_not_bool", 1)
    assert problems("hours and party_member")[0][:2] == ("expr_not_bool", 1)


def test_several_problems_are_reported_together() -> None:
    codes = [p[0] for p in problems("nosuch > 1 and tier == 'pink' and len(note) > 1")]
    assert codes == ["expr_name", "expr_choice", "expr_node"]


def evaluate(source: str, **values: object) -> bool:
    condition, found = compile_condition(source, FIELDS, "meeting")
    assert condition is not None, found
    return condition(values)


def test_conditions_evaluate_on_the_event() -> None:
    assert evaluate('status in ["late", "absent"]', status="late")
    assert not evaluate('status in ["late", "absent"]', status="present")
    assert evaluate("party_member", party_member=True)
    assert not evaluate("not party_member", party_member=True)
    assert evaluate("1 <= rating < 4", rating=3)
    assert evaluate('tier == "red" and rating >= 4 or hours > 10', tier="yellow", rating=5, hours=Decimal("10.5"))


def test_a_missing_optional_field_never_matches() -> None:
    assert not evaluate("rating >= 4", rating=None)
    assert not evaluate("rating >= 4")
    assert not evaluate("not (rating >= 4)", rating=None)


def test_decimals_compare_exactly_with_written_numbers() -> None:
    # 0.3 as a binary float is 0.29999…; the condition must read it as the decimal written.
    assert evaluate("hours <= 0.3", hours=Decimal("0.3"))
    assert evaluate("hours == 0.1 + 0.2", hours=Decimal("0.3"))
    assert evaluate("hours * 1.5 >= 3", hours=Decimal("2"))
    assert evaluate("rating / 3 == 1", rating=3)
    assert not evaluate("hours > 2.5", hours=Decimal("2.5"))


def test_arithmetic_without_a_value_does_not_match() -> None:
    assert not evaluate("hours / rating > 1", hours=Decimal("2"), rating=0)
