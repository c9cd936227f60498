"""Logging in and out, setting a password with a one-time code, and who may open which page.

Every view that needs a login is wrapped in ``require`` with the roles that may
open it; the logged-in user becomes an ``Actor`` (``current_actor``) that views
pass to the services. Failed logins are counted per username and address in the
database and lock both out for a while (``LOGIN_MAX_FAILURES``, ``LOGIN_LOCK_MINUTES``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_user, logout_user

from services.actors import Actor
from store.models_web import User
from web import accounts
from web.appctx import jifen
from web.extensions import csrf, login_manager
from web.forms import ActivateForm, LoginForm, PasswordForm, load_form

bp = Blueprint("auth", __name__)

ANON = Actor("anonymous", "anonymous")
STAFF = ("grid_worker", "steward", "secretary", "committee", "shopkeeper", "admin", "auditor")
EVERYONE = ("villager", "party_member", *STAFF)


class WebUser(UserMixin):  # type: ignore[misc]
    """The logged-in account as Flask-Login holds it for one request."""

    def __init__(self, row: User):
        self.row = row
        self.actor = accounts.actor_of(row)

    def get_id(self) -> str:
        """``id:session_version``: a password change ends every older session."""
        return f"{self.row.id}:{self.row.session_version}"

    @property
    def role(self) -> str:
        """The account's role."""
        return self.row.role

    @property
    def name(self) -> str:
        """What the header shows."""
        return self.row.display_name or self.row.username


def load_user(ident: str) -> WebUser | None:
    """Flask-Login's loader: the active account whose session version still matches."""
    uid, _, version = ident.partition(":")
    if not uid.isdigit() or not version.isdigit():
        return None
    row = accounts.get_user(jifen().engine, int(uid))
    if row is None or not row.active or row.session_version != int(version):
        return None
    return WebUser(row)


def current_actor() -> Actor:
    """The acting user for services; an anonymous visitor has no role anyone grants."""
    if current_user.is_authenticated:
        return current_user.actor  # type: ignore[no-any-return]
    return ANON


def client_ip() -> str:
    """The client's address (gunicorn behind a proxy should set ``forwarded_allow_ips``)."""
    return request.remote_addr or "-"


def require(*roles: str, write: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let only these roles in: anonymous visitors go to the login page, other roles get 403.

    ``write=True`` marks a view that changes something: the read-only auditor is refused
    even when listed (it may then be listed to read the GET side of the same view).
    """
    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            role = current_user.role
            if role not in roles:
                abort(403)
            if role == "auditor" and (write or request.method not in ("GET", "HEAD")):
                abort(403)
            return view(*args, **kwargs)

        wrapped.roles = roles  # type: ignore[attr-defined]
        return wrapped
    return decorator


def audit(action: str, target: str = "", **detail: Any) -> None:
    """Record an administrative action of the current user in the audit log."""
    accounts.audit(jifen().engine, current_actor(), action, target, client_ip(), jifen().now(), **detail)


def safe_next(target: str | None, default: str) -> str:
    """A redirect target only on this site (never another host)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def home_for(role: str) -> str:
    """Where each role lands after logging in."""
    return {
        "villager": url_for("passbook.mine"),
        "party_member": url_for("passbook.mine"),
        "grid_worker": url_for("claims.new"),
        "steward": url_for("claims.new"),
        "secretary": url_for("desk.index"),
        "committee": url_for("desk.queue"),
        "shopkeeper": url_for("shop.counter"),
        "admin": url_for("admin.index"),
        "auditor": url_for("admin.audit_log"),
    }.get(role, url_for("public.index"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Log in with username and password (throttled per username and address)."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(home_for(current_user.role))
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    nxt = request.values.get("next", "")
    if request.method == "POST":
        values = request.form.to_dict()
        data, errors = load_form(LoginForm(), request.form)
        if data is not None:
            ctx, ip, now = jifen(), client_ip(), jifen().now()
            cfg = current_app.config
            throttle = accounts.Throttle(cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_LOCK_MINUTES"], cfg["LOGIN_MAX_FAILURES_PER_USER"])
            if throttle.locked(ctx.engine, data["username"], ip, now):
                errors["_"] = _("尝试次数过多,请 %(minutes)s 分钟后再试,或请村委会帮忙。", minutes=cfg["LOGIN_LOCK_MINUTES"])
            else:
                user = accounts.authenticate(ctx.engine, data["username"], data["password"])
                if user is None:
                    throttle.fail(ctx.engine, data["username"], ip, now)
                    errors["_"] = _("用户名或密码不对。")
                else:
                    throttle.clear(ctx.engine, data["username"], ip)
                    session.clear()
                    session.permanent = True
                    login_user(WebUser(user))
                    accounts.touch_login(ctx.engine, user.id or 0, now)
                    return redirect(safe_next(nxt, home_for(user.role)))
        values.pop("password", None)
    return render_template("auth/login.html", values=values, errors=errors, next=nxt), (400 if errors else 200)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    """Log out (a POST with the form's CSRF token, so no other site can log anyone out)."""
    logout_user()
    session.clear()
    flash(_("已退出登录。"), "info")
    return redirect(url_for("public.index"))


@bp.route("/activate", methods=["GET", "POST"])
def activate() -> Any:
    """Set a password with the one-time code the village office gave (first login of a villager)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: v for k, v in request.form.items() if k in ("username", "code")}
        data, errors = load_form(ActivateForm(), request.form)
        if data is not None:
            ctx, ip, now = jifen(), client_ip(), jifen().now()
            cfg = current_app.config
            throttle = accounts.Throttle(cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_LOCK_MINUTES"], cfg["LOGIN_MAX_FAILURES_PER_USER"])
            if throttle.locked(ctx.engine, data["username"], ip, now):
                errors["_"] = _("尝试次数过多,请 %(minutes)s 分钟后再试,或请村委会帮忙。", minutes=cfg["LOGIN_LOCK_MINUTES"])
            else:
                user = accounts.redeem_code(ctx.engine, data["username"], data["code"], now)
                if user is None:
                    throttle.fail(ctx.engine, data["username"], ip, now)
                    errors["_"] = _("用户名或一次性验证码不对,或验证码已过期。")
                else:
                    try:
                        accounts.set_password(ctx.engine, user.id or 0, data["password"])
                    except accounts.AccountError as exc:
                        errors[exc.field or "_"] = account_message(exc.code)
                    else:
                        throttle.clear(ctx.engine, data["username"], ip)
                        accounts.audit(ctx.engine, Actor(user.username, user.role), "account.activate", user.username, ip, now)
                        fresh = accounts.get_user(ctx.engine, user.id or 0)
                        assert fresh is not None
                        session.clear()
                        session.permanent = True
                        login_user(WebUser(fresh))
                        flash(_("密码已设置,欢迎使用。"), "success")
                        return redirect(home_for(fresh.role))
    return render_template("auth/activate.html", values=values, errors=errors), (400 if errors else 200)


@bp.route("/account/password", methods=["GET", "POST"])
@require(*EVERYONE)
def password() -> Any:
    """Change one's own password (the current one is asked again)."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        data, errors = load_form(PasswordForm(), request.form)
        if data is not None:
            ctx = jifen()
            if accounts.authenticate(ctx.engine, current_user.row.username, data["current"]) is None:
                errors["current"] = _("当前密码不对。")
            else:
                try:
                    accounts.set_password(ctx.engine, current_user.row.id, data["password"])
                except accounts.AccountError as exc:
                    errors["password"] = account_message(exc.code)
                else:
                    fresh = accounts.get_user(ctx.engine, current_user.row.id)
                    assert fresh is not None
                    login_user(WebUser(fresh))
                    audit("account.password", fresh.username)
                    flash(_("密码已修改。"), "success")
                    return redirect(home_for(fresh.role))
    return render_template("auth/password.html", errors=errors), (400 if errors else 200)


def account_message(code: str) -> str:
    """An account error in the reader's language."""
    return {
        "password_short": _("密码至少 %(n)s 位。", n=accounts.MIN_PASSWORD),
        "password_is_username": _("密码不能与用户名相同。"),
        "password_simple": _("密码太简单,请多用几种字符。"),
        "username_bad": _("用户名只能用 3-64 位字母、数字、点、横线或下划线。"),
        "username_taken": _("这个用户名已有人用。"),
        "role_unknown": _("没有这个角色。"),
        "scope_missing": _("这个角色必须指定管辖范围。"),
        "scope_unknown": _("找不到这个编号。"),
        "not_found": _("找不到该记录。"),
    }.get(code, _("操作未完成。"))


def init_app(app: Flask) -> None:
    """Bind Flask-Login and CSRF, and register the login pages."""
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None  # type: ignore[assignment]
    login_manager.session_protection = "basic"
    app.register_blueprint(bp)
