"""``points: {fixed: 5}``, ``{per_unit: {field: hours, rate: 2}}`` or ``{range: [0.5, 2]}``."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from scoring.errors import Problem
from scoring.model import EventType, Rule, Ruleset
from scoring.points import AmountError, fmt, parse_amount, round_ratio
from scoring.rules.base import Feature, RuleEval, register

if TYPE_CHECKING:
    from scoring.loader import Node


def _ratio(quantity: Any) -> tuple[int, int]:
    """An exact quantity (int or Decimal field value) as numerator and denominator."""
    if isinstance(quantity, int):
        return quantity, 1
    if isinstance(quantity, Decimal):
        return quantity.as_integer_ratio()
    exact = Fraction(str(quantity))
    return exact.numerator, exact.denominator


class RangeError(Exception):
    """A range rule met an event without a chosen amount, or one outside the range."""

    def __init__(self, problem: Problem):
        super().__init__(problem.code)
        self.problem = problem


@register
class Points(Feature):
    """How many points a rule gives before multipliers and caps."""

    key = "points"
    stage = 30

    def __init__(self, kind: str, fixed: int = 0, field: str = "", rate: int = 0, low: int = 0, high: int = 0):
        self.kind, self.fixed, self.field, self.rate = kind, fixed, field, rate
        self.low, self.high = low, high
        self.shown = fmt(fixed, signed=True)  # a fixed rule's explanation, written once

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """Exactly one of ``fixed``, ``per_unit``, ``range``."""
        if not node.is_map():
            return None
        node.only_keys(("fixed", "per_unit", "range"))
        present = [k for k in ("fixed", "per_unit", "range") if node.child(k) is not None]
        if len(present) != 1:
            node.error("points_one_of")
            return None
        kind = present[0]
        child = node.child(kind)
        assert child is not None
        if kind == "fixed":
            amount = child.amount()
            return None if amount is None else cls("fixed", fixed=amount)
        if kind == "per_unit":
            if not child.is_map():
                return None
            child.only_keys(("field", "rate"))
            f, r = child.require("field"), child.require("rate")
            field = f.text() if f else None
            rate = r.amount() if r else None
            return cls("per_unit", field=field, rate=rate) if field and rate is not None else None
        items = list(child.items())
        if len(items) != 2:
            child.error("points_one_of")
            return None
        low, high = items[0].amount(), items[1].amount()
        if low is None or high is None:
            return None
        if low > high:
            child.error("bad_range", low=fmt(low), high=fmt(high))
            return None
        return cls("range", low=low, high=high)

    def check(self, node: Node, event_type: EventType, ruleset: Ruleset, rule: Rule) -> None:
        """Per-unit points need a declared number field; amounts must fit the step."""
        step = ruleset.point_types[rule.point_type].step
        if self.kind == "per_unit":
            spec = event_type.fields.get(self.field)
            if spec is None:
                node.error("expr_name", "hint_fields", name=self.field, event=event_type.key,
                           allowed=", ".join(event_type.fields) or "-")
            elif spec.type not in ("int", "decimal"):
                node.error("per_unit_field", field=self.field, type=spec.type)
        for value in (self.fixed, self.low, self.high):
            if value % step:
                node.error("bad_step", value=fmt(value), step=fmt(step))

    def counts_from(self) -> str | None:
        """A per-unit rule's quantity field (an amount too large is that field's fault)."""
        return self.field if self.kind == "per_unit" else None

    def apply(self, ev: RuleEval) -> bool:
        """Set the base amount; a per-unit rule with no quantity does not apply."""
        if self.kind == "fixed":
            ev.amount = self.fixed
            ev.step("step_fixed", amount=self.shown)
            return True
        if self.kind == "per_unit":
            quantity = ev.names.get(self.field)
            if quantity is None:
                return False
            num, den = _ratio(quantity)
            ev.amount = round_ratio(num * self.rate, den, ev.step_size)
            unit = ev.ruleset.event_types[ev.rule.event_type].fields[self.field].label or self.field
            ev.step("step_per_unit", quantity=quantity, unit=unit, rate=fmt(self.rate), amount=fmt(ev.amount, signed=True))
            return ev.amount != 0
        return self._range(ev)

    def _range(self, ev: RuleEval) -> bool:
        params = {"rule": ev.rule.id, "low": fmt(self.low), "high": fmt(self.high)}
        chosen = ev.event.points
        if chosen is None:
            if not ev.approved:
                # Still to be reviewed: the reviewer picks the amount when approving.
                ev.amount = self.high
                return True
            raise RangeError(Problem("range_needs_points", params, field="points"))
        try:
            amount = chosen if isinstance(chosen, int) else parse_amount(chosen)
        except AmountError:
            raise RangeError(Problem("bad_amount", {"value": chosen}, field="points")) from None
        if not self.low <= amount <= self.high:
            raise RangeError(Problem("range_outside", {**params, "value": fmt(amount)}, field="points"))
        if amount % ev.step_size:  # inside the range, between two steps: say so, not "outside"
            raise RangeError(Problem("range_step", {**params, "value": fmt(amount), "step": fmt(ev.step_size)}, field="points"))
        ev.amount = amount
        ev.step("step_range", amount=fmt(amount, signed=True), low=fmt(self.low), high=fmt(self.high))
        return True
