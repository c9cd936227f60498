"""``exclusive: gambling``: when one event matches several rules of a group, only the highest counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scoring.model import EventType, Rule, Ruleset
from scoring.rules.base import EXCLUSIVE_STAGE, Feature, register

if TYPE_CHECKING:
    from scoring.loader import Node


@register
class Exclusive(Feature):
    """Names the group; the engine keeps the rule with the largest amount (file order breaks ties)."""

    key = "exclusive"
    stage = EXCLUSIVE_STAGE

    def __init__(self, group: str):
        self.group = group

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """The group's name."""
        group = node.text()
        return cls(group) if group else None

    def check(self, node: Node, event_type: EventType, ruleset: Ruleset, rule: Rule) -> None:
        """The group's rules compare amounts, so they must count in one point type (points are not hours)."""
        for other in ruleset.rules.values():
            if other.exclusive == self.group and other.point_type != rule.point_type:
                node.error("exclusive_types", group=self.group, other=other.id, otype=other.point_type, rtype=rule.point_type)
                return

    def configure(self, rule: Rule) -> None:
        """Mark the rule as a member of the group."""
        rule.exclusive = self.group
