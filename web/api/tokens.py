"""API tokens: issued once in clear, kept as SHA-256, acting with a role and a scope.

A token is 32 random bytes (``jf_`` + URL-safe text). Only its hash is stored,
so a copy of the database gives no working token; a revoked token stops at once,
and every token stops after the days it was issued for (a year unless ``--days`` says
otherwise): a token copied into a forgotten script does not work for ever.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from services.actors import ROLES, Actor
from store.db import aware, writer
from store.models import Area, Branch, Household, Person
from store.models_api import ApiToken

TOKEN = ApiToken.__table__  # type: ignore[attr-defined]
PREFIX = "jf_"
VALID_DAYS = 365  # a token's life unless issued for fewer or more days
MAX_DAYS = 3 * 365


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class Issued:
    """A new token: ``token`` is shown this once and never again."""

    id: int
    name: str
    role: str
    token: str


class TokenError(ValueError):
    """A token that cannot be issued or revoked as asked."""


def _same_village(given: int | None, found: int | None, kind: str, code: str) -> int | None:
    """The village a scope code lies in, refused when it is not the village already given: a token acts in one place."""
    if given is not None and found is not None and given != found:
        raise TokenError(f"the {kind} {code!r} is not in the village given: issue the token for one village")
    return given or found


def _scope_ids(engine: Engine, village: str | None, household: str | None, person: str | None, grid: str | None,
               branch: str | None) -> dict[str, int | None]:
    """Codes to ids; an unknown code is an error (a token must never act on a guess)."""
    out: dict[str, int | None] = {"village_id": None, "household_id": None, "person_id": None, "grid_id": None, "branch_id": None}
    with engine.connect() as c:
        if village:
            out["village_id"] = c.execute(select(Area.id).where(Area.code == village, Area.level == "village")).scalar()
            if out["village_id"] is None:
                raise TokenError(f"no village {village!r}")
        if grid:
            row = c.execute(select(Area.id, Area.parent_id).where(Area.code == grid, Area.level == "grid")).first()
            if row is None:
                raise TokenError(f"no grid {grid!r}")
            out["grid_id"] = row.id
            out["village_id"] = _same_village(out["village_id"], row.parent_id, "grid", grid)
        if branch:
            row = c.execute(select(Branch.id, Branch.village_id).where(Branch.code == branch)).first()
            if row is None:
                raise TokenError(f"no branch {branch!r}")
            out["branch_id"] = row.id
            out["village_id"] = _same_village(out["village_id"], row.village_id, "branch", branch)
        if household:
            row = c.execute(select(Household.id, Household.village_id).where(Household.code == household)).first()
            if row is None:
                raise TokenError(f"no household {household!r}")
            out["household_id"] = row.id
            out["village_id"] = _same_village(out["village_id"], row.village_id, "household", household)
        if person:
            out["person_id"] = c.execute(select(Person.id).where(Person.code == person)).scalar()
            if out["person_id"] is None:
                raise TokenError(f"no person {person!r}")
    return out


def issue(engine: Engine, name: str, role: str, created_by: str, now: datetime, *, village: str | None = None,
          household: str | None = None, person: str | None = None, grid: str | None = None,
          branch: str | None = None, days: int = VALID_DAYS) -> Issued:
    """Issue a token for another system, valid ``days``; scope by codes. A role below county level needs a village or household."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(f"--days must be 1 to {MAX_DAYS}; a token past its days is refused and a new one is issued")
    scope = _scope_ids(engine, village, household, person, grid, branch)
    if role not in ("admin", "auditor", "system") and scope["village_id"] is None:
        raise TokenError(f"a {role} token needs --village or --household")
    token = PREFIX + secrets.token_urlsafe(32)
    with writer(engine).begin() as c:
        if c.execute(select(TOKEN.c.id).where(TOKEN.c.name == name)).first():
            raise TokenError(f"a token named {name!r} exists already")
        ident = c.execute(TOKEN.insert().values(
            name=name, token_hash=hash_token(token), prefix=token[:10], role=role, created_by=created_by,
            created_at=now, revoked_at=None, expires_at=now + timedelta(days=days), **scope)).inserted_primary_key[0]
    return Issued(int(ident), name, role, token)


def revoke(engine: Engine, name: str, now: datetime) -> bool:
    """Revoke a token by name; False when there is none or it was revoked before."""
    with writer(engine).begin() as c:
        done = c.execute(update(TOKEN).where(TOKEN.c.name == name, TOKEN.c.revoked_at.is_(None)).values(revoked_at=now))
        return done.rowcount == 1


def listing(engine: Engine) -> list[ApiToken]:
    """Every token (hashes only), by name."""
    with engine.connect() as c:
        return [ApiToken(**dict(r)) for r in c.execute(select(TOKEN).order_by(TOKEN.c.name)).mappings()]


def authenticate(engine: Engine, token: str, now: datetime) -> tuple[Actor | None, str]:
    """The actor a presented token acts as, or None and why: ``api_token_invalid`` (unknown, revoked) or ``api_token_expired``."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None, "api_token_invalid"
    with engine.connect() as c:
        row = c.execute(select(TOKEN).where(TOKEN.c.token_hash == hash_token(token), TOKEN.c.revoked_at.is_(None))).first()
    if row is None:
        return None, "api_token_invalid"
    if row.expires_at is not None and aware(row.expires_at) <= now:
        return None, "api_token_expired"
    return Actor(f"token:{row.name}", row.role, person_id=row.person_id, household_id=row.household_id,
                 village_id=row.village_id, branch_id=row.branch_id, grid_id=row.grid_id), ""

