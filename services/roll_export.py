"""The household roll as it stands on a day, for the people who keep paper ledgers (台账): ``jifen directory export``.

After a roll import the codes the system gave households, villagers and Party
members are visible only one by one in the admin pages; a village office needs
them all, to write them in its 台账. This writes one row per person in a
household on the day: township, village, grid, household code, head of
household, person code, name, relation, the household's tier, whether a Party
member and, for a Party member, the households they look after (联户).

The columns use the roll's own headers (``services.roll.COLUMNS``) wherever they
hold the same thing, so the export reads in one vocabulary with the roll and can
be edited and imported again as one (the head and linked-household columns are
listed as not read). No ID or phone number is written. Names are written as text
(``services.exports.write_rows``): a name typed as ``=HYPERLINK(…)`` never runs as a formula.

A county holds 600,000 persons: rows are read a village at a time, in chunks of
households (``store.directory.chunks``), and the workbook is streamed (openpyxl's
write-only mode), so only one village is ever held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from scoring.model import Ruleset
from services.roll import COLUMNS, HEAD, TEMPLATE_SHEET
from store.directory import chunks
from store.models import (
    Area,
    Household,
    HouseholdGrid,
    HouseholdTier,
    Linkage,
    Membership,
    PartyMember,
    Person,
)

# (中文, English) of each column: the roll's own header where the roll has the column (乡镇 … 党员).
HEADERS: tuple[tuple[str, str], ...] = (
    (COLUMNS["township"][0], "Township"),
    (COLUMNS["village"][0], "Village"),
    (COLUMNS["grid"][0], "Grid"),
    (COLUMNS["household"][0], "Household"),
    ("户主", "Head of household"),
    (COLUMNS["person"][0], "Person"),
    (COLUMNS["name"][0], "Name"),
    (COLUMNS["relation"][0], "Relation"),
    (COLUMNS["tier"][0], "Tier"),
    (COLUMNS["party"][0], "Party member"),
    ("联系户", "Linked households"),
)
SHEET = (TEMPLATE_SHEET, "Roll")


@dataclass(frozen=True)
class Village:
    """A village to export, with its township."""

    id: int
    code: str
    name: str
    township: str


def villages(conn: Connection, village_id: int | None = None) -> list[Village]:
    """Every village (or the one of ``village_id``), by township code then village code."""
    areas = {a.id: a for a in conn.execute(select(Area.id, Area.code, Area.name, Area.level, Area.parent_id)  # type: ignore[call-overload]
                                           .where(or_(Area.level == "village", Area.level == "township")))}  # type: ignore[arg-type]
    found = [(areas[a.parent_id].code if a.parent_id in areas else "", a.code,
              Village(a.id, a.code, a.name, areas[a.parent_id].name if a.parent_id in areas else ""))
             for a in areas.values() if a.level == "village" and village_id in (None, a.id)]
    return [v for _, _, v in sorted(found, key=lambda f: (f[0], f[1]))]


def in_force_on(model: Any, day: date) -> Any:
    """The interval rows of ``model`` in force on ``day`` (``valid_to`` is exclusive)."""
    return and_(model.valid_from <= day, or_(model.valid_to.is_(None), model.valid_to > day))


@dataclass(slots=True)
class _Person:
    household: int
    id: int
    code: str
    name: str
    relation: str


def _village_rows(conn: Connection, village: Village, day: date, grids: dict[int, tuple[str, str]],
                  tier_names: dict[str, str], yes_no: tuple[str, str]) -> list[list[str]]:
    """The rows of one village on ``day``, sorted by grid, household (head first) and person code."""
    households = conn.execute(select(Household.id, Household.code, Household.head_name)  # type: ignore[call-overload]
                              .where(Household.village_id == village.id)).all()
    ids = sorted(h.id for h in households)
    code_of = {h.id: h.code for h in households}
    head_of = {h.id: h.head_name for h in households}
    grid_of: dict[int, int] = {}
    tier_of: dict[int, str] = {}
    people: list[_Person] = []
    for part in chunks(ids):
        grid_of.update(conn.execute(select(HouseholdGrid.household_id, HouseholdGrid.grid_id).where(  # type: ignore[call-overload]
            HouseholdGrid.household_id.in_(part), in_force_on(HouseholdGrid, day))).all())  # type: ignore[attr-defined]
        tier_of.update(conn.execute(select(HouseholdTier.household_id, HouseholdTier.tier).where(  # type: ignore[call-overload]
            HouseholdTier.household_id.in_(part), in_force_on(HouseholdTier, day))).all())  # type: ignore[attr-defined]
        rows = conn.execute(select(Membership.household_id, Person.id, Person.code, Person.name, Membership.relation)  # type: ignore[call-overload]
                            .join(Person, Person.id == Membership.person_id)
                            .where(Membership.household_id.in_(part), in_force_on(Membership, day)))  # type: ignore[attr-defined]
        people.extend(_Person(*r) for r in rows)
    members: set[int] = set()
    links: dict[int, list[str]] = {}
    pids = sorted(p.id for p in people)
    for part in chunks(pids):
        members.update(conn.execute(select(PartyMember.person_id).where(  # type: ignore[call-overload]
            PartyMember.person_id.in_(part), in_force_on(PartyMember, day))).scalars())  # type: ignore[attr-defined]
        for member, code in conn.execute(select(Linkage.member_id, Household.code)  # type: ignore[call-overload]
                                         .join(Household, Household.id == Linkage.household_id)
                                         .where(Linkage.member_id.in_(part), in_force_on(Linkage, day))):  # type: ignore[attr-defined]
            links.setdefault(member, []).append(code)
    # The head on that day is the member the roll marked 户主 then; the household's kept name otherwise.
    heads = {p.household: p.name for p in people if p.relation == HEAD}
    people.sort(key=lambda p: (grids.get(grid_of.get(p.household, 0), ("", ""))[0], code_of[p.household],
                               p.relation != HEAD, p.code))
    yes, no = yes_no
    out = []
    for p in people:
        grid = grids.get(grid_of.get(p.household, 0), ("", ""))[1]
        tier = tier_of.get(p.household, "")
        party = p.id in members
        out.append([village.township, village.name, grid, code_of[p.household], heads.get(p.household, head_of[p.household]),
                    p.code, p.name, p.relation, tier_names.get(tier, tier), yes if party else no,
                    "、".join(sorted(links.get(p.id, ()))) if party else ""])
    return out


def roll_rows(conn: Connection, day: date, ruleset: Ruleset | None, village_id: int | None = None,
              lang: str = "zh") -> Iterator[list[str]]:
    """The header, then one row per person in a household on ``day`` (of one village, or the whole county), a village at a time."""
    english = lang.startswith("en")
    yield [en if english else zh for zh, en in HEADERS]
    grids = {g.id: (g.code, g.name) for g in conn.execute(select(Area.id, Area.code, Area.name).where(Area.level == "grid"))}  # type: ignore[call-overload]
    tier_names = {t.key: t.label(lang) for t in ruleset.tiers} if ruleset else {}
    yes_no = ("yes", "no") if english else ("是", "否")
    for village in villages(conn, village_id):
        yield from _village_rows(conn, village, day, grids, tier_names, yes_no)


WIDTHS = (10, 12, 12, 11, 10, 11, 10, 10, 8, 8, 30)  # 乡镇 … 联系户: wide enough to read without dragging
