"""marshmallow schemas for what enters and leaves the system (events, entries, balances)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from scoring.errors import Problem


class EventIn(Schema):
    """One event as sent by an import, the API or a form."""

    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    occurred_at = fields.String(required=True)
    person = fields.String(load_default=None, allow_none=True)
    household = fields.String(load_default=None, allow_none=True)
    fields_ = fields.Dict(keys=fields.String(), data_key="fields", load_default=dict)
    points = fields.Raw(load_default=None, allow_none=True)
    rule = fields.String(load_default="", allow_none=True)
    actor = fields.String(load_default="", allow_none=True)
    approved_by = fields.String(load_default="", allow_none=True)
    description = fields.String(load_default="", allow_none=True)


class EntryOut(Schema):
    """A ledger entry as the API shows it (amounts as exact decimal strings)."""

    id = fields.Integer()
    key = fields.String()
    point_type = fields.String()
    amount = fields.Function(lambda e: _fmt(e["amount"]))
    kind = fields.String()
    rule_id = fields.String()
    rules_version = fields.String()
    category = fields.String()
    event_key = fields.String()
    occurred_at = fields.DateTime()
    recorded_at = fields.DateTime()
    actor = fields.String()
    approver = fields.String()
    source = fields.String()
    reverses_id = fields.Integer(allow_none=True)


class BalanceOut(Schema):
    """An account's balance and what it earned."""

    point_type = fields.String()
    holder = fields.String()
    balance = fields.String()
    earned = fields.String()


def _fmt(amount: int) -> str:
    from scoring.points import fmt

    return fmt(amount)


def problems_from(error: ValidationError, record: str) -> list[Problem]:
    """Turn marshmallow's per-field messages into the core's problems (localised, with places)."""
    problems = []
    messages: Any = error.messages
    for name, msgs in (messages.items() if isinstance(messages, dict) else [("_", messages)]):
        text = " ".join(msgs) if isinstance(msgs, list) else str(msgs)
        if "Missing data" in text:
            problems.append(Problem("event_missing", {"field": name}, record=record, field=name))
        else:
            problems.append(Problem("event_field_type", {"field": name, "expected": ("有效值", "a valid value"), "value": text}, record=record, field=name))
    return problems
