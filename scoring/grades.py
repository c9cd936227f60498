"""Grades and period closing, computed from tallies (pure functions)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from scoring.errors import Problem
from scoring.model import GradeLevel, PointType
from scoring.periods import Period, parse_period, period_key, previous_period


@dataclass(frozen=True)
class GradeResult:
    """A holder's grade for a period: the score, the grade (if any), whether vetoed, what is next."""

    score: int
    grade: GradeLevel | None
    vetoed: bool
    next_grade: GradeLevel | None
    needed: int  # hundredths still needed for the next grade; 0 when none

    @property
    def key(self) -> str:
        """The grade's key, or an empty string."""
        return self.grade.key if self.grade else ""


def grade(point_type: PointType, score: int, vetoed: bool) -> GradeResult:
    """Grade a period score: thresholds from the top, none at all under a veto (一票否决)."""
    level = point_type.grade_for(score, vetoed)
    nxt = None if vetoed else point_type.next_grade(score)
    return GradeResult(score, level, vetoed, nxt, (nxt.min - score) if nxt else 0)


def closing_delta(point_type: PointType, balance: int) -> int:
    """The entry that closes a period: −balance to reset, −(1−p%) to carry p%, 0 to keep.

    Carrying rounds the kept share down to the type's step, so a household never
    carries more than its percentage.
    """
    policy = point_type.year_end.policy
    if policy == "never" or balance == 0:
        return 0
    if policy == "reset":
        return -balance
    kept = balance * point_type.year_end.carry_percent // 100
    kept -= kept % point_type.step if kept >= 0 else -((-kept) % point_type.step)
    return kept - balance


def kept_after(point_type: PointType, amount: int, periods: Collection[Period]) -> tuple[int, list[tuple[str, int, int]]]:
    """What is left of ``amount`` after each of ``periods`` (closed, oldest first) reset or carried it.

    Also each close that changed it: (period, before, kept). Points that come or go after a close
    (a late award, a reversal, a refund, an expiring deduction) are cut as the close would have
    cut them had they been there, so none escapes the year-end policy and none is cut twice.
    """
    cuts: list[tuple[str, int, int]] = []
    for p in periods:
        delta = closing_delta(point_type, amount)
        if delta:
            cuts.append((p.key, amount, amount + delta))
            amount += delta
    return amount, cuts


def closable_kinds(point_type: PointType) -> tuple[str, ...]:
    """The period kinds a point type is closed by: every year, and its own quarter or month."""
    return ("year",) if point_type.period == "year" else ("year", point_type.period)


def closing_problems(point_type: PointType, key: str, today: date, first: date, closed: Collection[str]) -> list[Problem]:
    """Why a period may not be closed yet (empty when it may): closing is for ended periods, in order.

    A closing entry reset or carries the balance held when it is written, so a
    period closed before it ends, twice over in another spelling, out of order,
    or before any rules were in force would cut balances earned in another
    period. ``first`` is the day the first rules version took effect; ``closed``
    holds the keys of the periods already closed for this point type.
    """
    try:
        period = parse_period(key)
    except ValueError:
        return [Problem("close_bad_period", {"value": key}, field="period")]
    kinds = closable_kinds(point_type)
    if period.kind not in kinds:
        allowed = ", ".join(period_key(k, today) for k in kinds)
        return [Problem("close_kind", {"ptype": point_type.key, "period": key, "allowed": allowed}, field="period")]
    if period.end > today:
        return [Problem("close_not_ended", {"period": key, "end": period.end.isoformat()}, field="period")]
    if period.end <= first:
        return [Problem("close_before_rules", {"period": key, "first": first.isoformat()}, field="period")]
    later = sorted(k for k in closed if parse_period(k).kind == period.kind and parse_period(k).start > period.start)
    if later:
        return [Problem("close_later_closed", {"period": key, "later": later[-1]}, field="period")]
    earlier = previous_period(period)
    if earlier.end > first and earlier.key not in closed:
        # Walk back to the oldest period still open, so the message names the one to close next.
        while previous_period(earlier).end > first and previous_period(earlier).key not in closed:
            earlier = previous_period(earlier)
        return [Problem("close_out_of_order", {"period": key, "earlier": earlier.key}, field="period")]
    return []
