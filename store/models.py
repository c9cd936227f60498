"""Tables. Alembic owns the schema (``store/migrations``); ``create_all`` is for tests only.

Amounts are BIGINT hundredths of a point (see ``scoring.points``). Times are
aware and kept in UTC (SQLModel's ``UTCDateTime``); ``local_day`` keeps the
county's local date beside them so periods never depend on the database's zone.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DDL, BigInteger, Column, Index, Text, UniqueConstraint, event
from sqlmodel import Field, SQLModel


def big(**kw: object) -> Column:  # type: ignore[type-arg]
    """A BIGINT column (points in hundredths can pass 2**31 in a county's totals)."""
    return Column(BigInteger, nullable=False, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- who is scored
class Area(SQLModel, table=True):
    """County, township (乡镇), village (村) or grid (网格); each points to its parent."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True)
    name: str
    level: str = Field(index=True)  # county | township | village | grid
    parent_id: int | None = Field(default=None, foreign_key="area.id", index=True)


class Branch(SQLModel, table=True):
    """A Party branch (党支部); one per village."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    name: str
    village_id: int = Field(foreign_key="area.id", index=True)


class Household(SQLModel, table=True):
    """A household (户), identified by its household code from the village roll."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    head_name: str
    village_id: int = Field(foreign_key="area.id", index=True)
    address: str = ""
    created_on: date | None = None
    dissolved_on: date | None = None  # after a merge or split, the old household ends


class HouseholdGrid(SQLModel, table=True):
    """Which grid a household belonged to, from ``valid_from`` to ``valid_to`` (exclusive)."""

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    grid_id: int = Field(foreign_key="area.id", index=True)
    valid_from: date
    valid_to: date | None = None


class HouseholdTier(SQLModel, table=True):
    """A household's attention tier (三色) over time."""

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    tier: str
    valid_from: date
    valid_to: date | None = None


class HouseholdLineage(SQLModel, table=True):
    """A split or merge: ``child`` came (partly) from ``parent`` on a date."""

    id: int | None = Field(default=None, primary_key=True)
    parent_id: int = Field(foreign_key="household.id", index=True)
    child_id: int = Field(foreign_key="household.id", index=True)
    kind: str  # split | merge
    on_date: date


class Person(SQLModel, table=True):
    """A villager. ID number and phone are kept for the office and never shown whole."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    name: str
    gender: str = ""
    id_number: str = ""
    phone: str = ""
    birth_year: int | None = None


class Membership(SQLModel, table=True):
    """A person's household over time (户籍成员)."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    relation: str = ""  # 户主, 配偶, 子女 …
    valid_from: date
    valid_to: date | None = None


class PartyMember(SQLModel, table=True):
    """A person's Party membership in a branch over time."""

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    branch_id: int = Field(foreign_key="branch.id", index=True)
    valid_from: date
    valid_to: date | None = None


class Linkage(SQLModel, table=True):
    """党员联户: a Party member looks after a household, over time."""

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    valid_from: date
    valid_to: date | None = None


# ---------------------------------------------------------------- rules
class RulesVersion(SQLModel, table=True):
    """A published rules file: in force from ``effective`` (local date) until a later one."""

    __table_args__ = (UniqueConstraint("version", "effective"),)
    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(index=True)  # content hash of the text
    effective: date = Field(index=True)
    title: str = ""
    source: str = Field(sa_column=Column(Text, nullable=False))
    published_at: datetime
    published_by: str
    note: str = ""


# ---------------------------------------------------------------- ledger
class EventRecord(SQLModel, table=True):
    """An event once accepted (scored or waiting for review): the idempotency record."""

    event_key: str = Field(primary_key=True)
    type: str
    occurred_at: datetime
    recorded_at: datetime
    source: str
    actor: str
    payload: str = Field(sa_column=Column(Text, nullable=False))  # the record as received (JSON)


class Entry(SQLModel, table=True):
    """One append-only ledger line. Never updated; a correction is a new entry that reverses it.

    ``kind``: award (from a rule, positive or negative), reversal, spend, refund,
    close (period reset or carry), expire.
    """

    __table_args__ = (
        Index("ix_entry_holder", "holder_kind", "holder_id", "point_type", "id"),
        Index("ix_entry_event", "event_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # idempotency key: event/rule, close:…, spend:…
    point_type: str
    holder_kind: str  # p | h
    holder_id: int
    person_id: int | None = None  # who earned it (for household accounts)
    amount: int = Field(sa_column=big())
    kind: str
    rule_id: str = ""
    rules_version: str = ""
    category: str = ""
    event_key: str = ""
    occurred_at: datetime
    local_day: date
    recorded_at: datetime
    actor: str = ""
    approver: str = ""
    source: str = ""
    reverses_id: int | None = None
    grid_id: int | None = None
    village_id: int | None = None
    township_id: int | None = None
    branch_id: int | None = None
    veto: bool = False
    expires_on: date | None = Field(default=None, index=True)  # the point type's validity window
    note: str = ""
    explanation: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))


class Seal(SQLModel, table=True):
    """A link of the ledger's hash chain (账本封存): a digest of entries ``(previous upto, upto]``.

    Each seal's digest covers its entries and the previous seal's digest, so
    changing, removing or slipping in any sealed entry, or rewriting a seal,
    breaks every digest after it (``store.seal.verify``; ``jifen ledger verify``).
    The newest digest is shown on the public notice board: anyone who notes it
    can later hold the county to it.
    """

    id: int = Field(primary_key=True)  # 1, 2, 3 … set by the sealer: two sealers cannot both add link n
    upto_entry_id: int = Field(unique=True)
    entries: int
    digest: str  # sha256 hex
    prev_digest: str
    sealed_at: datetime
    actor: str


# The ledger's own tables refuse UPDATE and DELETE in the database itself, whoever connects: a
# correction is a new entry. (Dropping the trigger needs the schema owner; the seals catch that.)
APPEND_ONLY = ("entry", "eventrecord", "seal")
_SQLITE_GUARD = ("CREATE TRIGGER {t}_no_{op} BEFORE {OP} ON {t} "
                 "BEGIN SELECT RAISE(ABORT, '{t} is append-only: write a correcting entry instead'); END")
PG_GUARD_FUNCTION = ("CREATE OR REPLACE FUNCTION jifen_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "RAISE EXCEPTION '% is append-only: write a correcting entry instead', TG_TABLE_NAME; END $$")
_PG_GUARD = "CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} FOR EACH ROW EXECUTE FUNCTION jifen_append_only()"


def append_only_ddl(dialect: str, table: str) -> list[str]:
    """The statements that make one table append-only on this database (also used by the migration)."""
    if dialect == "postgresql":
        return [PG_GUARD_FUNCTION, _PG_GUARD.format(t=table)]
    return [_SQLITE_GUARD.format(t=table, op=op.lower(), OP=op) for op in ("UPDATE", "DELETE")]


def _guard(name: str) -> None:
    for dialect in ("sqlite", "postgresql"):
        for statement in append_only_ddl(dialect, name):
            event.listen(SQLModel.metadata.tables[name], "after_create", DDL(statement.replace("%", "%%")).execute_if(dialect=dialect))  # type: ignore[no-untyped-call]


for _name in APPEND_ONLY:
    _guard(_name)


class Claim(SQLModel, table=True):
    """A declared item waiting for review and notice (申报 → 审核 → 公示), holding its event.

    ``status``: submitted → approved | rejected → on_notice (⇄ objected) → posted | withdrawn;
    posted → appealed → posted | reversed. The claims flow (``services.claims``) moves it and
    keeps every transition in ``claim_transition``.
    """

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # the entry's idempotency key it will post under: event/rule
    event_key: str = Field(index=True)
    rule_id: str = Field(index=True)
    rules_version: str = ""
    point_type: str = ""
    holder_kind: str = ""
    holder_id: int = 0
    person_id: int | None = None
    household_id: int | None = None
    village_id: int | None = Field(default=None, index=True)
    branch_id: int | None = Field(default=None, index=True)
    amount: int = Field(default=0, sa_column=big(default=0))  # proposed; the reviewer may set it for a range rule
    status: str = Field(default="submitted", index=True)
    description: str = ""
    entered_by: str = ""
    entered_role: str = ""
    reviewed_by: str = ""
    reviewed_at: datetime | None = None
    reason: str = ""
    notice_days: int = 0
    notice_until: datetime | None = Field(default=None, index=True)
    occurred_at: datetime
    created_at: datetime
    entry_id: int | None = None
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    # Set by the claims flow (services.claims):
    points_chosen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))  # a range rule's amount as reviewed
    posted_at: datetime | None = None
    appeal_until: datetime | None = None  # an appeal (申诉) may be lodged until then
    reversal_entry_id: int | None = None  # the entry that reversed it after an upheld appeal
    updated_at: datetime | None = None


class Balance(SQLModel, table=True):
    """An account's balance, kept in the same transaction as its entries (never summed on read)."""

    point_type: str = Field(primary_key=True)
    holder_kind: str = Field(primary_key=True)
    holder_id: int = Field(primary_key=True)
    amount: int = Field(sa_column=big(default=0))  # what can be spent (spendable types) or held
    earned: int = Field(sa_column=big(default=0))  # lifetime sum of rule entries (honour)


class Tally(SQLModel, table=True):
    """Points from rules in one period per holder: leaderboards and grades read these, never the ledger.

    The place columns are where the holder was on the day of its latest entry in
    the period (``last_day``): a household that moves grid in July is ranked on
    its new grid's board for July and for the year, and on its old grid's board
    for June. Each entry keeps the exact grid of its own day. The indexes end in
    ``amount`` so a board's top 50 and one holder's rank are index range reads.
    """

    __table_args__ = (
        Index("ix_tally_county", "point_type", "period", "amount"),
        Index("ix_tally_township", "point_type", "period", "township_id", "amount"),
        Index("ix_tally_village", "point_type", "period", "village_id", "amount"),
        Index("ix_tally_grid", "point_type", "period", "grid_id", "amount"),
        Index("ix_tally_branch", "point_type", "period", "branch_id", "amount"),
    )
    point_type: str = Field(primary_key=True)
    period: str = Field(primary_key=True)  # 2026 | 2026-Q1 | 2026-03
    holder_kind: str = Field(primary_key=True)
    holder_id: int = Field(primary_key=True)
    grid_id: int
    village_id: int
    township_id: int
    branch_id: int
    last_day: date
    amount: int = Field(sa_column=big(default=0))
    vetoes: int = 0


class Counter(SQLModel, table=True):
    """Rule state per holder: caps used, last occurrence, floor taken (see ``scoring.rules``)."""

    holder_kind: str = Field(primary_key=True)
    holder_id: int = Field(primary_key=True)
    key: str = Field(primary_key=True)
    value: int = Field(sa_column=big(default=0))


class GradeSnapshot(SQLModel, table=True):
    """Grades frozen when a period closes."""

    point_type: str = Field(primary_key=True)
    period: str = Field(primary_key=True)
    holder_kind: str = Field(primary_key=True)
    holder_id: int = Field(primary_key=True)
    score: int = Field(sa_column=big(default=0))
    grade: str = ""
    vetoed: bool = False
    frozen_at: datetime


class PeriodClose(SQLModel, table=True):
    """A closed period of a point type: closing it again changes nothing."""

    point_type: str = Field(primary_key=True)
    period: str = Field(primary_key=True)
    closed_at: datetime
    closed_by: str
    entries: int = 0
