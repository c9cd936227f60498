"""The rule-feature protocol and its registry.

Each key a rule (or a category) may carry in ``rules.yaml`` is handled by one
feature class in one module of this package, registered by that key. A new
feature is a new module with a ``@register`` class; the loader and the engine
find it through ``FEATURES`` and never name it.

Features run in ``stage`` order while one rule meets one event. Before
``EXCLUSIVE_STAGE`` they decide whether the rule applies and how many points it
gives; after it (caps, floors) they limit what is actually counted, reading and
writing the holder's counters through a ``State``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from scoring.model import Event, EventType, Rule, Ruleset, Step

if TYPE_CHECKING:
    from scoring.loader import Node

EXCLUSIVE_STAGE = 60


class State(Protocol):
    """Counters per holder: caps used, last occurrence, floor used. Storage implements it."""

    def get(self, holder: str, key: str) -> int:
        """A counter's value, 0 when never set."""
        ...

    def put(self, holder: str, key: str, value: int) -> None:
        """Set a counter (within the caller's transaction)."""
        ...


@dataclass
class RuleEval:
    """One rule meeting one event: the running amount, its explanation, its counter writes."""

    rule: Rule
    event: Event
    ruleset: Ruleset
    holder: str
    day: date
    windows: dict[str, str]
    names: dict[str, Any]
    state: State
    amount: int = 0
    steps: list[Step] = field(default_factory=list)
    writes: list[tuple[str, int]] = field(default_factory=list)  # (counter key, new value)
    # (cap counter key, what it had used): the engine writes used + the final amount once every
    # limit (the rule's caps, then its category's) has run, so each counter keeps what was awarded.
    caps_used: list[tuple[str, int]] = field(default_factory=list)
    approved: bool = True

    def step(self, code: str, **params: Any) -> None:
        """Add one line to the explanation."""
        self.steps.append(Step(code, params))

    def category_name(self) -> tuple[str, str]:
        """The rule's category as (中文, English) names: an explanation is read in either language."""
        return self.ruleset.categories[self.rule.category or ""].names()

    @property
    def step_size(self) -> int:
        """The rounding step of the rule's point type, in hundredths."""
        return self.ruleset.point_types[self.rule.point_type].step


class Feature:
    """One key of a rule or category in ``rules.yaml``."""

    key: ClassVar[str]
    stage: ClassVar[int]
    on_rules: ClassVar[bool] = True
    on_categories: ClassVar[bool] = False

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """Read the feature from its YAML node; report problems on ``node``; None if invalid."""
        raise NotImplementedError

    def check(self, node: Node, event_type: EventType, ruleset: Ruleset, rule: Rule) -> None:
        """Load-time checks that need the event type or other parts of the file."""

    def configure(self, rule: Rule) -> None:
        """Copy what the engine needs to know onto the rule (approval, exclusive group …)."""

    def apply(self, ev: RuleEval) -> bool:
        """Run on one rule meeting one event; False means the rule does not apply."""
        return True

    def counter_keys(self, rule: Rule, event: Event, windows: dict[str, str]) -> list[str]:
        """The counters ``apply`` may read when this rule meets this event (storage loads them ahead)."""
        return []

    def counts_from(self) -> str | None:
        """The event field this feature counts the amount from (a per-unit rule's quantity), if any."""
        return None

    def reaches_back(self, first_day: date) -> date:
        """The earliest local day whose events still weigh, through this feature's counters, on ``first_day``.

        A dry run from ``first_day`` scores those events first so its counters start as the ledger's did.
        """
        return first_day


FEATURES: dict[str, type[Feature]] = {}


def register(cls: type[Feature]) -> type[Feature]:
    """Class decorator: make a feature known by its YAML key."""
    if cls.key in FEATURES:
        raise ValueError(f"feature {cls.key!r} registered twice")
    FEATURES[cls.key] = cls
    return cls


StageFn = Callable[[RuleEval], bool]
