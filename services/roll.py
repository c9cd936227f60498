"""Importing the household roll (户籍花名册) from Excel or CSV: who lives where, from a date on.

A county starts with its roll: one row per person, the way village offices keep
it. Importing it creates townships, villages and grids by name, households by
their code (户号), persons by their code or ID number, memberships, tiers
(三色), Party members in the village's branch, and household links (联户).
Importing a later roll again, with a later effective date, records what changed
from that date on: a household that moved grid, a villager who moved household,
a tier raised to red. History is never rewritten: the old membership ends the
day the new one starts, so the ledger keeps counting each period in the right
place (``store.directory`` reads these intervals).

The whole file is checked first; a file with any problem changes nothing, and
every problem names its row, its column and the fix. A roll is all or nothing
because a household is its rows together: half a household imported is wrong.
Persons and households the file does not name are left as they are (a roll of
one village does not end the others).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from sys import intern
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table as SATable
from sqlalchemy import and_, bindparam, func, or_, select, text
from sqlalchemy.engine import Connection, Engine

from scoring.errors import Problem
from scoring.model import Ruleset
from services.privacy import id_number_ok, mask_cell, mask_id
from services.tables import BigNumber, Table
from store.db import is_postgres, writer
from store.directory import chunks
from store.models import (
    Area,
    Branch,
    Claim,
    Entry,
    Household,
    HouseholdGrid,
    HouseholdTier,
    Linkage,
    Membership,
    PartyMember,
    Person,
)

# Column: the header a roll uses (Chinese first), and the other spellings accepted.
COLUMNS: dict[str, tuple[str, ...]] = {
    "township": ("乡镇", "乡镇(街道)", "township"),
    "village": ("村", "行政村", "村(社区)", "village"),
    "grid": ("网格", "grid"),
    "household": ("户号", "户编号", "household"),
    "name": ("姓名", "name"),
    "relation": ("与户主关系", "relation"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "id_number"),
    "person": ("人员编号", "person"),
    "gender": ("性别", "gender"),
    "birth_year": ("出生年份", "birth_year"),
    "phone": ("联系电话", "电话", "手机号", "phone"),
    "address": ("住址", "地址", "address"),
    "tier": ("三色", "三色分类", "tier"),
    "party": ("党员", "是否党员", "party_member", "party member"),
    "linked_by": ("联户党员", "联系党员", "linked_by"),
}
REQUIRED = ("township", "village", "grid", "household", "name")
HEAD = "户主"
YES = frozenset({"是", "党员", "中共党员", "预备党员", "y", "yes", "true", "1"})
NO = frozenset({"否", "群众", "非党员", "n", "no", "false", "0"})
_PHONE = re.compile(r"^(1\d{10}|0\d{2,3}-?\d{7,8})$")
_SPLIT = re.compile(r"[、,,;;\s]+")
_SCIENTIFIC = re.compile(r"[0-9]\.[0-9]+E\+[0-9]+")  # how Excel writes a long number into a CSV file


@dataclass(slots=True)  # a county's roll holds 600,000 of these
class RollRow:
    """One checked row of the roll."""

    n: int
    township: str
    village: str
    grid: str
    household: str
    name: str
    relation: str = ""
    id_number: str = ""
    person: str = ""
    gender: str = ""
    birth_year: int | None = None
    phone: str = ""
    address: str = ""
    tier: str = ""
    party: bool | None = None
    linked_by: tuple[str, ...] | None = None


@dataclass
class RollReport:
    """What an import did (or, with problems, why it did nothing), and the columns it did not read."""

    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    ignored: list[str] = field(default_factory=list)
    written: bool = False
    bad_rows: int = 0
    new_villages: list[tuple[str, str]] = field(default_factory=list)  # (code, name) of each village the roll created

    def summary(self, lang: str = "zh") -> str:
        """One line: what was created and changed (only what happened), or that nothing was imported."""
        english = lang.startswith("en")
        if self.problems:
            return (f"{len(self.problems)} problem(s): nothing was imported; fix them and import again" if english
                    else f"发现 {len(self.problems)} 处问题,名册未导入;改正后请重新导入")
        done = [(en if english else zh).format(n=self.counts[key]) for key, zh, en in _COUNTED if self.counts[key]]
        rows = self.counts["rows"]
        if english:
            head = f"{rows} rows imported" if self.written else f"{rows} rows checked, nothing written"
            return f"{head}: {'; '.join(done) if done else 'no change'}"
        head = f"已导入 {rows} 行" if self.written else f"已检查 {rows} 行,未写入"
        return f"{head}:{'、'.join(done) if done else '没有变化'}"


# What an import counts, in the summary's order: key, 中文, English.
_COUNTED = (  # English as "label: n", so that one and many read alike
    ("areas", "新增区域 {n} 个", "new areas: {n}"), ("households", "新增农户 {n} 户", "new households: {n}"),
    ("persons", "新增村民 {n} 人", "new persons: {n}"), ("party_members", "新增党员 {n} 名", "new Party members: {n}"),
    ("links", "新增联户 {n} 条", "new household links: {n}"),
    ("moved_households", "换网格 {n} 户", "households moved grid: {n}"), ("moved_persons", "换户 {n} 人", "persons moved household: {n}"),
    ("tiers", "三色调整 {n} 户", "tiers changed: {n}"), ("links_ended", "联户结束 {n} 条", "links ended: {n}"),
    ("party_ended", "党员关系结束 {n} 名", "Party memberships ended: {n}"), ("updated", "信息更新 {n} 人", "persons' details updated: {n}"),
    ("households_ended", "不在名册中而登记结束的农户 {n} 户", "households not on the roll, ended: {n}"),
    ("persons_ended", "不在名册中而登记结束的村民 {n} 人", "persons not on the roll, ended: {n}"),
)


# ------------------------------------------------------------------ reading and checking rows
_SPELLED = {re.sub(r"\s+", "", s).lower(): key for key, names in COLUMNS.items() for s in names}


def is_roll_header(cells: list[str]) -> bool:
    """Whether a row is a roll's header: it names at least three of the required columns (a title row does not)."""
    named = {_SPELLED.get(re.sub(r"\s+", "", c).lower()) for c in cells if c}
    return len(named & set(REQUIRED)) >= 3


def _columns(header: list[str]) -> tuple[dict[str, str], list[str]]:
    """Header cells to column keys (spaces inside a header ignored: 网 格 is 网格), and the cells no key reads."""
    found: dict[str, str] = {}
    ignored: list[str] = []
    for cell in header:
        key = _SPELLED.get(re.sub(r"\s+", "", cell).lower())
        if key and key not in found.values():
            found[cell] = key
        elif cell:
            ignored.append(cell)
    return found, ignored


def read_rows(table: Table, ruleset: Ruleset | None, report: RollReport) -> list[RollRow] | None:
    """The roll's rows, each checked alone (problems go to ``report``); None when the file itself is refused."""
    if table.problem is not None:
        report.problems.append(table.problem)
        return None
    columns, report.ignored = _columns(table.header)
    have = set(columns.values())
    missing = [COLUMNS[k][0] for k in REQUIRED if k not in have]
    if "id_number" not in have and "person" not in have:
        missing.append(f"{COLUMNS['id_number'][0]}/{COLUMNS['person'][0]}")
    if missing:
        report.problems.append(Problem("roll_missing_columns", {"columns": "、".join(missing)}, record="#1"))
        return None
    tiers = {}
    for t in ruleset.tiers if ruleset else ():
        for spelling in (t.key, t.name, t.name.rstrip("色"), t.name_en):
            if spelling:
                tiers[spelling.lower()] = t.key
    tier_names = "、".join(t.name for t in ruleset.tiers) if ruleset else ""
    out: list[RollRow] = []
    for n, cells in table.rows:
        report.counts["rows"] += 1
        if "#encoding" in cells:  # bytes in no encoding: the row cannot be read at all
            report.problems.append(Problem("bad_encoding", {}, record=f"#{n}"))
            continue
        values = {key: cells.get(cell, "") for cell, key in columns.items()}
        row = _check_row(n, values, cells.get("#extra", ""), tiers, tier_names, report)
        if row is not None:
            out.append(row)
    if table.problem is not None:  # the workbook turned out damaged part-way
        report.problems.append(table.problem)
        return None
    return out


def _check_row(n: int, v: dict[str, str], extra: str, tiers: dict[str, str], tier_names: str,
               report: RollReport) -> RollRow | None:
    """One row checked alone: required cells, ID number, phone, year, tier, Party membership (None: unreadable)."""
    ref = f"#{n}"
    before = len(report.problems)

    def bad(code: str, key: str, **params: Any) -> None:
        # A cell is quoted back masked: a shifted column puts someone's ID or phone number where a tier belongs.
        shown = {k: mask_cell(v) if isinstance(v, str) else v for k, v in params.items()}
        report.problems.append(Problem(code, {"column": COLUMNS[key][0], **shown}, record=ref, field=COLUMNS[key][0]))

    if extra:
        report.problems.append(Problem("csv_extra_values", {"count": extra.count("、") + 1, "values": mask_cell(extra)}, record=ref))
    for key, value in v.items():
        if isinstance(value, BigNumber):
            bad("roll_number_lost", key)
    for key in REQUIRED:
        if not v.get(key):
            bad("roll_empty", key)
    id_number = v.get("id_number", "").upper()
    valid_id = bool(id_number) and id_number_ok(id_number)
    if not id_number and not v.get("person"):
        bad("roll_no_identity", "id_number")
    elif not valid_id and (_SCIENTIFIC.fullmatch(id_number) or (id_number.isdigit() and len(id_number) == 18
                                                                and id_number.endswith("000"))):
        bad("roll_number_lost", "id_number")  # a CSV Excel saved: 3.30102E+17, or the last three digits gone to 000
    elif id_number and not valid_id and not isinstance(v.get("id_number"), BigNumber):
        bad("roll_bad_id", "id_number", value=mask_id(id_number))
    phone = v.get("phone", "").replace(" ", "")
    if phone and not _PHONE.match(phone):  # 11 digits never reach a BigNumber
        bad("roll_bad_phone", "phone")
    birth_year: int | None = int(id_number[6:10]) if valid_id else None  # read from the ID number when left out
    if v.get("birth_year"):
        year = v["birth_year"][:4]
        if not (year.isdigit() and 1900 <= int(year) <= 2100):
            bad("roll_bad_year", "birth_year", value=v["birth_year"])
        elif birth_year is not None and int(year) != birth_year:
            bad("roll_id_disagrees", "birth_year", value=year, from_id=str(birth_year))
        else:
            birth_year = int(year)
    from_id = ("男" if int(id_number[16]) % 2 else "女") if valid_id else ""
    gender = v.get("gender", "") or from_id
    if gender not in ("男", "女", ""):
        bad("roll_bad_gender", "gender", value=gender)
    elif from_id and gender != from_id:
        bad("roll_id_disagrees", "gender", value=gender, from_id=from_id)
    tier = ""
    if v.get("tier"):
        tier = tiers.get(v["tier"].lower(), "")
        if not tier:
            bad("roll_bad_tier", "tier", value=v["tier"], known=tier_names or "—")
    party: bool | None = None
    if v.get("party"):
        word = v["party"].lower()
        party = True if word in YES else False if word in NO else None
        if party is None:
            bad("roll_bad_party", "party", value=v["party"])
    linked_by = tuple(x for x in _SPLIT.split(v["linked_by"]) if x) if v.get("linked_by") else None
    if len(report.problems) > before:
        # Still returned, as far as it reads: the household checks and the links run on every row, so a
        # roll's problems are all reported at once (nothing is written while there is any).
        report.bad_rows += 1
    # Places, relations and household codes repeat down a county's 600,000 rows: one string each, not one a row.
    return RollRow(n, intern(v["township"]), intern(v["village"]), intern(v["grid"]), intern(v["household"]), v["name"],
                   intern(v.get("relation", "")), id_number, v.get("person", ""), gender, birth_year, phone,
                   v.get("address", ""), tier, party, linked_by)


# ------------------------------------------------------------------ the directory as it stands
@dataclass(slots=True)
class _Current:
    """An interval row in force on (or starting after) the effective date: its id, value and start."""

    id: int
    value: Any
    valid_from: date


@dataclass
class _State:
    """What the database holds that the roll may touch, loaded once."""

    county: int | None
    areas: dict[tuple[int | None, str, str], int]  # (parent, level, name) → id
    area_code: dict[int, str]
    codes: set[str]
    children: dict[int, int]  # parent → how many children (for new codes)
    branches: dict[int, int]  # village → branch
    households: dict[str, tuple[int, int]]  # code → (id, village)
    persons: dict[str, int]  # code → id
    by_id_number: dict[str, int]
    grid_of: dict[int, _Current]
    tier_of: dict[int, _Current]
    home_of: dict[int, _Current]
    party_of: dict[int, _Current]
    links_of: dict[int, list[_Current]]
    _codes: dict[int, str] = field(default_factory=dict)

    def code_of(self, person_id: int) -> str:
        """A registered person's code (the reverse map built on first use: rarely needed, for messages)."""
        if not self._codes:
            self._codes = {i: c for c, i in self.persons.items()}
        return self._codes[person_id]


def _current(conn: Connection, table: SATable, owner: str, value: str, day: date, many: bool = False) -> dict[int, Any]:
    """Interval rows not ended by ``day`` (in force then, or starting later), by owner."""
    t = table
    rows = conn.execute(select(t.c.id, t.c[owner], t.c[value], t.c.valid_from)
                        .where(or_(t.c.valid_to.is_(None), t.c.valid_to > day)).order_by(t.c.valid_from))
    out: dict[int, Any] = {}
    for rid, who, val, since in rows:
        if many:
            out.setdefault(who, []).append(_Current(rid, val, since))
        else:
            out[who] = _Current(rid, val, since)  # the latest start wins: the one a later change would end
    return out


def _latest_change(conn: Connection) -> date | None:
    """The latest day any membership, grid, tier, Party membership or link starts or ends."""
    days: list[date] = []
    for model in (Membership, HouseholdGrid, HouseholdTier, PartyMember, Linkage):
        t = model.__table__  # type: ignore[attr-defined]
        days += [d for d in conn.execute(select(func.max(t.c.valid_from), func.max(t.c.valid_to))).one() if d is not None]
    return max(days, default=None)


def _load(conn: Connection, day: date) -> _State:
    """Load the directory the roll is compared with."""
    a = Area.__table__  # type: ignore[attr-defined]
    areas: dict[tuple[int | None, str, str], int] = {}
    area_code: dict[int, str] = {}
    children: dict[int, int] = defaultdict(int)
    county = None
    for aid, code, name, level, parent in conn.execute(select(a.c.id, a.c.code, a.c.name, a.c.level, a.c.parent_id).order_by(a.c.id)):
        areas[(parent, level, name)] = aid
        area_code[aid] = code
        if parent is not None:
            children[parent] += 1
        if level == "county" and county is None:
            county = aid
    b = Branch.__table__  # type: ignore[attr-defined]
    branches = {v: bid for bid, v in conn.execute(select(b.c.id, b.c.village_id).order_by(b.c.id.desc()))}
    h = Household.__table__  # type: ignore[attr-defined]
    households = {code: (hid, v) for hid, code, v in conn.execute(select(h.c.id, h.c.code, h.c.village_id))}
    p = Person.__table__  # type: ignore[attr-defined]
    persons: dict[str, int] = {}
    by_id: dict[str, int] = {}
    for pid, code, idn in conn.execute(select(p.c.id, p.c.code, p.c.id_number)):
        persons[code] = pid
        if idn:
            by_id[idn.upper()] = pid
    return _State(
        county, areas, area_code, set(area_code.values()), children, branches, households, persons, by_id,
        _current(conn, HouseholdGrid.__table__, "household_id", "grid_id", day),  # type: ignore[attr-defined]
        _current(conn, HouseholdTier.__table__, "household_id", "tier", day),  # type: ignore[attr-defined]
        _current(conn, Membership.__table__, "person_id", "household_id", day),  # type: ignore[attr-defined]
        _current(conn, PartyMember.__table__, "person_id", "branch_id", day),  # type: ignore[attr-defined]
        _current(conn, Linkage.__table__, "household_id", "member_id", day, many=True),  # type: ignore[attr-defined]
    )


# ------------------------------------------------------------------ the import
def import_roll(engine: Engine, table: Table, ruleset: Ruleset | None, effective: date, *,
                check_only: bool = False, county_name: str = "", backdate: bool = False, complete: bool = False) -> RollReport:
    """Check a roll and, when it has no problem (and not ``check_only``), record it from ``effective`` on.

    A roll that changes someone's place, tier, household or links from a day for which points were
    already scored is refused unless ``backdate``: those points stay as scored (entries are never
    rewritten), only records entered later would follow the new roll.

    ``complete``: the roll is the whole of every village it names (整村名册): a household of such a
    village it leaves out is ended on the day (its grid, tier and links), and so is a person living
    there whom it leaves out (their household; their Party membership of that village's branch and
    their links). Villages the roll does not name are left alone, so a county may send a township at a time.
    """
    report = RollReport()
    rows = read_rows(table, ruleset, report)
    if rows is None:
        return report  # the file itself is refused (unreadable, no header, a required column missing)
    if not rows and not report.problems:
        report.problems.append(Problem("roll_no_rows", {}, record="#2"))
        return report
    with writer(engine).connect() as conn, conn.begin() as txn:
        if is_postgres(conn):  # one roll at a time: two at once (a double click on two workers) would both end a row
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROLL_LOCK})
        state = _load(conn, effective)
        if state.county is None and not county_name:
            report.problems.append(Problem("roll_no_county", {}, record="#1"))
        latest = _latest_change(conn)
        if latest is not None and latest > effective:
            # Rolls go forward in time: one dated before a change already recorded would end that change's
            # rows before they start. Import it with a date on or after the latest change instead.
            report.problems.append(Problem("roll_backdated", {"since": latest.isoformat(), "day": effective.isoformat()}, record="#1"))
        households = _households(rows, state, report)  # checked even beside bad rows: every problem at once
        if state.county is None and not county_name:
            return report
        # Written even beside problems, to find those only writing finds (a link to someone who is no Party
        # member, a household registered in another village); then rolled back, so all come in one report.
        written = _Writer(conn, state, effective, ruleset, report, county_name)
        written.write(households)
        if complete:
            written.end_omitted()
        if not backdate:
            _scored_since(conn, written.touched, effective, report)
            _claims_since(conn, written.touched, effective, ruleset.timezone if ruleset else None, report)
        if report.problems or check_only:
            txn.rollback()
            return report
        report.written = True
    return report


ROLL_LOCK = 0x6A6966656E726F6C  # "jifenrol": PostgreSQL's advisory lock of roll imports


def _scored_since(conn: Connection, touched: set[tuple[str, int]], day: date, report: RollReport) -> None:
    """Refuse a change for a holder with points scored on or after ``day`` (by the old roll); name the first one."""
    hit = _first_since(conn, touched, Entry, Entry.local_day, day)
    if hit is not None:
        report.problems.append(Problem("roll_after_entries", {"holder": hit[0], "scored": hit[1].isoformat(),
                                                              "day": day.isoformat()}, record="#1"))


OPEN_CLAIMS = ("submitted", "approved", "on_notice", "objected")  # services.claims: not yet posted, rejected or withdrawn


def _claims_since(conn: Connection, touched: set[tuple[str, int]], day: date, tz: ZoneInfo | None,
                  report: RollReport) -> None:
    """Refuse a change for a holder with a claim (申报) still open, dated on or after ``day``: it would post by the new roll."""
    since = datetime.combine(day, time(0), tzinfo=tz or UTC).astimezone(UTC)
    hit = _first_since(conn, touched, Claim, Claim.occurred_at, since, Claim.status.in_(OPEN_CLAIMS))  # type: ignore[attr-defined]
    if hit is not None:
        report.problems.append(Problem("roll_open_claims", {"holder": hit[0], "day": day.isoformat()}, record="#1"))


def _first_since(conn: Connection, touched: set[tuple[str, int]], model: Any, when: Any, since: Any,
                 *more: Any) -> tuple[str, Any] | None:
    """The code of the first touched holder with a row of ``model`` (entries, claims) dated ``since`` or later, and its date.

    A person's rows are those held by them and those earned by them for their household (``person_id``).
    """
    for kind in ("h", "p"):
        ids = sorted(i for k, i in touched if k == kind)
        for part in chunks(ids):
            held = and_(model.holder_kind == kind, model.holder_id.in_(part))
            mine = or_(held, model.person_id.in_(part)) if kind == "p" else held
            hit = conn.execute(select(model.holder_kind, model.holder_id, when).where(mine, when >= since, *more)
                               .order_by(when).limit(1)).first()
            if hit is not None:
                table = Household if hit[0] == "h" else Person
                code = conn.execute(select(table.code).where(table.id == hit[1])).scalar()  # type: ignore[attr-defined]
                return code, hit[2]
    return None


def _households(rows: list[RollRow], state: _State, report: RollReport) -> dict[str, list[RollRow]]:
    """Rows grouped by household, checked together: one place, one tier, at most one head, no person twice."""
    by_household: dict[str, list[RollRow]] = {}
    for r in rows:
        by_household.setdefault(r.household, []).append(r)
    seen: dict[str, int] = {}
    for code, members in by_household.items():
        first = members[0]
        for r in members[1:]:
            for key in ("township", "village", "grid"):
                if getattr(r, key) != getattr(first, key):
                    report.problems.append(Problem("roll_household_split", {
                        "household": code, "column": COLUMNS[key][0], "first": first.n, "a": getattr(first, key), "b": getattr(r, key),
                    }, record=f"#{r.n}", field=COLUMNS[key][0]))
        tiers = {r.tier for r in members if r.tier}
        if len(tiers) > 1:
            report.problems.append(Problem("roll_household_tiers", {"household": code, "values": "、".join(sorted(tiers))},
                                           record=f"#{members[-1].n}", field=COLUMNS["tier"][0]))
        links = {r.linked_by for r in members if r.linked_by is not None}
        if len(links) > 1:
            report.problems.append(Problem("roll_household_links", {"household": code},
                                           record=f"#{members[-1].n}", field=COLUMNS["linked_by"][0]))
        heads = [r for r in members if r.relation == HEAD]
        if len(heads) > 1:
            report.problems.append(Problem("roll_two_heads", {"household": code, "first": heads[0].n},
                                           record=f"#{heads[1].n}", field=COLUMNS["relation"][0]))
        for r in members:
            pid = state.persons.get(r.person) if r.person else None
            other = state.by_id_number.get(r.id_number) if r.id_number else None
            # The same person however the row names them: by code, by ID number, or as the registered person
            # either one resolves to (one row by code, another by that person's ID number).
            idents = [("person", f"p:{r.person}") if r.person else None, ("id_number", f"i:{r.id_number}") if r.id_number else None,
                      ("person" if r.person else "id_number", f"#{pid or other}") if (pid or other) else None]
            for key, ident in (x for x in idents if x is not None):
                if ident in seen:
                    report.problems.append(Problem("roll_person_twice", {"first": seen[ident], "column": COLUMNS[key][0]},
                                                   record=f"#{r.n}", field=COLUMNS[key][0]))
                    break
            for _key, ident in (x for x in idents if x is not None):
                seen.setdefault(ident, r.n)
            if other is not None and r.person and pid != other:  # a new or another code for a registered ID number
                holder = state.code_of(other)
                report.problems.append(Problem("roll_id_elsewhere", {"value": mask_id(r.id_number), "holder": holder},
                                               record=f"#{r.n}", field=COLUMNS["id_number"][0]))
    return by_household


class _Writer:
    """Records a checked roll: new rows for what is new, an ended row and a new one for what changed."""

    def __init__(self, conn: Connection, state: _State, day: date, ruleset: Ruleset | None, report: RollReport, county_name: str):
        self.conn, self.s, self.day, self.report = conn, state, day, report
        self.c = report.counts
        self.default_tier = ruleset.tiers[0].key if ruleset and ruleset.tiers else ""
        self.county_name = county_name
        self.next_person = self._next_person_number()
        self._updates: dict[tuple[Any, tuple[str, ...]], Any] = {}
        # Holders whose place, tier, household, membership of the Party or links this roll changes:
        # points already scored for them on or after the effective date were scored by the old roll.
        self.touched: set[tuple[str, int]] = set()
        # What the roll names (for ``end_omitted``): its villages, households and persons.
        self.villages: set[int] = set()
        self.named_households: set[int] = set()
        self.named_persons: set[int] = set()
        self.linkers: dict[int, RollRow] = {}  # Party members the roll links to households: the first row naming each

    def write(self, households: dict[str, list[RollRow]]) -> None:
        """Every household of the roll, then the links (members may be named before their row)."""
        county = self._county()
        placed: dict[str, int] = {}
        for code, rows in households.items():
            first = rows[0]
            township = self._area(county, "township", first.township)
            village = self._area(township, "village", first.village)
            grid = self._area(village, "grid", first.grid)
            placed[code] = self._household(code, rows, village, grid)
            self.villages.add(village)
            self.named_households.add(placed[code])
            for r in rows:
                self._person(r, placed[code], village)
        for code, rows in households.items():
            wanted = next((r.linked_by for r in rows if r.linked_by is not None), None)
            if wanted is not None:
                self._links(placed[code], wanted, rows[0])

    # areas and branches
    def _county(self) -> int:
        """The county's area (the first one), created with ``county_name`` in an empty database."""
        if self.s.county is None:
            code = self._code("C", "01")
            self.s.county = self._insert(Area, code=code, name=self.county_name, level="county", parent_id=None)
            self.s.area_code[self.s.county] = code
            self.c["areas"] += 1
        return self.s.county

    def _area(self, parent: int, level: str, name: str) -> int:
        """The area of ``level`` named ``name`` under ``parent``; new ones are coded after their parent (…-V03)."""
        found = self.s.areas.get((parent, level, name))
        if found is not None:
            return found
        self.s.children[parent] += 1
        code = self._code(f"{self.s.area_code[parent]}-{level[0].upper()}", f"{self.s.children[parent]:02d}")
        aid = self._insert(Area, code=code, name=name, level=level, parent_id=parent)
        self.s.areas[(parent, level, name)] = aid
        self.s.area_code[aid] = code
        self.c["areas"] += 1
        if level == "village":
            self.report.new_villages.append((code, name))  # their codes are what exports and tokens name them by
            if aid not in self.s.branches:  # a Party branch per village (党支部)
                self.s.branches[aid] = self._insert(Branch, code=self._code(f"B-{code}", ""), name=f"{name}党支部", village_id=aid)
        return aid

    def _code(self, stem: str, suffix: str) -> str:
        code, n = stem + suffix, 1
        while code in self.s.codes:
            n += 1
            code = f"{stem}{suffix}-{n}"
        self.s.codes.add(code)
        return code

    # households and persons
    def _household(self, code: str, rows: list[RollRow], village: int, grid: int) -> int:
        head = next((r for r in rows if r.relation == HEAD), rows[0])
        address = next((r.address for r in rows if r.address), "")
        tier = next((r.tier for r in rows if r.tier), "")
        known = self.s.households.get(code)
        if known is None:
            hid = self._insert(Household, code=code, head_name=head.name, village_id=village, address=address, created_on=self.day)
            self.s.households[code] = (hid, village)
            self.c["households"] += 1
            self._insert(HouseholdGrid, household_id=hid, grid_id=grid, valid_from=self.day)
            if tier or self.default_tier:
                self._insert(HouseholdTier, household_id=hid, tier=tier or self.default_tier, valid_from=self.day)
            return hid
        hid, old_village = known
        if old_village != village:
            self.report.problems.append(Problem("roll_other_village", {"household": code}, record=f"#{rows[0].n}",
                                                field=COLUMNS["village"][0]))
            return hid
        values = {"head_name": head.name} if any(r.relation == HEAD for r in rows) else {}
        if address:
            values["address"] = address
        if values:
            self._update(Household, hid, values)
        if self._change(HouseholdGrid, "household_id", hid, "grid_id", grid, self.s.grid_of):
            self.c["moved_households"] += 1
        if tier and self._change(HouseholdTier, "household_id", hid, "tier", tier, self.s.tier_of):
            self.c["tiers"] += 1
            # The tier weighs the visits of the household's linked members: their points were scored by it.
            self.touched.update(("p", link.value) for link in self.s.links_of.get(hid, []))
        return hid

    def _person(self, r: RollRow, household: int, village: int) -> None:
        pid = self.s.persons.get(r.person) if r.person else None
        if pid is None and r.id_number:
            pid = self.s.by_id_number.get(r.id_number)
        details = {"name": r.name, "gender": r.gender, "id_number": r.id_number, "phone": r.phone, "birth_year": r.birth_year}
        if pid is None:
            code = r.person or self._person_code()
            pid = self._insert(Person, code=code, **details)
            self.s.persons[code] = pid
            if r.id_number:
                self.s.by_id_number[r.id_number] = pid
            self.c["persons"] += 1
            mid = self._insert(Membership, person_id=pid, household_id=household, relation=r.relation, valid_from=self.day)
            self.s.home_of[pid] = _Current(mid, household, self.day)
        else:
            given = {k: v for k, v in details.items() if v not in ("", None)}
            if given:
                self.c["updated"] += self._update(Person, pid, given)
            if self._change(Membership, "person_id", pid, "household_id", household, self.s.home_of, relation=r.relation):
                self.c["moved_persons"] += 1
            elif r.relation:
                current = self.s.home_of[pid]
                self._update(Membership, current.id, {"relation": r.relation})
        self.named_persons.add(pid)
        if r.party is not None:
            self._party(pid, r.party, self.s.branches[village])

    def end_omitted(self) -> None:
        """End, on the day, the households and persons of the roll's villages that it leaves out (``complete``)."""
        village_of = {hid: v for hid, v in self.s.households.values()}
        branches = {self.s.branches[v] for v in self.villages if v in self.s.branches}
        for hid, grid in sorted(self.s.grid_of.items()):
            if village_of.get(hid) not in self.villages or hid in self.named_households:
                continue
            self._end(HouseholdGrid, grid)
            del self.s.grid_of[hid]
            tier = self.s.tier_of.pop(hid, None)
            if tier is not None:
                self._end(HouseholdTier, tier)
            for link in self.s.links_of.pop(hid, []):
                self._end(Linkage, link)
                self.touched.add(("p", link.value))
                self.c["links_ended"] += 1
            self.touched.add(("h", hid))
            self.c["households_ended"] += 1
        gone: set[int] = set()
        for pid, home in sorted(self.s.home_of.items()):
            if village_of.get(home.value) not in self.villages or pid in self.named_persons:
                continue
            self._end(Membership, home)
            del self.s.home_of[pid]
            self.touched.add(("p", pid))
            self.c["persons_ended"] += 1
            party = self.s.party_of.get(pid)
            if pid in self.linkers:  # linked to a household by this very roll, yet left out of it
                row = self.linkers[pid]
                self.report.problems.append(Problem("roll_linker_omitted", {"value": self.s.code_of(pid)}, record=f"#{row.n}",
                                                    field=COLUMNS["linked_by"][0]))
            if party is not None and party.value in branches:  # a member of this village's branch who left it
                self._end(PartyMember, party)
                del self.s.party_of[pid]
                self.c["party_ended"] += 1
                gone.add(pid)
        for links in self.s.links_of.values():  # the households the members who left looked after
            for link in [x for x in links if x.value in gone]:
                self._end(Linkage, link)
                links.remove(link)
                self.c["links_ended"] += 1

    def _party(self, pid: int, member: bool, branch: int) -> None:
        current = self.s.party_of.get(pid)
        if member:
            if current is None:
                rid = self._insert(PartyMember, person_id=pid, branch_id=branch, valid_from=self.day)
                self.s.party_of[pid] = _Current(rid, branch, self.day)
                self.c["party_members"] += 1
            elif self._change(PartyMember, "person_id", pid, "branch_id", branch, self.s.party_of):
                self.c["party_members"] += 1
        elif current is not None:
            self._end(PartyMember, current)
            del self.s.party_of[pid]
            self.touched.add(("p", pid))
            self.c["party_ended"] += 1

    def _links(self, household: int, wanted: tuple[str, ...], row: RollRow) -> None:
        members: set[int] = set()
        for ident in wanted:
            pid = self.s.persons.get(ident) or self.s.by_id_number.get(ident.upper())
            if pid is None or pid not in self.s.party_of:
                code = "roll_link_unknown" if pid is None else "roll_link_not_member"
                shown = mask_cell(ident)
                self.report.problems.append(Problem(code, {"value": shown}, record=f"#{row.n}", field=COLUMNS["linked_by"][0]))
                continue
            members.add(pid)
        for pid in members:
            self.linkers.setdefault(pid, row)
        current = self.s.links_of.setdefault(household, [])
        for link in [x for x in current if x.value not in members]:
            self._end(Linkage, link)
            current.remove(link)  # kept in step: ``end_omitted`` reads what is still in force
            self.touched.add(("p", link.value))  # the member's visits to the household score no more
            self.c["links_ended"] += 1
        have = {link.value for link in current}
        for pid in sorted(members - have):
            rid = self._insert(Linkage, member_id=pid, household_id=household, valid_from=self.day)
            current.append(_Current(rid, pid, self.day))
            self.c["links"] += 1

    # interval rows
    def _change(self, model: Any, owner: str, owner_id: int, column: str, value: Any, known: dict[int, _Current],
                **more: Any) -> bool:
        """Record ``value`` from the effective date on; whether it differs from what was in force."""
        current = known.get(owner_id)
        if current is not None and current.value == value:
            return False
        if current is not None:
            self.touched.add(("h" if owner == "household_id" else "p", owner_id))
            if current.valid_from >= self.day:  # started the same day: that earlier import is corrected, not ended
                self._update(model, current.id, {column: value, **more})
                known[owner_id] = _Current(current.id, value, current.valid_from)
                return True
            self._end(model, current)
        rid = self._insert(model, **{owner: owner_id, column: value, "valid_from": self.day, **more})
        known[owner_id] = _Current(rid, value, self.day)
        return current is not None

    def _end(self, model: Any, current: _Current) -> None:
        self._update(model, current.id, {"valid_to": self.day})

    def _update(self, model: Any, row_id: int, values: dict[str, Any]) -> int:
        """Set ``values`` on one row where any differs; 1 when the row changed, else 0 (a re-import changes nothing)."""
        keys = tuple(sorted(values))
        stmt = self._updates.get((model, keys))
        if stmt is None:  # one statement per table and set of columns, compiled once (as ``_insert``)
            t = model.__table__
            stmt = self._updates[(model, keys)] = (
                t.update().where(t.c.id == bindparam("row_id"))
                .where(or_(*[t.c[k].is_distinct_from(bindparam(f"v_{k}", type_=t.c[k].type)) for k in keys]))
                .values({k: bindparam(f"v_{k}", type_=t.c[k].type) for k in keys}))
        params = {f"v_{k}": v for k, v in values.items()}
        return int(self.conn.execute(stmt, {"row_id": row_id, **params}).rowcount > 0)

    def _insert(self, model: Any, **values: Any) -> int:
        # The table's own INSERT with parameters: SQLAlchemy compiles it once per table, where an ORM
        # insert(model).values(…) is built and compiled row by row (three quarters of an import's time).
        return int(self.conn.execute(model.__table__.insert(), values).inserted_primary_key[0])

    def _next_person_number(self) -> int:
        numbers = [int(c[1:]) for c in self.s.persons if c[:1] == "P" and c[1:].isdigit()]
        return max(numbers, default=0) + 1

    def _person_code(self) -> str:
        while True:
            code = f"P{self.next_person:07d}"
            self.next_person += 1
            if code not in self.s.persons:
                return code


def roll_template_rows() -> Iterable[list[str]]:
    """The header and two example rows of a roll, for ``jifen directory template`` and the roll page's download."""
    yield [names[0] for names in COLUMNS.values()]
    yield ["青山镇", "石桥村", "第一网格", "H000001", "张建国", HEAD, "330102195803041234", "", "男", "1958", "13800000000",
           "石桥村 12 号", "黄色", "是", ""]
    yield ["青山镇", "石桥村", "第一网格", "H000001", "李秀英", "配偶", "", "P0000002", "女", "1960", "", "", "", "否", ""]


TEMPLATE_SHEET = "户籍名册"
# Text, the whole column: a number cell keeps 15 digits (an ID number loses its tail) and drops leading zeros.
TEXT_COLUMNS = ("household", "id_number", "person", "phone", "linked_by")


def write_template(out: IO[bytes], xlsx: bool = True) -> None:
    """Write an empty roll (header, two example rows) as a workbook or a CSV file Excel opens (BOM): CLI and web alike."""
    rows = list(roll_template_rows())
    if not xlsx:
        import csv
        import io

        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
        csv.writer(text).writerows(rows)
        text.detach()  # the caller owns ``out``
        return
    from openpyxl import Workbook  # imported here: only a workbook pays for it
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = TEMPLATE_SHEET
    for row in rows:
        sheet.append(row)
    keys = list(COLUMNS)
    for key in TEXT_COLUMNS:
        letter = get_column_letter(keys.index(key) + 1)
        sheet.column_dimensions[letter].number_format = "@"
        for cell in sheet[letter]:
            cell.number_format = "@"
    book.save(out)
