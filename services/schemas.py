"""marshmallow schemas for events entering the system (the API's own schemas live in web/api/schemas.py)."""

from __future__ import annotations

import json
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
    """Turn marshmallow's per-field messages into the core's problems: the value received and what to write instead."""
    problems = []
    messages: Any = error.messages
    data = error.data if isinstance(error.data, dict) else {}
    for name, msgs in (messages.items() if isinstance(messages, dict) else [("_", messages)]):
        text = " ".join(msgs) if isinstance(msgs, list) else str(msgs)
        if "Missing data" in text:
            problems.append(Problem("event_missing", {"field": name}, record=record, field=name))
        else:
            params = {"field": name, "expected": expected(name), "value": shown(data.get(name))}
            problems.append(Problem("event_field_type", params, record=record, field=name))
    return problems


# The envelope's fields by the name a record uses ("fields", not "fields_").
_DECLARED = {f.data_key or name: f for name, f in EventIn().fields.items()}


# Examples of text fields whose form is not obvious from their name.
_EXAMPLES = {
    "occurred_at": ('(如 "2026-03-11T09:30:00+08:00")', ' (e.g. "2026-03-11T09:30:00+08:00")'),
    "person": ('(村民编号,如 "P000456")', ' (a villager\'s code, e.g. "P000456")'),
    "household": ('(户号,如 "H000123")', ' (a household code, e.g. "H000123")'),
}


def expected(name: str) -> tuple[str, str]:
    """What a field of the envelope must hold, in words (中文, English), from its declaration."""
    declared = _DECLARED.get(name)
    if isinstance(declared, fields.Dict):
        return '由字段名和值组成的对象(如 {"hours": 2})', 'an object of named fields (e.g. {"hours": 2})'
    if isinstance(declared, fields.String):
        length = next((v for v in declared.validators if isinstance(v, validate.Length)), None)
        if length is not None and length.min and length.max:
            return f" {length.min} 至 {length.max} 个字的文字", f"text of {length.min} to {length.max} characters"
        zh, en = _EXAMPLES.get(name, ("", ""))
        return f"文字{zh}", f"text{en}"
    return "有效值", "a valid value"


def shown(value: Any, limit: int = 80) -> str:
    """A received value as the record wrote it (text as is, anything else as JSON), cut to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
