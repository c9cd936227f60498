"""Who is where on a given day: codes to ids, households, grids, tiers, branches.

Loaded per batch for just the people and households a batch names, so memory
stays bounded however large the county is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Connection, select

from store.models import (
    Area,
    Branch,
    Household,
    HouseholdGrid,
    HouseholdTier,
    Membership,
    PartyMember,
    Person,
)

T = TypeVar("T")
Interval = tuple[date, date | None, Any]
CHUNK = 900  # stay under every database's limit of bound parameters


@dataclass(frozen=True)
class Scope:
    """Where an entry counts: its grid, village, township and Party branch."""

    grid_id: int
    village_id: int
    township_id: int
    branch_id: int


def _at(intervals: Sequence[Interval] | None, day: date) -> Any:
    for start, end, value in intervals or ():
        if start <= day and (end is None or day < end):
            return value
    return None


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    """Slices of at most ``size`` items."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Directory:
    """Codes and places for one batch; ``prepare`` first, then ask by id and day."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.person_ids: dict[str, int] = {}
        self.household_ids: dict[str, int] = {}
        self.homes: dict[int, list[Interval]] = defaultdict(list)
        self.grids: dict[int, list[Interval]] = defaultdict(list)
        self.tiers: dict[int, list[Interval]] = defaultdict(list)
        self.branches: dict[int, list[Interval]] = defaultdict(list)
        self.household_village: dict[int, int] = {}
        areas = conn.execute(select(Area.id, Area.level, Area.parent_id)).all()
        parent = {a.id: a.parent_id for a in areas}
        self.grid_place = {a.id: (a.parent_id, parent.get(a.parent_id)) for a in areas if a.level == "grid"}
        self.village_branch = dict(conn.execute(select(Branch.village_id, Branch.id)).all())  # type: ignore[arg-type]

    def prepare(self, person_codes: Iterable[str], household_codes: Iterable[str]) -> None:
        """Load ids and histories of the people and households named (and their homes)."""
        pcodes = sorted(set(person_codes) - self.person_ids.keys())
        for part in chunks(pcodes):
            self.person_ids.update(self.conn.execute(select(Person.code, Person.id).where(Person.code.in_(part))).all())  # type: ignore[arg-type, attr-defined]
        hcodes = sorted(set(household_codes) - self.household_ids.keys())
        for part in chunks(hcodes):
            self.household_ids.update(self.conn.execute(select(Household.code, Household.id).where(Household.code.in_(part))).all())  # type: ignore[arg-type, attr-defined]
        pids = sorted({self.person_ids[c] for c in pcodes if c in self.person_ids})
        self.load_people(pids)
        hids = {self.household_ids[c] for c in hcodes if c in self.household_ids}
        for pid in pids:
            hids.update(v for _, _, v in self.homes.get(pid, ()))
        self.load_households(sorted(hids - self.household_village.keys()))

    def load_people(self, pids: Sequence[int]) -> None:
        """Households and Party branches of these people over time."""
        for part in chunks(pids):
            for m in self.conn.execute(select(Membership.person_id, Membership.valid_from, Membership.valid_to, Membership.household_id).where(Membership.person_id.in_(part))):  # type: ignore[attr-defined]
                self.homes[m[0]].append((m[1], m[2], m[3]))
            for m in self.conn.execute(select(PartyMember.person_id, PartyMember.valid_from, PartyMember.valid_to, PartyMember.branch_id).where(PartyMember.person_id.in_(part))):  # type: ignore[attr-defined]
                self.branches[m[0]].append((m[1], m[2], m[3]))

    def load_households(self, hids: Sequence[int]) -> None:
        """Grids, tiers and villages of these households over time."""
        for part in chunks(hids):
            for h in self.conn.execute(select(HouseholdGrid.household_id, HouseholdGrid.valid_from, HouseholdGrid.valid_to, HouseholdGrid.grid_id).where(HouseholdGrid.household_id.in_(part))):  # type: ignore[attr-defined]
                self.grids[h[0]].append((h[1], h[2], h[3]))
            for h in self.conn.execute(select(HouseholdTier.household_id, HouseholdTier.valid_from, HouseholdTier.valid_to, HouseholdTier.tier).where(HouseholdTier.household_id.in_(part))):  # type: ignore[attr-defined]
                self.tiers[h[0]].append((h[1], h[2], h[3]))
            self.household_village.update(self.conn.execute(select(Household.id, Household.village_id).where(Household.id.in_(part))).all())  # type: ignore[arg-type, union-attr]

    def home(self, person_id: int, day: date) -> int | None:
        """The person's household on a day."""
        return _at(self.homes.get(person_id), day)  # type: ignore[no-any-return]

    def tier(self, household_id: int | None, day: date) -> str | None:
        """The household's tier on a day."""
        return _at(self.tiers.get(household_id), day) if household_id else None  # type: ignore[arg-type]

    def party_branch(self, person_id: int, day: date) -> int | None:
        """The person's Party branch on a day, or None when not a member."""
        return _at(self.branches.get(person_id), day)  # type: ignore[no-any-return]

    def scope(self, household_id: int | None, day: date, member_of: int | None = None) -> Scope | None:
        """Where an account counts on a day: the household's grid; a member's own branch."""
        if household_id is None:
            return None
        grid = _at(self.grids.get(household_id), day)
        if grid is None:
            return None
        village, township = self.grid_place.get(grid, (None, None))
        branch = member_of or self.village_branch.get(village) or 0
        return Scope(grid, village or 0, township or 0, branch)
