"""Login accounts: creating users, passwords, one-time codes, login throttling and the audit log.

Used by the site (``web.auth``, ``web.views.admin``) and by the ``jifen users``
commands. There is no default password anywhere: an account gets a password
either typed by its holder or set with a one-time code the village office issues.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, select
from sqlmodel import Session
from werkzeug.security import check_password_hash, generate_password_hash

from services.actors import Actor
from store.db import aware, writer
from store.models import Area, Branch, Household, Membership, PartyMember, Person
from store.models_web import WEB_ROLES, AuditLog, LoginFailure, User

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{3,64}$")
MIN_PASSWORD = 8
HASH_METHOD = "scrypt"  # werkzeug's default: memory-hard
# A hash to compare against when the username is unknown, so both answers take the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))

# What scope each role must carry.
SCOPE_NEEDS: dict[str, tuple[str, ...]] = {
    "villager": ("household_id",),
    "party_member": ("person_id",),
    "grid_worker": ("grid_id",),
    "steward": ("village_id",),
    "secretary": ("branch_id",),
    "committee": ("village_id",),
    "shopkeeper": ("village_id",),
    "admin": (),
    "auditor": (),
}


class AccountError(ValueError):
    """A refused account change; ``code`` names the reason (translated by the caller), ``field`` the input."""

    def __init__(self, code: str, field: str = "", **params: Any):
        super().__init__(code)
        self.code, self.field, self.params = code, field, params


def utcnow() -> datetime:
    """Now, aware UTC."""
    return datetime.now(UTC)




def actor_of(user: User) -> Actor:
    """The ``Actor`` services receive for a logged-in user."""
    return Actor(user.username, user.role, user.person_id, user.household_id, user.village_id, user.branch_id, user.grid_id)


def password_problem(password: str, username: str = "") -> str | None:
    """Why a new password is refused (a message code), or None."""
    if len(password) < MIN_PASSWORD:
        return "password_short"
    if username and password.lower() == username.lower():
        return "password_is_username"
    if len(set(password)) < 3:
        return "password_simple"
    return None


def fill_scope(engine: Engine, role: str, scope: dict[str, int | None]) -> dict[str, int | None]:
    """Complete a role's scope from what was given: a household gives its village and grid, a branch its village …

    Raises ``AccountError`` when the role's required scope is missing or names nothing, or when
    the household, grid or branch given lies in another village than the one given with it
    (``scope_mismatch``, on the village field when a village was given).
    """
    if role not in WEB_ROLES:
        raise AccountError("role_unknown", "role")
    out: dict[str, int | None] = {k: scope.get(k) for k in ("person_id", "household_id", "village_id", "branch_id", "grid_id")}
    with Session(engine) as s:
        _check_consistent(s, out)
        if out["person_id"] is not None:
            if s.get(Person, out["person_id"]) is None:
                raise AccountError("scope_unknown", "person")
            if out["household_id"] is None:
                out["household_id"] = s.exec(select(Membership.household_id).where(  # type: ignore[call-overload]
                    Membership.person_id == out["person_id"], Membership.valid_to.is_(None))).scalars().first()  # type: ignore[union-attr]
            if out["branch_id"] is None and role == "party_member":
                out["branch_id"] = s.exec(select(PartyMember.branch_id).where(  # type: ignore[call-overload]
                    PartyMember.person_id == out["person_id"], PartyMember.valid_to.is_(None))).scalars().first()  # type: ignore[union-attr]
        if out["household_id"] is not None:
            h = s.get(Household, out["household_id"])
            if h is None:
                raise AccountError("scope_unknown", "household")
            out["village_id"] = out["village_id"] or h.village_id
            if out["grid_id"] is None:
                from store.models import HouseholdGrid

                out["grid_id"] = s.exec(select(HouseholdGrid.grid_id).where(  # type: ignore[call-overload]
                    HouseholdGrid.household_id == h.id, HouseholdGrid.valid_to.is_(None))).scalars().first()  # type: ignore[union-attr]
        if out["grid_id"] is not None:
            g = s.get(Area, out["grid_id"])
            if g is None or g.level != "grid":
                raise AccountError("scope_unknown", "grid")
            out["village_id"] = out["village_id"] or g.parent_id
        if out["branch_id"] is not None:
            b = s.get(Branch, out["branch_id"])
            if b is None:
                raise AccountError("scope_unknown", "branch")
            out["village_id"] = out["village_id"] or b.village_id
        if out["village_id"] is not None:
            v = s.get(Area, out["village_id"])
            if v is None or v.level != "village":
                raise AccountError("scope_unknown", "village")
            if out["branch_id"] is None and role in ("secretary", "committee", "party_member"):
                out["branch_id"] = s.exec(select(Branch.id).where(Branch.village_id == v.id)).scalars().first()  # type: ignore[call-overload]
    for need in SCOPE_NEEDS[role]:
        if out[need] is None:
            raise AccountError("scope_missing", need.removesuffix("_id"))
    if role in ("admin", "auditor"):
        out = dict.fromkeys(out)
    return out


def _check_consistent(s: Session, given: dict[str, int | None]) -> None:
    """The household, grid and branch given must lie in the village given (and in one another's village).

    Only what was given is compared; what ``fill_scope`` derives later follows from it.
    """
    village = given["village_id"]
    checks: list[tuple[str, str, int | None]] = []  # (field, code, village of the record)
    if given["household_id"] is not None and (h := s.get(Household, given["household_id"])) is not None:
        checks.append(("household", h.code, h.village_id))
    if given["grid_id"] is not None and (g := s.get(Area, given["grid_id"])) is not None and g.level == "grid":
        checks.append(("grid", g.code, g.parent_id))
    if given["branch_id"] is not None and (b := s.get(Branch, given["branch_id"])) is not None:
        checks.append(("branch", b.code, b.village_id))
    if village is None and checks:
        village = checks[0][2]
    for name, code, where in checks:
        if where != village:
            area = s.get(Area, where) if where is not None else None
            raise AccountError("scope_mismatch", "village" if given["village_id"] is not None else name, kind=name, record=code,
                               village=area.name if area else "", village_code=area.code if area else "")


def create_user(engine: Engine, username: str, role: str, *, password: str | None = None, display_name: str = "",
                scope: dict[str, int | None] | None = None, created_by: str = "", now: datetime | None = None,
                method: str = HASH_METHOD) -> User:
    """Create an account with a password, or none yet (a one-time code will set it).

    ``method`` is werkzeug's hashing method; only tests pass a cheaper one.
    """
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise AccountError("username_bad", "username")
    filled = fill_scope(engine, role, scope or {})
    if password is not None:
        problem = password_problem(password, username)
        if problem:
            raise AccountError(problem, "password")
    with Session(writer(engine)) as s:
        if s.exec(select(User.id).where(func.lower(User.username) == username.lower())).first():  # type: ignore[call-overload]
            raise AccountError("username_taken", "username")
        user = User(username=username, role=role, display_name=display_name.strip(),
                    password_hash=generate_password_hash(password, method) if password else "",
                    created_at=now or utcnow(), created_by=created_by, **filled)
        s.add(user)
        s.commit()
        s.refresh(user)
        return user


def update_user(engine: Engine, user_id: int, *, role: str, display_name: str, active: bool,
                scope: dict[str, int | None]) -> User:
    """Change a user's role, scope, name or whether it may log in (sessions of a changed user end)."""
    filled = fill_scope(engine, role, scope)
    with Session(writer(engine)) as s:
        user = s.get(User, user_id)
        if user is None:
            raise AccountError("not_found")
        user.role, user.display_name, user.active = role, display_name.strip(), active
        for k, v in filled.items():
            setattr(user, k, v)
        user.session_version += 1
        s.add(user)
        s.commit()
        s.refresh(user)
        return user


def set_password(engine: Engine, user_id: int, password: str) -> None:
    """Set a new password; any open session of the account ends and any one-time code is spent."""
    with Session(writer(engine)) as s:
        user = s.get(User, user_id)
        if user is None:
            raise AccountError("not_found")
        problem = password_problem(password, user.username)
        if problem:
            raise AccountError(problem, "password")
        user.password_hash = generate_password_hash(password)
        user.code_hash, user.code_expires = "", None
        user.session_version += 1
        s.add(user)
        s.commit()


def new_code() -> str:
    """An 8-digit one-time code, shown as 1234-5678 (easy to read out and type on a phone)."""
    digits = f"{secrets.randbelow(10**8):08d}"
    return f"{digits[:4]}-{digits[4:]}"


def _norm_code(code: str) -> str:
    return re.sub(r"\D", "", code)


def issue_code(engine: Engine, user_id: int, valid_days: int = 14, now: datetime | None = None) -> str:
    """Issue a one-time code to set the account's password; an earlier code stops working."""
    code = new_code()
    with Session(writer(engine)) as s:
        user = s.get(User, user_id)
        if user is None:
            raise AccountError("not_found")
        user.code_hash = generate_password_hash(_norm_code(code))
        user.code_expires = (now or utcnow()) + timedelta(days=valid_days)
        s.add(user)
        s.commit()
    return code


@dataclass
class Throttle:
    """Lockout policy: ``max_failures`` within ``minutes`` per username and address locks both out."""

    max_failures: int = 5
    minutes: int = 15
    max_per_user: int = 20

    def locked(self, engine: Engine, username: str, ip: str, now: datetime) -> bool:
        """Whether this username may not try again from this address yet."""
        since = now - timedelta(minutes=self.minutes)
        name = username.strip().lower()[:64]
        with engine.connect() as c:
            here = c.execute(select(func.count()).select_from(LoginFailure).where(
                LoginFailure.username == name, LoginFailure.ip == ip, LoginFailure.at >= since)).scalar() or 0
            anywhere = c.execute(select(func.count()).select_from(LoginFailure).where(
                LoginFailure.username == name, LoginFailure.at >= since)).scalar() or 0
        return here >= self.max_failures or anywhere >= self.max_per_user

    def fail(self, engine: Engine, username: str, ip: str, now: datetime) -> None:
        """Count one failure (old ones are pruned on the way)."""
        with writer(engine).begin() as c:
            c.execute(delete(LoginFailure).where(LoginFailure.at < now - timedelta(days=1)))
            c.execute(LoginFailure.__table__.insert(), [{"username": username.strip().lower()[:64], "ip": ip[:64], "at": now}])  # type: ignore[attr-defined]

    def clear(self, engine: Engine, username: str, ip: str) -> None:
        """Forget the failures of a username and address after a success."""
        with writer(engine).begin() as c:
            c.execute(delete(LoginFailure).where(LoginFailure.username == username.strip().lower()[:64], LoginFailure.ip == ip[:64]))


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The active user with this username and password, or None (same time either way)."""
    with Session(engine) as s:
        user = s.exec(select(User).where(func.lower(User.username) == username.strip().lower())).scalars().first()  # type: ignore[call-overload]
    if user is None or not user.password_hash:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    return user  # type: ignore[no-any-return]


def redeem_code(engine: Engine, username: str, code: str, now: datetime) -> User | None:
    """The user whose valid one-time code this is, or None."""
    with Session(engine) as s:
        user = s.exec(select(User).where(func.lower(User.username) == username.strip().lower())).scalars().first()  # type: ignore[call-overload]
    if user is None or not user.code_hash or not user.active:
        check_password_hash(_DUMMY_HASH, code)
        return None
    expires = aware(user.code_expires)
    if expires is None or expires < now or not check_password_hash(user.code_hash, _norm_code(code)):
        return None
    return user  # type: ignore[no-any-return]


def touch_login(engine: Engine, user_id: int, now: datetime) -> None:
    """Remember when the user last logged in."""
    with Session(writer(engine)) as s:
        user = s.get(User, user_id)
        if user is not None:
            user.last_login_at = now
            s.add(user)
            s.commit()


_USER = User.__table__  # type: ignore[attr-defined]
_USER_BY_ID = select(_USER).where(_USER.c.id == bindparam("uid"))


def get_user(engine: Engine, user_id: int) -> User | None:
    """A user by id (read on every request of a logged-in visitor: one plain statement, no ORM session)."""
    with engine.connect() as conn:
        row = conn.execute(_USER_BY_ID, {"uid": user_id}).mappings().first()
    return None if row is None else User(**row)


def by_username(engine: Engine, username: str) -> User | None:
    """A user by username (case-insensitive)."""
    with Session(engine) as s:
        return s.exec(select(User).where(func.lower(User.username) == username.strip().lower())).scalars().first()  # type: ignore[call-overload, no-any-return]


def audit(engine: Engine, actor: Actor | str, action: str, target: str = "", ip: str = "", now: datetime | None = None,
          **detail: Any) -> None:
    """Write one line to the audit log."""
    name, role = (actor.username, actor.role) if isinstance(actor, Actor) else (actor, "")
    with writer(engine).begin() as c:
        c.execute(AuditLog.__table__.insert(), [{  # type: ignore[attr-defined]
            "at": now or utcnow(), "actor": name, "role": role, "ip": ip[:64], "action": action, "target": target[:200],
            "detail": json.dumps(detail, ensure_ascii=False, default=str),
        }])
