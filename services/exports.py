"""The year-end appraisal sheet (年度评星定级表): every holder of a point type in a period, with score and grade.

A branch reviews its members' 零基积分 tallies, a village its households' moral
credit, a rural bank the star grades it lends by (道德信贷). Each wants one sheet:
every household of the village (those with no points too, graded nothing), or
every Party member and villager with points, their score in the period, the
grade and whether a veto (一票否决) barred it, and for spendable points the
balance. A period already closed shows the grades frozen at its close, exactly
as the shop and the notice read them; an open one the standing today.

No ID or phone number is ever written: holders are named by code and name.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import and_, or_, select
from sqlalchemy.engine import Connection

from scoring.grades import grade
from scoring.model import HOUSEHOLD, Ruleset
from scoring.periods import parse_period
from scoring.points import fmt
from services.queries import holder_names
from store.directory import chunks
from store.models import (
    Area,
    Balance,
    GradeSnapshot,
    Household,
    HouseholdGrid,
    Membership,
    PartyMember,
    PeriodClose,
    Tally,
)


@dataclass(frozen=True)
class AppraisalRow:
    """One holder's line of the sheet."""

    village: str
    grid: str
    code: str
    name: str
    score: int
    grade: str
    vetoed: bool
    balance: int | None  # spendable types only


@dataclass
class Appraisal:
    """The sheet: its point type and period, whether the period is closed (grades frozen), and its rows."""

    point_type: str
    period: str
    frozen: bool
    rows: list[AppraisalRow]
    spendable: bool


def appraisal(conn: Connection, ruleset: Ruleset, point_type: str, period: str, village_id: int | None = None,
              lang: str = "zh") -> Appraisal:
    """The appraisal of one point type and period, for a village or (``None``) the whole county."""
    pt = ruleset.point_types[point_type]
    kind = "h" if pt.holder == HOUSEHOLD else "p"
    frozen = conn.execute(select(PeriodClose.period).where(
        PeriodClose.point_type == point_type, PeriodClose.period == period)).first() is not None
    places: dict[int, tuple[int, int]] = {}  # holder → (village, grid) of its latest entry in the period
    scores: dict[int, tuple[int, bool]] = {}
    stmt = (select(Tally.holder_id, Tally.village_id, Tally.grid_id, Tally.amount, Tally.vetoes)  # one row a holder and period
            .where(Tally.point_type == point_type, Tally.period == period, Tally.holder_kind == kind))
    if village_id is not None:
        stmt = stmt.where(Tally.village_id == village_id)
    for hid, village, grid, amount, vetoes in conn.execute(stmt):
        scores[hid] = (int(amount), bool(vetoes))
        places[hid] = (village, grid)
    last_day = period_end(period)
    if kind == "h":  # every household of the village is appraised, those with no points too
        hh = (select(Household.id, Household.village_id, HouseholdGrid.grid_id)
              .join(HouseholdGrid, HouseholdGrid.household_id == Household.id)  # type: ignore[arg-type]
              .where(HouseholdGrid.valid_to.is_(None), Household.dissolved_on.is_(None)))  # type: ignore[union-attr]
        if village_id is not None:
            hh = hh.where(Household.village_id == village_id)
        for hid, village, grid in conn.execute(hh):
            places.setdefault(hid, (village, grid))
    elif pt.members_only:  # 零基积分, the Party members' tally: every member, those with nothing yet too
        for pid, village, grid in conn.execute(_members_at(last_day, village_id)):
            places.setdefault(pid, (village, grid))
    if frozen:
        snap = select(GradeSnapshot.holder_id, GradeSnapshot.score, GradeSnapshot.grade, GradeSnapshot.vetoed).where(
            GradeSnapshot.point_type == point_type, GradeSnapshot.period == period, GradeSnapshot.holder_kind == kind)
        grades = {hid: (int(score), key, bool(vetoed)) for hid, score, key, vetoed in conn.execute(snap) if hid in places}
    ids = sorted(places)
    names = {}
    balances: dict[int, int] = {}
    for part in chunks(ids):
        names.update({i: v for (_, i), v in holder_names(conn, [(kind, i) for i in part], lang).items()})
        if pt.spendable:
            balances.update(conn.execute(select(Balance.holder_id, Balance.amount).where(
                Balance.point_type == point_type, Balance.holder_kind == kind,
                Balance.holder_id.in_(part))).all())  # type: ignore[attr-defined, arg-type]
    areas = dict(conn.execute(select(Area.id, Area.name).where(or_(Area.level == "village", Area.level == "grid"))).all())
    levels = {g.key: g.label(lang) for g in pt.grades}
    rows = []
    for hid in ids:
        if frozen and hid in grades:
            score, key, vetoed = grades[hid]
        else:
            score, vetoed = scores.get(hid, (0, False))
            key = grade(pt, score, vetoed).key
        village, grid = places[hid]
        code, name = names.get(hid, ("", ""))
        rows.append(AppraisalRow(areas.get(village, ""), areas.get(grid, ""), code, name, score, levels.get(key, ""), vetoed,
                                 balances.get(hid, 0) if pt.spendable else None))
    rows.sort(key=lambda r: (r.village, r.grid, -r.score, r.code))
    return Appraisal(point_type, period, frozen, rows, pt.spendable)


def period_end(period: str) -> date:
    """The last day of a period (2026 → 2026-12-31): who was a member then is appraised for it."""
    p = parse_period(period)
    return p.end - timedelta(days=1)


def _members_at(day: date, village_id: int | None) -> Any:
    """Party members on ``day`` with the village and grid of their household then (of ``village_id`` only, if given)."""
    on = and_(PartyMember.valid_from <= day, or_(PartyMember.valid_to.is_(None), PartyMember.valid_to > day))  # type: ignore[union-attr]
    home = and_(Membership.person_id == PartyMember.person_id, Membership.valid_from <= day,
                or_(Membership.valid_to.is_(None), Membership.valid_to > day))  # type: ignore[union-attr]
    grid = and_(HouseholdGrid.household_id == Membership.household_id, HouseholdGrid.valid_from <= day,
                or_(HouseholdGrid.valid_to.is_(None), HouseholdGrid.valid_to > day))  # type: ignore[union-attr]
    stmt = (select(PartyMember.person_id, Household.village_id, HouseholdGrid.grid_id).where(on)
            .join(Membership, home).join(Household, Household.id == Membership.household_id)  # type: ignore[arg-type]
            .join(HouseholdGrid, grid))
    return stmt.where(Household.village_id == village_id) if village_id is not None else stmt



HEADERS = {
    "zh": ("村", "网格", "编号", "姓名", "得分", "等级", "一票否决", "余额"),
    "en": ("Village", "Grid", "Code", "Name", "Score", "Grade", "Vetoed", "Balance"),
}


def sheet_rows(sheet: Appraisal, lang: str = "zh", numbers: bool = False) -> Iterable[list[Any]]:
    """The header, then one list per holder; points exact, as text (``12.5``) or, for a workbook, as ``Decimal`` numbers."""
    head = list(HEADERS["en" if lang.startswith("en") else "zh"])
    yes = "Yes" if lang.startswith("en") else "是"
    if not sheet.spendable:
        head.pop()

    def points(amount: int) -> Any:
        return Decimal(fmt(amount)) if numbers else fmt(amount)  # a Decimal is written as its digits: Excel sums it exactly

    yield head
    for r in sheet.rows:
        line = [r.village, r.grid, r.code, r.name, points(r.score), r.grade, yes if r.vetoed else ""]
        if r.balance is not None:
            line.append(points(r.balance))
        yield line


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula (CSV injection)
SHEET_TITLE = re.compile(r"[\[\]:*?/\\]")  # characters Excel refuses in a sheet's name


NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def csv_cell(value: Any) -> Any:
    """A CSV cell that can never run as a formula: a name typed as ``=HYPERLINK(…)`` is quoted; -12.5 stays a number."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def write_sheet(sheet: Appraisal, out: IO[bytes], xlsx: bool, title: str, lang: str = "zh") -> None:
    """Write the sheet as an Excel workbook (streamed: a county's 200,000 households) or a CSV file Excel opens (BOM)."""
    write_rows(sheet_rows(sheet, lang, numbers=xlsx), out, xlsx, title)


def write_rows(rows: Iterable[Sequence[Any]], out: IO[bytes], xlsx: bool, title: str, widths: Sequence[int] = ()) -> int:
    """Write rows (the header first) as a streamed workbook or a CSV file Excel opens (BOM); how many rows after the header.

    Every text cell stays text: in a workbook a string is stored as a string even when it starts with
    ``=`` (openpyxl would store a formula), in a CSV file such a cell is quoted (``csv_cell``). Given
    ``widths``, the workbook's columns take them and its header stays in view.
    """
    n = -1
    if not xlsx:
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])
            n += 1
        text.detach()  # the caller owns ``out``
        return max(n, 0)
    from openpyxl import Workbook  # imported here: only an Excel export pays for it
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    ws = book.create_sheet(title=SHEET_TITLE.sub("-", title)[:31] or "sheet")  # Excel's rules for a sheet's name
    if widths:
        ws.freeze_panes = "A2"  # set before the first row: write-only sheets write it with their header
        for i, width in enumerate(widths, 1):
            ws.column_dimensions[get_column_letter(i)].width = width

    def cell(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value:
            return None  # an empty cell, not an empty text
        c = WriteOnlyCell(ws, value)
        c.data_type = "s"  # text, even when it starts with "="
        return c

    for row in rows:
        ws.append([cell(v) for v in row])
        n += 1
    book.save(out)
    return max(n, 0)
