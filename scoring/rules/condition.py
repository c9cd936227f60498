"""``when: 'days_to_resolve <= 7 and tier == "red"'``: a safe, type-checked condition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scoring.errors import Problem
from scoring.expr import KIND_OF, Condition, FieldInfo, compile_condition
from scoring.model import EventType, Rule, Ruleset
from scoring.rules.base import Feature, RuleEval, register

if TYPE_CHECKING:
    from scoring.loader import Node


def names_of(event_type: EventType, ruleset: Ruleset) -> dict[str, FieldInfo]:
    """The names a condition or multiplier may use for an event type."""
    names = {
        f.name: FieldInfo(KIND_OF[f.type], f.choices) for f in event_type.fields.values()
    }
    if event_type.household:
        names["tier"] = FieldInfo("text", ruleset.tier_keys())
    if event_type.subject == "person":
        names["party_member"] = FieldInfo("bool")
        if event_type.household:
            names["linked"] = FieldInfo("bool")
    return names


@register
class When(Feature):
    """The rule applies only when its condition holds."""

    key = "when"
    stage = 20

    def __init__(self, node: Node, source: str):
        self.source = source
        self.condition: Condition | None = None
        self._node = node

    @classmethod
    def parse(cls, node: Node, owner: dict[str, Any]) -> Feature | None:
        """Keep the text; it is compiled in ``check`` once the event type is known."""
        text = node.text()
        return cls(node, text) if text else None

    def check(self, node: Node, event_type: EventType, ruleset: Ruleset, rule: Rule) -> None:
        """Compile against the event type's declared fields and the household tier."""
        condition, problems = compile_condition(self.source, names_of(event_type, ruleset), event_type.key)
        start = node.doc.column_of(node, self.source)
        for p in problems:
            # Point at the offending part of the condition when the file shows it on one line.
            column = start + p.column - 1 if start and p.column else node.column
            node.doc.problems.append(Problem(
                p.code, p.params, file=node.doc.filename, line=node.line, column=column, hint=p.hint,
            ))
        self.condition = condition

    def apply(self, ev: RuleEval) -> bool:
        """True when the condition holds for the event."""
        return self.condition is not None and self.condition(ev.names)
