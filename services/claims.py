"""Claims (申报 → 审核 → 公示 → 入账), objections (异议) and appeals (申诉).

The one flow the site, the API and the command line call. A claim names a rule
of the rules file and the villager (or household) concerned; the ledger records
its event, so sending the same claim twice (same ``key``) records it once.

States and who moves them::

    submitted ──approve──▶ approved ──(notice starts)──▶ on_notice ──(notice ends)──▶ posted
        │                                                  │    ▲                        │
        └──reject──▶ rejected                       object │    │ dismiss          appeal │
                                                           ▼    │                        ▼
                                         withdrawn ◀─uphold─ objected          appealed ─uphold─▶ reversed
                                                                                    └─dismiss─▶ posted

Rules without approval post at once (the claim is kept, posted, so it can still be appealed).
Every move is one transaction guarded by the state it leaves (``UPDATE … WHERE status = …``),
and is written to ``claim_transition`` with who, when, from, to and why. A refused request
raises a ``ServiceError`` and changes nothing.

Maker-checker: the one who entered a claim never reviews it, nor may anyone review a claim
about themselves or their household.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import filetype  # type: ignore[import-untyped]
from sqlalchemy import Connection, false, or_, select, update

from scoring.engine import parse_moment, parse_points_field
from scoring.errors import Problem
from scoring.model import Rule, Ruleset
from scoring.periods import local_date
from scoring.points import fmt
from services.actors import Actor
from services.errors import Conflict, Forbidden, NotFound, ServiceError
from services.ingest import to_incoming
from services.messages import add, render
from services.privacy import mask_name, mask_numbers
from services.queries import household_name
from store.db import aware
from store.directory import Directory
from store.ledger import Incoming, Ledger, RecordResult, ReversalRefused
from store.models import Claim, Entry, Household, HouseholdGrid, Linkage, Person
from store.models_workflow import Appeal, ClaimTransition, Evidence, Objection

CLAIM = Claim.__table__  # type: ignore[attr-defined]
ENTRY = Entry.__table__  # type: ignore[attr-defined]
TRANSITION = ClaimTransition.__table__  # type: ignore[attr-defined]
EVIDENCE = Evidence.__table__  # type: ignore[attr-defined]
OBJECTION = Objection.__table__  # type: ignore[attr-defined]
APPEAL = Appeal.__table__  # type: ignore[attr-defined]

SUBMITTED, APPROVED, REJECTED, ON_NOTICE, OBJECTED = "submitted", "approved", "rejected", "on_notice", "objected"
POSTED, WITHDRAWN, APPEALED, REVERSED = "posted", "withdrawn", "appealed", "reversed"
STATUSES = (SUBMITTED, APPROVED, REJECTED, ON_NOTICE, OBJECTED, POSTED, WITHDRAWN, APPEALED, REVERSED)
STATUS_NAMES = {
    SUBMITTED: ("待审核", "submitted"), APPROVED: ("已审核,待公示", "approved"), REJECTED: ("已驳回", "rejected"),
    ON_NOTICE: ("公示中", "on notice"), OBJECTED: ("有异议,待处理", "objected"), POSTED: ("已入账", "posted"),
    WITHDRAWN: ("已撤销", "withdrawn"), APPEALED: ("申诉中", "appealed"), REVERSED: ("申诉成立,已冲正", "reversed"),
}
REVIEWER_ROLES = ("secretary", "committee", "admin")
STAFF_ROLES = ("party_member", "grid_worker", "steward", "secretary", "committee", "admin")
IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif", "image/heic": "heic"}

add({
    "wf_unknown_rule": ("没有规则 {rule}", "there is no rule {rule}"),
    "wf_role_refused": ("角色「{role}」不能申报规则 {rule}({name})", "the role '{role}' may not enter rule {rule} ({name})"),
    "wf_villager_own": ("村民只能为本户申报", "a villager may enter claims for their own household only"),
    "wf_self_entry": ("不能为本人或本户录入规则 {rule}({name})的积分:这条规则不经审核直接记分,请由书记或村委录入", "you may not enter rule {rule} ({name}) about yourself or your household: it posts without review, so the secretary or the committee enters it"),
    "wf_member_linked": ("党员只能为自己的联系户申报", "a Party member may enter claims for their linked households only"),
    "wf_out_of_scope": ("该农户不在您的管辖范围内", "that household is outside your area"),
    "wf_subject_required": ("请指明申报所涉村民或农户", "name the villager or household the claim is about"),
    "wf_person_required": ("规则 {rule}({name})须指明是哪位村民:请选择或填写村民编号", "rule {rule} ({name}) is about one villager: choose them or give their code"),
    # A code outside the enterer's sight reads exactly as one that does not exist (the same words, field and status).
    "wf_no_person_own": ("本户没有村民 “{value}”:村民只能为本户申报", "there is no villager '{value}' in your household: a villager may enter claims for their own household only"),
    "wf_no_household_own": ("“{value}” 不是本户户号:村民只能为本户申报", "'{value}' is not your household's code: a villager may enter claims for their own household only"),
    "wf_no_person_linked": ("您本户和联系户中没有村民 “{value}”:党员只能为自己的联系户申报",
                            "there is no villager '{value}' in your household or your linked households: a Party member may enter claims for their linked households only"),
    "wf_no_household_linked": ("“{value}” 不是本户或您的联系户:党员只能为自己的联系户申报",
                               "'{value}' is neither your household nor one of your linked households: a Party member may enter claims for their linked households only"),
    "wf_no_person_area": ("找不到村民 “{value}”:编号有误,或不在您的管辖范围内", "there is no villager '{value}' within your area: check the code"),
    "wf_no_household_area": ("找不到农户 “{value}”:户号有误,或不在您的管辖范围内", "there is no household '{value}' within your area: check the household code"),
    "wf_before_rules": ("发生日期 {day} 早于积分细则的生效日期 {first}:只能申报 {first} 及以后发生的事项",
                        "the date {day} is before the rules came into force on {first}: only what happened on or after {first} can be declared"),
    "wf_in_future": ("发生时间 {value} 晚于现在", "the time {value} is in the future"),
    "wf_invalid": ("申报未被接受:{detail}", "the claim was not accepted: {detail}"),
    "wf_no_points": ("按规则 {rule} 这项申报不计分:{detail}", "rule {rule} gives no points for this: {detail}"),
    "wf_not_reviewer": ("只有本村党支部书记、村委会成员或管理员可以审核", "only the village's branch secretary, a committee member or an administrator may review"),
    "wf_maker_checker": ("录入人不能审核自己录入的申报", "whoever entered a claim may not review it"),
    "wf_own_subject": ("不能审核与本人或本户有关的申报", "you may not review a claim about yourself or your household"),
    "wf_state": ("该申报当前为「{status}」,不能{action}", "the claim is {status}; it cannot be {action}"),
    "wf_reason_required": ("请填写理由", "a reason is required"),
    "wf_amount_fixed": ("规则 {rule} 分值固定,不能改动", "rule {rule} gives a fixed amount; it cannot be changed"),
    "wf_amount_range": ("分值须在 {low} 至 {high} 之间,且为 {step} 的整数倍", "the amount must be between {low} and {high}, in steps of {step}"),
    "wf_evidence_big": ("照片「{name}」大小 {size} MB,超过上限 {max} MB", "the photo '{name}' is {size} MB, over the limit of {max} MB"),
    "wf_evidence_type": ("文件「{name}」不是图片(可上传 JPEG、PNG、WebP、GIF、HEIC 照片)", "the file '{name}' is not a photo (JPEG, PNG, WebP, GIF or HEIC)"),
    "wf_evidence_many": ("最多上传 {max} 张照片", "at most {max} photos"),
    "wf_objection_closed": ("公示期已于 {until} 结束,不能再提出异议", "the notice period ended on {until}; objections are closed"),
    "wf_objection_own": ("不能处理自己提出的异议", "you may not decide your own objection"),
    "wf_objection_done": ("该异议已经处理过", "that objection has already been decided"),
    "wf_replayed": ("已提交过,未重复记录", "this was already submitted; nothing was recorded twice"),
    "wf_appeal_who": ("只有当事人、本户或本村干部可以申诉", "only the person concerned, their household or village officers may appeal"),
    "wf_appeal_closed": ("申诉期已于 {until} 结束", "the appeal window closed on {until}"),
    "wf_appeal_own": ("不能处理自己提出的申诉", "you may not decide your own appeal"),
    "wf_objection_village": ("只有本村村民和干部可以对本村的公示提出异议", "only people of the same village may object to its notices"),
    "wf_appeal_done": ("该申诉已经处理过", "that appeal has already been decided"),
    "wf_appeal_unreversible": ("这条记录已过有效期失效,没有可冲正的积分;请驳回申诉并写明原因",
                               "that entry has expired: there are no points left to reverse; dismiss the appeal and say why"),
    "wf_read_only": ("只读账户不能进行此操作", "a read-only account may not do this"),
})
_ACTION_NAMES = {
    "approve": ("审核通过", "approved"), "reject": ("驳回", "rejected"), "object": ("提出异议", "objected to"),
    "resolve": ("处理异议", "decided"), "appeal": ("申诉", "appealed"), "post": ("入账", "posted"),
    "notice": ("公示", "put on notice"),
}


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class WorkflowConfig:
    """Where evidence goes, how big a photo may be, how long an appeal stays open."""

    upload_dir: Path = Path("instance/uploads")
    max_upload_bytes: int = 5 * 1024 * 1024
    max_files: int = 9
    appeal_days: int = 30

    @classmethod
    def from_env(cls) -> WorkflowConfig:
        """``JIFEN_UPLOAD_DIR`` (instance/uploads), ``JIFEN_UPLOAD_MAX_MB`` (5), ``JIFEN_APPEAL_DAYS`` (30)."""
        return cls(
            upload_dir=Path(os.environ.get("JIFEN_UPLOAD_DIR", "instance/uploads")),
            max_upload_bytes=int(float(os.environ.get("JIFEN_UPLOAD_MAX_MB", "5")) * 1024 * 1024),
            appeal_days=int(os.environ.get("JIFEN_APPEAL_DAYS", "30")),
        )


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as sent and its bytes (the web layer reads the stream)."""

    name: str
    data: bytes


class Invalid(ServiceError):
    """The ledger refused the claim's event; ``problems`` name each field at fault."""

    def __init__(self, problems: list[Problem]):
        detail_zh = ";".join(p.message("zh") for p in problems)
        detail_en = "; ".join(p.message("en") for p in problems)
        first = problems[0].field if problems else ""
        super().__init__("wf_invalid", field=first, detail=(detail_zh, detail_en))
        self.problems = problems


# ---------------------------------------------------------------- views
@dataclass
class Transition:
    """One line of a claim's history."""

    action: str
    from_status: str
    to_status: str
    actor: str
    actor_role: str
    at: datetime
    reason: str
    detail: dict[str, Any]


@dataclass
class ClaimView:
    """A claim as pages, the API and the command line show it. Amounts in hundredths."""

    id: int
    key: str
    event_key: str
    status: str
    rule_id: str
    rule_name: str
    point_type: str
    amount: int
    range: tuple[int, int] | None
    person_id: int | None
    person_name: str
    household_id: int | None
    household_code: str
    household_name: str
    village_id: int | None
    branch_id: int | None
    description: str
    entered_by: str
    entered_role: str
    reviewed_by: str
    reviewed_at: datetime | None
    reason: str
    notice_days: int
    notice_until: datetime | None
    occurred_at: datetime
    created_at: datetime
    posted_at: datetime | None
    appeal_until: datetime | None
    entry_id: int | None
    reversal_entry_id: int | None
    history: list[Transition] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    objections: list[dict[str, Any]] = field(default_factory=list)
    appeals: list[dict[str, Any]] = field(default_factory=list)

    def status_name(self, lang: str = "zh") -> str:
        """The state in words."""
        zh, en = STATUS_NAMES.get(self.status, (self.status, self.status))
        return en if lang.startswith("en") else zh

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (amounts as exact decimal strings, times ISO)."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if isinstance(v, datetime):
                out[k] = v.isoformat()
            elif k == "amount":
                out[k] = fmt(v)
            elif k == "range":
                out[k] = [fmt(v[0]), fmt(v[1])] if v else None
            elif k == "history":
                out[k] = [{**t.__dict__, "at": t.at.isoformat()} for t in v]
            else:
                out[k] = v
        return _jsonable(out)  # type: ignore[no-any-return]


@dataclass
class SubmitResult:
    """What a submission became: a claim waiting for review, or posted at once; or no points."""

    status: str  # pending | posted | duplicate | nothing
    claim: ClaimView | None
    skipped: list[str] = field(default_factory=list)


@dataclass
class NoticeItem:
    """One line of a village's notice board (公示栏); names of deductions are masked."""

    claim_id: int
    rule_id: str
    rule_name: str
    amount: int
    name: str
    household_code: str
    description: str
    status: str
    notice_until: datetime | None
    objections: int


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# ---------------------------------------------------------------- helpers shared by the workflows
def county_tz(ledger: Ledger, conn: Connection | None = None) -> ZoneInfo:
    """The county's time zone from the latest rules (Asia/Shanghai before any is published)."""
    latest = ledger.versions(conn).latest()
    return latest.timezone if latest else ZoneInfo("Asia/Shanghai")


def need_reason(reason: str | None) -> str:
    """A non-blank reason, or refuse."""
    text = (reason or "").strip()
    if not text:
        raise ServiceError("wf_reason_required", field="reason")
    return text


def refuse_read_only(actor: Actor) -> None:
    """Auditors (and the shop counter) never change claims."""
    if actor.role in ("auditor", "shopkeeper"):
        raise Forbidden("wf_read_only")


def actor_village(conn: Connection, actor: Actor) -> int | None:
    """The actor's village: given, or that of their household."""
    if actor.village_id is not None:
        return actor.village_id
    if actor.household_id is not None:
        return conn.execute(select(Household.village_id).where(Household.id == actor.household_id)).scalar()  # type: ignore[arg-type]
    return None


def person_code(conn: Connection, person_id: int) -> str:
    """A person's code, or NotFound."""
    code = conn.execute(select(Person.code).where(Person.id == person_id)).scalar()  # type: ignore[arg-type]
    if code is None:
        raise NotFound("not_found", field="person")
    return str(code)


def household_code(conn: Connection, household_id: int) -> str:
    """A household's code, or NotFound."""
    code = conn.execute(select(Household.code).where(Household.id == household_id)).scalar()  # type: ignore[arg-type]
    if code is None:
        raise NotFound("not_found", field="household")
    return str(code)


def linked(conn: Connection, member_id: int, household_id: int, day: date) -> bool:
    """Whether a member looks after a household on a day (党员联户)."""
    rows = conn.execute(select(Linkage.valid_from, Linkage.valid_to).where(
        Linkage.member_id == member_id, Linkage.household_id == household_id)).all()  # type: ignore[arg-type]
    return any(f <= day and (t is None or day < t) for f, t in rows)


def grid_of(conn: Connection, household_id: int, day: date) -> int | None:
    """A household's grid on a day."""
    rows = conn.execute(select(HouseholdGrid.valid_from, HouseholdGrid.valid_to, HouseholdGrid.grid_id).where(
        HouseholdGrid.household_id == household_id)).all()  # type: ignore[arg-type]
    return next((g for f, t, g in rows if f <= day and (t is None or day < t)), None)


def record_one(ledger: Ledger, inc: Incoming) -> RecordResult:
    """Record one event through the ledger; refuse with its problems when the ledger rejects it."""
    result = ledger.record([inc])[0]
    if result.status == "rejected":
        raise Invalid(result.problems)
    return result


def _rule(ledger: Ledger, version: str, rule_id: str) -> Rule | None:
    ruleset = ledger.ruleset_by_hash(version) or ledger.versions().latest()
    return ruleset.rules.get(rule_id) if ruleset else None


def _log(conn: Connection, claim_id: int, action: str, src: str, dst: str, actor: Actor, at: datetime,
         reason: str = "", **detail: Any) -> None:
    conn.execute(TRANSITION.insert(), [{
        "claim_id": claim_id, "action": action, "from_status": src, "to_status": dst, "actor": actor.username,
        "actor_role": actor.role, "at": at, "reason": reason,
        "detail": json.dumps(_jsonable(detail), ensure_ascii=False),
    }])


def _move(conn: Connection, claim: Any, sources: Sequence[str], dst: str, action: str, now: datetime, **values: Any) -> None:
    """Move a claim to ``dst`` only if it is still in one of ``sources``; else someone was first."""
    done = conn.execute(update(CLAIM).where(CLAIM.c.id == claim["id"], CLAIM.c.status.in_(list(sources)))
                        .values(status=dst, updated_at=now, **values))
    if done.rowcount != 1:
        current = conn.execute(select(CLAIM.c.status).where(CLAIM.c.id == claim["id"])).scalar() or claim["status"]
        raise Conflict("wf_state", status=STATUS_NAMES.get(current, (current, current)),
                       action=_ACTION_NAMES.get(action, (action, action)))


def _load(conn: Connection, claim_id: int) -> Any:
    row = conn.execute(select(CLAIM).where(CLAIM.c.id == claim_id)).mappings().first()
    if row is None:
        raise NotFound("not_found", field="claim")
    return row


def _state_error(claim: Any, action: str) -> Conflict:
    s = claim["status"]
    return Conflict("wf_state", status=STATUS_NAMES.get(s, (s, s)), action=_ACTION_NAMES.get(action, (action, action)))


def _today(conn: Connection, ledger: Ledger) -> date:
    """The county's local date now."""
    return local_date(ledger.clock(), county_tz(ledger, conn))


def _linked_today(conn: Connection, ledger: Ledger, actor: Actor) -> set[int]:
    """Households a Party member is linked to today (党员联户); none for any other role."""
    if actor.role != "party_member" or actor.person_id is None:
        return set()
    day = _today(conn, ledger)
    return set(conn.execute(select(Linkage.household_id).where(  # type: ignore[call-overload]
        Linkage.member_id == actor.person_id, Linkage.valid_from <= day,
        or_(Linkage.valid_to.is_(None), Linkage.valid_to > day))).scalars())  # type: ignore[union-attr, operator]


def _visible(conn: Connection, ledger: Ledger, actor: Actor, claim: Any) -> bool:
    """Whether the actor may read a claim (its people, amounts, photos); callers answer 404 otherwise.

    Whoever entered it and the person it is about; then the household's sight (``Actor.sees_household``):
    a villager their household, a Party member their own household and those linked to them today,
    village staff their village, the county roles all. A shopkeeper reads no claims.
    """
    if actor.role == "shopkeeper":
        return False
    if actor.username and claim["entered_by"] == actor.username:
        return True
    if actor.person_id is not None and claim["person_id"] == actor.person_id:
        return True
    hid = claim["household_id"]
    near: set[int] = set()
    if actor.role == "party_member" and actor.person_id is not None and hid is not None and hid != actor.household_id:
        near = {hid} if linked(conn, actor.person_id, hid, _today(conn, ledger)) else set()
    return actor.sees_household(hid, claim["village_id"], near)


def _require_village_reviewer(actor: Actor, claim: Any) -> None:
    """Only a reviewer of the claim's own village (or an administrator) decides on it."""
    if actor.role not in REVIEWER_ROLES or (actor.role != "admin" and actor.village_id != claim["village_id"]):
        raise Forbidden("wf_not_reviewer")


def _check_reviewer(actor: Actor, claim: Any) -> None:
    refuse_read_only(actor)
    _require_village_reviewer(actor, claim)
    if claim["entered_by"] == actor.username:
        raise Forbidden("wf_maker_checker")
    if (actor.person_id is not None and claim["person_id"] == actor.person_id) or (
            actor.household_id is not None and claim["household_id"] == actor.household_id):
        raise Forbidden("wf_own_subject")


# ---------------------------------------------------------------- evidence
def check_uploads(files: Sequence[Upload], config: WorkflowConfig) -> list[tuple[Upload, str, str]]:
    """Refuse files that are too big or not photos (by content, not by name); (file, mime, ext)."""
    if len(files) > config.max_files:
        raise ServiceError("wf_evidence_many", field="evidence", max=config.max_files)
    checked = []
    for f in files:
        name = _clean_name(f.name)
        if len(f.data) > config.max_upload_bytes:
            raise ServiceError("wf_evidence_big", field="evidence", name=name, size=f"{len(f.data) / 1048576:.1f}",
                               max=f"{config.max_upload_bytes / 1048576:g}")
        kind = filetype.guess(f.data) if f.data else None
        if kind is None or kind.mime not in IMAGE_TYPES:
            raise ServiceError("wf_evidence_type", field="evidence", name=name)
        checked.append((f, kind.mime, IMAGE_TYPES[kind.mime]))
    return checked


def _clean_name(name: str) -> str:
    base = Path(name or "photo").name
    return re.sub(r"[\x00-\x1f/\\]", "_", base)[:120] or "photo"


def _store_files(checked: list[tuple[Upload, str, str]], config: WorkflowConfig) -> list[dict[str, Any]]:
    """Write photos under the upload folder, named by content hash (the same photo is kept once)."""
    rows = []
    for f, mime, ext in checked:
        digest = hashlib.sha256(f.data).hexdigest()
        rel = f"{digest[:2]}/{digest}.{ext}"
        target = config.upload_dir / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(f.data)
            os.replace(tmp, target)
        rows.append({"filename": _clean_name(f.name), "path": rel, "content_type": mime, "size": len(f.data), "sha256": digest})
    return rows


def add_evidence(ledger: Ledger, actor: Actor, claim_id: int, files: Sequence[Upload],
                 config: WorkflowConfig | None = None) -> list[int]:
    """Attach more photos to a claim still under review or on notice (its enterer or a reviewer)."""
    config = config or WorkflowConfig.from_env()
    refuse_read_only(actor)
    checked = check_uploads(files, config)
    with ledger.write_engine.begin() as conn:
        claim = _load(conn, claim_id)
        if not _visible(conn, ledger, actor, claim):
            raise NotFound("not_found", field="claim")
        if claim["entered_by"] != actor.username and actor.role not in REVIEWER_ROLES:
            raise Forbidden("forbidden")
        if claim["status"] not in (SUBMITTED, APPROVED, ON_NOTICE, OBJECTED):
            raise _state_error(claim, "notice")
        return _attach(conn, claim_id, checked, actor, ledger.clock(), config)


def _attach(conn: Connection, claim_id: int, checked: list[tuple[Upload, str, str]], actor: Actor,
            now: datetime, config: WorkflowConfig) -> list[int]:
    ids = []
    for row in _store_files(checked, config):
        res = conn.execute(EVIDENCE.insert().values(claim_id=claim_id, uploaded_by=actor.username, uploaded_at=now, **row))
        ids.append(int(res.inserted_primary_key[0]))
    return ids


def evidence_file(ledger: Ledger, actor: Actor, evidence_id: int, config: WorkflowConfig | None = None) -> tuple[Path, str, str]:
    """(path on disk, content type, file name) of a photo the actor may see, for the web to send."""
    config = config or WorkflowConfig.from_env()
    with ledger.engine.connect() as conn:
        ev = conn.execute(select(EVIDENCE).where(EVIDENCE.c.id == evidence_id)).mappings().first()
        if ev is None or not _visible(conn, ledger, actor, _load(conn, ev["claim_id"])):
            raise NotFound("not_found", field="evidence")
        return config.upload_dir / ev["path"], ev["content_type"], ev["filename"]


# ---------------------------------------------------------------- submitting
def check_entry(conn: Connection, actor: Actor, rule: Rule, household_id: int | None, person_id: int | None,
                day: date, *, about_self: bool = True, subject_field: str | None = None) -> None:
    """May this actor enter this rule for this person and household? (rules file roles, then scope).

    The one entry check of every path that records points for a caller: claims (``submit``) and
    the API's events. ``household_id`` is the household concerned (named, or the person's home
    that day). ``about_self=False`` also refuses a record about the actor itself or its household
    (``wf_self_entry``): the API's events pass it for every event type but the 党员联户 (``linked``)
    ones, which a Party member records about itself by design. Raises ``Forbidden`` or
    ``ServiceError`` naming the field at fault; ``subject_field`` names the input the household
    concerned came from (``person`` when it is the named person's home), for the scope refusals.
    """
    _check_role(actor, rule)
    if household_id is None:
        raise ServiceError("wf_subject_required", field="person")
    if not about_self and ((actor.person_id is not None and actor.person_id == person_id)
                           or (actor.household_id is not None and actor.household_id == household_id)):
        raise Forbidden("wf_self_entry", field="person", rule=rule.id, name=rule.names())
    if actor.role == "admin":
        return
    if actor.role == "villager":
        if actor.household_id != household_id:
            raise Forbidden("wf_villager_own", field=subject_field or "person")
        return
    if actor.role == "party_member":
        own = actor.person_id is not None and actor.person_id == person_id
        if not own and not (actor.person_id is not None and linked(conn, actor.person_id, household_id, day)):
            raise Forbidden("wf_member_linked", field=subject_field or "household")
        return
    if not _household_in_sight(conn, actor, household_id, day):
        raise Forbidden("wf_out_of_scope", field=subject_field or "household")


def _check_role(actor: Actor, rule: Rule) -> None:
    """The rules file's roles for a rule (``roles`` of its approval; none named: any staff role); never a read-only one."""
    refuse_read_only(actor)
    allowed = rule.roles or STAFF_ROLES
    if actor.role not in allowed and actor.role != "admin":
        raise Forbidden("wf_role_refused", field="rule", role=actor.role, rule=rule.id, name=rule.names())


def _household_in_sight(conn: Connection, actor: Actor, household_id: int, day: date) -> bool:
    """Whether an enterer may name this household on a day: the enterer's scope, as ``check_entry`` applies it.

    A villager their household; a Party member their own household and those linked to them that day;
    a grid worker the households of their grid; other village staff their village; the county roles all.
    """
    if actor.county_wide:
        return True
    if actor.role == "villager":
        return household_id == actor.household_id
    if actor.role == "party_member":
        return household_id == actor.household_id or (actor.person_id is not None and linked(conn, actor.person_id, household_id, day))
    if actor.role == "grid_worker" and actor.grid_id is not None:
        return grid_of(conn, household_id, day) == actor.grid_id
    village = conn.execute(select(Household.village_id).where(Household.id == household_id)).scalar()  # type: ignore[arg-type]
    return actor.village_id is not None and village == actor.village_id


def _unknown_or_out_of_sight(actor: Actor, field: str, value: str) -> ServiceError:
    """The one answer for a code that does not exist and for one outside the enterer's sight (nothing leaks)."""
    if actor.county_wide:
        return ServiceError(f"unknown_{field}", field=field, value=value)
    sight = {"villager": "own", "party_member": "linked"}.get(actor.role, "area")
    return ServiceError(f"wf_no_{field}_{sight}", field=field, value=value)


def submit(ledger: Ledger, actor: Actor, rule_id: str, *, person: str | None = None, household: str | None = None,
           occurred_at: datetime | str | None = None, description: str = "", fields: dict[str, Any] | None = None,
           points: Any = None, evidence: Sequence[Upload] = (), key: str | None = None, source: str = "web",
           config: WorkflowConfig | None = None, lang: str = "zh") -> SubmitResult:
    """Declare (申报) an item of the rule table for a villager (``person`` code) or a household.

    ``points`` is the proposed amount for a range rule; ``key`` makes a retry safe (the same key
    is recorded once). Rules that need approval wait as ``submitted``; the others post at once.
    The claim (and why it scored nothing) is told in ``lang``.
    """
    config = config or WorkflowConfig.from_env()
    now = ledger.clock()
    versions = ledger.versions()
    tz = county_tz(ledger)
    try:
        moment = parse_moment(occurred_at, tz) if occurred_at not in (None, "") else now
    except ValueError:
        raise ServiceError("event_time", field="occurred_at", value=occurred_at) from None
    if moment > now + timedelta(minutes=5):
        raise ServiceError("wf_in_future", field="occurred_at", value=moment.astimezone(tz).strftime("%Y-%m-%d %H:%M"))
    day = local_date(moment, tz)
    ruleset: Ruleset | None = versions.at(day)
    if ruleset is None and versions.versions:  # before the first rules: no rule applies, whichever was asked for
        first = versions.versions[0].effective.isoformat()
        raise ServiceError("wf_before_rules", field="occurred_at", day=day.isoformat(), first=first)
    rule = ruleset.rules.get(rule_id) if ruleset else None
    if rule is None:
        raise NotFound("wf_unknown_rule", field="rule", rule=rule_id)
    try:
        chosen = parse_points_field(points)
    except ValueError:
        raise ServiceError("bad_amount", field="points", value=points) from None
    assert ruleset is not None
    _check_role(actor, rule)  # before any code is looked up: the answer may not depend on what exists
    event_type = ruleset.event_types[rule.event_type]
    if event_type.subject == "person" and not person:  # its points go to that villager (or their household)
        raise ServiceError("wf_person_required", field="person", rule=rule.id, name=rule.names())
    if not person and not household:
        raise ServiceError("wf_subject_required", field="person")
    with ledger.engine.connect() as conn:
        directory = Directory(conn)
        directory.prepare([person] if person else [], [household] if household else [])
        pid = directory.person_ids.get(person) if person else None
        hid = directory.household_ids.get(household) if household else None
        home = directory.home(pid, day) if pid is not None else None
        # A code outside the enterer's sight is answered exactly as one that does not exist, on its own field.
        household_seen = hid is not None and _household_in_sight(conn, actor, hid, day)
        if person and (pid is None or not (
                pid == actor.person_id or (home is not None and _household_in_sight(conn, actor, home, day))
                # 党员联户 types name the Party member who looks after the household concerned
                or (event_type.linked and household_seen and linked(conn, pid, hid, day)))):  # type: ignore[arg-type]
            raise _unknown_or_out_of_sight(actor, "person", person)
        if household and not household_seen:
            raise _unknown_or_out_of_sight(actor, "household", household)
        concerned = hid if hid is not None else home
        # A claim about oneself (one's household) goes through review: allowed for a rule that needs
        # approval, which puts it on notice, or for one's own household-linking work; never for a rule
        # that would post at once (a member crediting its own tally, a villager its own balance).
        check_entry(conn, actor, rule, concerned, pid, day, about_self=rule.approval or event_type.linked,
                    subject_field="household" if hid is not None else "person")
    checked = check_uploads(evidence, config)
    key = key or f"claim:{uuid.uuid4().hex}"
    record = {"id": key, "type": rule.event_type, "occurred_at": moment.isoformat(), "person": person, "household": household,
              "fields": fields or {}, "rule": rule_id, "points": fmt(chosen) if chosen is not None else None,
              "actor": actor.username, "description": description, "source": source}
    inc = to_incoming(key, record, tz, source, actor.username)
    if isinstance(inc, list):
        raise Invalid(inc)
    inc.entered_role, inc.payload = actor.role, json.dumps(record, ensure_ascii=False)
    # The event, its claim, the first transition and the evidence commit together or not at all.
    with ledger.write_engine.begin() as conn:
        result = ledger.record_in(conn, [inc])[0]
        if result.status == "rejected":
            raise Invalid(result.problems)
        if result.status == "nothing":
            reasons = [render(step.code, lang, **step.params) for _, step in result.skipped]
            return SubmitResult("nothing", None, reasons)
        claim = conn.execute(select(CLAIM).where(CLAIM.c.event_key == key)).mappings().first()
        if result.status == "duplicate":
            if claim is None:
                raise Conflict("duplicate_event", field="key", value=key)
            if conn.execute(select(TRANSITION.c.id).where(TRANSITION.c.claim_id == claim["id"])).first():
                return SubmitResult("duplicate", _view(conn, ledger, claim, full=True, lang=lang))
        if claim is None:  # posted at once: keep a claim so the entry can be appealed and explained
            claim = _claim_for_posted(conn, ledger, inc, actor, description, now, config)
            _log(conn, claim["id"], "submit", "", POSTED, actor, now, "", note="no review needed", entry=claim["entry_id"])
        else:
            _log(conn, claim["id"], "submit", "", SUBMITTED, actor, now, "")
        _attach(conn, claim["id"], checked, actor, now, config)
        claim = _load(conn, claim["id"])
        return SubmitResult(POSTED if claim["status"] == POSTED else "pending", _view(conn, ledger, claim, full=True, lang=lang))


def _claim_for_posted(conn: Connection, ledger: Ledger, inc: Incoming, actor: Actor, description: str,
                      now: datetime, config: WorkflowConfig) -> Any:
    entry = conn.execute(select(ENTRY).where(ENTRY.c.event_key == inc.key, ENTRY.c.rule_id == inc.rule)).mappings().first()
    assert entry is not None, "the ledger reported an entry it did not write"
    household_id = entry["holder_id"] if entry["holder_kind"] == "h" else None
    if household_id is None and entry["person_id"] is not None:
        directory = Directory(conn)
        directory.load_people([entry["person_id"]])
        household_id = directory.home(entry["person_id"], entry["local_day"])
    row = {
        "key": entry["key"], "event_key": inc.key, "rule_id": entry["rule_id"], "rules_version": entry["rules_version"],
        "point_type": entry["point_type"], "holder_kind": entry["holder_kind"], "holder_id": entry["holder_id"],
        "person_id": entry["person_id"], "household_id": household_id, "village_id": entry["village_id"],
        "branch_id": entry["branch_id"], "amount": entry["amount"], "status": POSTED, "description": description,
        "entered_by": actor.username, "entered_role": actor.role, "reviewed_by": "", "reason": "", "notice_days": 0,
        "occurred_at": entry["occurred_at"], "created_at": now, "entry_id": entry["id"], "payload": inc.payload,
        "posted_at": now, "appeal_until": now + timedelta(days=config.appeal_days), "updated_at": now,
    }
    conn.execute(CLAIM.insert(), [row])
    return _load(conn, conn.execute(select(CLAIM.c.id).where(CLAIM.c.key == entry["key"])).scalar_one())


# ---------------------------------------------------------------- review
def approve(ledger: Ledger, actor: Actor, claim_id: int, amount: Any = None, note: str = "",
            start_notice: bool = True, config: WorkflowConfig | None = None, lang: str = "zh") -> ClaimView:
    """审核通过. For a range rule the reviewer may set ``amount`` within the range.

    The claim then goes on notice for its rule's days (at once, unless ``start_notice`` is
    False: it waits as ``approved`` until ``start_notice`` is called for it); with no notice
    days it posts at once. The claim comes back named in ``lang``.
    """
    config = config or WorkflowConfig.from_env()
    now = ledger.clock()
    with ledger.write_engine.begin() as conn:
        claim = _load(conn, claim_id)
        if not _visible(conn, ledger, actor, claim):
            raise NotFound("not_found", field="claim")
        _check_reviewer(actor, claim)
        if claim["status"] != SUBMITTED:
            raise _state_error(claim, "approve")
        rule = _rule(ledger, claim["rules_version"], claim["rule_id"])
        bounds = rule.points_range if rule else None
        values: dict[str, Any] = {"reviewed_by": actor.username, "reviewed_at": now, "reason": note.strip()}
        detail: dict[str, Any] = {}
        if amount not in (None, ""):
            try:
                chosen = parse_points_field(amount)
            except ValueError:
                raise ServiceError("bad_amount", field="amount", value=amount) from None
            if bounds is None:
                if chosen != claim["amount"]:
                    raise ServiceError("wf_amount_fixed", field="amount", rule=claim["rule_id"])
            else:
                step = ledger.versions().latest().point_types[claim["point_type"]].step  # type: ignore[union-attr]
                if chosen is None or not bounds[0] <= chosen <= bounds[1] or chosen % step:
                    raise ServiceError("wf_amount_range", field="amount", low=fmt(bounds[0]), high=fmt(bounds[1]), step=fmt(step))
                values["amount"] = chosen
                detail = {"amount": fmt(chosen), "proposed": fmt(claim["amount"])}
        if bounds is not None:
            values["points_chosen"] = values.get("amount", claim["amount"])
        _move(conn, claim, [SUBMITTED], APPROVED, "approve", now, **values)
        _log(conn, claim_id, "approve", SUBMITTED, APPROVED, actor, now, note.strip(), **detail)
        if start_notice:
            _begin_notice(conn, ledger, _load(conn, claim_id), actor, now, config)
        return _view(conn, ledger, _load(conn, claim_id), full=True, lang=lang)


def start_notice(ledger: Ledger, actor: Actor, claim_ids: Iterable[int], config: WorkflowConfig | None = None) -> int:
    """Put approved claims on the notice board (公示) now; how many started."""
    config = config or WorkflowConfig.from_env()
    now = ledger.clock()
    n = 0
    with ledger.write_engine.begin() as conn:
        for cid in claim_ids:
            claim = _load(conn, cid)
            _require_village_reviewer(actor, claim)
            if claim["status"] != APPROVED:
                raise _state_error(claim, "notice")
            _begin_notice(conn, ledger, claim, actor, now, config)
            n += 1
    return n


def _begin_notice(conn: Connection, ledger: Ledger, claim: Any, actor: Actor, now: datetime, config: WorkflowConfig) -> None:
    if claim["notice_days"] <= 0:
        post_claim(conn, ledger, claim, actor, now, config, APPROVED)
        return
    until = now + timedelta(days=claim["notice_days"])
    _move(conn, claim, [APPROVED], ON_NOTICE, "notice", now, notice_until=until)
    _log(conn, claim["id"], "notice", APPROVED, ON_NOTICE, actor, now, "", until=until, days=claim["notice_days"])


def reject(ledger: Ledger, actor: Actor, claim_id: int, reason: str, lang: str = "zh") -> ClaimView:
    """驳回, with the reason the villager will read; the claim comes back named in ``lang``."""
    reason = need_reason(reason)
    now = ledger.clock()
    with ledger.write_engine.begin() as conn:
        claim = _load(conn, claim_id)
        if not _visible(conn, ledger, actor, claim):
            raise NotFound("not_found", field="claim")
        _check_reviewer(actor, claim)
        if claim["status"] != SUBMITTED:
            raise _state_error(claim, "reject")
        _move(conn, claim, [SUBMITTED], REJECTED, "reject", now, reviewed_by=actor.username, reviewed_at=now, reason=reason)
        _log(conn, claim_id, "reject", SUBMITTED, REJECTED, actor, now, reason)
        return _view(conn, ledger, _load(conn, claim_id), full=True, lang=lang)


# ---------------------------------------------------------------- posting
def incoming_of(claim: Any, tz: ZoneInfo) -> Incoming:
    """Rebuild a claim's event for posting, from the record kept with it (as sent or as submitted)."""
    data = json.loads(claim["payload"] or "{}")
    data.setdefault("id", claim["event_key"])
    inc = to_incoming(claim["event_key"], data, tz, str(data.get("source") or "web"), claim["entered_by"])
    if isinstance(inc, list):
        raise Invalid(inc)
    inc.key, inc.rule = claim["event_key"], claim["rule_id"]
    if claim["points_chosen"] is not None:
        inc.points = claim["points_chosen"]
    inc.actor, inc.approved_by = claim["entered_by"], claim["reviewed_by"]
    return inc


def post_claim(conn: Connection, ledger: Ledger, claim: Any, actor: Actor, now: datetime, config: WorkflowConfig,
               src: str = ON_NOTICE, reason: str = "") -> int | None:
    """Post a reviewed claim as a ledger entry inside the caller's transaction; the entry id (None if it scored 0)."""
    _move(conn, claim, [src], POSTED, "post", now, posted_at=now, appeal_until=now + timedelta(days=config.appeal_days))
    result = ledger.post_approved(conn, incoming_of(claim, county_tz(ledger, conn)))
    if result.status == "rejected":
        raise Invalid(result.problems)
    entry_id = conn.execute(select(ENTRY.c.id).where(ENTRY.c.key == claim["key"])).scalar()
    amount = conn.execute(select(ENTRY.c.amount).where(ENTRY.c.id == entry_id)).scalar() if entry_id else 0
    conn.execute(update(CLAIM).where(CLAIM.c.id == claim["id"]).values(entry_id=entry_id))
    skipped = [render(s.code, "zh", **s.params) for _, s in result.skipped]
    _log(conn, claim["id"], "post", src, POSTED, actor, now, reason or ("公示期满无异议" if src == ON_NOTICE else ""),
         entry=entry_id, amount=fmt(int(amount or 0)), skipped=skipped)
    return int(entry_id) if entry_id else None


def due_claims(conn: Connection, now: datetime) -> list[int]:
    """Claims whose notice ended without an open objection, as of ``now``."""
    return list(conn.execute(select(CLAIM.c.id).where(CLAIM.c.status == ON_NOTICE, CLAIM.c.notice_until <= now)
                             .order_by(CLAIM.c.notice_until, CLAIM.c.id)).scalars())


# ---------------------------------------------------------------- objections (异议)
def object_to(ledger: Ledger, actor: Actor, claim_id: int, reason: str, key: str | None = None) -> int:
    """Object to a claim on notice (anyone of the same village); the claim waits until it is decided.

    ``key`` makes a retry safe: the same actor sending the same key for the claim again gets the
    first objection's id back and nothing is recorded twice (see ``object_once``).
    """
    return object_once(ledger, actor, claim_id, reason, key)[0]


def object_once(ledger: Ledger, actor: Actor, claim_id: int, reason: str, key: str | None = None) -> tuple[int, bool]:
    """``object_to`` that also says whether the objection was a replay of an earlier one with the same ``key``."""
    reason = need_reason(reason)
    refuse_read_only(actor)
    now = ledger.clock()
    with ledger.write_engine.begin() as conn:
        # One objection at a time per claim (PostgreSQL row lock; SQLite holds its write lock already),
        # so two copies of one request cannot both miss the first one's key.
        conn.execute(select(CLAIM.c.id).where(CLAIM.c.id == claim_id).with_for_update())
        claim = _load(conn, claim_id)
        if key:
            prior = _objection_for_key(conn, claim_id, actor, key)
            if prior is not None:
                return prior, True
        # A claim that was never on a notice board (public to all) and that one may not read is answered
        # as one that does not exist: not "another village", not "still under review".
        public = claim["notice_until"] is not None and claim["status"] in (ON_NOTICE, OBJECTED, POSTED, APPEALED, REVERSED)
        if not public and not _visible(conn, ledger, actor, claim):
            raise NotFound("not_found", field="claim")
        if not actor.county_wide and actor_village(conn, actor) != claim["village_id"]:
            raise Forbidden("wf_objection_village")
        until = aware(claim["notice_until"])
        if claim["status"] not in (ON_NOTICE, OBJECTED) or until is None or now >= until:
            if until is not None and claim["status"] in (ON_NOTICE, OBJECTED, POSTED, APPEALED, REVERSED, WITHDRAWN):
                raise Conflict("wf_objection_closed", until=until.astimezone(county_tz(ledger, conn)).strftime("%Y-%m-%d %H:%M"))
            raise _state_error(claim, "object")
        res = conn.execute(OBJECTION.insert().values(claim_id=claim_id, raised_by=actor.username, raised_role=actor.role,
                                                     reason=reason, raised_at=now, status="open"))
        oid = int(res.inserted_primary_key[0])
        if claim["status"] == ON_NOTICE:
            _move(conn, claim, [ON_NOTICE], OBJECTED, "object", now)
        _log(conn, claim_id, "object", claim["status"], OBJECTED, actor, now, reason, objection=oid, **({"key": key} if key else {}))
        return oid, False


def _objection_for_key(conn: Connection, claim_id: int, actor: Actor, key: str) -> int | None:
    """The objection this actor already raised on the claim with this request key, if any."""
    rows = conn.execute(select(TRANSITION.c.detail).where(TRANSITION.c.claim_id == claim_id, TRANSITION.c.action == "object",
                                                          TRANSITION.c.actor == actor.username))
    for (detail,) in rows:
        data = json.loads(detail or "{}")
        if data.get("key") == key and data.get("objection") is not None:
            return int(data["objection"])
    return None


def resolve_objection(ledger: Ledger, actor: Actor, objection_id: int, upheld: bool, reason: str,
                      config: WorkflowConfig | None = None, lang: str = "zh") -> ClaimView:
    """Decide an objection: upheld withdraws the claim; dismissed lets it post when notice ends (the claim named in ``lang``)."""
    config = config or WorkflowConfig.from_env()
    reason = need_reason(reason)
    now = ledger.clock()
    with ledger.write_engine.begin() as conn:
        obj = conn.execute(select(OBJECTION).where(OBJECTION.c.id == objection_id)).mappings().first()
        if obj is None:
            raise NotFound("not_found", field="objection")
        claim = _load(conn, obj["claim_id"])
        refuse_read_only(actor)
        _require_village_reviewer(actor, claim)
        if obj["raised_by"] == actor.username:
            raise Forbidden("wf_objection_own")
        status = "upheld" if upheld else "dismissed"
        done = conn.execute(update(OBJECTION).where(OBJECTION.c.id == objection_id, OBJECTION.c.status == "open")
                            .values(status=status, decided_by=actor.username, decided_at=now, decision=reason))
        if done.rowcount != 1:
            raise Conflict("wf_objection_done")
        if upheld:
            _move(conn, claim, [OBJECTED, ON_NOTICE], WITHDRAWN, "resolve", now)
            conn.execute(update(OBJECTION).where(OBJECTION.c.claim_id == claim["id"], OBJECTION.c.status == "open")
                         .values(status="closed", decided_by=actor.username, decided_at=now, decision=reason))
            _log(conn, claim["id"], "uphold_objection", claim["status"], WITHDRAWN, actor, now, reason, objection=objection_id)
        else:
            still_open = conn.execute(select(OBJECTION.c.id).where(OBJECTION.c.claim_id == claim["id"], OBJECTION.c.status == "open")).first()
            if still_open:
                _log(conn, claim["id"], "dismiss_objection", claim["status"], claim["status"], actor, now, reason, objection=objection_id)
            else:
                _move(conn, claim, [OBJECTED], ON_NOTICE, "resolve", now)
                _log(conn, claim["id"], "dismiss_objection", OBJECTED, ON_NOTICE, actor, now, reason, objection=objection_id)
                until = aware(claim["notice_until"])
                if until is not None and now >= until:  # notice ran out while the objection was heard
                    post_claim(conn, ledger, _load(conn, claim["id"]), actor, now, config)
        return _view(conn, ledger, _load(conn, claim["id"]), full=True, lang=lang)


# ---------------------------------------------------------------- appeals (申诉)
def appeal(ledger: Ledger, actor: Actor, claim_id: int, reason: str) -> int:
    """Appeal a posted claim within the appeal window (the person, their household or village officers)."""
    reason = need_reason(reason)
    refuse_read_only(actor)
    now = ledger.clock()
    with ledger.write_engine.begin() as conn:
        claim = _load(conn, claim_id)
        concerned = (actor.person_id is not None and actor.person_id == claim["person_id"]) or (
            actor.role == "villager" and actor.household_id is not None and actor.household_id == claim["household_id"])
        officer = actor.role == "admin" or (actor.role in REVIEWER_ROLES and actor.village_id == claim["village_id"])
        if not (concerned or officer):
            if not _visible(conn, ledger, actor, claim):
                raise NotFound("not_found", field="claim")
            raise Forbidden("wf_appeal_who")
        if claim["status"] != POSTED or claim["entry_id"] is None:
            raise _state_error(claim, "appeal")
        until = aware(claim["appeal_until"])
        if until is not None and now > until:
            raise Conflict("wf_appeal_closed", until=until.astimezone(county_tz(ledger, conn)).strftime("%Y-%m-%d"))
        res = conn.execute(APPEAL.insert().values(claim_id=claim_id, entry_id=claim["entry_id"], raised_by=actor.username,
                                                  raised_role=actor.role, reason=reason, raised_at=now, status="open"))
        aid = int(res.inserted_primary_key[0])
        _move(conn, claim, [POSTED], APPEALED, "appeal", now)
        _log(conn, claim_id, "appeal", POSTED, APPEALED, actor, now, reason, appeal=aid)
        return aid


def resolve_appeal(ledger: Ledger, actor: Actor, appeal_id: int, upheld: bool, reason: str, lang: str = "zh") -> ClaimView:
    """Decide an appeal: upheld writes an entry reversing the claim's entry; dismissed keeps it (the claim named in ``lang``)."""
    reason = need_reason(reason)
    with ledger.engine.connect() as conn:
        ap = conn.execute(select(APPEAL).where(APPEAL.c.id == appeal_id)).mappings().first()
        if ap is None:
            raise NotFound("not_found", field="appeal")
        claim = _load(conn, ap["claim_id"])
        refuse_read_only(actor)
        _require_village_reviewer(actor, claim)
        if ap["raised_by"] == actor.username:
            raise Forbidden("wf_appeal_own")
        if ap["status"] != "open":
            raise Conflict("wf_appeal_done")
        if claim["status"] != APPEALED:
            raise _state_error(claim, "resolve")
    now = ledger.clock()
    with ledger.write_engine.begin() as conn:
        # The decision first: a second decider waits on this row and then finds it decided. The reversal
        # rides in the same transaction, so an appeal is never dismissed with its entry reversed.
        status = "upheld" if upheld else "dismissed"
        done = conn.execute(update(APPEAL).where(APPEAL.c.id == appeal_id, APPEAL.c.status == "open")
                            .values(status=status, decided_by=actor.username, decided_at=now, decision=reason))
        if done.rowcount != 1:
            raise Conflict("wf_appeal_done")
        reversal = None
        if upheld:
            try:
                reversal = ledger.reverse_in(conn, ap["entry_id"], actor.username, reason, source="appeal")
            except ReversalRefused as exc:
                if exc.reason != "already":
                    raise Conflict("wf_appeal_unreversible") from exc
                # reversed already by hand: the appeal points at that reversal
                reversal = conn.execute(select(ENTRY.c.id).where(ENTRY.c.key == f"rev:{ap['entry_id']}")).scalar()
            conn.execute(update(APPEAL).where(APPEAL.c.id == appeal_id).values(reversal_entry_id=reversal))
        dst = REVERSED if upheld else POSTED
        _move(conn, claim, [APPEALED], dst, "resolve", now, **({"reversal_entry_id": reversal} if upheld else {}))
        _log(conn, claim["id"], "uphold_appeal" if upheld else "dismiss_appeal", APPEALED, dst, actor, now, reason,
             appeal=appeal_id, reversal=reversal)
        return _view(conn, ledger, _load(conn, claim["id"]), full=True, lang=lang)


# ---------------------------------------------------------------- reading
def _names(conn: Connection, claims: Sequence[Any]) -> tuple[dict[int, str], dict[int, tuple[str, str]]]:
    pids = sorted({c["person_id"] for c in claims if c["person_id"] is not None})
    hids = sorted({c["household_id"] for c in claims if c["household_id"] is not None})
    people = dict(conn.execute(select(Person.id, Person.name).where(Person.id.in_(pids))).all()) if pids else {}  # type: ignore[attr-defined, arg-type]
    homes = {r.id: (r.code, r.head_name) for r in conn.execute(
        select(Household.id, Household.code, Household.head_name).where(Household.id.in_(hids)))} if hids else {}  # type: ignore[attr-defined]
    return people, homes  # type: ignore[return-value]


def _view(conn: Connection, ledger: Ledger, claim: Any, full: bool = False,
          names: tuple[dict[int, str], dict[int, tuple[str, str]]] | None = None, lang: str = "zh") -> ClaimView:
    """A claim as shown, its rule and household named in ``lang`` (the rule as the claim's rules version names it)."""
    people, homes = names or _names(conn, [claim])
    rule = _rule(ledger, claim["rules_version"], claim["rule_id"])
    hcode, hhead = homes.get(claim["household_id"], ("", ""))
    view = ClaimView(
        claim["id"], claim["key"], claim["event_key"], claim["status"], claim["rule_id"], rule.label(lang) if rule else "",
        claim["point_type"], claim["amount"], rule.points_range if rule else None, claim["person_id"],
        people.get(claim["person_id"], ""), claim["household_id"], hcode, household_name(hhead, lang) if hhead else "",
        claim["village_id"], claim["branch_id"], claim["description"], claim["entered_by"], claim["entered_role"],
        claim["reviewed_by"], aware(claim["reviewed_at"]), claim["reason"], claim["notice_days"],
        aware(claim["notice_until"]), aware(claim["occurred_at"]), aware(claim["created_at"]),  # type: ignore[arg-type]
        aware(claim["posted_at"]), aware(claim["appeal_until"]), claim["entry_id"], claim["reversal_entry_id"],
    )
    if full:
        view.history = [Transition(r.action, r.from_status, r.to_status, r.actor, r.actor_role, aware(r.at), r.reason,  # type: ignore[arg-type]
                                   json.loads(r.detail or "{}"))
                        for r in conn.execute(select(TRANSITION).where(TRANSITION.c.claim_id == claim["id"]).order_by(TRANSITION.c.id))]
        view.evidence = [{"id": r.id, "filename": r.filename, "content_type": r.content_type, "size": r.size,
                          "uploaded_by": r.uploaded_by, "uploaded_at": aware(r.uploaded_at)}
                         for r in conn.execute(select(EVIDENCE).where(EVIDENCE.c.claim_id == claim["id"]).order_by(EVIDENCE.c.id))]
        view.objections = [{**dict(r), "raised_at": aware(r["raised_at"]), "decided_at": aware(r["decided_at"])}
                           for r in conn.execute(select(OBJECTION).where(OBJECTION.c.claim_id == claim["id"]).order_by(OBJECTION.c.id)).mappings()]
        view.appeals = [{**dict(r), "raised_at": aware(r["raised_at"]), "decided_at": aware(r["decided_at"])}
                        for r in conn.execute(select(APPEAL).where(APPEAL.c.claim_id == claim["id"]).order_by(APPEAL.c.id)).mappings()]
    return view


def get_claim(ledger: Ledger, actor: Actor, claim_id: int, lang: str = "zh") -> ClaimView:
    """One claim with its history, photos, objections and appeals, named in ``lang``; NotFound outside the actor's scope."""
    with ledger.engine.connect() as conn:
        claim = _load(conn, claim_id)
        if not _visible(conn, ledger, actor, claim):
            raise NotFound("not_found", field="claim")
        return _view(conn, ledger, claim, full=True, lang=lang)


def list_claims(ledger: Ledger, actor: Actor, status: str | Sequence[str] | None = None, village_id: int | None = None,
                household_id: int | None = None, limit: int = 50, offset: int = 0, lang: str = "zh") -> list[ClaimView]:
    """Claims the actor may see, newest first, optionally by state, village or household; named in ``lang``."""
    q = select(CLAIM)
    if status:
        q = q.where(CLAIM.c.status.in_([status] if isinstance(status, str) else list(status)))
    if village_id is not None:
        q = q.where(CLAIM.c.village_id == village_id)
    if household_id is not None:
        q = q.where(CLAIM.c.household_id == household_id)
    q = q.order_by(CLAIM.c.created_at.desc(), CLAIM.c.id.desc()).limit(limit).offset(offset)
    with ledger.engine.connect() as conn:
        # The same sight as _visible, as a filter.
        if actor.role == "shopkeeper":
            q = q.where(false())
        elif actor.role == "villager":
            q = q.where(CLAIM.c.household_id == (actor.household_id or -1))
        elif actor.role == "party_member":
            homes = _linked_today(conn, ledger, actor) | ({actor.household_id} if actor.household_id is not None else set())
            q = q.where(or_(CLAIM.c.entered_by == actor.username, CLAIM.c.person_id == (actor.person_id or -1),
                            CLAIM.c.household_id.in_(sorted(homes))))
        elif not actor.county_wide:
            q = q.where((CLAIM.c.village_id == (actor.village_id or -1)) | (CLAIM.c.entered_by == actor.username))
        rows = conn.execute(q).mappings().all()
        names = _names(conn, rows)
        return [_view(conn, ledger, r, names=names, lang=lang) for r in rows]


def review_queue(ledger: Ledger, actor: Actor, limit: int = 100, lang: str = "zh") -> list[ClaimView]:
    """Submitted claims this reviewer may decide (their village; none they entered themselves), named in ``lang``."""
    if actor.role not in REVIEWER_ROLES:
        return []
    q = select(CLAIM).where(CLAIM.c.status == SUBMITTED, CLAIM.c.entered_by != actor.username)
    if actor.role != "admin":
        q = q.where(CLAIM.c.village_id == (actor.village_id or -1))
    with ledger.engine.connect() as conn:
        rows = [r for r in conn.execute(q.order_by(CLAIM.c.created_at, CLAIM.c.id).limit(limit)).mappings()
                if not ((actor.person_id is not None and r["person_id"] == actor.person_id)
                        or (actor.household_id is not None and r["household_id"] == actor.household_id))]
        names = _names(conn, rows)
        return [_view(conn, ledger, r, names=names, lang=lang) for r in rows]


def notice_board(ledger: Ledger, village_id: int, lang: str = "zh") -> list[NoticeItem]:
    """A village's notice board (公示栏): claims on notice or under objection, public to the village.

    Praise is shown by name; deductions with the name masked (张**) and no household code, as the guide asks; ID
    and phone numbers typed into a description are masked. Rules are named in ``lang``.
    """
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(CLAIM).where(CLAIM.c.village_id == village_id, CLAIM.c.status.in_([ON_NOTICE, OBJECTED]))
                            .order_by(CLAIM.c.notice_until, CLAIM.c.id)).mappings().all()
        people, homes = _names(conn, rows)
        counts: dict[int, int] = {}
        if rows:
            for cid in conn.execute(select(OBJECTION.c.claim_id).where(OBJECTION.c.claim_id.in_([r["id"] for r in rows]))).scalars():
                counts[cid] = counts.get(cid, 0) + 1
    out = []
    for r in rows:
        rule = _rule(ledger, r["rules_version"], r["rule_id"])
        name = people.get(r["person_id"], "") or homes.get(r["household_id"], ("", ""))[1]
        praise = r["amount"] > 0  # a masked deduction carries no household code either: the code would name it
        out.append(NoticeItem(r["id"], r["rule_id"], rule.label(lang) if rule else "", r["amount"],
                              name if praise else mask_name(name), homes.get(r["household_id"], ("", ""))[0] if praise else "",
                              mask_numbers(r["description"] or ""), r["status"], aware(r["notice_until"]), counts.get(r["id"], 0)))
    return out


def allowed_actions(actor: Actor, view: ClaimView, now: datetime) -> set[str]:
    """What the actor may do with a claim now (for buttons): approve, reject, object, appeal, resolve."""
    acts: set[str] = set()
    if actor.role in ("auditor", "shopkeeper"):
        return acts
    reviewer = actor.role == "admin" or (actor.role in REVIEWER_ROLES and actor.village_id == view.village_id)
    own = view.entered_by == actor.username or (actor.person_id is not None and actor.person_id == view.person_id)
    if reviewer and not own and view.status == SUBMITTED:
        acts |= {"approve", "reject"}
    if reviewer and view.status == APPROVED:
        acts.add("start_notice")
    if view.status in (ON_NOTICE, OBJECTED) and view.notice_until and now < view.notice_until:
        acts.add("object")
    if reviewer and view.status in (OBJECTED, APPEALED):
        acts.add("resolve")
    concerned = reviewer or (actor.person_id is not None and actor.person_id == view.person_id) or (
        actor.role == "villager" and actor.household_id == view.household_id)
    if concerned and view.status == POSTED and view.entry_id and (view.appeal_until is None or now <= view.appeal_until):
        acts.add("appeal")
    return acts
