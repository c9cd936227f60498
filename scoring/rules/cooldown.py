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
        """The counter that keeps the latest time this rule counted."""
        return f"last|{self._owner(rule, event)}"

    def _owner(self, rule: Rule, event: Event) -> str:
        return f"{rule.id}|{event.household_id}" if self.per_household else rule.id

    def slice_key(self, rule: Rule, event: Event, k: int) -> str:
        """The counter of cooldown-long slice ``k`` of time (``timestamp // seconds``).

        Times that counted are at least a cooldown apart, so a slice as long as the cooldown holds
        at most one of them, and any within the cooldown of an event lies in its slice or a neighbour.
        """
        return f"cd|{self._owner(rule, event)}|{k}"

    def reaches_back(self, first_day: date) -> date:
        """As many whole days back as the cooldown lasts, and the day before (it runs from the hour)."""
        return first_day - timedelta(days=-(-self.hours // 24) + 1)

    def counter_keys(self, rule: Rule, event: Event, windows: dict[str, str]) -> list[str]:
        """The counter ``apply`` reads for an event in time order (the slices of a late one are looked up alone)."""
        return [self.counter(rule, event)]

    def apply(self, ev: RuleEval) -> bool:
        """Refuse within the cooldown of any time the rule counted, before or after; otherwise note this one.

        An event after the latest counted time needs only that one: every other is earlier still. An event
        entered late (before the latest) is checked against the slices around it, so a visit entered after
        later ones, the same day as one already counted, is refused whatever order the visits came in.
        """
        key = self.counter(ev.rule, ev.event)
        now = int(ev.event.occurred_at.timestamp())
        last = ev.state.get(ev.holder, key)
        k = now // self.seconds
        if last and abs(now - last) < self.seconds:
            near = True
        elif last and now < last:
            near = any(t and abs(now - t) < self.seconds
                       for t in (ev.state.get(ev.holder, self.slice_key(ev.rule, ev.event, k + i)) for i in (-1, 0, 1)))
        else:
            near = False
        if near:
            ev.step("step_cooldown", hours=self.hours)
            return False
        ev.writes.append((key, max(now, last)))
        ev.writes.append((self.slice_key(ev.rule, ev.event, k), now))  # for a late event to find one day
        return True
