"""``exclusive: gambling``: when one event matches several rules of a group, only the highest counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scoring.model import Rule
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

    def configure(self, rule: Rule) -> None:
        """Mark the rule as a member of the group."""
        rule.exclusive = self.group
