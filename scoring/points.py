"""Exact point amounts.

Points are never floats. Every amount in the engine and the database is an
``int`` counted in hundredths of a point (``SCALE``), so 0.5 points is 50 and
sums stay exact and fast. ``Decimal`` appears only at the edges: parsing what a
person typed and showing a number back.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

SCALE = 100
_QUANT = Decimal("0.01")
# The largest amount one entry, price or bound may name: a billion points. Balances and tallies sum
# many such amounts in 64-bit integers (hundredths), and no village scheme comes near it; past it a
# value is a typing mistake to refuse, not a number for the database to overflow on.
MAX_POINTS = 10**9
# The largest factor a multiplier or a repeat may name, and its finest fraction (four decimals): a
# factor beyond it is a typing mistake (150 for 1.5), and stacked factors must not carry an amount
# past ``MAX_POINTS``.
MAX_FACTOR = 100
FACTOR_DECIMALS = 4


class AmountError(ValueError):
    """A value that is not an exact amount of points (too many decimals, not a number)."""


def parse_amount(value: object) -> int:
    """Turn a written amount (``"0.5"``, ``2``, ``Decimal("1.25")``) into hundredths."""
    if isinstance(value, bool):
        raise AmountError(str(value))
    if isinstance(value, int):
        if abs(value) > MAX_POINTS:
            raise AmountError(str(value))
        return value * SCALE
    try:
        # A YAML or JSON float such as 0.5 is read back through its repr, which is
        # the decimal a person wrote; nothing is ever computed in binary floating point.
        dec = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise AmountError(str(value)) from exc
    if not dec.is_finite() or abs(dec) > MAX_POINTS:
        raise AmountError(str(value))
    scaled = dec * SCALE
    if scaled != scaled.to_integral_value():
        raise AmountError(str(value))
    return int(scaled)


def parse_fraction(value: object) -> Fraction:
    """Turn a written factor (``1.5``, ``"2"``) into an exact fraction."""
    if isinstance(value, bool):
        raise AmountError(str(value))
    try:
        return Fraction(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError) as exc:
        raise AmountError(str(value)) from exc


def parse_factor(value: object) -> Fraction:
    """A multiplier's or repeat's factor: more than 0, at most ``MAX_FACTOR``, at most four decimals.

    A factor of 0 or less would turn an award into nothing or into a deduction (and a deduction into
    an award); ``1e300`` would overflow the ledger.
    """
    if isinstance(value, bool):
        raise AmountError(str(value))
    try:
        dec = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise AmountError(str(value)) from exc
    if not dec.is_finite() or not 0 < dec <= MAX_FACTOR:
        raise AmountError(str(value))
    exponent = dec.normalize().as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -FACTOR_DECIMALS:
        raise AmountError(str(value))
    return Fraction(dec)


def round_ratio(numerator: int, denominator: int, step: int) -> int:
    """Round the exact amount ``numerator / denominator`` (hundredths) to a multiple of ``step``.

    Half away from zero, in integers only: this runs for every scored event.
    """
    den = denominator * step
    negative = (numerator < 0) != (den < 0)
    units, rest = divmod(abs(numerator), abs(den))
    if 2 * rest >= abs(den):
        units += 1
    return (-units if negative else units) * step


def round_to_step(amount: Fraction | int, step: int) -> int:
    """Round an exact amount (hundredths) to a multiple of ``step``, half away from zero."""
    exact = Fraction(amount)
    return round_ratio(exact.numerator, exact.denominator, step)


def to_decimal(amount: int) -> Decimal:
    """Hundredths back to a ``Decimal`` with two places."""
    return (Decimal(amount) / SCALE).quantize(_QUANT, rounding=ROUND_HALF_UP)


def fmt(amount: int, signed: bool = False) -> str:
    """Show an amount the way a ledger does: ``5``, ``0.5``, ``-1.25``; ``+5`` when signed."""
    sign = "-" if amount < 0 else ("+" if signed and amount > 0 else "")
    whole, cents = divmod(abs(amount), SCALE)
    if cents == 0:
        return f"{sign}{whole}"
    if cents % 10 == 0:
        return f"{sign}{whole}.{cents // 10}"
    return f"{sign}{whole}.{cents:02d}"
