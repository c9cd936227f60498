"""``caps: [{window: month, max: 10}]``: at most so many points per window, per rule or category."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from scoring.periods import WINDOWS, window_start
from scoring.points import fmt
from scoring.rules.base import Feature, RuleEval, register

if TYPE_CHECKING:
    from scoring.loader import Node
    from scoring.model import Event, EventType, Rule, Ruleset

WINDOW_NAMES = {"day": "日", "week": "周", "month": "月", "quarter": "季度", "year": "年", "total": "累计"}
# (中文, English) pairs: the message catalog shows the one of the reader's language.
WINDOW_LABELS = {w: (zh, w) for w, zh in WINDOW_NAMES.items()}


@register
class Caps(Feature):
    """Limit the points a holder earns under a rule (or a category) in each window.

    A cap limits earnings (positive amounts); deductions are limited by a
    category's ``floor``. The award that would pass the cap is cut to what is
    left, so a holder at 9 of a cap of 10 gets 1 of a 5-point award.
    """

    key = "caps"
    stage = 70
    on_categories = True

    def __init__(self, caps: list[tuple[str, int]], scope: str):
        self.caps, self.scope = caps, scope

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """A list of ``{window, max}``."""
        caps: list[tuple[str, int]] = []
        for item in node.items():
            if not item.is_map():
                continue
            item.only_keys(("window", "max"))
            w, m = item.require("window"), item.require("max")
            window = w.choice(WINDOWS) if w else None
            cap = m.amount() if m else None
            if m and cap is not None and cap <= 0:
                # A cap of 0 or less would take every award away (a negative one even more): to stop a
                # rule scoring, end it with ``valid: {to: …}`` instead.
                m.error("cap_not_positive", value=m.value)
                cap = None
            if window and cap is not None:
                caps.append((window, cap))
        scope = "category" if "event" not in owner else "rule"
        return cls(caps, scope) if caps else None

    def check(self, node: Node, event_type: EventType, ruleset: Ruleset, rule: Rule) -> None:
        """A rule's fixed points above its own cap could never be given whole: a slip of the pen."""
        fixed = rule.fixed_points or 0
        for window, cap in self.caps:
            if fixed > cap:
                node.error("cap_below_points", points=fmt(fixed), cap=fmt(cap), window=WINDOW_LABELS[window], rule=rule.id)

    def counter_keys(self, rule: Rule, event: Event, windows: dict[str, str]) -> list[str]:
        """What each window's cap has used, in the order of ``caps``."""
        owner = f"R:{rule.id}" if self.scope == "rule" else f"C:{rule.category}"
        return [f"cap|{owner}|{window}|{windows[window]}" for window, _ in self.caps]

    def reaches_back(self, first_day: date) -> date:
        """The start of the widest capped window holding ``first_day`` (a ``total`` cap: every day before)."""
        return min((window_start(window, first_day) for window, _ in self.caps), default=first_day)

    def apply(self, ev: RuleEval) -> bool:
        """Cut a positive amount to what every window still allows; the engine counts what is kept.

        Each counter is written with the amount finally awarded (``RuleEval.caps_used``), not the
        amount this cap let through: a category's cap applied after the rule's may cut it further.
        """
        if ev.amount <= 0:
            return True
        for (window, cap), key in zip(self.caps, self.counter_keys(ev.rule, ev.event, ev.windows), strict=True):
            used = ev.state.get(ev.holder, key)
            allowed = max(0, cap - used)
            if allowed < ev.amount:
                ev.amount = allowed
                scope = ev.category_name() if self.scope == "category" else ev.rule.id
                ev.step("step_cap", scope=scope, window=WINDOW_LABELS[window], cap=fmt(cap), used=fmt(used), amount=fmt(allowed, signed=True))
            ev.caps_used.append((key, used))
        return True
