"""``veto: true``: one-vote veto (一票否决), an entry of this rule bars a grade for the period."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scoring.model import Rule
from scoring.rules.base import Feature, RuleEval, register

if TYPE_CHECKING:
    from scoring.loader import Node


@register
class Veto(Feature):
    """Marks the entry; grading reads the mark and grants no grade that period whatever the score."""

    key = "veto"
    stage = 95

    def __init__(self, on: bool):
        self.on = on

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """true or false."""
        return cls(node.flag())

    def configure(self, rule: Rule) -> None:
        """Mark the rule."""
        rule.veto = self.on

    def apply(self, ev: RuleEval) -> bool:
        """Explain the veto on the entry."""
        if self.on:
            ev.step("step_veto")
        return True
