"""The engine: one event in, drafts out.

``Engine.evaluate`` is pure but for the ``State`` it is handed: it reads and
writes a holder's counters (caps used, last occurrence) through it, so the
storage adapter decides how those are locked and kept. Drafts carry their
explanation; storage turns them into ledger entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from scoring.errors import Problem
from scoring.model import (
    HOUSEHOLD,
    PERSON,
    Draft,
    Event,
    EventType,
    FieldSpec,
    Rule,
    Ruleset,
    Step,
    VersionTable,
    holder_key,
)
from scoring.periods import local_date, window_keys
from scoring.points import MAX_POINTS, SCALE, AmountError, fmt, parse_amount
from scoring.rules.base import RuleEval, State
from scoring.rules.points import RangeError


@dataclass
class Outcome:
    """What became of one event: drafts to post, rules skipped and why, or problems."""

    event: Event
    ruleset: Ruleset | None = None
    drafts: list[Draft] = field(default_factory=list)
    skipped: list[tuple[str, Step]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problems: the drafts may be recorded."""
        return not self.problems


_TYPE_LABEL = {"int": ("整数", "a whole number"), "decimal": ("数字", "a number"), "text": ("文字", "text"),
               "choice": ("选项", "one of the choices"), "bool": ("是/否", "true or false"), "date": ("日期", "a date")}


def coerce_fields(event_type: EventType, raw: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Check and convert an event's fields against its declared types."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for name in raw:
        if name not in event_type.fields:
            problems.append(Problem("event_field_unknown", {"event": event_type.key, "field": name}, field=name))
    for name, spec in event_type.fields.items():
        value = raw.get(name)
        # Named as the clerk's sheet heads it (小时 / Hours) where the rules give a label; the
        # problem's ``field`` stays the key an API client sends.
        shown = (spec.caption("zh"), spec.caption("en")) if spec.label or spec.label_en else name
        if value is None or value == "":
            if spec.required:
                problems.append(Problem("event_missing", {"field": shown}, field=name))
            values[name] = None
            continue
        try:
            values[name] = _coerce(spec.type, value, spec.choices)
            bound = _outside(spec, values[name])
            if bound is not None:
                problems.append(Problem(bound[0], {"field": shown, "value": value, "bound": bound[1]}, field=name))
        except (ValueError, TypeError, InvalidOperation):
            params = {"field": shown, "value": value}
            if spec.type == "choice":
                problems.append(Problem("event_field_choice", {**params, "allowed": ", ".join(spec.choices)}, field=name))
            else:
                problems.append(Problem("event_field_type", {**params, "expected": _TYPE_LABEL[spec.type]}, field=name))
    return values, problems


def _outside(spec: FieldSpec, value: Any) -> tuple[str, Decimal] | None:
    """The bound a number breaks (its message code and value), or None."""
    if spec.low is not None and value < spec.low:
        return "event_field_min", spec.low
    if spec.high is not None and value > spec.high:
        return "event_field_max", spec.high
    return None


def _coerce(kind: str, value: Any, choices: tuple[str, ...]) -> Any:
    if kind == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return int(str(value).strip()) if not isinstance(value, int) else value
    if kind == "decimal":
        if isinstance(value, bool):
            raise ValueError(value)
        dec = Decimal(str(value).strip())
        if not dec.is_finite():
            raise ValueError(value)
        return dec
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "是", "y"):
            return True
        if text in ("false", "0", "no", "否", "n"):
            return False
        raise ValueError(value)
    if kind == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    text = str(value).strip()
    if kind == "choice" and text not in choices:
        raise ValueError(value)
    return text


class Engine:
    """Scores events by the ruleset in force on the day each occurred."""

    def __init__(self, versions: VersionTable):
        self.versions = versions
        latest = versions.latest()
        self.tz = latest.timezone if latest else None

    def evaluate(self, event: Event, state: State, approved: bool | None = None, day: date | None = None) -> Outcome:
        """Score one event; counters of the drafts that count are written to ``state``.

        ``approved`` says whether a reviewer has approved the event; a rule that
        needs approval then yields a pending draft and touches no counter. When
        None, the event counts as approved if it names an approver. ``day``: the
        event's local date, when the caller has it already.
        """
        outcome = Outcome(event)
        if self.tz is None:
            outcome.problems.append(Problem("no_rules_version", {"day": "-"}))
            return outcome
        if day is None:
            day = local_date(event.occurred_at, self.tz)
        ruleset = self.versions.at(day)
        if ruleset is None:
            outcome.problems.append(Problem("no_rules_version", {"day": day.isoformat()}, field="occurred_at"))
            return outcome
        outcome.ruleset = ruleset
        event_type = ruleset.event_types.get(event.type)
        if event_type is None or event.type not in ruleset.by_event:
            outcome.problems.append(Problem("event_type_unknown", {"value": event.type, "allowed": ", ".join(ruleset.by_event)}, field="type"))
            return outcome
        fields, problems = coerce_fields(event_type, event.fields)
        if problems:
            outcome.problems.extend(problems)
            return outcome
        if event_type.household and event.household_id is None:
            outcome.problems.append(Problem("event_missing", {"field": "household"}, field="household"))
            return outcome
        if event_type.linked and not event.attrs.get("linked"):
            outcome.problems.append(Problem("event_not_linked", {"day": day.isoformat()}, field="household"))
            return outcome
        if approved is None:
            approved = bool(event.approved_by)
        names = {**fields, **event.attrs}
        windows = window_keys(day)
        evals = self._match(event, ruleset, event_type, day, windows, names, state, approved, outcome)
        if outcome.problems:
            return outcome
        for ev in _exclusive(evals):
            rule = ev.rule
            pending = rule.approval and not ev.approved
            if not pending:
                self._limit(ev, ruleset)
                for key, value in ev.writes:
                    state.put(ev.holder, key, value)
                for key, used in ev.caps_used:  # what was finally awarded, after every cap
                    state.put(ev.holder, key, used + ev.amount)
            if ev.amount == 0 and not pending and not rule.veto:
                # A vetoing offence (一票否决) is recorded even when a floor took all its points: the veto
                # bars the grade whatever the score, so it must not vanish with the points.
                outcome.skipped.append((rule.id, ev.steps[-1] if ev.steps else Step("no_rule_matched", {})))
                continue
            outcome.drafts.append(Draft(
                event.id, rule.id, rule.point_type, ev.holder, event.person_id, ev.amount,
                rule.category, ev.steps, pending, rule.notice_days, rule.veto,
            ))
        return outcome

    def counter_keys(self, event: Event, day: date) -> list[tuple[str, str]]:
        """(holder, counter key) pairs that scoring this event may read: storage loads them ahead.

        Every rule of the event's type counts, whether or not its condition will
        hold; a counter read that is not named here is still answered (the
        storage looks it up on its own), only more slowly.
        """
        ruleset = self.versions.at(day)
        if ruleset is None or event.type not in ruleset.by_event:
            return []
        windows = window_keys(day)
        pairs: list[tuple[str, str]] = []
        for rule in ruleset.by_event[event.type]:
            features = ruleset.counted_features(rule)
            if not features:
                continue
            kind, ident = _holder_of(event, ruleset, rule)
            if ident is None:
                continue
            holder = holder_key(kind, ident)
            for feature in features:
                pairs.extend((holder, key) for key in feature.counter_keys(rule, event, windows))
        return pairs

    def _match(self, event: Event, ruleset: Ruleset, event_type: EventType, day: date,
               windows: dict[str, str], names: dict[str, Any], state: State, approved: bool,
               outcome: Outcome) -> list[RuleEval]:
        evals: list[RuleEval] = []
        rules = ruleset.by_event[event.type]
        if event_type.pick_rule or event.rule_id:
            picked = [r for r in rules if r.id == event.rule_id]
            if not picked:
                allowed = ", ".join(r.id for r in rules)
                code = "event_missing" if not event.rule_id else "event_field_choice"
                outcome.problems.append(Problem(code, {"field": "rule", "value": event.rule_id, "allowed": allowed}, field="rule"))
                return []
            rules = picked
        if event.points is not None and not any(r.chooses_points for r in rules):
            # Points named by a record count only where a rule lets them be chosen: elsewhere the rule
            # table sets them, and a number it would ignore (a paper ledger's 9999) is a mistake to show.
            outcome.problems.append(Problem("points_not_chosen", {"value": event.points, "rules": ", ".join(r.id for r in rules)},
                                            field="points"))
            return []
        # Points of a type only Party members hold (``members_only``) are never a non-member's: the rule
        # does not apply, and a record that only such rules score is refused, saying why. ``party_member``
        # comes from the directory (``store.directory.Directory.attrs``); without one it is not known.
        member = event.person_id is None or event.attrs.get("party_member", True)
        barred: list[Rule] = []
        for rule in rules:
            if not member and ruleset.point_types[rule.point_type].members_only:
                barred.append(rule)
                continue
            holder = self._holder(event, ruleset, rule, day, outcome)
            if holder is None:
                return []
            ev = RuleEval(rule, event, ruleset, holder, day, windows, names, state, approved=approved)
            try:
                applies = True
                for f in rule.stages[0]:
                    if not f.apply(ev):
                        applies = False
                        break
            except RangeError as exc:
                outcome.problems.append(exc.problem)
                return []
            if applies and abs(ev.amount) > MAX_POINTS * SCALE:
                # A huge quantity times its rate, or stacked factors: refused, never an amount the
                # ledger's sums would overflow on.
                params = {"rule": rule.id, "amount": fmt(ev.amount), "max": fmt(MAX_POINTS * SCALE)}
                outcome.problems.append(Problem("amount_too_large", params, field=_amount_field(rule)))
                return []
            if applies:
                evals.append(ev)
            elif ev.steps and ev.steps[-1].code == "step_cooldown":
                outcome.skipped.append((rule.id, ev.steps[-1]))
        if barred and len(barred) == len(rules):  # only Party members' rules: the record is not for this villager
            pt = ruleset.point_types[barred[0].point_type]
            outcome.problems.append(Problem("event_not_party_member", {"day": day.isoformat(), "point_type": pt.names()},
                                            field="person"))
        else:  # passed over beside rules that apply: said why, as a cooldown is
            for rule in barred:
                pt = ruleset.point_types[rule.point_type]
                outcome.skipped.append((rule.id, Step("step_not_party_member", {"point_type": pt.names()})))
        return evals

    @staticmethod
    def _holder(event: Event, ruleset: Ruleset, rule: Rule, day: date, outcome: Outcome) -> str | None:
        kind, ident = _holder_of(event, ruleset, rule)
        if ident is None:
            if kind == HOUSEHOLD and event.person_id is not None and ruleset.event_types[event.type].subject != HOUSEHOLD:
                # The points go to the villager's household, and on that day the roll has them in none
                # (before they joined one): say so, rather than ask for a household the record need not name.
                outcome.problems.append(Problem("no_household_at", {"day": day.isoformat()}, field="person"))
                return None
            name = "person" if kind == PERSON else "household"
            outcome.problems.append(Problem("event_missing", {"field": name}, field=name))
            return None
        return holder_key(kind, ident)

    @staticmethod
    def _limit(ev: RuleEval, ruleset: Ruleset) -> None:
        for feature in ev.rule.stages[1]:
            feature.apply(ev)
        if ev.rule.category:
            for feature in ruleset.categories[ev.rule.category].features:
                feature.apply(ev)


def _amount_field(rule: Rule) -> str:
    """The event field a rule's amount is counted from (per-unit points), else ``points``."""
    return next((f for feature in rule.features if (f := feature.counts_from())), "points")


def _holder_of(event: Event, ruleset: Ruleset, rule: Rule) -> tuple[str, int | None]:
    """Who holds the rule's points for this event: (person or household, id or None when the event lacks it).

    A household-held type credits the household the event concerns when its
    subject is a household, else the subject person's own household.
    """
    kind = ruleset.point_types[rule.point_type].holder
    if kind == PERSON:
        return kind, event.person_id
    by_subject = ruleset.event_types[event.type].subject == HOUSEHOLD
    return kind, event.household_id if by_subject else event.home_household_id


def _exclusive(evals: list[RuleEval]) -> list[RuleEval]:
    """Keep, in each exclusive group, only the rule with the largest amount (earliest on ties)."""
    best: dict[str, RuleEval] = {}
    for ev in evals:
        group = ev.rule.exclusive
        if group is None:
            continue
        current = best.get(group)
        if current is None or abs(ev.amount) > abs(current.amount):
            best[group] = ev
    kept = []
    for ev in evals:
        group = ev.rule.exclusive
        if group is None:
            kept.append(ev)
        elif best[group] is ev:
            if sum(1 for e in evals if e.rule.exclusive == group) > 1:
                ev.step("step_exclusive", group=group)
            kept.append(ev)
    return kept


# A date (and time) the way a spreadsheet or a clerk writes it: 2026/3/16 9:00, 2026.3.7, 2026年3月7日 9时.
_LOCAL_MOMENT = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]+(\d{1,2})\s*[:时]\s*(\d{1,2})?\s*分?(?:\s*[:]\s*(\d{1,2}))?)?")


def parse_moment(value: Any, tz: Any) -> datetime:
    """An ISO time, or a local date and time as a spreadsheet writes it; a time without a zone is the county's."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            m = _LOCAL_MOMENT.fullmatch(text)
            if m is None:
                raise
            y, mo, d, h, mi, sec = (int(g) if g else 0 for g in m.groups())
            moment = datetime(y, mo, d, h, mi, sec)  # ValueError for 2026/2/30, as for any impossible date
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def parse_points_field(value: Any) -> int | None:
    """A reviewer's chosen amount in hundredths, or None when not given."""
    if value is None or value == "":
        return None
    try:
        return parse_amount(value)
    except AmountError:
        raise ValueError(value) from None
