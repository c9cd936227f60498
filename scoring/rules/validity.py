"""``valid: {from: 2026-01-01, to: 2026-12-31}``: the rule applies only within its dates."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from scoring.rules.base import Feature, RuleEval, register

if TYPE_CHECKING:
    from scoring.loader import Node


@register
class Validity(Feature):
    """A validity window of local dates, both ends inclusive, either end open."""

    key = "valid"
    stage = 10

    def __init__(self, start: date | None, end: date | None):
        self.start, self.end = start, end

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """Read ``from`` and ``to``."""
        if not node.is_map():
            return None
        node.only_keys(("from", "to"))
        start = node.get("from", lambda n: n.day(), None)
        end = node.get("to", lambda n: n.day(), None)
        if start and end and start > end:
            node.error("bad_window", start=start, end=end)
            return None
        return cls(start, end)

    def apply(self, ev: RuleEval) -> bool:
        """Outside its dates the rule does not apply."""
        return not ((self.start and ev.day < self.start) or (self.end and ev.day > self.end))
