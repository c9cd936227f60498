"""Errors services raise: each carries a message code from ``services.messages`` and the field at fault."""

from __future__ import annotations

from typing import Any

from services.messages import render


class ServiceError(Exception):
    """A refused request; nothing was changed. ``status`` is the HTTP status the web layer answers."""

    status = 400

    def __init__(self, code: str, field: str = "", **params: Any):
        super().__init__(code)
        self.code, self.field, self.params = code, field, params

    def message(self, lang: str = "zh") -> str:
        """The reason in the reader's language."""
        return render(self.code, lang, **self.params)


class Forbidden(ServiceError):
    """Outside the actor's role or scope (reveals nothing about what exists there)."""

    status = 403


class NotFound(ServiceError):
    """No such record within the actor's scope."""

    status = 404


class Conflict(ServiceError):
    """The record moved on meanwhile (already approved, sold out, balance too low)."""

    status = 409
