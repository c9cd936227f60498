"""marshmallow schemas for every form and query of the site, with messages in the reader's language.

Field messages are lazy strings: marshmallow keeps them as given and they are
rendered in the language of the request when the page shows them. Empty inputs
count as missing, so a required field left blank says "please fill in" rather
than accepting an empty string; the page shows what was typed back.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l
from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)
from werkzeug.datastructures import MultiDict

from scoring.points import MAX_POINTS
from store.models_web import WEB_ROLES
from web.bounds import Int64

REQUIRED = _l("请填写此项。")
TOO_LARGE = _l("数字太大。")


def _msgs(**extra: Any) -> dict[str, Any]:
    base = {"required": REQUIRED, "null": REQUIRED}
    base.update(extra)
    return base


def text(required: bool = False, max: int = 200, min: int = 0, **kw: Any) -> fields.String:
    """A text field with a length limit."""
    validators = [validate.Length(min=min or None, max=max,
                                  error=_l("长度应在 {min} 到 {max} 个字之间。") if min else _l("最多 {max} 个字。"))]
    return fields.String(required=required, validate=validators,
                         error_messages=_msgs(invalid=_l("请填写文字。")), **kw)


def integer(required: bool = False, low: int | None = None, high: int | None = None, **kw: Any) -> Int64:
    """A whole number within 64 bits (``Int64``: the database's range), optionally bounded further."""
    validators = []
    if low is not None or high is not None:
        validators.append(validate.Range(min=low, max=high, error=_l("应在 {min} 到 {max} 之间。")))
    return Int64(required=required, strict=False, validate=validators,
                 error_messages=_msgs(invalid=_l("请填写整数。"), too_large=TOO_LARGE), **kw)


REQUEST_KEY = re.compile(r"[0-9A-Za-z_-]{8,64}")


def new_request_key() -> str:
    """A one-time key for a form being drawn: a second press of its button sends the same key."""
    return uuid.uuid4().hex


def posted_request_key() -> str | None:
    """The posted form's one-time key; None when missing or malformed (then a retry is not recognised)."""
    value = request.form.get("request_key", "")
    return value if REQUEST_KEY.fullmatch(value) else None


def decimal(required: bool = False, **kw: Any) -> fields.Decimal:
    """An exact decimal amount (points, hours), at most a billion either way (``scoring.points.MAX_POINTS``)."""
    kw.setdefault("validate", validate.Range(min=-MAX_POINTS, max=MAX_POINTS, error=TOO_LARGE))
    return fields.Decimal(required=required, places=None, as_string=False,
                          error_messages=_msgs(invalid=_l("请填写数字,例如 2 或 0.5。"), special=_l("请填写数字,例如 2 或 0.5。")), **kw)


def day(required: bool = False, **kw: Any) -> fields.Date:
    """A date written 2026-03-01 (what a date input sends)."""
    return fields.Date(required=required, format="%Y-%m-%d",
                       error_messages=_msgs(invalid=_l("请按 2026-03-01 的格式填写日期。")), **kw)


def choice(values: tuple[str, ...] | list[str], required: bool = False, **kw: Any) -> fields.String:
    """One of a fixed list."""
    return fields.String(required=required, validate=validate.OneOf(list(values), error=_l("请从列表中选择。")),
                         error_messages=_msgs(), **kw)


def boolean(**kw: Any) -> fields.Boolean:
    """A checkbox: present and truthy means yes."""
    return fields.Boolean(load_default=False, truthy={"1", "on", "true", "yes", "y"}, falsy={"0", "off", "false", "no", "n", ""},
                          error_messages=_msgs(invalid=_l("请选择是或否。")), **kw)


class FormSchema(Schema):
    """Base of every form: unknown inputs (the CSRF token) are ignored, blanks count as missing."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _blanks(self, data: Any, **_: Any) -> dict[str, Any]:
        items = data.items() if not isinstance(data, MultiDict) else data.items(multi=False)
        return {k: v.strip() if isinstance(v, str) else v for k, v in items if not (isinstance(v, str) and not v.strip())}


def load_form(schema: Schema, data: Any) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """Validate: (data, {}) on success, (None, {field: first message}) on failure."""
    try:
        return schema.load(data), {}
    except ValidationError as exc:
        return None, flatten(exc.messages)


def flatten(messages: Any) -> dict[str, str]:
    """marshmallow's nested messages → one message per field, as text of the current language."""
    out: dict[str, str] = {}
    if not isinstance(messages, dict):
        return {"_": " ".join(str(m) for m in messages)}
    for name, msgs in messages.items():
        key = "_" if name == "_schema" else str(name)
        if isinstance(msgs, dict):
            first = next(iter(msgs.values()), "")
            msgs = first
        out[key] = str(msgs[0]) if isinstance(msgs, list) and msgs else str(msgs)
    return out


# ---------------------------------------------------------------- accounts
class LoginForm(FormSchema):
    """Username and password."""

    username = text(required=True, max=64)
    password = text(required=True, max=200)


class ActivateForm(FormSchema):
    """Username, the one-time code and the new password twice."""

    username = text(required=True, max=64)
    code = text(required=True, max=20)
    password = text(required=True, max=200)
    confirm = text(required=True, max=200)

    @validates_schema
    def _same(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("password") != data.get("confirm"):
            raise ValidationError(_l("两次输入的密码不一样。"), "confirm")


class PasswordForm(FormSchema):
    """Current password and the new one twice."""

    current = text(required=True, max=200)
    password = text(required=True, max=200)
    confirm = text(required=True, max=200)

    @validates_schema
    def _same(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("password") != data.get("confirm"):
            raise ValidationError(_l("两次输入的密码不一样。"), "confirm")


class UserForm(FormSchema):
    """An account as the administrator edits it; scope is given by codes."""

    username = text(required=True, max=64)
    display_name = text(max=64)
    role = choice(WEB_ROLES, required=True)
    person = text(max=64)
    household = text(max=64)
    village = text(max=64)
    branch = text(max=64)
    grid = text(max=64)
    active = boolean()


# ---------------------------------------------------------------- reading
class BoardQuery(FormSchema):
    """Leaderboard filters: point type, scope and period (month, quarter, year or a custom range)."""

    type = text(max=64)
    scope = choice(("county", "township", "village", "grid", "branch"))
    area = integer(low=1)
    kind = choice(("month", "quarter", "year", "custom"))
    period = text(max=10)
    start = day()
    end = day()
    top = integer(low=1, high=500)

    @validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("kind") == "custom":
            start, end = data.get("start"), data.get("end")
            if start is None:
                raise ValidationError(REQUIRED, "start")
            if end is None:
                raise ValidationError(REQUIRED, "end")
            if end < start:
                raise ValidationError(_l("结束日期不能早于开始日期。"), "end")
            if (end - start).days > 366 * 3:
                raise ValidationError(_l("自定义区间最长三年。"), "end")




class DeskQuery(FormSchema):
    """Branch desk filters."""

    branch = integer(low=1)
    type = text(max=64)
    period = text(max=10)
    # Bounded because the desk turns it into hundredths: 1e999999999 would overflow the Decimal context.
    threshold = decimal()  # within ±MAX_POINTS, as every decimal field


def parse_iso(value: str | None) -> date | None:
    """A date from ``2026-03-01`` or None."""
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
