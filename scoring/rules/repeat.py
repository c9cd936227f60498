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
        """The counters ``apply`` reads: the latest occurrence, and the first and last of two window-long slices."""
        k = int(event.occurred_at.timestamp()) // (self.days * 86400)
        return [f"rep|{rule.id}", f"rep|{rule.id}|{k}|min", f"rep|{rule.id}|{k - 1}|max", f"rep|{rule.id}|{k}|max"]

    def apply(self, ev: RuleEval) -> bool:
        """Apply the factor when the rule counted within the window before this event; note this one.

        Time is cut into slices as long as the window; the window before an event spans its slice and
        the one before. The earliest occurrence of the event's slice and the latest of the previous
        one tell exactly whether any occurrence lies in the window, whatever order events arrive in
        (an offence entered late is a repeat of an earlier one even after later ones were recorded).
        """
        latest, first_here, last_before, last_here = self.counter_keys(ev.rule, ev.event, ev.windows)
        now = int(ev.event.occurred_at.timestamp())
        window = self.days * 86400
        last = ev.state.get(ev.holder, latest)  # counters written before the slices: the latest occurrence
        lo, before = ev.state.get(ev.holder, first_here), ev.state.get(ev.holder, last_before)
        if (last and 0 <= now - last <= window) or (lo and lo <= now) or (before and now - before <= window):
            ev.amount = round_ratio(ev.amount * self.factor.numerator, self.factor.denominator, ev.step_size)
            ev.step("step_repeat", days=self.days, factor=_show(self.factor), amount=fmt(ev.amount, signed=True))
        ev.writes.append((latest, max(now, last)))
        ev.writes.append((first_here, min(now, lo) if lo else now))
        ev.writes.append((last_here, max(now, ev.state.get(ev.holder, last_here))))
        return True
