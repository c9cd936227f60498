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
        """The counter ``apply`` reads for an event in time order: the rule's latest occurrence."""
        return [f"rep|{rule.id}"]

    def apply(self, ev: RuleEval) -> bool:
        """Apply the factor when the rule counted within the window before this event; note this one.

        In time order the latest occurrence decides. For an event entered late (before the latest), time
        is cut into slices as long as the window: the window before the event spans its slice and the
        one before, and the first occurrence of its slice and the last of the previous one tell exactly
        whether any occurrence lies in it (an offence entered late is the repeat of an earlier one).
        """
        latest = f"rep|{ev.rule.id}"
        now = int(ev.event.occurred_at.timestamp())
        window = self.days * 86400
        k = now // window
        first_here, last_here = f"{latest}|{k}|min", f"{latest}|{k}|max"
        last = ev.state.get(ev.holder, latest)
        if not last or now >= last:  # in time order: nothing read but the latest (every other is earlier)
            repeated = bool(last) and now - last <= window
            ev.writes.append((latest, now))
            if not last or last // window != k:  # the first of its slice
                ev.writes.append((first_here, now))
            ev.writes.append((last_here, now))
        else:  # entered late: the slices around it
            lo, before = ev.state.get(ev.holder, first_here), ev.state.get(ev.holder, f"{latest}|{k - 1}|max")
            repeated = bool(lo and lo <= now) or bool(before and now - before <= window)
            ev.writes.append((first_here, min(now, lo) if lo else now))
            ev.writes.append((last_here, max(now, ev.state.get(ev.holder, last_here))))
        if repeated:
            ev.amount = round_ratio(ev.amount * self.factor.numerator, self.factor.denominator, ev.step_size)
            ev.step("step_repeat", days=self.days, factor=_show(self.factor), amount=fmt(ev.amount, signed=True))
        return True
