"""民主评议: democratic appraisal of a Party member.

Several raters each give a score from 0 to 100 (at most two decimals). With three or more
scores, one highest and one lowest are dropped and the rest averaged; the average is exact
(a fraction of the exact sum) and shown and scored to two decimals, rounded half up. The
result is posted as an ``appraisal`` event, which rule PA-01 scores (0.2 points per point).

A round (``appraisal_round``) is one member and one period, opened and closed by a secretary or
committee member of the member's branch (or an administrator). Scores are taken only while it is
open; when raters are designated (``appraisal_rater``), only from them. A secretary or committee
member of the branch may type in a named rater's paper ballot (``rater=``), recorded as entered
by them on the rater's behalf. Each rater scores a member once a period, however entered.
Posting the result closes the round.

A member and period with no round record at all take scores as before rounds were recorded
(open to raters of the village, no list): the demo data and older callers rely on it. Once a
round is opened, its record decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.exc import IntegrityError

from scoring.periods import local_date, parse_period
from scoring.points import AmountError, fmt, parse_amount
from services.actors import Actor
from services.claims import county_tz, person_code, record_one, refuse_read_only
from services.errors import Conflict, Forbidden, NotFound, ServiceError
from services.messages import add
from store.db import aware
from store.ledger import Incoming, Ledger
from store.models import Branch, Household, Membership, PartyMember, Person
from store.models_web import User
from store.models_workflow import AppraisalRater, AppraisalResult, AppraisalRound, AppraisalScore

SCORE = AppraisalScore.__table__  # type: ignore[attr-defined]
RESULT = AppraisalResult.__table__  # type: ignore[attr-defined]
ROUND = AppraisalRound.__table__  # type: ignore[attr-defined]
RATER = AppraisalRater.__table__  # type: ignore[attr-defined]
MIN_RATERS = 3
MAX_RATER_NAME = 64
OFFICERS = ("secretary", "committee")  # of the member's branch; an administrator also runs rounds

add({
    "wf_score_range": ("评议分须在 0 到 100 之间,最多两位小数", "a score is from 0 to 100 with at most two decimals"),
    "wf_rate_self": ("不能给自己评议打分", "you may not score yourself"),
    "wf_rate_twice": ("您已为该党员本期评议打过分", "you have already scored this member for this period"),
    "wf_rate_scope": ("只能评议本村党员", "you may score members of your own village only"),
    "wf_appraisal_few": ("评议人不足 {min} 人(现有 {count} 人),不能计算结果", "fewer than {min} raters ({count}); no result yet"),
    "wf_appraisal_posted": ("该党员本期评议结果已公布", "this member's appraisal for the period is already posted"),
    "wf_not_member": ("该村民在此期间不是党员", "that person is not a Party member in the period"),
    "wf_bad_period": ("期间 {value} 无效(例如 2026、2026-Q2、2026-03)", "not a period: {value} (e.g. 2026, 2026-Q2, 2026-03)"),
    "wf_appraisal_poster": ("只有该党员所在支部的书记、村委会成员或管理员可以公布评议结果",
                            "only a secretary or committee member of the member's branch, or an administrator, may post the appraisal"),
    "wf_appraisal_own": ("不能主持、代录或公布对自己的评议", "you may not run, enter ballots for or post your own appraisal"),
    "wf_round_officer": ("只有该党员所在支部的书记、村委会成员或管理员可以开始、结束评议或指定评议人",
                         "only a secretary or committee member of the member's branch, or an administrator, may run the appraisal"),
    "wf_round_none": ("该党员本期评议还没有开始", "this member's appraisal for the period has not been opened"),
    "wf_round_exists": ("该党员本期评议已经开始", "this member's appraisal for the period is already open"),
    "wf_round_closed": ("该党员本期评议已结束", "this member's appraisal for the period is closed"),
    "wf_round_scored": ("已有人打分,不能再改为只由指定评议人打分",
                        "scores were already given; the round can no longer be limited to designated raters"),
    "wf_not_designated": ("您不在该党员本期评议的评议人名单上", "you are not on the list of raters for this member's appraisal"),
    "wf_raters_none": ("请至少填写一名评议人", "name at least one rater"),
    "wf_rater_name": ("评议人须填写登录名或姓名,每个不超过 {max} 个字", "name each rater by login or name, at most {max} characters"),
    "wf_ballot_officer": ("只有该党员所在支部的书记或村委会成员可以代录评议票",
                          "only a secretary or committee member of the member's branch may enter paper ballots"),
    "wf_ballot_self": ("评议人不能给自己打分", "a rater may not score themselves"),
    "wf_ballot_twice": ("{rater} 已为该党员本期评议打过分", "{rater} has already scored this member for this period"),
    "wf_ballot_not_designated": ("{rater} 不在本次评议的评议人名单上", "{rater} is not on this appraisal's list of raters"),
    # paper ballots name a real rater of the member's village (see ``_paper_rater``)
    "wf_ballot_unknown": ("找不到评议人“{rater}”:请填写本村评议人的编号、登录名或准确姓名",
                          "no rater “{rater}”: enter the code, login or exact name of a rater of the member's village"),
    "wf_ballot_ambiguous": ("本村有 {count} 人叫“{rater}”:请改填评议人的编号或登录名",
                            "{count} people of the village are named “{rater}”: enter the rater's code or login instead"),
    "wf_ballot_scope": ("“{rater}”不是该党员所在村的评议人:只能代录本村村民、党员或村干部的评议票",
                        "“{rater}” is not a rater of the member's village: enter ballots of its villagers, members or staff only"),
    "wf_ballot_member": ("“{rater}”就是被评议的党员本人,不能给自己打分:请填写其他评议人",
                         "“{rater}” is the member under appraisal, who may not score themselves: enter another rater"),
})


@dataclass(frozen=True)
class Round:
    """A member's appraisal round for a period: who opened and closed it, and the designated raters (none: the village)."""

    id: int
    member_id: int
    period: str
    branch_id: int
    opened_by: str
    opened_at: datetime
    closed_by: str
    closed_at: datetime | None
    raters: tuple[str, ...]  # designated, in the order added

    @property
    def is_open(self) -> bool:
        """Scores are taken."""
        return self.closed_at is None

    def may_rate(self, rater: str) -> bool:
        """Whether a rater is let in: anyone when no list, else only those on it."""
        return not self.raters or rater in self.raters


@dataclass(frozen=True)
class Appraisal:
    """The outcome of scores: who counted, what was dropped, the exact and the shown average."""

    member_id: int
    period: str
    scores: tuple[int, ...]  # hundredths, as given, lowest first
    dropped_high: int | None
    dropped_low: int | None
    exact: Fraction | None  # hundredths; None with no score
    posted: bool = False
    amount: int = 0  # points PA-01 gave, once posted

    @property
    def average(self) -> Decimal | None:
        """The average to two decimals, rounded half up (None with no score)."""
        if self.exact is None:
            return None
        return (Decimal(self.exact.numerator) / Decimal(self.exact.denominator) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    @property
    def ready(self) -> bool:
        """Enough raters to post a result."""
        return len(self.scores) >= MIN_RATERS


def trimmed_mean(scores: list[int]) -> tuple[Fraction | None, int | None, int | None]:
    """Drop one highest and one lowest when there are ≥ 3 scores, average the rest exactly."""
    if not scores:
        return None, None, None
    ordered = sorted(scores)
    if len(ordered) >= MIN_RATERS:
        low, high, kept = ordered[0], ordered[-1], ordered[1:-1]
        return Fraction(sum(kept), len(kept)), high, low
    return Fraction(sum(ordered), len(ordered)), None, None


def _parse_score(value: Any) -> int:
    try:
        score = parse_amount(value)
    except AmountError:
        raise ServiceError("wf_score_range", field="score") from None
    if not 0 <= score <= 10000:
        raise ServiceError("wf_score_range", field="score")
    return score


def _period(value: str) -> str:
    try:
        return parse_period(value).key
    except ValueError:
        raise ServiceError("wf_bad_period", field="period", value=value) from None


def _member_village(conn: Connection, member_id: int, on: Any) -> tuple[int | None, int | None]:
    """(branch, village) of a Party member on a day; (None, None) when not a member."""
    rows = conn.execute(select(PartyMember.branch_id, PartyMember.valid_from, PartyMember.valid_to).where(
        PartyMember.person_id == member_id)).all()  # type: ignore[arg-type]
    branch = next((b for b, f, t in rows if f <= on and (t is None or on < t)), None)
    if branch is None:
        return None, None
    return branch, conn.execute(select(Branch.village_id).where(Branch.id == branch)).scalar()  # type: ignore[arg-type]


def _actor_village(conn: Connection, actor: Actor) -> int | None:
    if actor.village_id is not None:
        return actor.village_id
    if actor.household_id is not None:
        return conn.execute(select(Household.village_id).where(Household.id == actor.household_id)).scalar()  # type: ignore[arg-type]
    return None


def _is_officer(actor: Actor, branch: int, admin: bool) -> bool:
    """A secretary or committee member of that very branch (an administrator too, when ``admin``)."""
    if actor.role == "admin":
        return admin
    return actor.role in OFFICERS and actor.branch_id is not None and actor.branch_id == branch


def _run_branch(conn: Connection, actor: Actor, member_id: int, day: Any) -> int:
    """The member's branch, when the actor may run its rounds (never their own)."""
    refuse_read_only(actor)
    branch, _village = _member_village(conn, member_id, day)
    if branch is None:
        raise NotFound("wf_not_member", field="member")
    if not _is_officer(actor, branch, admin=True):
        raise Forbidden("wf_round_officer")
    if actor.person_id == member_id:
        raise Forbidden("wf_appraisal_own")
    return branch


def _load_round(conn: Connection, member_id: int, period: str, lock: bool = False) -> Round | None:
    q = select(ROUND).where(ROUND.c.member_id == member_id, ROUND.c.period == period)
    row = conn.execute(q.with_for_update() if lock else q).mappings().first()
    return None if row is None else _round(conn, row)


def _round(conn: Connection, row: Any) -> Round:
    raters = tuple(conn.execute(select(RATER.c.rater).where(RATER.c.round_id == row["id"]).order_by(RATER.c.id)).scalars())
    return Round(int(row["id"]), int(row["member_id"]), row["period"], int(row["branch_id"]), row["opened_by"],
                 aware(row["opened_at"]), row["closed_by"], aware(row["closed_at"]), raters)  # type: ignore[arg-type]


def _names(raters: Iterable[str]) -> list[str]:
    """Rater names cleaned (inner spaces collapsed), duplicates dropped, order kept; refuse over-long ones."""
    out: list[str] = []
    for raw in raters:
        name = " ".join(str(raw).split())
        if len(name) > MAX_RATER_NAME:
            raise ServiceError("wf_rater_name", field="raters", max=MAX_RATER_NAME)
        if name and name not in out:
            out.append(name)
    return out


def _scored(conn: Connection, member_id: int, period: str) -> bool:
    return conn.execute(select(SCORE.c.id).where(SCORE.c.member_id == member_id, SCORE.c.period == period).limit(1)).first() is not None


def _posted(conn: Connection, member_id: int, period: str) -> bool:
    return conn.execute(select(RESULT.c.id).where(RESULT.c.member_id == member_id, RESULT.c.period == period)).first() is not None


def open_round(ledger: Ledger, actor: Actor, member_id: int, period: str, raters: Iterable[str] = ()) -> Round:
    """Open a member's appraisal for a period, optionally naming its raters; a branch officer or an administrator."""
    period = _period(period)
    names = _names(raters)
    now = ledger.clock()
    day = local_date(now, county_tz(ledger))
    with ledger.write_engine.begin() as conn:
        branch = _run_branch(conn, actor, member_id, day)
        if _posted(conn, member_id, period):
            raise Conflict("wf_appraisal_posted")
        existing = _load_round(conn, member_id, period)
        if existing is not None:
            raise Conflict("wf_round_exists" if existing.is_open else "wf_round_closed")
        if names and _scored(conn, member_id, period):  # scores taken before rounds were recorded, from anyone
            raise Conflict("wf_round_scored")
        try:
            with conn.begin_nested():
                rid = conn.execute(ROUND.insert().values(member_id=member_id, period=period, branch_id=branch, opened_by=actor.username,
                                                         opened_at=now, closed_by="")).inserted_primary_key[0]
                for name in names:
                    conn.execute(RATER.insert().values(round_id=rid, rater=name, added_by=actor.username, added_at=now))
        except IntegrityError:
            raise Conflict("wf_round_exists") from None
        opened = _load_round(conn, member_id, period)
    assert opened is not None
    return opened


def designate_raters(ledger: Ledger, actor: Actor, member_id: int, period: str, raters: Iterable[str]) -> Round:
    """Add raters to an open round's list (names already on it are kept once); a branch officer or an administrator.

    A round that took scores with no list stays open to the village: limiting it afterwards is refused.
    """
    period = _period(period)
    names = _names(raters)
    if not names:
        raise ServiceError("wf_raters_none", field="raters")
    now = ledger.clock()
    day = local_date(now, county_tz(ledger))
    with ledger.write_engine.begin() as conn:
        rnd = _round_to_run(conn, actor, member_id, period, day)
        if not rnd.is_open:
            raise Conflict("wf_round_closed")
        if not rnd.raters and _scored(conn, member_id, period):
            raise Conflict("wf_round_scored")
        for name in names:
            if name in rnd.raters:
                continue
            try:
                with conn.begin_nested():
                    conn.execute(RATER.insert().values(round_id=rnd.id, rater=name, added_by=actor.username, added_at=now))
            except IntegrityError:
                pass  # added meanwhile by another officer: it is on the list either way
        done = _load_round(conn, member_id, period)
    assert done is not None
    return done


def _round_to_run(conn: Connection, actor: Actor, member_id: int, period: str, day: Any) -> Round:
    """The member's round of the period, locked, for an officer of the member's branch (or an administrator)."""
    _run_branch(conn, actor, member_id, day)
    rnd = _load_round(conn, member_id, period, lock=True)
    if rnd is None:
        raise Conflict("wf_round_none")
    return rnd


def close_round(ledger: Ledger, actor: Actor, member_id: int, period: str) -> Round:
    """Close a round: no more scores (posting the result closes it too); a branch officer or an administrator."""
    period = _period(period)
    now = ledger.clock()
    day = local_date(now, county_tz(ledger))
    with ledger.write_engine.begin() as conn:
        rnd = _round_to_run(conn, actor, member_id, period, day)
        done = conn.execute(update(ROUND).where(ROUND.c.id == rnd.id, ROUND.c.closed_at.is_(None))
                            .values(closed_at=now, closed_by=actor.username))
        if done.rowcount != 1:
            raise Conflict("wf_round_closed")
        closed = _load_round(conn, member_id, period)
    assert closed is not None
    return closed


RATER_ROLES = ("villager", "party_member", "grid_worker", "steward", "secretary", "committee")  # the logins the site lets rate


@dataclass(frozen=True)
class _Rater:
    """Whose a score is: ``label`` is kept on the score, ``key`` tells one human from another."""

    label: str  # the rater's login, or their person code when they have no login
    key: str  # "p:<person id>" for a person; "u:<login>" for a login of no person (a household's); "n:<name>" unresolved
    person_id: int | None
    role: str


def current(model: Any, day: Any) -> list[Any]:
    """Conditions for the rows of a dated table (valid_from, valid_to) in force on ``day``."""
    return [model.valid_from <= day, or_(model.valid_to.is_(None), model.valid_to > day)]


def _village_people(village: int, day: Any) -> Any:
    """Ids of the people of a village on a day: of one of its households, or a Party member of one of its branches."""
    homes = (select(Membership.person_id).join(Household, Household.id == Membership.household_id)  # type: ignore[arg-type, call-overload]
             .where(Household.village_id == village, *current(Membership, day)))
    members = (select(PartyMember.person_id).join(Branch, Branch.id == PartyMember.branch_id)  # type: ignore[arg-type, call-overload]
               .where(Branch.village_id == village, *current(PartyMember, day)))
    return homes.union(members)


def _in_village(conn: Connection, person_id: int, village: int, day: Any) -> bool:
    return person_id in set(conn.execute(_village_people(village, day)).scalars())


def _person_login(conn: Connection, person_id: int) -> tuple[str, str] | None:
    """(login, role) of a person's own active rater login, the first one made; None when they have none."""
    row = conn.execute(select(User.username, User.role).where(  # type: ignore[call-overload]
        User.person_id == person_id, User.active.is_(True), User.role.in_(RATER_ROLES)).order_by(User.id)).first()  # type: ignore[attr-defined]
    return (row.username, row.role) if row else None


def _of_person(conn: Connection, person_id: int, code: str) -> _Rater:
    login = _person_login(conn, person_id)
    return _Rater(login[0] if login else code, f"p:{person_id}", person_id, login[1] if login else "")


def _lookup(conn: Connection, text: str, village: int, day: Any) -> tuple[_Rater | None, str, dict[str, Any]]:
    """A rater named by login, person code or exact name: (rater, "", {}) or (None, refusal code, its parameters).

    A login counts when it is an active rater's whose village is the member's (the rule online scores follow); a
    code or a name must be a person of the member's village on the day, and a name must fit exactly one of them.
    """
    user = conn.execute(select(User.username, User.role, User.person_id, User.household_id, User.village_id, User.active)  # type: ignore[call-overload]
                        .where(User.username == text)).first()
    if user is not None:
        home = user.village_id
        if home is None and user.household_id is not None:
            home = conn.execute(select(Household.village_id).where(Household.id == user.household_id)).scalar()  # type: ignore[arg-type]
        if not user.active or user.role not in RATER_ROLES or home != village:
            return None, "wf_ballot_scope", {}
        pid = user.person_id
        return _Rater(user.username, f"p:{pid}" if pid is not None else f"u:{user.username}", pid, user.role), "", {}
    person = conn.execute(select(Person.id, Person.code).where(Person.code == text)).first()  # type: ignore[call-overload]
    if person is not None:
        if not _in_village(conn, person.id, village, day):
            return None, "wf_ballot_scope", {}
        return _of_person(conn, person.id, person.code), "", {}
    named = conn.execute(select(Person.id, Person.code).where(Person.name == text)).all()  # type: ignore[call-overload]
    local = set(conn.execute(_village_people(village, day)).scalars())
    fits = [p for p in named if p.id in local]
    if len(fits) == 1:
        return _of_person(conn, fits[0].id, fits[0].code), "", {}
    if fits:
        return None, "wf_ballot_ambiguous", {"count": len(fits)}
    return None, ("wf_ballot_scope" if named else "wf_ballot_unknown"), {}


def _key(conn: Connection, label: str, village: int, day: Any) -> str:
    """Who a kept score's (or a list's) rater is, eligible or not: by login, code, or a name one person of the village has."""
    user = conn.execute(select(User.person_id).where(User.username == label)).first()  # type: ignore[call-overload]
    if user is not None:
        return f"p:{user.person_id}" if user.person_id is not None else f"u:{label}"
    person = conn.execute(select(Person.id).where(Person.code == label)).scalar()  # type: ignore[call-overload]
    if person is not None:
        return f"p:{person}"
    fits = conn.execute(select(Person.id).where(Person.name == label, Person.id.in_(_village_people(village, day)))).scalars().all()  # type: ignore[call-overload, union-attr]
    return f"p:{fits[0]}" if len(fits) == 1 else f"n:{label}"


def _scored_keys(conn: Connection, member_id: int, period: str, village: int, day: Any) -> dict[str, str]:
    """The raters who scored a member for a period: who they are → the label their score is kept under."""
    labels = conn.execute(select(SCORE.c.rater).where(SCORE.c.member_id == member_id, SCORE.c.period == period)).scalars()
    return {_key(conn, label, village, day): label for label in labels}


def _paper_rater(conn: Connection, text: str, member_id: int, village: int, day: Any, rnd: Round | None) -> _Rater:
    """The real rater a paper ballot names, eligible for the round, or the refusal saying how to name one."""
    found, code, params = _lookup(conn, text, village, day)
    if found is not None and found.person_id == member_id:
        raise Forbidden("wf_ballot_member", field="rater", rater=text)
    if rnd is not None and rnd.raters and not _on_list(conn, rnd, text, found, village, day):
        raise Forbidden("wf_ballot_not_designated", field="rater", rater=text)
    if found is None:
        error = Forbidden if code == "wf_ballot_scope" else ServiceError
        raise error(code, field="rater", rater=text, **params)
    return found


def _on_list(conn: Connection, rnd: Round, text: str, found: _Rater | None, village: int, day: Any) -> bool:
    """Whether a round's list names this rater: as typed, or by their login, code or name."""
    if text in rnd.raters:
        return True
    return found is not None and any(_key(conn, r, village, day) == found.key for r in rnd.raters)


def score_member(ledger: Ledger, actor: Actor, member_id: int, period: str, score: Any, rater: str | None = None) -> int:
    """One rater's score of a member for a period, while its round is open (once each rater; never oneself).

    Without ``rater`` the actor scores for themselves (a rater of the member's village, on the round's list if it
    has one). With ``rater`` a secretary or committee member of the member's branch types in that rater's paper
    ballot, kept as entered by them on the rater's behalf; it needs an opened round, and its list, if any, must
    name the rater. A paper ballot's rater is a real rater of the member's village, never the member: an active
    rater login of the village (the rule online scores follow), or a person of the village on the day named by
    their code or by a name only one of them has; it is kept under the person's login if they have one, else
    their code. One human scores a member once a period, whether online or on paper, under any of their names.
    """
    refuse_read_only(actor)
    period = _period(period)
    value = _parse_score(score)
    paper = rater is not None
    if paper:
        named = _names([rater or ""])
        if not named:
            raise ServiceError("wf_rater_name", field="rater", max=MAX_RATER_NAME)
        typed = named[0]
    now = ledger.clock()
    day = local_date(now, county_tz(ledger))
    with ledger.write_engine.begin() as conn:
        branch, village = _member_village(conn, member_id, day)
        if branch is None or village is None:
            raise NotFound("wf_not_member", field="member")
        if paper:
            if not _is_officer(actor, branch, admin=False):
                raise Forbidden("wf_ballot_officer")
            if actor.person_id == member_id:
                raise Forbidden("wf_appraisal_own")
        else:
            if actor.person_id == member_id:
                raise Forbidden("wf_rate_self")
            if not actor.county_wide and _actor_village(conn, actor) != village:
                raise Forbidden("wf_rate_scope")
        if _posted(conn, member_id, period):
            raise Conflict("wf_appraisal_posted")
        rnd = _load_round(conn, member_id, period, lock=True)
        if rnd is None and paper:
            raise Conflict("wf_round_none")
        if rnd is not None and not rnd.is_open:
            raise Conflict("wf_round_closed")
        if paper:
            found = _paper_rater(conn, typed, member_id, village, day, rnd)
            who, role, key = found.label, found.role, found.key
            twice = Conflict("wf_ballot_twice", field="rater", rater=typed)
        else:
            if rnd is not None and not rnd.may_rate(actor.username):
                raise Forbidden("wf_not_designated")
            who, role = actor.username, actor.role
            key = f"p:{actor.person_id}" if actor.person_id is not None else _key(conn, who, village, day)
            twice = Conflict("wf_rate_twice")
        if key in _scored_keys(conn, member_id, period, village, day):
            raise twice
        try:
            with conn.begin_nested():
                res = conn.execute(SCORE.insert().values(member_id=member_id, period=period, rater=who, rater_role=role, score=value,
                                                         at=now, entered_by=actor.username if paper else ""))
        except IntegrityError:
            raise twice from None
        return int(res.inserted_primary_key[0])


def appraisal(ledger: Ledger, member_id: int, period: str) -> Appraisal:
    """The scores so far and the average they give (or the posted result)."""
    period = _period(period)
    with ledger.engine.connect() as conn:
        scores = sorted(int(s) for s in conn.execute(select(SCORE.c.score).where(SCORE.c.member_id == member_id, SCORE.c.period == period)).scalars())
        posted = conn.execute(select(RESULT).where(RESULT.c.member_id == member_id, RESULT.c.period == period)).mappings().first()
    exact, high, low = trimmed_mean(scores)
    return Appraisal(member_id, period, tuple(scores), high, low, exact, posted is not None, int(posted["amount"]) if posted else 0)


def post_appraisal(ledger: Ledger, actor: Actor, member_id: int, period: str, occurred_at: datetime | None = None) -> Appraisal:
    """Post the result as an ``appraisal`` event (rule PA-01) and close the round; an officer of the member's branch or an administrator."""
    refuse_read_only(actor)
    period = _period(period)
    now = ledger.clock()
    tz = county_tz(ledger)
    moment = occurred_at or now
    with ledger.engine.connect() as conn:
        branch, _village = _member_village(conn, member_id, local_date(moment, tz))
        if branch is None:
            raise NotFound("wf_not_member", field="member")
        if not _is_officer(actor, branch, admin=True):
            raise Forbidden("wf_appraisal_poster")
        if actor.person_id == member_id:
            raise Forbidden("wf_appraisal_own")
        code = person_code(conn, member_id)
    result = appraisal(ledger, member_id, period)
    if result.posted:
        raise Conflict("wf_appraisal_posted")
    if not result.ready:
        raise ServiceError("wf_appraisal_few", min=MIN_RATERS, count=len(result.scores))
    assert result.exact is not None and result.average is not None
    key = f"appraisal:{member_id}:{period}"
    rec = record_one(ledger, Incoming(key=key, type="appraisal", occurred_at=moment, person=code,
                                      fields={"score": str(result.average)}, actor=actor.username, source="web", ref=key))
    amount = sum(e["amount"] for e in rec.entries)
    with ledger.write_engine.begin() as conn:
        try:
            with conn.begin_nested():
                conn.execute(RESULT.insert().values(
                    member_id=member_id, period=period, raters=len(result.scores), dropped_high=result.dropped_high,
                    dropped_low=result.dropped_low, score=int(result.average * 100), exact=f"{result.exact.numerator}/{result.exact.denominator}",
                    event_key=key, posted_by=actor.username, posted_at=aware(now), amount=amount))
        except IntegrityError:
            raise Conflict("wf_appraisal_posted") from None
        conn.execute(update(ROUND).where(ROUND.c.member_id == member_id, ROUND.c.period == period, ROUND.c.closed_at.is_(None))
                     .values(closed_at=now, closed_by=actor.username))
    return Appraisal(member_id, period, result.scores, result.dropped_high, result.dropped_low, result.exact, True, amount)


# ---------------------------------------------------------------- reading, for the pages
def round_of(ledger: Ledger, member_id: int, period: str) -> Round | None:
    """A member's round for a period with its designated raters (None: never opened)."""
    period = _period(period)
    with ledger.engine.connect() as conn:
        return _load_round(conn, member_id, period)


def branch_rounds(ledger: Ledger, branch_id: int, period: str) -> dict[int, Round]:
    """The rounds a branch opened for a period, by member."""
    period = _period(period)
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(ROUND).where(ROUND.c.branch_id == branch_id, ROUND.c.period == period)).mappings().all()
        return {int(r["member_id"]): _round(conn, r) for r in rows}


def who_scored(ledger: Ledger, member_id: int, period: str) -> dict[str, str]:
    """Who has scored a member for a period (never what): rater → who typed the ballot in ("" = the rater)."""
    period = _period(period)
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(SCORE.c.rater, SCORE.c.entered_by).where(SCORE.c.member_id == member_id, SCORE.c.period == period)
                            .order_by(SCORE.c.id))
        return {r: e or "" for r, e in rows}


def listed_scored(ledger: Ledger, member_id: int, period: str) -> set[str]:
    """The entries of a round's list whose rater has scored, under whichever of their names the score is kept."""
    period = _period(period)
    with ledger.engine.connect() as conn:
        rnd = _load_round(conn, member_id, period)
        if rnd is None or not rnd.raters:
            return set()
        day = local_date(ledger.clock(), county_tz(ledger))
        _branch, village = _member_village(conn, member_id, day)
        labels = set(conn.execute(select(SCORE.c.rater).where(SCORE.c.member_id == member_id, SCORE.c.period == period)).scalars())
        if village is None:
            return {r for r in rnd.raters if r in labels}
        keys = _scored_keys(conn, member_id, period, village, day)
        return {r for r in rnd.raters if r in labels or _key(conn, r, village, day) in keys}


def rater_scores(ledger: Ledger, rater: str, period: str | None = None) -> dict[tuple[int, str], int]:
    """Scores a rater gave (by login or paper-ballot name): (member, period) → hundredths."""
    q = select(SCORE.c.member_id, SCORE.c.period, SCORE.c.score).where(SCORE.c.rater == rater)
    if period is not None:
        q = q.where(SCORE.c.period == _period(period))
    with ledger.engine.connect() as conn:
        return {(int(m), p): int(s) for m, p, s in conn.execute(q)}


def posted_results(ledger: Ledger, branch_id: int, period: str) -> dict[int, dict[str, Any]]:
    """Posted results of a period for members of a branch at some time within it: member → the result's row."""
    span = parse_period(_period(period))
    in_branch = select(PartyMember.person_id).where(  # type: ignore[call-overload]
        PartyMember.branch_id == branch_id, PartyMember.valid_from < span.end,
        or_(PartyMember.valid_to.is_(None), PartyMember.valid_to > span.start))  # type: ignore[union-attr]
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(RESULT).where(RESULT.c.period == span.key, RESULT.c.member_id.in_(in_branch))).mappings()
        return {int(r["member_id"]): dict(r) for r in rows}


def rounds_to_rate(ledger: Ledger, actor: Actor, period: str | None = None) -> list[dict[str, Any]]:
    """Open rounds the actor may score themselves: their village's, on the list if there is one, never their own.

    Each is a dict: round, member_id, code, name, period, mine (the actor's score in hundredths, or None).
    """
    wanted = _period(period) if period else None
    with ledger.engine.connect() as conn:
        village = _actor_village(conn, actor)
        if village is None:
            return []
        q = (select(ROUND, Person.code, Person.name).join(Branch, Branch.id == ROUND.c.branch_id)  # type: ignore[arg-type]
             .join(Person, Person.id == ROUND.c.member_id).where(Branch.village_id == village, ROUND.c.closed_at.is_(None)))  # type: ignore[arg-type]
        if wanted:
            q = q.where(ROUND.c.period == wanted)
        rows = conn.execute(q.order_by(ROUND.c.period.desc(), Person.code)).mappings().all()  # type: ignore[arg-type]
        rounds = [(_round(conn, r), r["code"], r["name"]) for r in rows if r["member_id"] != actor.person_id]
    mine = rater_scores(ledger, actor.username, wanted)
    return [{"round": rnd, "member_id": rnd.member_id, "code": code, "name": name, "period": rnd.period,
             "mine": mine.get((rnd.member_id, rnd.period))} for rnd, code, name in rounds if rnd.may_rate(actor.username)]


__all__ = [
    "MIN_RATERS",
    "RATER_ROLES",
    "Appraisal",
    "Round",
    "appraisal",
    "branch_rounds",
    "close_round",
    "current",
    "designate_raters",
    "fmt",
    "listed_scored",
    "open_round",
    "post_appraisal",
    "posted_results",
    "rater_scores",
    "round_of",
    "rounds_to_rate",
    "score_member",
    "trimmed_mean",
    "who_scored",
]
