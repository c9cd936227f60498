"""The condition checker: every problem named and placed (column within the condition)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from scoring.expr import BOOL, NUMBER, TEXT, FieldInfo, compile_condition

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


@pytest.mark.parametrize(("source", "node", "column"), [
    ("len(note) > 2", "Call", 1),
    ("hours > 1 and note.upper() == 'X'", "Call", 15),
    ("note.real == 1", "Attribute", 1),
    ("(lambda: True)()", "Call", 1),
    ("lambda: True", "Lambda", 1),
    ("note[0] == 'a'", "Subscript", 1),
    ("[h for h in [1]] == [1]", "ListComp", 1),
    ("hours ** 2 > 100", "Pow", 1),
    ("rating % 2 == 0", "Mod", 1),
    ("rating // 2 == 1", "FloorDiv", 1),
    ("rating << 40 > 1", "LShift", 1),
    ("~rating > 1", "Invert", 1),
    ("party_member is True", "Is", 1),
    ("hours if party_member else 0", "IfExp", 1),
    ("__import__('os')", "Call", 1),
    ("{'a': 1} == note", "Dict", 1),
    ("None == note", "None", 1),
])
def test_disallowed_nodes_are_refused_and_placed(source: str, node: str, column: int) -> None:
    found = problems(source)
    assert (found[0][0], found[0][1]) == ("expr_node", column)
    assert found[0][3] == f"{node} is not allowed in a condition"
    assert found[0][2] == f"条件中不允许使用 {node}"


def test_a_syntax_error_is_placed() -> None:
    assert problems("hours >")[0][:2] == ("expr_syntax", 8)
    assert problems("hours > > 2")[0][:2] == ("expr_syntax", 9)
    assert problems("tier = 'red'")[0][0] == "expr_syntax"


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
