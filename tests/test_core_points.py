"""Exact amounts: parsing, formatting and rounding to a step (no floats anywhere)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.points import AmountError, fmt, parse_amount, parse_fraction, round_to_step, to_decimal

amounts = st.integers(min_value=-10**11, max_value=10**11)  # hundredths, within MAX_POINTS
steps = st.sampled_from([1, 5, 10, 25, 50, 100, 200])


@given(amounts)
def test_format_then_parse_gives_the_same_amount(amount: int) -> None:
    assert parse_amount(fmt(amount)) == amount
    assert parse_amount(fmt(amount, signed=True)) == amount


@given(st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_parse_then_format_keeps_the_written_value(value: Decimal) -> None:
    amount = parse_amount(str(value))
    assert Decimal(fmt(amount)) == value
    assert to_decimal(amount) == value


@given(amounts, steps)
def test_rounding_gives_the_nearest_multiple_of_the_step(amount: int, step: int) -> None:
    rounded = round_to_step(amount, step)
    assert rounded % step == 0
    assert abs(rounded - amount) * 2 <= step
    assert round_to_step(rounded, step) == rounded  # already on the step: unchanged


@given(st.integers(min_value=-10**6, max_value=10**6), steps)
def test_rounding_is_symmetric_around_zero(amount: int, step: int) -> None:
    assert round_to_step(-amount, step) == -round_to_step(amount, step)


@pytest.mark.parametrize(("exact", "step", "expected"), [
    (Fraction(75), 50, 100),      # 0.75 → 1 at step 0.5: half away from zero
    (Fraction(-75), 50, -100),
    (Fraction(74), 50, 50),
    (Fraction(125), 50, 150),     # 1.25 h → 1.5
    (Fraction(1, 3) * 100, 50, 50),
    (Fraction(100, 3), 1, 33),
    (Fraction(0), 50, 0),
])
def test_rounding_examples(exact: Fraction, step: int, expected: int) -> None:
    assert round_to_step(exact, step) == expected


@pytest.mark.parametrize(("written", "hundredths"), [
    ("0.5", 50), (2, 200), ("-1.25", -125), (0.5, 50), (Decimal("1.10"), 110), (" 3 ", 300), (-0.01, -1),
])
def test_written_amounts(written: object, hundredths: int) -> None:
    assert parse_amount(written) == hundredths


@pytest.mark.parametrize("bad", ["0.125", "abc", "", "nan", "inf", True, None, 0.001, "1e-3"])
def test_inexact_or_non_numbers_are_refused(bad: object) -> None:
    with pytest.raises(AmountError):
        parse_amount(bad)


def test_a_float_from_yaml_is_read_as_the_decimal_written() -> None:
    assert parse_amount(0.1) + parse_amount(0.2) == parse_amount("0.3")
    assert parse_fraction(1.5) == Fraction(3, 2)
    assert parse_fraction("0.1") == Fraction(1, 10)
    with pytest.raises(AmountError):
        parse_fraction("x")


@pytest.mark.parametrize(("amount", "signed", "text"), [
    (500, False, "5"), (50, False, "0.5"), (-125, False, "-1.25"), (500, True, "+5"), (-50, True, "-0.5"),
    (0, True, "0"), (1000, False, "10"), (110, False, "1.1"),
])
def test_format(amount: int, signed: bool, text: str) -> None:
    assert fmt(amount, signed) == text


@pytest.mark.parametrize("value", ["1e30", "99999999999999999999", 10**12, "-1000000000.01", "92233720368547758.08"])
def test_an_amount_past_a_billion_points_is_refused_before_any_database_overflows(value: object) -> None:
    with pytest.raises(AmountError):
        parse_amount(value)
    assert parse_amount("1000000000") == 10**11 and parse_amount(-10**9) == -(10**11)
