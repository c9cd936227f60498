"""Read side: balances, histories, explanations, leaderboards and grades, from kept tallies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    union_all,
)

from scoring.grades import grade
from scoring.messages import render, unit_label
from scoring.model import PointType, Ruleset, VersionTable
from scoring.periods import period_key
from scoring.points import fmt
from services.privacy import mask_name
from store.models import Area, Balance, Branch, Entry, Household, PartyMember, Person, Tally

SCOPES = ("county", "township", "village", "grid", "branch")
_SCOPE_COLUMN = {"township": Tally.township_id, "village": Tally.village_id, "grid": Tally.grid_id, "branch": Tally.branch_id}


def household_name(head: str, lang: str = "zh") -> str:
    """A household as people name it, by its head: 张三户, or "张三 household" in English."""
    return f"{head} household" if lang == "en" else f"{head}户"


@dataclass
class Holder:
    """An account holder as shown to people."""

    kind: str
    id: int
    code: str
    name: str


# One statement, built once: a page asks this on every request.
_HOLDER_BY_CODE = union_all(
    select(literal("p").label("kind"), Person.id, Person.code, Person.name.label("name")).where(Person.code == bindparam("code")),  # type: ignore[attr-defined]
    select(literal("h").label("kind"), Household.id, Household.code, Household.head_name.label("name")).where(Household.code == bindparam("code")),  # type: ignore[attr-defined]
)


def holder_by_code(conn: Connection, code: str, lang: str = "zh") -> Holder | None:
    """A person or household by its code (a person first, should both carry it), named in ``lang``."""
    found = {r.kind: r for r in conn.execute(_HOLDER_BY_CODE, {"code": code})}
    if "p" in found:
        p = found["p"]
        return Holder("p", p.id, p.code, p.name)
    if "h" in found:
        h = found["h"]
        return Holder("h", h.id, h.code, household_name(h.name, lang))
    return None


def in_force(versions: VersionTable, now: datetime) -> tuple[Ruleset | None, date, ZoneInfo]:
    """The ruleset in force, today's local date and the county's time zone, from one look at the versions.

    The same answers as ``AppContext.ruleset()``, ``.today()`` and ``.tz``, each of which reads
    the versions again: a page that needs all three reads them once (``Ledger.versions(conn)``).
    """
    latest = versions.latest()
    tz = latest.timezone if latest else ZoneInfo("Asia/Shanghai")
    today = now.astimezone(tz).date()
    return versions.at(today) or latest, today, tz


_PERSON_NAMES = select(Person.id, Person.code, Person.name).where(Person.id.in_(bindparam("ids", expanding=True)))  # type: ignore[attr-defined]
_HOUSEHOLD_NAMES = select(Household.id, Household.code, Household.head_name).where(Household.id.in_(bindparam("ids", expanding=True)))  # type: ignore[attr-defined]


def holder_names(conn: Connection, keys: list[tuple[str, int]], lang: str = "zh") -> dict[tuple[str, int], tuple[str, str]]:
    """(code, display name in ``lang``) of many holders in two queries."""
    out: dict[tuple[str, int], tuple[str, str]] = {}
    pids = [i for k, i in keys if k == "p"]
    hids = [i for k, i in keys if k == "h"]
    if pids:
        for r in conn.execute(_PERSON_NAMES, {"ids": pids}):
            out[("p", r.id)] = (r.code, r.name)
    if hids:
        for r in conn.execute(_HOUSEHOLD_NAMES, {"ids": hids}):
            out[("h", r.id)] = (r.code, household_name(r.head_name, lang))
    return out


@dataclass
class AccountLine:
    """One point type of a holder: balance, this period's score, grade and what the next grade needs."""

    point_type: str
    name: str
    unit: str
    spendable: bool
    balance: int
    earned: int
    period: str
    score: int
    grade: str
    grade_key: str
    vetoed: bool
    next_grade: str
    needed: int


# Read by the primary keys (point type first, so the types are named), built once.
_BALANCES = select(Balance.point_type, Balance.amount, Balance.earned).where(
    Balance.point_type.in_(bindparam("types", expanding=True)),  # type: ignore[attr-defined]
    Balance.holder_kind == bindparam("kind"), Balance.holder_id == bindparam("ident"))
_SCORES = (select(Tally.point_type, Tally.period, func.sum(Tally.amount), func.sum(Tally.vetoes))
           .where(Tally.point_type.in_(bindparam("types", expanding=True)),  # type: ignore[attr-defined]
                  Tally.period.in_(bindparam("periods", expanding=True)),  # type: ignore[attr-defined]
                  Tally.holder_kind == bindparam("kind"), Tally.holder_id == bindparam("ident"))
           .group_by(Tally.point_type, Tally.period))
_PARTY_MEMBER = select(PartyMember.id).where(
    PartyMember.person_id == bindparam("ident"), PartyMember.valid_from <= bindparam("day"),
    or_(PartyMember.valid_to.is_(None), PartyMember.valid_to > bindparam("day"))).limit(1)  # type: ignore[union-attr, operator]


def account_lines(conn: Connection, ruleset: Ruleset, kind: str, ident: int, today: date,
                  retired: Mapping[str, PointType] | None = None, lang: str = "zh") -> list[AccountLine]:
    """Every point type the holder can hold, with balance and this period's grade (two queries, three for a person).

    Point types and grades are named in ``lang`` (their ``name_en`` in English, where the rules file gives it).

    The Party members' tally (``PointType.members_only``) is listed for a person who is a Party member on ``today``,
    or who still holds points in it (a member who left keeps seeing them until the year-end reset);
    a villager who is no Party member never sees a 零基积分 line.

    ``retired``: types of earlier rules versions the live ones dropped (``VersionTable.retired``);
    one the holder has an account in is listed after the live ones, so no points vanish from view.
    """
    holder = "person" if kind == "p" else "household"
    types = [pt for pt in ruleset.point_types.values() if pt.holder == holder]
    old = [pt for pt in (retired or {}).values() if pt.holder == holder]
    if not types and not old:
        return []
    params = {"kind": kind, "ident": ident, "types": [pt.key for pt in types + old]}
    balances = {r.point_type: (int(r.amount), int(r.earned)) for r in conn.execute(_BALANCES, params)}
    types += [pt for pt in old if pt.key in balances]
    if kind == "p" and any(pt.members_only for pt in types) and \
            conn.execute(_PARTY_MEMBER, {"ident": ident, "day": today}).first() is None:
        types = [pt for pt in types if not pt.members_only or balances.get(pt.key, (0, 0))[0] != 0]
        if not types:
            return []
    periods = {pt.key: period_key(pt.period, today) for pt in types}
    params["types"] = [pt.key for pt in types]
    scores = {(pt, per): (int(amount or 0), int(vetoes or 0))
              for pt, per, amount, vetoes in conn.execute(_SCORES, {**params, "periods": sorted(set(periods.values()))})}
    out = []
    for pt in types:
        period = periods[pt.key]
        bal, earned = balances.get(pt.key, (0, 0))
        score, vetoes = scores.get((pt.key, period), (0, 0))
        g = grade(pt, score, bool(vetoes))
        out.append(AccountLine(
            pt.key, pt.label(lang), pt.unit, pt.spendable, bal, earned, period, score,
            g.grade.label(lang) if g.grade else "", g.key, g.vetoed, g.next_grade.label(lang) if g.next_grade else "", g.needed,
        ))
    return out


def _history_statement(by_type: bool) -> Any:
    q = select(Entry).where(Entry.holder_kind == bindparam("kind"), Entry.holder_id == bindparam("ident"))
    if by_type:
        q = q.where(Entry.point_type == bindparam("pt"))
    return (q.order_by(Entry.occurred_at.desc(), Entry.id.desc())  # type: ignore[attr-defined, union-attr]
            .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)))


_HISTORY = {False: _history_statement(False), True: _history_statement(True)}  # built once, bound per call


def history(conn: Connection, kind: str, ident: int, point_type: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """A holder's entries, newest first."""
    params = {"kind": kind, "ident": ident, "pt": point_type, "limit": limit, "offset": offset}
    return [dict(r) for r in conn.execute(_HISTORY[bool(point_type)], params).mappings()]


def explain(conn: Connection, entry_id: int, rule_names: dict[str, str], lang: str = "zh") -> dict[str, Any] | None:
    """Why an entry exists: rule, rules version, who entered and approved, each step of its amount."""
    e = conn.execute(select(Entry).where(Entry.id == entry_id)).mappings().first()
    if e is None:
        return None
    return explain_row(e, rule_names, lang)


def explain_row(e: Any, rule_names: dict[str, str], lang: str = "zh") -> dict[str, Any]:
    """``explain`` of an entry row already read (a ``history`` row), without reading it again."""
    # Units are stored as the rules file names them (小时): each step shows them in the reader's language.
    steps = [render(code, lang, **({**params, "unit": unit_label(params["unit"], lang)} if "unit" in params else params))
             for code, params in json.loads(e["explanation"] or "[]")]
    return {
        "id": e["id"], "amount": fmt(e["amount"], signed=True), "kind": e["kind"], "point_type": e["point_type"],
        "rule": e["rule_id"], "rule_name": rule_names.get(e["rule_id"], ""), "rules_version": e["rules_version"],
        "event": e["event_key"], "occurred_at": e["occurred_at"], "recorded_at": e["recorded_at"],
        "entered_by": e["actor"], "approved_by": e["approver"], "source": e["source"],
        "reverses": e["reverses_id"], "note": e["note"], "steps": steps,
    }


@dataclass
class Board:
    """A leaderboard page: ranked rows and, when asked, one holder's own rank."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    mine: dict[str, Any] | None = None
    total: int = 0


def _board_statement(scope: str) -> Any:
    where = [Tally.point_type == bindparam("pt"), Tally.period == bindparam("period")]
    if scope != "county":
        where.append(_SCOPE_COLUMN[scope] == bindparam("place"))
    return (select(Tally.holder_kind, Tally.holder_id, Tally.amount).where(*where)
            .order_by(Tally.amount.desc(), Tally.holder_id, Tally.holder_kind).limit(bindparam("top", type_=Integer)))  # type: ignore[attr-defined]


_BOARD = {scope: _board_statement(scope) for scope in SCOPES}  # the top rows' statement per scope, built once


def leaderboard(conn: Connection, point_type: str, period: str, scope: str = "county", scope_id: int | None = None,
                top: int = 50, me: tuple[str, int] | None = None, lang: str = "zh") -> Board:
    """Rank holders by their score in a period within a scope.

    Tie-break: equal scores share a rank (1, 2, 2, 4); among them the account
    opened first (the lower account number) is listed first, and so is kept
    when a tie straddles the last place shown. A holder is ranked where it was
    on the day of its latest points in the period (see ``store.models.Tally``).
    Names are shown for scores above zero and masked (张**) for scores of zero
    or below: public boards praise by name, never shame. Households are named in ``lang`` (张三户).

    Both the top rows and one holder's rank are read from the tally's indexes
    (point type, period, place, amount): nothing is summed at read time.
    """
    where = [Tally.point_type == point_type, Tally.period == period]
    if scope != "county":
        where.append(_SCOPE_COLUMN[scope] == scope_id)
    rows = conn.execute(_BOARD[scope], {"pt": point_type, "period": period, "place": scope_id, "top": top}).all()
    names = holder_names(conn, [(r.holder_kind, r.holder_id) for r in rows] + ([me] if me else []), lang)
    board = Board()
    for i, r in enumerate(rows):
        code, name = names.get((r.holder_kind, r.holder_id), ("", ""))
        rank = board.rows[i - 1]["rank"] if i and rows[i - 1].amount == r.amount else i + 1
        board.rows.append(_public_row(r.holder_kind, r.holder_id, code, name, int(r.amount), rank))
    if me is not None:
        board.mine = _rank_of(conn, where, me, names)
    return board


def _public_row(kind: str, ident: int, code: str, name: str, score: int, rank: int) -> dict[str, Any]:
    """One ranked row as boards show it: by name above zero; at zero or below masked (张**) and without the code.

    A masked row carries no code: the same code beside the full name on another board (another period,
    scope or a custom range) would undo the mask. ``id`` stays for the caller's own-row marker and the
    benchmark's comparison; no page or API answer shows it.
    """
    if score > 0:
        return {"kind": kind, "id": ident, "code": code, "score": score, "rank": rank, "name": name}
    return {"kind": kind, "id": ident, "code": "", "score": score, "rank": rank, "name": mask_name(name)}


def _rank_of(conn: Connection, where: list[Any], me: tuple[str, int], names: dict[tuple[str, int], tuple[str, str]]) -> dict[str, Any] | None:
    mine = conn.execute(select(Tally.amount).where(*where, Tally.holder_kind == me[0], Tally.holder_id == me[1])).scalar()
    if mine is None:
        return None
    better = conn.execute(select(func.count()).select_from(Tally).where(*where, Tally.amount > mine)).scalar() or 0
    code, name = names.get(me, ("", ""))
    return {"kind": me[0], "id": me[1], "code": code, "name": name if mine > 0 else mask_name(name),
            "score": int(mine), "rank": int(better) + 1}


def scope_choices(conn: Connection, level: str) -> list[tuple[int, str, str]]:
    """(id, code, name) of every area of a level, or every branch."""
    if level == "branch":
        return [(r.id, r.code, r.name) for r in conn.execute(select(Branch.id, Branch.code, Branch.name).order_by(Branch.code))]
    return [(r.id, r.code, r.name) for r in conn.execute(select(Area.id, Area.code, Area.name).where(Area.level == level).order_by(Area.code))]


def recompute_from_ledger(engine: Engine) -> dict[str, dict[tuple[str, str, int], int]]:
    """Balances and earned points summed from the ledger the slow way, to check the kept ones."""
    with engine.connect() as conn:
        return ledger_sums(conn)


def ledger_sums(conn: Connection) -> dict[str, dict[tuple[str, str, int], int]]:
    """``recompute_from_ledger`` on the caller's connection (and so in its snapshot)."""
    bal = {(r[0], r[1], r[2]): int(r[3]) for r in conn.execute(
        select(Entry.point_type, Entry.holder_kind, Entry.holder_id, func.sum(Entry.amount)).group_by(Entry.point_type, Entry.holder_kind, Entry.holder_id))}
    earned = {(r[0], r[1], r[2]): int(r[3]) for r in conn.execute(
        select(Entry.point_type, Entry.holder_kind, Entry.holder_id, func.sum(Entry.amount))
        .where(or_(Entry.kind == "award", and_(Entry.kind == "reversal", Entry.rule_id != "")))
        .group_by(Entry.point_type, Entry.holder_kind, Entry.holder_id))}
    return {"balance": bal, "earned": earned}


# ------------------------------------------------------------------ added for the web site
_ENTRY_SCOPE = {"township": Entry.township_id, "village": Entry.village_id, "grid": Entry.grid_id, "branch": Entry.branch_id}


def leaderboard_range(conn: Connection, point_type: str, start: date, end: date, scope: str = "county",
                      scope_id: int | None = None, top: int = 50, me: tuple[str, int] | None = None, lang: str = "zh") -> Board:
    """Rank holders by the points their rule entries earned between two local dates (both included).

    Same tie-break and masking as ``leaderboard``: equal scores share a rank
    (1, 2, 2, 4) and are listed by holder code; names of scores of zero or below
    are masked. Rule entries and their reversals count; spending, closing and
    expiry do not (they are not scores), exactly as the kept tallies count.
    """
    where = [Entry.point_type == point_type, Entry.local_day >= start, Entry.local_day <= end,
             or_(Entry.kind == "award", and_(Entry.kind == "reversal", Entry.rule_id != ""))]
    if scope != "county":
        where.append(_ENTRY_SCOPE[scope] == scope_id)
    score = func.sum(Entry.amount).label("score")
    grouped = select(Entry.holder_kind.label("holder_kind"), Entry.holder_id.label("holder_id"), score).where(*where).group_by(Entry.holder_kind, Entry.holder_id)  # type: ignore[attr-defined]
    rows = conn.execute(grouped.order_by(score.desc(), Entry.holder_kind, Entry.holder_id).limit(top)).all()
    names = holder_names(conn, [(r.holder_kind, r.holder_id) for r in rows] + ([me] if me else []), lang)
    board = Board()
    ranked = []
    for r in rows:
        code, name = names.get((r.holder_kind, r.holder_id), ("", ""))
        ranked.append({"kind": r.holder_kind, "id": r.holder_id, "code": code, "score": int(r.score), "name": name})
    ranked.sort(key=lambda x: (-x["score"], x["code"]))
    for i, row in enumerate(ranked):
        row["rank"] = ranked[i - 1]["rank"] if i and ranked[i - 1]["score"] == row["score"] else i + 1
    board.rows = [_public_row(x["kind"], x["id"], x["code"], x["name"], x["score"], x["rank"]) for x in ranked]
    if me is not None:
        board.mine = _rank_of(conn, grouped, me, names)
    return board


def scope_options(conn: Connection, level: str) -> list[tuple[int, str]]:
    """(id, label) of every township, village, grid (labelled with its village) or branch, for a picker."""
    if level == "branch":
        return [(r.id, r.name) for r in conn.execute(select(Branch.id, Branch.name).order_by(Branch.code))]
    if level == "grid":
        parent = Area.__table__.alias("parent")  # type: ignore[attr-defined]
        rows = conn.execute(select(Area.id, Area.name, parent.c.name.label("village")).join(parent, parent.c.id == Area.parent_id)
                            .where(Area.level == "grid").order_by(parent.c.code, Area.code))
        return [(r.id, f"{r.village} · {r.name}") for r in rows]
    return [(r.id, r.name) for r in conn.execute(select(Area.id, Area.name).where(Area.level == level).order_by(Area.code))]


_DAY_SUMS = (select(Entry.local_day, func.sum(Entry.amount)).where(
    Entry.point_type == bindparam("pt"), Entry.holder_kind == bindparam("kind"), Entry.holder_id == bindparam("ident"),
    Entry.local_day <= bindparam("end")).group_by(Entry.local_day).order_by(Entry.local_day))


def balance_series(conn: Connection, point_type: str, kind: str, ident: int, start: date, end: date) -> tuple[int, list[tuple[date, int]]]:
    """The balance at ``start`` and its value after each day with entries up to ``end`` (for the passbook chart).

    One query: the holder's sums per day up to ``end`` (a holder has a few lines a day at most),
    those before ``start`` folded into the opening balance.
    """
    opening, days = 0, []
    for day, amount in conn.execute(_DAY_SUMS, {"pt": point_type, "kind": kind, "ident": ident, "end": end}):
        if day < start:
            opening += int(amount)
        else:
            days.append((day, int(amount)))
    running, out = opening, []
    for day, amount in days:
        running += amount
        out.append((day, running))
    return opening, out


def branch_tallies(conn: Connection, branch_id: int, point_type: str, period: str, day: date) -> list[dict[str, Any]]:
    """Members of a Party branch on a day with their score in a period (summed over grids), by code."""
    from store.models import PartyMember

    members = conn.execute(
        select(Person.id, Person.code, Person.name).join(PartyMember, PartyMember.person_id == Person.id).where(  # type: ignore[arg-type]
            PartyMember.branch_id == branch_id, PartyMember.valid_from <= day,
            or_(PartyMember.valid_to.is_(None), PartyMember.valid_to > day)).order_by(Person.code)).all()  # type: ignore[union-attr, operator]
    ids = [m.id for m in members]
    scores: dict[int, tuple[int, int]] = {}
    for i in range(0, len(ids), 900):
        part = ids[i : i + 900]
        for hid, amount, vetoes in conn.execute(
                select(Tally.holder_id, func.sum(Tally.amount), func.sum(Tally.vetoes)).where(
                    Tally.point_type == point_type, Tally.period == period, Tally.holder_kind == "p",
                    Tally.holder_id.in_(part)).group_by(Tally.holder_id)):  # type: ignore[attr-defined]
            scores[hid] = (int(amount), int(vetoes))
    return [{"id": m.id, "code": m.code, "name": m.name, "score": scores.get(m.id, (0, 0))[0],
             "vetoed": bool(scores.get(m.id, (0, 0))[1])} for m in members]
