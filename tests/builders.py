"""A small county built by hand for tests: townships, villages, grids, households, people."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Engine, update
from sqlmodel import Session, select

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

SINCE = date(2020, 1, 1)


class County:
    """Builds directory rows by code; every method returns the new row's id."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.ids: dict[str, int] = {}
        self.county = self._add(Area(code="C", name="示范县", level="county"))

    def _add(self, row: Any) -> int:
        with Session(self.engine) as s:
            s.add(row)
            s.commit()
            s.refresh(row)
            return int(row.id)

    def township(self, code: str, name: str = "") -> int:
        """A township under the county."""
        self.ids[code] = self._add(Area(code=code, name=name or f"{code}镇", level="township", parent_id=self.county))
        return self.ids[code]

    def village(self, code: str, township: str = "T1", name: str = "") -> int:
        """A village, its township made when missing, and its Party branch ``B-<code>``."""
        if township not in self.ids:
            self.township(township)
        vid = self._add(Area(code=code, name=name or f"{code}村", level="village", parent_id=self.ids[township]))
        self.ids[code] = vid
        self.ids[f"B-{code}"] = self._add(Branch(code=f"B-{code}", name=f"{code}村党支部", village_id=vid))
        return vid

    def grid(self, code: str, village: str = "V1") -> int:
        """A grid in a village (made when missing)."""
        if village not in self.ids:
            self.village(village)
        self.ids[code] = self._add(Area(code=code, name=f"{code}网格", level="grid", parent_id=self.ids[village]))
        return self.ids[code]

    def household(self, code: str, grid: str = "G1", tier: str = "yellow", head: str = "", since: date = SINCE) -> int:
        """A household in a grid with a tier from ``since``."""
        if grid not in self.ids:
            self.grid(grid)
        with Session(self.engine) as s:
            village_id = s.exec(select(Area.parent_id).where(Area.id == self.ids[grid])).one()
        hid = self._add(Household(code=code, head_name=head or f"户主{code}", village_id=village_id or 0))
        self.ids[code] = hid
        self._add(HouseholdGrid(household_id=hid, grid_id=self.ids[grid], valid_from=since))
        self._add(HouseholdTier(household_id=hid, tier=tier, valid_from=since))
        return hid

    def person(self, code: str, household: str, name: str = "", member_of: str | None = None,
               since: date = SINCE, id_number: str = "", phone: str = "") -> int:
        """A villager in a household; a Party member of branch ``member_of`` when given."""
        pid = self._add(Person(code=code, name=name or f"村民{code}", id_number=id_number, phone=phone))
        self.ids[code] = pid
        self._add(Membership(person_id=pid, household_id=self.ids[household], valid_from=since))
        if member_of:
            self._add(PartyMember(person_id=pid, branch_id=self.ids[member_of], valid_from=since))
        return pid

    def link(self, member: str, household: str, since: date = SINCE) -> int:
        """党员联户: a member looks after a household."""
        return self._add(Linkage(member_id=self.ids[member], household_id=self.ids[household], valid_from=since))

    def _close(self, table: Any, column: Any, ident: int, on: date) -> None:
        with Session(self.engine) as s:
            s.exec(update(table).where(column == ident, table.valid_to.is_(None)).values(valid_to=on))  # type: ignore[call-overload]
            s.commit()

    def move_household(self, code: str, grid: str, on: date) -> None:
        """The household belongs to another grid from ``on``."""
        hid = self.ids[code]
        if grid not in self.ids:
            self.grid(grid)
        self._close(HouseholdGrid, HouseholdGrid.household_id, hid, on)
        self._add(HouseholdGrid(household_id=hid, grid_id=self.ids[grid], valid_from=on))

    def set_tier(self, code: str, tier: str, on: date) -> None:
        """The household's tier changes from ``on``."""
        hid = self.ids[code]
        self._close(HouseholdTier, HouseholdTier.household_id, hid, on)
        self._add(HouseholdTier(household_id=hid, tier=tier, valid_from=on))

    def move_person(self, code: str, household: str, on: date) -> None:
        """The person belongs to another household from ``on`` (a split or a marriage)."""
        pid = self.ids[code]
        self._close(Membership, Membership.person_id, pid, on)
        self._add(Membership(person_id=pid, household_id=self.ids[household], valid_from=on))
