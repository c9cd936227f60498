"""Who may look at whose account: the web layer's scope checks over the directory.

A villager sees their own household and its members; a Party member themself,
their household and the households they are linked to (党员联户); a grid worker
the households of their grid; village staff their village (a secretary also the
members of their branch); a shopkeeper none (the counter shows what the shop
needs); administrators and auditors the whole county. Views
answer 404 both for "not yours" and "does not exist", so nothing leaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, bindparam, or_, select

from services.actors import Actor
from services.queries import household_name
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


def _on_day(model: type, **match: str) -> list:  # type: ignore[type-arg]
    """Rows of a dated membership table in force on ``:day``, matched on bound parameters."""
    return [*(getattr(model, col) == bindparam(param) for col, param in match.items()),
            *_current(model.valid_from, model.valid_to, bindparam("day"))]  # type: ignore[attr-defined]


# place_of's statements, built once: it runs on every passbook and API read (values bound per call).
_GRID = select(HouseholdGrid.grid_id).where(*_on_day(HouseholdGrid, household_id="hid")).limit(1).scalar_subquery()
_HOUSEHOLD_PLACE = select(Household.code, Household.head_name, Household.village_id, _GRID).where(Household.id == bindparam("hid"))
_PERSON_PLACE = select(
    Person.code, Person.name,
    select(Membership.household_id).where(*_on_day(Membership, person_id="pid")).limit(1).scalar_subquery(),
    select(PartyMember.branch_id).where(*_on_day(PartyMember, person_id="pid")).limit(1).scalar_subquery(),
).where(Person.id == bindparam("pid"))
_VILLAGE_OF_GRID = select(Area.parent_id).where(Area.id == bindparam("grid"))


def place_of(conn: Connection, kind: str, ident: int, day: date, lang: str = "zh") -> Place | None:
    """A holder (a household named in ``lang``: 张三户) and where it is today, or None when there is no such holder."""
    if kind == "p":
        p = conn.execute(_PERSON_PLACE, {"pid": ident, "day": day}).first()
        if p is None:
            return None
        code, name, hid, branch = p
    elif kind == "h":
        hid, branch = ident, None
    else:
        return None
    grid = village = None
    if hid is not None:
        h = conn.execute(_HOUSEHOLD_PLACE, {"hid": hid, "day": day}).first()
        if h is not None:
            village, grid = h[2], h[3]
            if kind == "h":
                code, name = h[0], household_name(h[1], lang)
        elif kind == "h":
            return None
        if village is None and grid is not None:
            village = conn.execute(_VILLAGE_OF_GRID, {"grid": grid}).scalar()
    return Place(kind, ident, code, name, hid, grid, village, branch)


def linked_households(conn: Connection, member_id: int, day: date) -> set[int]:
    """Households a Party member is linked to today (党员联户)."""
    return set(conn.execute(select(Linkage.household_id).where(Linkage.member_id == member_id, *_current(Linkage.valid_from, Linkage.valid_to, day))).scalars())


def can_view(conn: Connection, actor: Actor, place: Place, day: date) -> bool:
    """Whether the actor may open this holder's passbook (and read its balances and entries in the API).

    A shopkeeper opens none: the shop counter reads the balance and the reservations of the household
    whose code is typed there itself (``shop.list_redemptions`` checks the village), and needs no
    passbook, entries or people of the village.
    """
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
    if role in ("steward", "committee", "secretary"):
        if role == "secretary" and place.branch_id is not None and place.branch_id == actor.branch_id:
            return True
        return place.village_id is not None and place.village_id == actor.village_id
    return False


def can_view_village(actor: Actor, village_id: int | None) -> bool:
    """Village-level pages (desk, queue, counter): the actor's own village, or the whole county."""
    return actor.county_wide or (village_id is not None and village_id == actor.village_id)
