"""Tables of the web site: login accounts, failed logins (throttling) and the audit log.

A user's role and scope ids become the ``services.actors.Actor`` every service
call receives. Passwords and one-time codes are stored only as werkzeug hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

WEB_ROLES = ("villager", "party_member", "grid_worker", "steward", "secretary", "committee", "shopkeeper", "admin", "auditor")


class User(SQLModel, table=True):
    """A login: a role and the ids that bound what it may see.

    A villager's login is a household's (``household_id``); a Party member's is a
    person's; village staff carry their village, branch or grid. A login issued by
    the village office has no password until its holder sets one with the
    one-time code (``code_hash``, valid until ``code_expires``).
    """

    __tablename__ = "web_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    display_name: str = ""
    password_hash: str = ""
    role: str = Field(index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    household_id: int | None = Field(default=None, foreign_key="household.id")
    village_id: int | None = Field(default=None, foreign_key="area.id")
    branch_id: int | None = Field(default=None, foreign_key="branch.id")
    grid_id: int | None = Field(default=None, foreign_key="area.id")
    active: bool = True
    code_hash: str = ""
    code_expires: datetime | None = None
    session_version: int = 1  # raised on every password change: older sessions end
    created_at: datetime
    created_by: str = ""
    last_login_at: datetime | None = None


class LoginFailure(SQLModel, table=True):
    """One failed login (or one-time code) attempt, counted per username and address for lockout."""

    __tablename__ = "web_login_failure"
    __table_args__ = (Index("ix_login_failure_who", "username", "ip", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64)
    ip: str = Field(max_length=64)
    at: datetime


class AuditLog(SQLModel, table=True):
    """One administrative action: who, when, from where, what and on which record."""

    __tablename__ = "web_audit_log"
    __table_args__ = (Index("ix_audit_at", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    actor: str = Field(index=True)
    role: str = ""
    ip: str = ""
    action: str = Field(index=True)
    target: str = ""
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
