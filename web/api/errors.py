"""The API's language and its JSON errors: ``{"errors": {field: [messages]}, "message": ..., "code": ...}``.

marshmallow writes its messages in English; ``localise`` gives them in Chinese
too, so a bad field comes back in the caller's language (``?lang=`` or
``Accept-Language``; Chinese by default).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify, request

from services.errors import ServiceError
from services.messages import add, render

LANGS = ("zh", "en")

add({
    "api_token_missing": ("缺少访问令牌:请在请求头中提供 Authorization: Bearer <令牌>",
                          "a token is required: send Authorization: Bearer <token>"),
    "api_token_invalid": ("访问令牌无效或已吊销", "the token is invalid or revoked"),
    "api_token_expired": ("访问令牌已过期:请管理员重新签发(jifen api-token issue)", "the token has expired: ask an administrator to issue a new one (jifen api-token issue)"),
    "api_bad_request": ("请求内容有误", "the request is not valid"),
    "api_not_json": ("请求体应为 JSON 对象", "the body must be a JSON object"),
    "api_no_route": ("没有这个接口", "no such endpoint"),
    "api_method": ("该接口不支持此方法", "this endpoint does not take that method"),
    "api_too_large": ("请求体太大", "the request body is too large"),
    "api_server": ("服务器出错,已记录", "server error; it has been logged"),
    "api_holder_unknown": ("找不到编号为 “{value}” 的村民或农户", "no villager or household with code '{value}'"),
    "api_entry_unknown": ("找不到该记分记录", "no such ledger entry"),
    "api_point_type": ("未知的积分类型 “{value}”;可选:{allowed}", "unknown point type '{value}'; known: {allowed}"),
    "api_period": ("“{value}” 不是期间,请写作 2026、2026-Q2 或 2026-03", "'{value}' is not a period; use 2026, 2026-Q2 or 2026-03"),
    "api_scope_id": ("该范围需要 scope_id", "this scope needs scope_id"),
    "api_no_rules": ("尚未发布积分细则", "no rules have been published yet"),
    "api_claims_missing": ("申报功能尚未安装", "claims are not available on this server"),
})

# marshmallow's English messages → Chinese. Patterns keep the numbers and choices they carry.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [(re.compile(p), zh) for p, zh in (
    (r"^Missing data for required field\.$", "必填"),
    (r"^Field may not be null\.$", "不能为空"),
    (r"^Unknown field\.$", "未知的字段"),
    (r"^Invalid input type\.$", "输入类型有误"),
    (r"^Invalid value\.$", "值无效"),
    (r"^Not a valid integer\.$", "应为整数"),
    (r"^Number too large\.$", "数字太大"),
    (r"^Not a valid number\.$", "应为数字"),
    (r"^Not a valid string\.$", "应为文字"),
    (r"^Not a valid boolean\.$", "应为 true 或 false"),
    (r"^Not a valid datetime\.$", "应为日期时间,例如 2026-03-01T09:30:00+08:00"),
    (r"^Not a valid date\.$", "应为日期,例如 2026-03-01"),
    (r"^Not a valid mapping type\.$", "应为 JSON 对象"),
    (r"^Not a valid list\.$", "应为列表"),
    (r"^Invalid type\.$", "类型有误"),
    (r"^Shorter than minimum length (\d+)\.$", r"长度不能少于 \1"),
    (r"^Longer than maximum length (\d+)\.$", r"长度不能超过 \1"),
    (r"^Length must be between (\d+) and (\d+)\.$", r"长度应在 \1 到 \2 之间"),
    (r"^Length must be (\d+)\.$", r"长度应为 \1"),
    (r"^Must be greater than or equal to (\S+) and less than or equal to (\S+)\.$", r"应在 \1 到 \2 之间"),
    (r"^Must be greater than or equal to (\S+)\.$", r"不能小于 \1"),
    (r"^Must be less than or equal to (\S+)\.$", r"不能大于 \1"),
    (r"^Must be greater than (\S+)\.$", r"必须大于 \1"),
    (r"^Must be less than (\S+)\.$", r"必须小于 \1"),
    (r"^Must be one of: (.*)\.$", r"应为以下之一:\1"),
    (r"^String does not match expected pattern\.$", "格式不对"),
    (r"^Not an exact amount \(at most two decimals\)\.$", "不是精确的分值(最多两位小数)"),
)]


def lang() -> str:
    """``?lang=zh|en``, else the best of ``Accept-Language``, else Chinese."""
    asked = request.args.get("lang", "")
    if asked in LANGS:
        return asked
    best = request.accept_languages.best_match(LANGS) if request.accept_languages else None
    return best or "zh"


def localise(messages: Any, language: str) -> dict[str, list[str]]:
    """marshmallow's ``messages`` as ``{field: [text]}`` in the language; nested fields joined by dots."""
    flat: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            flat.setdefault(prefix or "_schema", []).extend(_one(v, language) for v in value)
        elif isinstance(value, list):
            for v in value:
                walk(prefix, v)
        else:
            flat.setdefault(prefix or "_schema", []).append(_one(str(value), language))

    walk("", messages)
    return flat


def _one(text: str, language: str) -> str:
    if language == "en":
        return text
    for pattern, zh in _PATTERNS:
        if pattern.match(text):
            return pattern.sub(zh, text)
    return text


def error_response(status: int, code: str, errors: dict[str, list[str]] | None = None, **params: Any) -> tuple[Response, int]:
    """The JSON body every API error has."""
    language = lang()
    message = render(code, language, **params)
    return jsonify({"errors": errors or {}, "message": message, "code": code, "status": status}), status


def service_error(exc: ServiceError) -> tuple[Response, int]:
    """A refused service call: its message under its field."""
    language = lang()
    message = exc.message(language)
    body = {"errors": {exc.field or "_request": [message]}, "message": message, "code": exc.code, "status": exc.status}
    return jsonify(body), exc.status


def validation_error(messages: Any) -> tuple[Response, int]:
    """Bad fields (marshmallow): 400 with each field's messages in the caller's language."""
    language = lang()
    errors = localise(messages, language)
    first = next(iter(errors.items()), ("", [""]))
    summary = render("api_bad_request", language)
    message = f"{summary}: {first[0]}: {first[1][0]}" if language == "en" else f"{summary}:{first[0]}:{first[1][0]}"
    return jsonify({"errors": errors, "message": message, "code": "invalid", "status": 400}), 400
