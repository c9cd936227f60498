"""API tokens for other systems (a village app, a rural bank): stored hashed, shown once."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class ApiToken(SQLModel, table=True):
    """A bearer token: its SHA-256, the role and scope it acts with, who issued it, when revoked."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    token_hash: str = Field(unique=True)  # sha256 hex of the token; the token itself is never stored
    prefix: str = ""  # the first characters, to tell tokens apart in a list
    role: str
    person_id: int | None = None
    household_id: int | None = None
    village_id: int | None = None
    branch_id: int | None = None
    grid_id: int | None = None
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    expires_at: datetime | None = None  # None: issued before tokens expired (they never do)
