"""A small county with a login for every role, for the site's tests (feature scenarios, access walk, i18n).

Two villages so that scope can be tested: V1 (grids G1, G2, branch B-V1) where
every staff login works, and V2 (grid G3, branch B-V2) with a villager of its own.
Passwords are generated here for the tests; the site itself never has a default one.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

import store.all_models  # noqa: F401  (every table on the metadata)
from services.actors import Actor
from services.context import AppContext
from services.ingest import ingest_text
from store import rules_repo
from store.models import (
    Area,
    Branch,
    Household,
    HouseholdGrid,
    HouseholdTier,
    Linkage,
    Membership,
    PartyMember,
    Person,
)
from web import accounts

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("villager", "party_member", "grid_worker", "steward", "secretary", "committee", "shopkeeper", "admin", "auditor")
SINCE = date(2020, 1, 1)
FAST_HASH = "pbkdf2:sha256:1000"  # tests log in hundreds of times; the site itself hashes with scrypt


@dataclass
class World:
    """The site over a small county: the app, its context, ids by code and each role's login."""

    app: Flask
    ctx: AppContext
    ids: dict[str, int] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # role → username

    def client(self, role: str | None = None, lang: str | None = None) -> FlaskClient:
        """A test client, logged in as the role's user (None: anonymous), optionally in English."""
        c = self.app.test_client()
        if lang:
            c.set_cookie("lang", lang)
        if role:
            self.login(c, self.users.get(role, role))
        return c

    def login(self, c: FlaskClient, username: str) -> None:
        """Log a client in (through the login form, CSRF token included)."""
        token = csrf_token(c, "/login")
        r = c.post("/login", data={"username": username, "password": self.passwords[username], "csrf_token": token})
        assert r.status_code == 302, f"login of {username} failed: {r.status_code}"

    def actor(self, role: str) -> Actor:
        """The Actor of a role's login."""
        user = accounts.by_username(self.ctx.engine, self.users[role])
        assert user is not None
        return accounts.actor_of(user)


def csrf_token(c: FlaskClient, path: str) -> str:
    """The CSRF token of a page's form (empty when CSRF is off)."""
    html = c.get(path).get_data(as_text=True)
    marker = 'name="csrf_token" value="'
    at = html.find(marker)
    return html[at + len(marker): html.find('"', at + len(marker))] if at >= 0 else ""


def _add(engine: Engine, row: Any) -> int:
    from sqlmodel import Session

    with Session(engine) as s:
        s.add(row)
        s.commit()
        s.refresh(row)
        return int(row.id)


def build_directory(engine: Engine) -> dict[str, int]:
    """Township T1; villages V1 (grids G1, G2) and V2 (grid G3), each with a branch; households, people, links."""
    ids: dict[str, int] = {}
    ids["C"] = _add(engine, Area(code="C", name="示范县", level="county"))
    ids["T1"] = _add(engine, Area(code="T1", name="青山镇", level="township", parent_id=ids["C"]))
    for v, name in (("V1", "白塘村"), ("V2", "石桥村")):
        ids[v] = _add(engine, Area(code=v, name=name, level="village", parent_id=ids["T1"]))
        ids[f"B-{v}"] = _add(engine, Branch(code=f"B-{v}", name=f"{name}党支部", village_id=ids[v]))
    for g, v, name in (("G1", "V1", "一组"), ("G2", "V1", "二组"), ("G3", "V2", "一组")):
        ids[g] = _add(engine, Area(code=g, name=name, level="grid", parent_id=ids[v]))
    households = (("H1", "G1", "red", "张三"), ("H2", "G1", "yellow", "李四"), ("H3", "G2", "orange", "王五"),
                  ("H4", "G2", "yellow", "赵六"), ("H5", "G3", "yellow", "钱七"))
    for code, grid, tier, head in households:
        village = "V1" if grid != "G3" else "V2"
        ids[code] = _add(engine, Household(code=code, head_name=head, village_id=ids[village]))
        _add(engine, HouseholdGrid(household_id=ids[code], grid_id=ids[grid], valid_from=SINCE))
        _add(engine, HouseholdTier(household_id=ids[code], tier=tier, valid_from=SINCE))
    people = (("P1", "H1", "张三", "330825196501011234", "13912345678", None), ("P2", "H2", "李四", "", "", None),
              ("P3", "H3", "王五", "", "", None), ("M1", "H4", "赵六", "330825197002021111", "13800001111", "B-V1"),
              ("P5", "H5", "钱七", "", "", None), ("M2", "H5", "孙八", "", "", "B-V2"))
    for code, home, name, idn, phone, branch in people:
        ids[code] = _add(engine, Person(code=code, name=name, id_number=idn, phone=phone, birth_year=1965))
        _add(engine, Membership(person_id=ids[code], household_id=ids[home], relation="户主" if name.startswith(("张", "李", "王", "赵", "钱")) else "",
                                valid_from=SINCE))
        if branch:
            _add(engine, PartyMember(person_id=ids[code], branch_id=ids[branch], valid_from=SINCE))
    _add(engine, Linkage(member_id=ids["M1"], household_id=ids["H1"], valid_from=SINCE))
    _add(engine, Linkage(member_id=ids["M1"], household_id=ids["H2"], valid_from=SINCE))
    return ids


EVENTS = [
    {"id": "e1", "type": "volunteer_service", "occurred_at": "2026-03-01T10:00:00", "person": "P1", "fields": {"hours": 3}},
    {"id": "e2", "type": "civility", "occurred_at": "2026-03-02T10:00:00", "person": "P2", "rule": "MB-23"},
    {"id": "e3", "type": "household_visit", "occurred_at": "2026-03-03T10:00:00", "person": "M1", "household": "H1"},
    {"id": "e4", "type": "party_day_signin", "occurred_at": "2026-04-01T09:00:00", "person": "M1"},
    {"id": "e5", "type": "civility", "occurred_at": "2026-04-02T10:00:00", "person": "P3", "rule": "MB-07"},
    {"id": "e6", "type": "volunteer_service", "occurred_at": "2026-05-02T10:00:00", "person": "P5", "fields": {"hours": 2}},
    {"id": "e7", "type": "volunteer_service", "occurred_at": "2026-05-03T10:00:00", "person": "P1", "fields": {"hours": 2}},
]


def build_world(engine: Engine, clock: Any, upload_dir: Path, rules_text: str | None = None, **config: Any) -> World:
    """The app over a fresh county: rules in force from 2026-01-01, a few scored events, one login per role."""
    SQLModel.metadata.create_all(engine)
    ids = build_directory(engine)
    ctx = AppContext(str(engine.url), clock)
    ctx.__dict__["engine"] = engine  # share the test's engine (and its in-memory state) instead of opening another
    text = rules_text if rules_text is not None else (ROOT / "rules.yaml").read_text(encoding="utf-8")
    rules_repo.publish(engine, text, date(2026, 1, 1), "admin", clock())
    ingest_text(ctx.ledger, "\n".join(json.dumps(e, ensure_ascii=False) for e in EVENTS), "jsonl", "import", "clerk")
    from web import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": secrets.token_hex(16), "CONTEXT": ctx, "UPLOAD_DIR": str(upload_dir), **config})
    world = World(app, ctx, ids)
    scopes: dict[str, dict[str, int | None]] = {
        "villager": {"household_id": ids["H1"]}, "party_member": {"person_id": ids["M1"]}, "grid_worker": {"grid_id": ids["G1"]},
        "steward": {"village_id": ids["V1"]}, "secretary": {"branch_id": ids["B-V1"]}, "committee": {"village_id": ids["V1"]},
        "shopkeeper": {"village_id": ids["V1"]}, "admin": {}, "auditor": {},
    }
    for role in ROLES:
        username = f"{role.replace('_', '')}1"
        add_user(world, username, role, scopes[role])
        world.users[role] = username
    add_user(world, "villager2", "villager", {"household_id": ids["H5"]})
    add_user(world, "committee2", "committee", {"village_id": ids["V2"]})
    return world


def add_user(world: World, username: str, role: str, scope: dict[str, int | None]) -> None:
    """A login with a random password kept in ``world.passwords``."""
    password = secrets.token_urlsafe(12)
    accounts.create_user(world.ctx.engine, username, role, password=password, display_name=username, scope=scope,
                         created_by="test", now=world.ctx.now(), method=FAST_HASH)
    world.passwords[username] = password


def household_id(engine: Engine, code: str) -> int:
    """A household's id by code."""
    with engine.connect() as conn:
        return int(conn.execute(select(Household.id).where(Household.code == code)).scalar_one())
