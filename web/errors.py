"""Friendly error pages: 400, 403, 404, 405, 409, 413 and 500, never a traceback.

"Not yours" and "does not exist" look the same wherever that would reveal who
exists (the views answer 404 for both). Paths under ``/api/`` get JSON instead.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from services.errors import ServiceError
from web.i18n import lang


def _titles() -> dict[int, tuple[str, str]]:
    return {
        400: (_("请求有误"), _("提交的内容不完整或有误,请返回重试。")),
        401: (_("请先登录"), _("这个页面需要登录后查看。")),
        403: (_("无权查看"), _("您没有权限打开这个页面。如有疑问请联系村委会。")),
        404: (_("找不到页面"), _("没有这个页面或记录,或者它不在您的查看范围内。")),
        405: (_("操作方式不对"), _("这个地址不支持这样的操作,请从页面上的按钮进入。")),
        409: (_("情况已变"), _("这条记录刚刚被别人处理过,请刷新后再看。")),
        413: (_("文件太大"), _("上传的文件太大,请压缩照片后再传(最大 8 MB)。")),
        429: (_("太频繁了"), _("操作太频繁,请稍后再试。")),
        500: (_("系统出错了"), _("服务器出了点问题,已记录下来。请稍后再试,或联系管理员。")),
    }


def render_error(status: int, detail: str | None = None) -> Any:
    """The error page (or JSON under /api/) for a status."""
    titles = _titles()
    title, text = titles.get(status, titles[500] if status >= 500 else titles[400])
    if request.path.startswith("/api/"):  # what the router refused before the API's blueprint was chosen
        from web.api import api_error

        return api_error(status)
    return render_template("error.html", status=status, title=title, text=detail or text), status


def init_app(app: Flask) -> None:
    """Register the handlers."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        return render_error(exc.code or 500)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        return render_error(400, _("页面已过期或来源不明,请返回刷新页面后再提交。"))

    @app.errorhandler(ServiceError)
    def _service(exc: ServiceError) -> Any:
        return render_error(exc.status, exc.message(lang()))

    @app.errorhandler(500)
    def _server(exc: Exception) -> Any:
        # No logging here: Flask has already logged the traceback (``Flask.log_exception``) before
        # calling this handler, and logging again wrote every error twice.
        return render_error(500)
