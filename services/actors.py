"""Who is acting: a user's role and scope, as every service receives it.

Roles: villager (a household login), party_member, grid_worker, steward
(道德管家), secretary (branch secretary), committee (village committee),
shopkeeper, admin, auditor (read-only), system (scheduler and imports).
Scope ids say where the actor may look and act: a villager their household, a
secretary their branch and village, a grid worker their grid.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

ROLES = ("villager", "party_member", "grid_worker", "steward", "secretary", "committee", "shopkeeper", "admin", "auditor", "system")
COUNTY_WIDE = ("admin", "auditor", "system")


@dataclass(frozen=True)
class Actor:
    """The acting user: name, role and the ids that bound what they may see."""

    username: str
    role: str
    person_id: int | None = None
    household_id: int | None = None
    village_id: int | None = None
    branch_id: int | None = None
    grid_id: int | None = None

    @property
    def county_wide(self) -> bool:
        """Administrators, auditors and the system see the whole county."""
        return self.role in COUNTY_WIDE

    def sees_village(self, village_id: int | None) -> bool:
        """Whether the actor may see records of a village."""
        return self.county_wide or (village_id is not None and village_id == self.village_id)

    def sees_household(self, household_id: int | None, village_id: int | None, linked: Container[int] = ()) -> bool:
        """Whether the actor may see records about a household (its claims, the ratings it gave).

        A villager sees only their household; a Party member their own household and the households
        linked to them (党员联户: ``linked``, the ids the caller looked up for today); a shopkeeper
        none (the shop counter reads what it needs itself); other village staff their village; the
        county all.
        """
        if self.role == "villager":
            return household_id is not None and household_id == self.household_id
        if self.role == "party_member":
            return household_id is not None and (household_id == self.household_id or household_id in linked)
        if self.role == "shopkeeper":
            return False
        return self.sees_village(village_id)


SYSTEM = Actor("system", "system")
