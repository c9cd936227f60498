"""Who may look at whose account: the web layer's scope checks over the directory.

A villager sees their own household and its members; a Party member themself,
their household and the households they are linked to (党员联户); a grid worker
the households of their grid; village staff their village (a secretary also the
members of their branch); administrators and auditors the whole county. Views
answer 404 both for "not yours" and "does not exist", so nothing leaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, or_, select

from services.actors import Actor
from store.models import Area, Household, HouseholdGrid, Linkage, Membership, PartyMember, Person


def _current(column_from, column_to, day: date):  # type: ignore[no-untyped-def]
    return [column_from <= day, or_(column_to.is_(None), column_to > day)]


@dataclass
class Place:
    """Where an account holder is today: household, grid, village and (for a Party member) branch."""

    kind: str
    id: int
    code: str
    name: str
    household_id: int | None
    grid_id: int | None
    village_id: int | None
    branch_id: int | None


def home_of(conn: Connection, person_id: int, day: date) -> int | None:
    """The person's household today."""
    return conn.execute(select(Membership.household_id).where(Membership.person_id == person_id, *_current(Membership.valid_from, Membership.valid_to, day))).scalar()


def place_of(conn: Connection, kind: str, ident: int, day: date) -> Place | None:
    """A holder and where it is today, or None when there is no such holder."""
    if kind == "p":
        p = conn.execute(select(Person.id, Person.code, Person.name).where(Person.id == ident)).first()
        if p is None:
            return None
        hid = home_of(conn, ident, day)
        branch = conn.execute(select(PartyMember.branch_id).where(PartyMember.person_id == ident, *_current(PartyMember.valid_from, PartyMember.valid_to, day))).scalar()
        code, name = p.code, p.name
    elif kind == "h":
        h = conn.execute(select(Household.id, Household.code, Household.head_name).where(Household.id == ident)).first()
        if h is None:
            return None
        hid, branch, code, name = ident, None, h.code, f"{h.head_name}户"
    else:
        return None
    grid = village = None
    if hid is not None:
        grid = conn.execute(select(HouseholdGrid.grid_id).where(HouseholdGrid.household_id == hid, *_current(HouseholdGrid.valid_from, HouseholdGrid.valid_to, day))).scalar()
        village = conn.execute(select(Household.village_id).where(Household.id == hid)).scalar()
        if village is None and grid is not None:
            village = conn.execute(select(Area.parent_id).where(Area.id == grid)).scalar()
    return Place(kind, ident, code, name, hid, grid, village, branch)


def linked_households(conn: Connection, member_id: int, day: date) -> set[int]:
    """Households a Party member is linked to today (党员联户)."""
    return set(conn.execute(select(Linkage.household_id).where(Linkage.member_id == member_id, *_current(Linkage.valid_from, Linkage.valid_to, day))).scalars())


def can_view(conn: Connection, actor: Actor, place: Place, day: date) -> bool:
    """Whether the actor may open this holder's passbook."""
    role = actor.role
    if actor.county_wide:
        return True
    if role == "villager":
        return place.household_id is not None and place.household_id == actor.household_id
    if role == "party_member":
        if place.kind == "p" and place.id == actor.person_id:
            return True
        if place.household_id is not None and place.household_id == actor.household_id:
            return True
        return place.kind == "h" and actor.person_id is not None and place.id in linked_households(conn, actor.person_id, day)
    if role == "grid_worker":
        if actor.grid_id is not None:
            return place.grid_id == actor.grid_id
        return place.village_id is not None and place.village_id == actor.village_id
    if role in ("steward", "committee", "shopkeeper", "secretary"):
        if role == "secretary" and place.branch_id is not None and place.branch_id == actor.branch_id:
            return True
        return place.village_id is not None and place.village_id == actor.village_id
    return False


def can_view_village(actor: Actor, village_id: int | None) -> bool:
    """Village-level pages (desk, queue, counter): the actor's own village, or the whole county."""
    return actor.county_wide or (village_id is not None and village_id == actor.village_id)
