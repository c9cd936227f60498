"""The JSON API under ``/api/v1``: token authentication, JSON errors, the OpenAPI document.

``init_app(app)`` registers the blueprint and exempts it from CSRF (it takes no
cookies: callers present ``Authorization: Bearer <token>``). Every error is
JSON in the caller's language, never a traceback; see ``web.api.errors``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, jsonify, render_template_string, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from services.errors import ServiceError
from web.api import views
from web.api.errors import error_response, lang, service_error, validation_error
from web.api.openapi import build_spec
from web.api.registry import ENDPOINTS, bp, endpoint
from web.api.tokens import authenticate

__all__ = ["api_error", "bp", "init_app"]

PUBLIC = {"api.openapi", "api.docs"}
_HTTP_CODES = {400: "api_bad_request", 401: "api_token_missing", 403: "forbidden", 404: "api_no_route",
               405: "api_method", 413: "api_too_large"}


@bp.before_request
def _authenticate() -> Any:
    """Every endpoint but the documents needs a valid token."""
    if request.endpoint in PUBLIC:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        resp, status = error_response(401, "api_token_missing")
        resp.headers["WWW-Authenticate"] = 'Bearer realm="jifen"'
        return resp, status
    who, why = authenticate(views.ctx().engine, token.strip(), views.ctx().now())
    if who is None:
        resp, status = error_response(401, why)
        resp.headers["WWW-Authenticate"] = 'Bearer realm="jifen", error="invalid_token"'
        return resp, status
    g.api_actor = who
    return None


@bp.errorhandler(ServiceError)
def _service(exc: ServiceError) -> Any:
    problems = getattr(exc, "problems", None)
    if problems:  # a claim the ledger refused: each problem under its own field
        language = lang()
        errors: dict[str, list[str]] = {}
        for p in problems:
            errors.setdefault(p.field or "_request", []).append(p.message(language))
        return jsonify({"errors": errors, "message": exc.message(language), "code": exc.code, "status": exc.status}), exc.status
    return service_error(exc)


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError) -> Any:
    return validation_error(exc.messages)


def api_error(status: int) -> Any:
    """An HTTP error as the API's JSON body (also for what the router refused before reaching the blueprint)."""
    return error_response(status, _HTTP_CODES.get(status, "api_bad_request" if status < 500 else "api_server"))


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException) -> Any:
    return api_error(exc.code or 500)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Any:
    current_app.logger.error("API error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(500, "api_server")


@endpoint("/openapi.json", "GET", "This document", tag="meta", public=True)
def openapi() -> Any:
    """The OpenAPI 3 document of this API."""
    return jsonify(build_spec(request.script_root + bp.url_prefix))  # type: ignore[operator]


DOCS = """<!doctype html>
<html lang="{{ 'en' if en else 'zh' }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ 'jifen API' if en else '积分制治理 接口说明' }}</title>
<style>body{font:18px/1.6 sans-serif;max-width:60em;margin:1em auto;padding:0 1em}
code{background:#eee;padding:0 .2em}td,th{text-align:left;padding:.3em .6em;border-bottom:1px solid #ccc;vertical-align:top}
table{border-collapse:collapse;width:100%}.m{font-weight:bold}</style></head><body>
<h1>{{ 'jifen API v1' if en else '积分制治理 接口 v1' }}</h1>
<p>{% if en %}Send <code>Authorization: Bearer &lt;token&gt;</code>. Amounts are decimal strings. Errors:
<code>{"errors": {field: [messages]}, "message": …, "code": …, "status": …}</code>, in Chinese or English (<code>?lang=en</code>).
Tokens come from <code>jifen api-token issue</code> and expire.
Full schemas: <a href="{{ spec }}">openapi.json</a>.
{% else %}请求头带 <code>Authorization: Bearer &lt;令牌&gt;</code>。分值为十进制字符串。出错时返回
<code>{"errors": {字段: [说明]}, "message": …, "code": …, "status": …}</code>,中文或英文(<code>?lang=en</code>)。
令牌由 <code>jifen api-token issue</code> 签发,到期失效。
完整定义见 <a href="{{ spec }}">openapi.json</a>。{% endif %}</p>
<table><tr><th>{{ 'Method' if en else '方法' }}</th><th>{{ 'Path' if en else '路径' }}</th>
<th>{{ 'What' if en else '说明' }}</th><th>{{ 'Roles' if en else '角色' }}</th></tr>
{% for e in endpoints %}<tr><td class="m">{{ e.method }}</td><td><code>{{ prefix }}{{ e.rule }}</code></td>
<td>{{ e.summary }}<br><small>{{ e.description }}</small></td><td>{{ e.roles|join(', ') if e.roles else ('any token' if en else '任何令牌') }}</td></tr>
{% endfor %}</table></body></html>"""


@endpoint("/docs", "GET", "A page listing the endpoints", tag="meta", public=True)
def docs() -> Any:
    """A human-readable list of the endpoints."""
    rows = [e for e in ENDPOINTS if e.tag != "meta"]
    return render_template_string(DOCS, endpoints=rows, en=lang() == "en", prefix=bp.url_prefix,
                                  spec=request.script_root + f"{bp.url_prefix}/openapi.json")


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@bp.route("/<path:anything>", methods=list(_METHODS))
def _no_route(anything: str) -> Any:
    """Unknown paths under /api/v1 answer JSON too (an app-wide 404 handler would not see the blueprint).

    A known path asked with a method it does not take is 405 with ``Allow``, not 404.
    """
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in _METHODS:
        try:
            found, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if found != "api._no_route":
            allowed.append(method)
    if allowed:
        resp, status = error_response(405, "api_method")
        resp.headers["Allow"] = ", ".join(allowed)
        return resp, status
    return error_response(404, "api_no_route")


def init_app(app: Flask) -> None:
    """Register the API and exempt it from CSRF (it authenticates by token, never by cookie)."""
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)
