"""The API blueprint and its endpoint registry: each view declares its schemas once, for itself and OpenAPI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from marshmallow import Schema

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@dataclass(frozen=True)
class Endpoint:
    """One operation: path, method, who may call it and the schemas of what goes in and out."""

    rule: str
    method: str
    name: str
    summary: str
    description: str
    tag: str
    roles: tuple[str, ...]
    body: type[Schema] | None
    query: type[Schema] | None
    out: type[Schema] | None
    status: int
    public: bool


ENDPOINTS: list[Endpoint] = []


def endpoint(rule: str, method: str, summary: str, *, tag: str, roles: tuple[str, ...] = (),
             body: type[Schema] | None = None, query: type[Schema] | None = None, out: type[Schema] | None = None,
             status: int = 200, public: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view on the blueprint and in the registry; ``roles`` empty means any authenticated caller."""
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        name = view.__name__
        ENDPOINTS.append(Endpoint(rule, method, name, summary, (view.__doc__ or "").strip(), tag, roles, body, query,
                                  out, status, public))
        view.roles = roles  # type: ignore[attr-defined]  # read by access-control tests
        bp.add_url_rule(rule, endpoint=name, view_func=view, methods=[method])
        return view
    return decorator
