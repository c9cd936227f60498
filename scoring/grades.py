"""Grades and period closing, computed from tallies (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

from scoring.model import GradeLevel, PointType


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
