"""``cooldown: {hours: 24, per: household}``: not again for the same holder within N hours."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from scoring.rules.base import Feature, RuleEval, register

if TYPE_CHECKING:
    from scoring.loader import Node
    from scoring.model import Event, Rule


@register
class Cooldown(Feature):
    """After a rule counts, it does not count again for the same holder for N hours.

    With ``per: household`` the cooldown is kept per household concerned, so a
    Party member can visit two households the same day but not one twice.
    """

    key = "cooldown"
    stage = 25

    def __init__(self, hours: int, per_household: bool):
        self.seconds = hours * 3600
        self.hours = hours
        self.per_household = per_household

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """Read ``hours`` and ``per``."""
        if not node.is_map():
            return None
        node.only_keys(("hours", "per"))
        hours_n = node.require("hours")
        hours = hours_n.count() if hours_n else None
        per = node.get("per", lambda n: n.choice(("holder", "household")), "holder")
        return cls(hours, per == "household") if hours else None

    def counter(self, rule: Rule, event: Event) -> str:
        """The counter that keeps the last time this rule counted."""
        suffix = f"|{event.household_id}" if self.per_household else ""
        return f"last|{rule.id}{suffix}"

    def reaches_back(self, first_day: date) -> date:
        """As many whole days back as the cooldown lasts, and the day before (it runs from the hour)."""
        return first_day - timedelta(days=-(-self.hours // 24) + 1)

    def counter_keys(self, rule: Rule, event: Event, windows: dict[str, str]) -> list[str]:
        """The one counter ``apply`` reads."""
        return [self.counter(rule, event)]

    def apply(self, ev: RuleEval) -> bool:
        """Refuse within the cooldown; otherwise note this moment as the last."""
        key = self.counter(ev.rule, ev.event)
        now = int(ev.event.occurred_at.timestamp())
        last = ev.state.get(ev.holder, key)
        # Either side: an earlier event entered late is as close to the last one as a later one.
        if last and abs(now - last) < self.seconds:
            ev.step("step_cooldown", hours=self.hours)
            return False
        ev.writes.append((key, max(now, last)))
        return True
