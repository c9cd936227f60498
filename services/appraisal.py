"""民主评议: democratic appraisal of a Party member.

Several raters each give a score from 0 to 100 (at most two decimals). With three or more
scores, one highest and one lowest are dropped and the rest averaged; the average is exact
(a fraction of the exact sum) and shown and scored to two decimals, rounded half up. The
result is posted as an ``appraisal`` event, which rule PA-01 scores (0.2 points per point).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from scoring.periods import local_date, parse_period
from scoring.points import AmountError, fmt, parse_amount
from services.actors import Actor
from services.claims import aware, county_tz, person_code, record_one, refuse_read_only
from services.errors import Conflict, Forbidden, NotFound, ServiceError
from services.messages import add
from store.ledger import Incoming, Ledger
from store.models import Branch, Household, PartyMember
from store.models_workflow import AppraisalResult, AppraisalScore

SCORE = AppraisalScore.__table__  # type: ignore[attr-defined]
RESULT = AppraisalResult.__table__  # type: ignore[attr-defined]
MIN_RATERS = 3

add({
    "wf_score_range": ("评议分须在 0 到 100 之间,最多两位小数", "a score is from 0 to 100 with at most two decimals"),
    "wf_rate_self": ("不能给自己评议打分", "you may not score yourself"),
    "wf_rate_twice": ("您已为该党员本期评议打过分", "you have already scored this member for this period"),
    "wf_rate_scope": ("只能评议本村党员", "you may score members of your own village only"),
    "wf_appraisal_few": ("评议人不足 {min} 人(现有 {count} 人),不能计算结果", "fewer than {min} raters ({count}); no result yet"),
    "wf_appraisal_posted": ("该党员本期评议结果已公布", "this member's appraisal for the period is already posted"),
    "wf_not_member": ("该村民在此期间不是党员", "that person is not a Party member in the period"),
    "wf_bad_period": ("期间 {value} 无效(例如 2026、2026-Q2、2026-03)", "not a period: {value} (e.g. 2026, 2026-Q2, 2026-03)"),
})


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


def score_member(ledger: Ledger, actor: Actor, member_id: int, period: str, score: Any) -> int:
    """One rater's score of a member for a period (once each; not for oneself; same village)."""
    refuse_read_only(actor)
    period = _period(period)
    value = _parse_score(score)
    now = ledger.clock()
    day = local_date(now, county_tz(ledger))
    with ledger.write_engine.begin() as conn:
        _, village = _member_village(conn, member_id, day)
        if village is None:
            raise NotFound("wf_not_member", field="member")
        if actor.person_id == member_id:
            raise Forbidden("wf_rate_self")
        if not actor.county_wide and _actor_village(conn, actor) != village:
            raise Forbidden("wf_rate_scope")
        if conn.execute(select(RESULT.c.id).where(RESULT.c.member_id == member_id, RESULT.c.period == period)).first():
            raise Conflict("wf_appraisal_posted")
        if conn.execute(select(SCORE.c.id).where(SCORE.c.member_id == member_id, SCORE.c.period == period,
                                                 SCORE.c.rater == actor.username)).first():
            raise Conflict("wf_rate_twice")
        try:
            with conn.begin_nested():
                res = conn.execute(SCORE.insert().values(member_id=member_id, period=period, rater=actor.username,
                                                         rater_role=actor.role, score=value, at=now))
        except IntegrityError:
            raise Conflict("wf_rate_twice") from None
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
    """Post the result as an ``appraisal`` event (rule PA-01); the secretary, committee or an administrator."""
    refuse_read_only(actor)
    period = _period(period)
    now = ledger.clock()
    tz = county_tz(ledger)
    moment = occurred_at or now
    with ledger.engine.connect() as conn:
        _, village = _member_village(conn, member_id, local_date(moment, tz))
        if village is None:
            raise NotFound("wf_not_member", field="member")
        if actor.role not in ("secretary", "committee", "admin") or (actor.role != "admin" and actor.village_id != village):
            raise Forbidden("wf_not_reviewer")
        if actor.person_id == member_id:
            raise Forbidden("wf_own_subject")
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
    return Appraisal(member_id, period, result.scores, result.dropped_high, result.dropped_low, result.exact, True, amount)


__all__ = ["MIN_RATERS", "Appraisal", "appraisal", "fmt", "post_appraisal", "score_member", "trimmed_mean"]
