"""``approval: {required: true, notice_days: 7, roles: [grid_worker, steward]}``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scoring.model import EventType, Rule, Ruleset
from scoring.rules.base import Feature, register

if TYPE_CHECKING:
    from scoring.loader import Node


# A public notice (公示) runs days or weeks, never past a year; the claims flow adds it to a date.
MAX_NOTICE_DAYS = 365


@register
class Approval(Feature):
    """Review (审核) and public notice (公示): who may enter the rule, whether it waits for approval."""

    key = "approval"
    stage = 90

    def __init__(self, required: bool, notice_days: int, roles: tuple[str, ...]):
        self.required, self.notice_days, self.roles = required, notice_days, roles

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """Read ``required`` (true), ``notice_days`` (0) and ``roles`` (any)."""
        if not node.is_map():
            return None
        node.only_keys(("required", "notice_days", "roles"))
        required = node.get("required", lambda n: n.flag(), True)
        days = node.get("notice_days", lambda n: n.count_within(0, MAX_NOTICE_DAYS), 0)
        roles: tuple[str, ...] = ()
        if (r := node.child("roles")) is not None:
            roles = tuple(i.text() or "" for i in r.items())
        return cls(required, days or 0, roles)

    def check(self, node: Node, event_type: EventType, ruleset: Ruleset, rule: Rule) -> None:
        """Roles must be among the file's roles."""
        for role in self.roles:
            if role not in ruleset.roles:
                node.error("unknown_ref", "hint_spelling", kind=("角色", "role"), value=role, allowed=", ".join(ruleset.roles))

    def configure(self, rule: Rule) -> None:
        """Copy the settings onto the rule, where the claims flow reads them."""
        rule.approval, rule.notice_days, rule.roles = self.required, self.notice_days, self.roles
