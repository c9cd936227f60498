"""``floor: {base: 20, window: year}`` on a category: deductions stop at the base (扣完为止)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from scoring.periods import WINDOWS, window_start
from scoring.points import fmt
from scoring.rules.base import Feature, RuleEval, register

if TYPE_CHECKING:
    from scoring.loader import Node
    from scoring.model import Event, Rule


@register
class Floor(Feature):
    """A category holds a base of points per window; its deductions never take more than the base."""

    key = "floor"
    stage = 80
    on_rules = False
    on_categories = True

    def __init__(self, base: int, window: str):
        self.base, self.window = base, window

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """Read ``base`` and ``window`` (year by default)."""
        if not node.is_map():
            return None
        node.only_keys(("base", "window"))
        b = node.require("base")
        base = b.amount() if b else None
        if b and base is not None and base <= 0:
            # A base of 0 or less would cancel every deduction of the category (扣完为止 with nothing to take).
            b.error("floor_not_positive", value=b.value)
            base = None
        window = node.get("window", lambda n: n.choice(WINDOWS), "year")
        return cls(base, window) if base is not None and window else None

    def reaches_back(self, first_day: date) -> date:
        """The start of the floor's window holding ``first_day``: deductions since then used up the base."""
        return window_start(self.window, first_day)

    def counter_keys(self, rule: Rule, event: Event, windows: dict[str, str]) -> list[str]:
        """The one counter ``apply`` reads: what the category took in the window."""
        return [f"floor|C:{rule.category}|{self.window}|{windows[self.window]}"]

    def apply(self, ev: RuleEval) -> bool:
        """Cut a deduction to what is left of the base; count what is taken."""
        if ev.amount >= 0:
            return True
        key = self.counter_keys(ev.rule, ev.event, ev.windows)[0]
        taken = ev.state.get(ev.holder, key)
        left = max(0, self.base - taken)
        if -ev.amount > left:
            ev.amount = -left
            ev.step("step_floor", category=ev.category_name(), left=fmt(left), amount=fmt(ev.amount, signed=True))
        ev.writes.append((key, taken - ev.amount))
        return True
