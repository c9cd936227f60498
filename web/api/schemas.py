"""marshmallow schemas of every API input and output (the OpenAPI document is generated from them).

Amounts travel as exact decimal strings (``"20"``, ``"0.5"``) and are read with
``scoring.points.parse_amount``: never floats. Query schemas ignore unknown
parameters (``lang`` among them); body schemas refuse unknown fields, so a
misspelt field is reported by name.
"""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from scoring.periods import WINDOWS
from scoring.points import AmountError, fmt, parse_amount
from services.queries import SCOPES
from services.shop import LIMIT_PER, STATUSES
from web.bounds import Int64  # every integer: ids, paging and counts stop at the database's 64 bits


class Points(fields.Field):
    """An exact amount of points: written ``"0.5"`` or ``2``, kept as hundredths (``50``, ``200``)."""

    default_error_messages: ClassVar[dict[str, str]] = {"invalid": "Not an exact amount (at most two decimals)."}

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else fmt(int(value))

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        try:
            return parse_amount(value)
        except AmountError as exc:
            raise self.make_error("invalid") from exc


class Query(Schema):
    """Query parameters: unknown ones (``lang``) are ignored."""

    class Meta:
        unknown = EXCLUDE


class Body(Schema):
    """A JSON body: unknown fields are refused by name."""

    class Meta:
        unknown = RAISE


class Page(Query):
    """Paging."""

    limit = Int64(load_default=50, validate=validate.Range(min=1, max=500))
    offset = Int64(load_default=0, validate=validate.Range(min=0))


# ---------------------------------------------------------------- errors
class ErrorOut(Schema):
    """Every error: messages per field (``_request`` when none), one summary message, a code."""

    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)
    message = fields.String(required=True)
    code = fields.String(required=True)
    status = Int64(required=True)


# ---------------------------------------------------------------- events
class EventsIn(Body):
    """A batch of events in the envelope of ``services.schemas.EventIn`` (id, type, occurred_at, person|household, fields …)."""

    events = fields.List(fields.Raw(), required=True, validate=validate.Length(min=1, max=5000),
                         metadata={"description": "records: {id, type, occurred_at, person, household, rule, points, fields, description}"})


class EntryBrief(Schema):
    """An entry a record produced."""

    key = fields.String()
    point_type = fields.String()
    holder_kind = fields.String()
    holder_id = Int64()
    amount = Points()
    kind = fields.String()
    rule_id = fields.String()


class ClaimBrief(Schema):
    """A claim a record produced (the rule needs review first)."""

    key = fields.String()
    rule_id = fields.String()
    point_type = fields.String()
    amount = Points()
    status = fields.String()


class RecordOut(Schema):
    """What became of one record: recorded | pending | duplicate | nothing | rejected, with per-field messages."""

    ref = fields.String()
    id = fields.String()
    status = fields.String()
    entries = fields.List(fields.Nested(EntryBrief))
    claims = fields.List(fields.Nested(ClaimBrief))
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class EventsOut(Schema):
    """Per-record results, in the order sent, and counts by status."""

    results = fields.List(fields.Nested(RecordOut))
    counts = fields.Dict(keys=fields.String(), values=Int64())


# ---------------------------------------------------------------- balances, entries, leaderboards
class HolderOut(Schema):
    """A person (``p``) or household (``h``)."""

    kind = fields.String()
    code = fields.String()
    name = fields.String()


class AccountOut(Schema):
    """One point type of a holder: balance, this period's score and grade, what the next grade needs."""

    point_type = fields.String()
    name = fields.String()
    unit = fields.String()
    spendable = fields.Boolean()
    balance = Points()
    earned = Points()
    period = fields.String()
    score = Points()
    grade = fields.String()
    grade_key = fields.String()
    vetoed = fields.Boolean()
    next_grade = fields.String()
    needed = Points()


class BalancesOut(Schema):
    """A holder's accounts."""

    holder = fields.Nested(HolderOut)
    accounts = fields.List(fields.Nested(AccountOut))


class HistoryQuery(Page):
    """A holder's entries, newest first."""

    point_type = fields.String(load_default=None)


class EntryOut(Schema):
    """A ledger line."""

    id = Int64()
    key = fields.String()
    point_type = fields.String()
    amount = Points()
    kind = fields.String()
    rule_id = fields.String()
    rules_version = fields.String()
    category = fields.String()
    event_key = fields.String()
    occurred_at = fields.DateTime()
    local_day = fields.Date()
    recorded_at = fields.DateTime()
    actor = fields.String()
    approver = fields.String()
    source = fields.String()
    reverses_id = Int64(allow_none=True)
    note = fields.String()


class HistoryOut(Schema):
    """One page of a holder's history."""

    holder = fields.Nested(HolderOut)
    entries = fields.List(fields.Nested(EntryOut))
    limit = Int64()
    offset = Int64()
    more = fields.Boolean(metadata={"description": "true when a next page exists (ask again with offset + limit)"})


class ExplanationOut(Schema):
    """Why an entry exists: rule, rules version, who entered and approved it, each step of its amount."""

    id = Int64()
    amount = fields.String(metadata={"description": "signed, e.g. +5"})
    kind = fields.String()
    point_type = fields.String()
    rule = fields.String()
    rule_name = fields.String()
    rules_version = fields.String()
    event = fields.String()
    occurred_at = fields.DateTime()
    recorded_at = fields.DateTime()
    entered_by = fields.String()
    approved_by = fields.String()
    source = fields.String()
    reverses = Int64(allow_none=True)
    note = fields.String()
    steps = fields.List(fields.String())


class LeaderboardQuery(Query):
    """Which board: scope (county, township, village, grid, branch) and its id, period, how many."""

    scope = fields.String(load_default="county", validate=validate.OneOf(SCOPES))
    scope_id = Int64(load_default=None, allow_none=True)
    period = fields.String(load_default=None, metadata={"description": "2026, 2026-Q2 or 2026-03; the point type's current period by default"})
    top = Int64(load_default=50, validate=validate.Range(min=1, max=500))
    me = fields.String(load_default=None, metadata={"description": "a holder code whose own rank is wanted"})

    @validates_schema
    def _scope_id(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("scope") not in (None, "county") and data.get("scope_id") is None:
            raise ValidationError("Missing data for required field.", "scope_id")


class LeaderRowOut(Schema):
    """One ranked holder; names of scores at or below zero are masked (张**), and such a row's code is empty.

    A masked row carries no code nor any other stable identifier of its holder: the same code beside the
    full name on another board (another period or scope) would undo the mask.
    """

    rank = Int64()
    kind = fields.String()
    code = fields.String(metadata={"description": "the holder's code; empty when the name is masked"})
    name = fields.String()
    score = Points()


class LeaderboardOut(Schema):
    """A board and, when asked, the caller's own row."""

    point_type = fields.String()
    period = fields.String()
    scope = fields.String()
    scope_id = Int64(allow_none=True)
    tie_break = fields.String()
    rows = fields.List(fields.Nested(LeaderRowOut))
    mine = fields.Nested(LeaderRowOut, allow_none=True)


class NoticeItemOut(Schema):
    """One line of a village's notice board: praise by name, a deduction with the name masked and no household code."""

    claim_id = Int64()
    rule_id = fields.String()
    rule_name = fields.String()
    amount = Points()
    name = fields.String()
    household_code = fields.String(metadata={"description": "empty for a deduction (its name is masked)"})
    description = fields.String(metadata={"description": "ID and phone numbers in it are masked"})
    status = fields.String(metadata={"description": "on_notice | objected"})
    notice_until = fields.DateTime(allow_none=True)
    objections = fields.Integer()


class FingerprintOut(Schema):
    """The sealed ledger's head: note the digest, check it later with ``jifen ledger verify --expect``."""

    digest = fields.String()
    entries = Int64()
    sealed_at = fields.DateTime()


class NoticeBoardOut(Schema):
    """A village's notice board (公示栏), and the ledger's fingerprint (none before the first seal)."""

    village_id = Int64()
    village = fields.String()
    items = fields.List(fields.Nested(NoticeItemOut))
    fingerprint = fields.Nested(FingerprintOut, allow_none=True)


# ---------------------------------------------------------------- shop
class ItemIn(Body):
    """A new catalog item."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=2000))
    picture = fields.String(validate=validate.Length(max=300))
    point_type = fields.String(validate=validate.Length(min=1, max=50))
    price = Points(required=True, metadata={"description": "points per unit, e.g. \"20\""})
    stock = Int64(validate=validate.Range(min=0))
    village_id = Int64(allow_none=True)
    min_grade = fields.String(validate=validate.Length(max=50))
    limit_qty = Int64(validate=validate.Range(min=0))
    limit_per = fields.String(validate=validate.OneOf(LIMIT_PER))
    limit_window = fields.String(validate=validate.OneOf(WINDOWS))
    hold_days = Int64(allow_none=True, validate=validate.Range(min=1, max=365))
    active = fields.Boolean()
    request_id = fields.String(validate=validate.Length(min=1, max=100),
                               metadata={"description": "a retry key: the same request again gets the first item back (status 200)"})


class ItemPatch(Body):
    """Changes to an item (stock changes go through restock)."""

    name = fields.String(validate=validate.Length(min=1, max=100))
    description = fields.String(validate=validate.Length(max=2000))
    picture = fields.String(validate=validate.Length(max=300))
    point_type = fields.String(validate=validate.Length(min=1, max=50))
    price = Points()
    village_id = Int64(allow_none=True)
    min_grade = fields.String(validate=validate.Length(max=50))
    limit_qty = Int64(validate=validate.Range(min=0))
    limit_per = fields.String(validate=validate.OneOf(LIMIT_PER))
    limit_window = fields.String(validate=validate.OneOf(WINDOWS))
    hold_days = Int64(allow_none=True, validate=validate.Range(min=1, max=365))
    active = fields.Boolean()


class RestockIn(Body):
    """Goods arrived (positive) or written off (negative)."""

    qty = Int64(required=True, validate=validate.Range(min=-100000, max=100000))
    note = fields.String(load_default="", validate=validate.Length(max=200))


class ItemsQuery(Query):
    """Catalog filter."""

    include_inactive = fields.Boolean(load_default=False)
    village_id = Int64(load_default=None)


class ItemOut(Schema):
    """A catalog item."""

    id = Int64()
    name = fields.String()
    description = fields.String()
    picture = fields.String()
    point_type = fields.String()
    price = Points()
    stock = Int64()
    village_id = Int64(allow_none=True)
    min_grade = fields.String()
    min_grade_name = fields.String()
    limit_qty = Int64()
    limit_per = fields.String()
    limit_window = fields.String()
    hold_days = Int64()
    active = fields.Boolean()
    updated_at = fields.DateTime()
    updated_by = fields.String()


class AuditOut(Schema):
    """The audit line of a catalog change."""

    at = fields.DateTime()
    actor = fields.String()
    role = fields.String()
    action = fields.String()
    target = fields.String()
    detail = fields.Dict()


class ChangeOut(Schema):
    """A catalog change: the item as it now is, and its audit line."""

    item = fields.Nested(ItemOut)
    audit = fields.Nested(AuditOut)
    replayed = fields.Boolean(metadata={"description": "true when a retried request found the item it created"})


class ItemListOut(Schema):
    """The catalog."""

    items = fields.List(fields.Nested(ItemOut))


class ReserveIn(Body):
    """Reserve (and pay for) an item; ``request_id`` makes a retry count once."""

    item_id = Int64(required=True)
    household = fields.String(validate=validate.Length(min=1, max=100), metadata={"description": "household code; the caller's own when omitted"})
    person = fields.String(validate=validate.Length(min=1, max=100), metadata={"description": "who takes it (needed for per-person limits)"})
    qty = Int64(load_default=1, validate=validate.Range(min=1, max=1000))
    request_id = fields.String(validate=validate.Length(min=1, max=100))


class ReasonIn(Body):
    """An optional reason."""

    reason = fields.String(load_default="", validate=validate.Length(max=500))


class RedemptionsQuery(Page):
    """Redemption filter."""

    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    household = fields.String(load_default=None)
    village_id = Int64(load_default=None)


class CounterQuery(Query):
    """The counter's queue of one village."""

    village_id = Int64(load_default=None)


class RedemptionOut(Schema):
    """A redemption; ``replayed`` when a repeated request found it as it was."""

    id = Int64()
    item_id = Int64()
    item_name = fields.String()
    household_code = fields.String()
    household_name = fields.String()
    person_code = fields.String(allow_none=True)
    point_type = fields.String()
    qty = Int64()
    unit_price = Points()
    amount = Points()
    status = fields.String()
    reserved_at = fields.DateTime()
    expires_at = fields.DateTime()
    reserved_by = fields.String()
    picked_up_at = fields.DateTime(allow_none=True)
    done_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    handled_by = fields.String()
    reason = fields.String()
    spend_entry_id = Int64(allow_none=True)
    refund_entry_id = Int64(allow_none=True)
    replayed = fields.Boolean()
    balance = Points(allow_none=True)


class RedemptionListOut(Schema):
    """Redemptions."""

    redemptions = fields.List(fields.Nested(RedemptionOut))
    more = fields.Boolean(metadata={"description": "true when a next page exists (ask again with offset + limit)"})


# ---------------------------------------------------------------- claims
class ClaimsQuery(Page):
    """Claim filter."""

    status = fields.String(load_default=None)
    village_id = Int64(load_default=None)
    household = fields.String(load_default=None)


class ClaimIn(Body):
    """Declare (申报) an item of the rule table for a villager or household; ``key`` makes a retry safe."""

    rule = fields.String(required=True, validate=validate.Length(min=1, max=50))
    person = fields.String(load_default=None, allow_none=True)
    household = fields.String(load_default=None, allow_none=True)
    occurred_at = fields.String(load_default=None, allow_none=True)
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    fields_ = fields.Dict(keys=fields.String(), data_key="fields", load_default=dict)
    points = fields.Raw(load_default=None, allow_none=True, metadata={"description": "for a range rule, e.g. \"3\""})
    key = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))


class ApproveIn(Body):
    """Approve, setting the amount of a range rule if wanted."""

    amount = fields.Raw(load_default=None, allow_none=True)
    note = fields.String(load_default="", validate=validate.Length(max=500))


class RequiredReasonIn(Body):
    """A reason the villager will read."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ObjectionIn(RequiredReasonIn):
    """An objection; ``key`` makes a retry safe (the same key again returns the first objection)."""

    key = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200))


class TransitionOut(Schema):
    """One step of a claim's history."""

    action = fields.String()
    from_status = fields.String()
    to_status = fields.String()
    actor = fields.String()
    actor_role = fields.String()
    at = fields.DateTime()
    reason = fields.String()


class ClaimOut(Schema):
    """A claim."""

    id = Int64()
    key = fields.String()
    event_key = fields.String()
    status = fields.String()
    rule_id = fields.String()
    rule_name = fields.String()
    point_type = fields.String()
    amount = Points()
    person_name = fields.String()
    household_code = fields.String()
    household_name = fields.String()
    village_id = Int64(allow_none=True)
    description = fields.String()
    entered_by = fields.String()
    entered_role = fields.String()
    reviewed_by = fields.String()
    reviewed_at = fields.DateTime(allow_none=True)
    reason = fields.String()
    notice_days = Int64()
    notice_until = fields.DateTime(allow_none=True)
    occurred_at = fields.DateTime()
    created_at = fields.DateTime()
    posted_at = fields.DateTime(allow_none=True)
    entry_id = Int64(allow_none=True)
    history = fields.List(fields.Nested(TransitionOut))


class ClaimListOut(Schema):
    """Claims."""

    claims = fields.List(fields.Nested(ClaimOut))
    more = fields.Boolean(metadata={"description": "true when a next page exists (ask again with offset + limit)"})


class SubmitOut(Schema):
    """What a submission became: pending review, posted at once, a duplicate, or no points."""

    status = fields.String()
    claim = fields.Nested(ClaimOut, allow_none=True)
    skipped = fields.List(fields.String())


class ObjectionOut(Schema):
    """An objection raised against a claim on notice."""

    objection_id = Int64()
    claim_id = Int64()
    replayed = fields.Boolean(metadata={"description": "true when this repeats an earlier objection sent with the same key"})
    claim = fields.Nested(ClaimOut, allow_none=True, metadata={"description": "null when the caller may not read the claim's file"})
