"""``repeat: {within_days: 365, factor: 2}``: the same offence again within a window counts more."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from scoring.points import MAX_FACTOR, AmountError, fmt, parse_factor, round_ratio
from scoring.rules.base import Feature, RuleEval, register
from scoring.rules.multiplier import _show

if TYPE_CHECKING:
    from scoring.loader import Node
    from scoring.model import Event, Rule


MAX_REPEAT_DAYS = 3660  # ten years: a longer window is a typing mistake


@register
class Repeat(Feature):
    """Multiply the points when the rule already counted for the holder within N days."""

    key = "repeat"
    stage = 50

    def __init__(self, days: int, factor: Fraction):
        self.days, self.factor = days, factor

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """Read ``within_days`` and ``factor``."""
        if not node.is_map():
            return None
        node.only_keys(("within_days", "factor"))
        d, f = node.require("within_days"), node.require("factor")
        days = d.count_within(1, MAX_REPEAT_DAYS) if d else None  # 0 days would never find a repeat
        factor = None
        if f:
            try:
                factor = parse_factor(f.value)
            except AmountError:
                f.error("bad_factor", value=f.value, max=MAX_FACTOR)
        return cls(days, factor) if days and factor is not None else None

    def reaches_back(self, first_day: date) -> date:
        """The repeat window's length back: an offence then makes one on ``first_day`` a repeat."""
        return first_day - timedelta(days=self.days + 1)

    def counter_keys(self, rule: Rule, event: Event, windows: dict[str, str]) -> list[str]:
        """The one counter ``apply`` reads: the rule's last occurrence."""
        return [f"rep|{rule.id}"]

    def apply(self, ev: RuleEval) -> bool:
        """Apply the factor when the last occurrence was within the window; note this one."""
        key = self.counter_keys(ev.rule, ev.event, ev.windows)[0]
        now = int(ev.event.occurred_at.timestamp())
        last = ev.state.get(ev.holder, key)
        if last and 0 <= now - last <= self.days * 86400:
            ev.amount = round_ratio(ev.amount * self.factor.numerator, self.factor.denominator, ev.step_size)
            ev.step("step_repeat", days=self.days, factor=_show(self.factor), amount=fmt(ev.amount, signed=True))
        ev.writes.append((key, max(now, last)))
        return True
