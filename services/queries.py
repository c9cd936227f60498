"""Read side: balances, histories, explanations, leaderboards and grades, from kept tallies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select

from scoring.grades import grade
from scoring.messages import render
from scoring.model import Ruleset
from scoring.periods import period_key
from scoring.points import fmt
from services.privacy import mask_name
from store.models import Area, Balance, Branch, Entry, Household, Person, Tally

SCOPES = ("county", "township", "village", "grid", "branch")
_SCOPE_COLUMN = {"township": Tally.township_id, "village": Tally.village_id, "grid": Tally.grid_id, "branch": Tally.branch_id}


@dataclass
class Holder:
    """An account holder as shown to people."""

    kind: str
    id: int
    code: str
    name: str


def holder_by_code(conn: Connection, code: str) -> Holder | None:
    """A person or household by its code."""
    p = conn.execute(select(Person.id, Person.code, Person.name).where(Person.code == code)).first()
    if p:
        return Holder("p", p.id, p.code, p.name)
    h = conn.execute(select(Household.id, Household.code, Household.head_name).where(Household.code == code)).first()
    if h:
        return Holder("h", h.id, h.code, f"{h.head_name}户")
    return None


def holder_names(conn: Connection, keys: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[str, str]]:
    """(code, display name) of many holders in two queries."""
    out: dict[tuple[str, int], tuple[str, str]] = {}
    pids = [i for k, i in keys if k == "p"]
    hids = [i for k, i in keys if k == "h"]
    if pids:
        for r in conn.execute(select(Person.id, Person.code, Person.name).where(Person.id.in_(pids))):  # type: ignore[attr-defined]
            out[("p", r.id)] = (r.code, r.name)
    if hids:
        for r in conn.execute(select(Household.id, Household.code, Household.head_name).where(Household.id.in_(hids))):  # type: ignore[attr-defined]
            out[("h", r.id)] = (r.code, f"{r.head_name}户")
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


def account_lines(conn: Connection, ruleset: Ruleset, kind: str, ident: int, today: date) -> list[AccountLine]:
    """Every point type the holder can hold, with balance and this period's grade."""
    holder = "person" if kind == "p" else "household"
    out = []
    for pt in ruleset.point_types.values():
        if pt.holder != holder:
            continue
        bal = conn.execute(select(Balance.amount, Balance.earned).where(
            Balance.point_type == pt.key, Balance.holder_kind == kind, Balance.holder_id == ident)).first()
        period = period_key(pt.period, today)
        score, vetoes = conn.execute(select(func.coalesce(func.sum(Tally.amount), 0), func.coalesce(func.sum(Tally.vetoes), 0)).where(
            Tally.point_type == pt.key, Tally.period == period, Tally.holder_kind == kind, Tally.holder_id == ident)).one()
        g = grade(pt, int(score), bool(vetoes))
        out.append(AccountLine(
            pt.key, pt.name, pt.unit, pt.spendable, int(bal[0]) if bal else 0, int(bal[1]) if bal else 0, period,
            int(score), g.grade.name if g.grade else "", g.key, g.vetoed, g.next_grade.name if g.next_grade else "", g.needed,
        ))
    return out


def history(conn: Connection, kind: str, ident: int, point_type: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """A holder's entries, newest first."""
    q = select(Entry).where(Entry.holder_kind == kind, Entry.holder_id == ident)
    if point_type:
        q = q.where(Entry.point_type == point_type)
    q = q.order_by(Entry.occurred_at.desc(), Entry.id.desc()).limit(limit).offset(offset)  # type: ignore[attr-defined, union-attr]
    return [dict(r) for r in conn.execute(q).mappings()]


def explain(conn: Connection, entry_id: int, rule_names: dict[str, str], lang: str = "zh") -> dict[str, Any] | None:
    """Why an entry exists: rule, rules version, who entered and approved, each step of its amount."""
    e = conn.execute(select(Entry).where(Entry.id == entry_id)).mappings().first()
    if e is None:
        return None
    steps = [render(code, lang, **params) for code, params in json.loads(e["explanation"] or "[]")]
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


def leaderboard(conn: Connection, point_type: str, period: str, scope: str = "county", scope_id: int | None = None,
                top: int = 50, me: tuple[str, int] | None = None) -> Board:
    """Rank holders by their score in a period within a scope.

    Tie-break: equal scores share a rank (1, 2, 2, 4); among them the account
    opened first (the lower account number) is listed first, and so is kept
    when a tie straddles the last place shown. A holder is ranked where it was
    on the day of its latest points in the period (see ``store.models.Tally``).
    Names are shown for scores above zero and masked (张**) for scores of zero
    or below: public boards praise by name, never shame.

    Both the top rows and one holder's rank are read from the tally's indexes
    (point type, period, place, amount): nothing is summed at read time.
    """
    where = [Tally.point_type == point_type, Tally.period == period]
    if scope != "county":
        where.append(_SCOPE_COLUMN[scope] == scope_id)
    rows = conn.execute(
        select(Tally.holder_kind, Tally.holder_id, Tally.amount).where(*where)
        .order_by(Tally.amount.desc(), Tally.holder_id, Tally.holder_kind).limit(top)  # type: ignore[attr-defined]
    ).all()
    names = holder_names(conn, [(r.holder_kind, r.holder_id) for r in rows] + ([me] if me else []))
    board = Board()
    for i, r in enumerate(rows):
        code, name = names.get((r.holder_kind, r.holder_id), ("", ""))
        rank = board.rows[i - 1]["rank"] if i and rows[i - 1].amount == r.amount else i + 1
        board.rows.append({"kind": r.holder_kind, "id": r.holder_id, "code": code, "score": int(r.amount), "rank": rank,
                           "name": name if r.amount > 0 else mask_name(name)})
    if me is not None:
        board.mine = _rank_of(conn, where, me, names)
    return board


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
                      scope_id: int | None = None, top: int = 50, me: tuple[str, int] | None = None) -> Board:
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
    names = holder_names(conn, [(r.holder_kind, r.holder_id) for r in rows] + ([me] if me else []))
    board = Board()
    ranked = []
    for r in rows:
        code, name = names.get((r.holder_kind, r.holder_id), ("", ""))
        ranked.append({"kind": r.holder_kind, "id": r.holder_id, "code": code, "score": int(r.score),
                       "name": name if r.score > 0 else mask_name(name)})
    ranked.sort(key=lambda x: (-x["score"], x["code"]))
    for i, row in enumerate(ranked):
        row["rank"] = ranked[i - 1]["rank"] if i and ranked[i - 1]["score"] == row["score"] else i + 1
    board.rows = ranked
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


def balance_series(conn: Connection, point_type: str, kind: str, ident: int, start: date, end: date) -> tuple[int, list[tuple[date, int]]]:
    """The balance at ``start`` and its value after each day with entries up to ``end`` (for the passbook chart)."""
    opening = conn.execute(select(func.coalesce(func.sum(Entry.amount), 0)).where(
        Entry.point_type == point_type, Entry.holder_kind == kind, Entry.holder_id == ident, Entry.local_day < start)).scalar() or 0
    rows = conn.execute(select(Entry.local_day, func.sum(Entry.amount)).where(
        Entry.point_type == point_type, Entry.holder_kind == kind, Entry.holder_id == ident,
        Entry.local_day >= start, Entry.local_day <= end).group_by(Entry.local_day).order_by(Entry.local_day))
    running, out = int(opening), []
    for day, amount in rows:
        running += int(amount)
        out.append((day, running))
    return int(opening), out


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
