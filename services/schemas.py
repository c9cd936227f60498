"""marshmallow schemas for events entering the system (the API's own schemas live in web/api/schemas.py)."""

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
