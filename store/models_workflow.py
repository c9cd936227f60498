"""Tables of the workflows: claim transitions, evidence, objections, appeals, household-linking
work (visits, problems, ratings), democratic appraisal (rounds, raters, scores, results), kept grades and scheduler reports.

The ``Claim`` row itself lives in ``store.models`` beside the ledger that creates it.
Amounts and scores are BIGINT hundredths, times aware UTC, as everywhere else.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _big(**kw: object) -> Column:  # type: ignore[type-arg]
    return Column(BigInteger, nullable=False, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- claims (申报 → 审核 → 公示)
class ClaimTransition(SQLModel, table=True):
    """One step of a claim's life: who moved it, when, from which state to which, and why."""

    __tablename__ = "claim_transition"
    __table_args__ = (Index("ix_claim_transition_claim", "claim_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id")
    action: str  # submit | approve | reject | notice | object | uphold_objection | dismiss_objection | post | appeal …
    from_status: str = ""  # empty for the first step
    to_status: str
    actor: str
    actor_role: str = ""
    at: datetime
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # JSON: amount set, objection id …


class Evidence(SQLModel, table=True):
    """A photo kept on disk as evidence of a claim; the file is named by its content hash."""

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", index=True)
    filename: str  # as uploaded (cleaned), for display only
    path: str  # relative to the upload folder
    content_type: str
    size: int
    sha256: str = Field(index=True)
    uploaded_by: str
    uploaded_at: datetime


class Objection(SQLModel, table=True):
    """异议: raised during the notice period by someone of the same village; upheld or dismissed."""

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", index=True)
    raised_by: str
    raised_role: str = ""
    reason: str = Field(sa_column=Column(Text, nullable=False))
    raised_at: datetime
    status: str = Field(default="open", index=True)  # open | upheld | dismissed | closed
    decided_by: str = ""
    decided_at: datetime | None = None
    decision: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Appeal(SQLModel, table=True):
    """申诉: raised within the appeal window after posting; upheld means a reversing entry."""

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="claim.id", index=True)
    entry_id: int | None = None
    raised_by: str
    raised_role: str = ""
    reason: str = Field(sa_column=Column(Text, nullable=False))
    raised_at: datetime
    status: str = Field(default="open", index=True)  # open | upheld | dismissed
    decided_by: str = ""
    decided_at: datetime | None = None
    decision: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reversal_entry_id: int | None = None


# ---------------------------------------------------------------- 党员联户
class Visit(SQLModel, table=True):
    """A Party member's visit to a linked household (入户走访)."""

    __table_args__ = (Index("ix_visit_member_household", "member_id", "household_id", "visited_at"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="person.id")
    household_id: int = Field(foreign_key="household.id", index=True)
    visited_at: datetime
    local_day: date
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    event_key: str = Field(unique=True)
    recorded_by: str
    amount: int = Field(default=0, sa_column=_big(default=0))  # points the visit earned (0 after cooldown or cap)


class LinkProblem(SQLModel, table=True):
    """A problem a household raised with its linked member; resolved only when the household confirms."""

    __tablename__ = "link_problem"
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    raised_at: datetime
    raised_by: str
    raised_event_key: str = Field(unique=True)
    status: str = Field(default="open", index=True)  # open | handled | resolved
    handled_at: datetime | None = None
    handled_note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    resolved_at: datetime | None = None
    confirmed_by: str = ""
    days_to_resolve: int | None = None
    resolved_event_key: str = ""


class HouseholdRating(SQLModel, table=True):
    """A household's rating (1–5) of its linked member, once per quarter."""

    __tablename__ = "household_rating"
    __table_args__ = (UniqueConstraint("member_id", "household_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="person.id", index=True)
    household_id: int = Field(foreign_key="household.id")
    period: str  # 2026-Q2
    rating: int
    rated_by: str
    rated_at: datetime
    event_key: str = Field(unique=True)


# ---------------------------------------------------------------- 民主评议
class AppraisalScore(SQLModel, table=True):
    """One rater's score (0–100, hundredths) of a member in a period."""

    __tablename__ = "appraisal_score"
    __table_args__ = (UniqueConstraint("member_id", "period", "rater"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="person.id", index=True)
    period: str
    rater: str  # the rater's login, or the name on a paper ballot
    rater_role: str = ""
    score: int = Field(sa_column=_big())
    at: datetime
    entered_by: str = Field(default="", sa_column_kwargs={"server_default": ""})  # who typed in a paper ballot; "" = the rater


class AppraisalRound(SQLModel, table=True):
    """A member's appraisal for a period, opened and closed by a branch officer; scores are taken only while open."""

    __tablename__ = "appraisal_round"
    __table_args__ = (UniqueConstraint("member_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="person.id")
    period: str
    branch_id: int = Field(foreign_key="branch.id", index=True)  # the member's branch when opened
    opened_by: str
    opened_at: datetime
    closed_by: str = ""
    closed_at: datetime | None = None  # None while open


class AppraisalRater(SQLModel, table=True):
    """A designated rater of a round (a login, or a name for a paper ballot); none designated: the village rates."""

    __tablename__ = "appraisal_rater"
    __table_args__ = (UniqueConstraint("round_id", "rater"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="appraisal_round.id", index=True)
    rater: str
    added_by: str
    added_at: datetime


class AppraisalResult(SQLModel, table=True):
    """The posted result of a member's appraisal: highest and lowest dropped, the rest averaged."""

    __tablename__ = "appraisal_result"
    __table_args__ = (UniqueConstraint("member_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(foreign_key="person.id")
    period: str
    raters: int
    dropped_high: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    dropped_low: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    score: int = Field(sa_column=_big())  # hundredths, rounded half up from the exact average
    exact: str  # the exact average as a fraction, "250/3"
    event_key: str = Field(unique=True)
    posted_by: str
    posted_at: datetime
    amount: int = Field(default=0, sa_column=_big(default=0))


# ---------------------------------------------------------------- scheduled jobs
class GradeStanding(SQLModel, table=True):
    """Grades of the running period, recomputed by the scheduler (closed periods: GradeSnapshot)."""

    __tablename__ = "grade_standing"
    point_type: str = Field(primary_key=True)
    period: str = Field(primary_key=True)
    holder_kind: str = Field(primary_key=True)
    holder_id: int = Field(primary_key=True)
    score: int = Field(sa_column=_big(default=0))
    grade: str = ""
    vetoed: bool = False
    computed_at: datetime


class JobReport(SQLModel, table=True):
    """What a reporting job found on a day (members behind on visits); written once per key."""

    __tablename__ = "job_report"
    job_id: str = Field(primary_key=True)
    run_key: str = Field(primary_key=True)  # the local day, 2026-06-01
    created_at: datetime
    body: str = Field(sa_column=Column(Text, nullable=False))  # JSON
