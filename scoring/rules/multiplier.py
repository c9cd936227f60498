"""``multiplier: {by: tier, values: {yellow: 1, orange: 1.5, red: 2}}``."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from scoring.model import EventType, Rule, Ruleset
from scoring.points import MAX_FACTOR, AmountError, fmt, parse_factor, round_ratio
from scoring.rules.base import Feature, RuleEval, register
from scoring.rules.condition import names_of

if TYPE_CHECKING:
    from scoring.loader import Node


@register
class Multiplier(Feature):
    """Multiply the points by a factor chosen by an attribute's value (the household tier)."""

    key = "multiplier"
    stage = 40

    def __init__(self, attr: str, values: dict[str, Fraction], default: Fraction):
        self.attr, self.values, self.default = attr, values, default

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """Read ``by``, ``values`` and an optional ``default`` (1)."""
        if not node.is_map():
            return None
        node.only_keys(("by", "values", "default"))
        by_n, values_n = node.require("by"), node.require("values")
        attr = by_n.text() if by_n else None
        values: dict[str, Fraction] = {}
        if values_n and values_n.is_map():
            for k in values_n.value:
                child = values_n.child(str(k))
                assert child is not None
                try:
                    values[str(k)] = parse_factor(child.value)
                except AmountError:
                    child.error("bad_factor", value=child.value, max=MAX_FACTOR)
        default = Fraction(1)
        if (d := node.child("default")) is not None:
            try:
                default = parse_factor(d.value)
            except AmountError:
                d.error("bad_factor", value=d.value, max=MAX_FACTOR)
        return cls(attr, values, default) if attr else None

    def check(self, node: Node, event_type: EventType, ruleset: Ruleset, rule: Rule) -> None:
        """The attribute must be a field or the tier; its values must be among the choices."""
        names = names_of(event_type, ruleset)
        info = names.get(self.attr)
        if info is None:
            node.error("multiplier_attr", "hint_fields", attr=self.attr, allowed=", ".join(names) or "-")
            return
        if info.choices:
            for value in self.values:
                if value not in info.choices:
                    node.error("expr_choice", name=self.attr, value=value, allowed=", ".join(info.choices))

    def apply(self, ev: RuleEval) -> bool:
        """Scale the running amount, rounded to the point type's step."""
        value = ev.names.get(self.attr)
        factor = self.values.get(str(value), self.default) if value is not None else self.default
        if factor != 1:
            ev.amount = round_ratio(ev.amount * factor.numerator, factor.denominator, ev.step_size)
            shown = {"factor": _show(factor), "amount": fmt(ev.amount, signed=True)}
            if self.attr == "tier":  # the tier by the name the rules file gives it (红色), not its key
                name = next((t.name for t in ev.ruleset.tiers if t.key == value), str(value))
                ev.step("step_multiplier_tier", value=value, name=name, **shown)
            else:
                ev.step("step_multiplier", attr=self.attr, value=value, **shown)
        return True


def _show(f: Fraction) -> str:
    return str(f.numerator) if f.denominator == 1 else f"{float(f):g}"  # display only
