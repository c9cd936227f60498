"""The integers the site accepts: within the database's 64-bit range, in URLs and in forms alike.

Ids are 64-bit signed integers in SQLite and PostgreSQL; a number past them names no row, but
handing it to the driver raises (``OverflowError`` on SQLite) instead of finding nothing. So
every ``<int:...>`` of a URL stops at that range (404, like any unknown id) and every integer
field of a form, query or API body refuses it (a validation error, like any bad value).
"""

from __future__ import annotations

import builtins
from typing import Any

from flask import Flask
from marshmallow import fields
from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2**63 - 1
MIN_ID = -(2**63)


class BoundedInt(IntegerConverter):
    """``<int:...>`` that matches only within 64 bits, so a larger number is an unknown URL (404), never a 500."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None, max: int | None = None,
                 signed: bool = False) -> None:
        # A rule may still narrow the range (``<int(max=99):n>``); none may widen it past the database's.
        # (``min``/``max`` are werkzeug's argument names, hence ``builtins``.)
        low = MIN_ID if min is None else builtins.max(min, MIN_ID)
        high = MAX_ID if max is None else builtins.min(max, MAX_ID)
        super().__init__(map, fixed_digits, low, high, signed)


class Int64(fields.Integer):
    """A marshmallow integer within 64 bits; past them it fails with the field's ``too_large`` message."""

    def _validated(self, value: Any) -> int:
        number = super()._validated(value)
        if not MIN_ID <= number <= MAX_ID:
            raise self.make_error("too_large", input=value)
        return number


def init_app(app: Flask) -> None:
    """Make ``BoundedInt`` the app's ``int`` converter; call before any route is added."""
    # Rules look their converter up when they are added to the map, so this must come first.
    app.url_map.converters["int"] = BoundedInt
