"""The domain: point types, event types, rules, events and the drafts they produce.

Terms used throughout:

* **point type** (积分类型): one kind of points, e.g. 零基积分 (a Party member's
  work tally, back to zero each period), 道德积分 (a household's moral credit in
  the 道德银行) or volunteer hours (志愿服务时长).
* **holder**: who an account belongs to, a ``person`` or a ``household``.
  Holder keys are ``p:<id>`` and ``h:<id>``.
* **tier** (三色分类): how much attention a household needs, yellow / orange / red
  by default; work for a red household counts for more.
* **category** (类别): a group of rules sharing caps and a floor (扣完为止).
* **draft**: what a rule makes of an event, before storage turns it into a
  ledger entry.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from scoring.rules.base import Feature

PERSON, HOUSEHOLD = "person", "household"


def holder_key(kind: str, ident: int) -> str:
    """``p:12`` for person 12, ``h:7`` for household 7."""
    return ("p:" if kind == PERSON else "h:") + str(ident)


class Named:
    """Something with a Chinese ``name`` and an optional English ``name_en`` (rules.yaml's ``name_en``)."""

    name: str
    name_en: str

    def label(self, lang: str = "zh") -> str:
        """The name to show in ``lang``: the English one where the rules file gives it, else the Chinese."""
        return self.name_en or self.name if lang == "en" else self.name

    def names(self) -> tuple[str, str]:
        """(中文, English): a message parameter that each reader sees in their language (``scoring.messages.render``)."""
        return self.name, self.label("en")


@dataclass(frozen=True)
class Tier(Named):
    """A household attention tier (三色): key, Chinese name and display colour."""

    key: str
    name: str
    color: str = ""
    name_en: str = ""


@dataclass(frozen=True)
class GradeLevel(Named):
    """One star grade or letter tier, reached at ``min`` points (hundredths)."""

    key: str
    name: str
    min: int
    name_en: str = ""


@dataclass(frozen=True)
class YearEnd:
    """What happens to a balance when a period closes (年度清零 policy)."""

    policy: str  # reset | carry | never
    carry_percent: int = 0


@dataclass(frozen=True)
class PointType(Named):
    """One kind of points, with its holder, unit, step, period and year-end policy."""

    key: str
    name: str
    holder: str
    unit: str
    step: int
    period: str  # the tally period that leaderboards and grades use by default
    year_end: YearEnd
    spendable: bool
    validity_days: int | None = None
    grades: tuple[GradeLevel, ...] = ()
    grade_name: str = ""
    name_en: str = ""
    grade_name_en: str = ""
    members_only: bool = False  # held by Party members alone (零基积分): a villager who is none never scores it

    def grade_label(self, lang: str = "zh") -> str:
        """The name of this type's grades (星级文明户, Star households) in ``lang``."""
        return self.grade_name_en or self.grade_name if lang == "en" else self.grade_name

    def grade_for(self, amount: int, vetoed: bool = False) -> GradeLevel | None:
        """The highest grade an amount reaches; none when vetoed (一票否决)."""
        if vetoed:
            return None
        for level in self.grades:
            if amount >= level.min:
                return level
        return None

    def next_grade(self, amount: int) -> GradeLevel | None:
        """The next grade above an amount, to tell a villager what is still needed."""
        above = [g for g in self.grades if g.min > amount]
        return above[-1] if above else None


@dataclass(frozen=True)
class FieldSpec:
    """A declared field of an event type: name, type and, for a choice, its values."""

    name: str
    type: str  # int | decimal | text | choice | bool | date
    choices: tuple[str, ...] = ()
    required: bool = False
    label: str = ""
    low: Decimal | None = None  # ``min``: the least value a number field may take (hours > 0, ratings 1–5)
    high: Decimal | None = None  # ``max``: the most
    label_en: str = ""

    def caption(self, lang: str = "zh") -> str:
        """The field's label in ``lang`` (the English one where the rules file gives it), else its name."""
        return (self.label_en if lang == "en" else "") or self.label or self.name


@dataclass(frozen=True)
class EventType(Named):
    """A kind of event (入户走访, 志愿服务 …) with its subject and declared fields."""

    key: str
    name: str
    subject: str  # person | household
    household: bool  # whether a household concerned is named (gives ``tier``)
    fields: dict[str, FieldSpec]
    pick_rule: bool = False  # each event names its rule (an item of the rule table)
    linked: bool = False  # the subject must be a Party member linked (联户) to the household on the day
    name_en: str = ""


@dataclass
class Category(Named):
    """Rules that share caps and a floor."""

    key: str
    name: str
    point_type: str
    features: list[Feature] = field(default_factory=list)
    name_en: str = ""


@dataclass
class Rule(Named):
    """One line of the rule table (积分细则): an id, a name and its features in order."""

    id: str
    name: str
    point_type: str
    event_type: str
    category: str | None
    features: list[Feature]
    line: int = 0
    approval: bool = False
    notice_days: int = 0
    roles: tuple[str, ...] = ()
    veto: bool = False
    exclusive: str | None = None
    order: int = 0  # position in the file: the tie-break of exclusive groups
    name_en: str = ""

    @cached_property
    def fixed_points(self) -> int | None:
        """The points of a ``fixed`` rule (hundredths), else None."""
        p = next((f for f in self.features if f.key == "points"), None)
        return int(p.fixed) if p is not None and getattr(p, "kind", "") == "fixed" else None  # type: ignore[attr-defined]

    @cached_property
    def points_range(self) -> tuple[int, int] | None:
        """(low, high) in hundredths of a ``range`` rule, whose record (its reviewer) chooses within; else None."""
        p = next((f for f in self.features if f.key == "points"), None)
        return (int(p.low), int(p.high)) if p is not None and getattr(p, "kind", "") == "range" else None  # type: ignore[attr-defined]

    @cached_property
    def per_unit(self) -> tuple[str, int] | None:
        """(field, rate in hundredths) of a ``per_unit`` rule (志愿服务: 2 a hour), else None."""
        p = next((f for f in self.features if f.key == "points"), None)
        return (p.field, int(p.rate)) if p is not None and getattr(p, "kind", "") == "per_unit" else None  # type: ignore[attr-defined]

    @property
    def chooses_points(self) -> bool:
        """Whether the record (its reviewer) chooses the points, within the rule's range."""
        return self.points_range is not None

    @cached_property
    def stages(self) -> tuple[list[Feature], list[Feature]]:
        """Features that decide and size the amount, and those that limit it (caps, floors).

        Split at ``EXCLUSIVE_STAGE``, once per rule: the engine runs these for every event.
        """
        from scoring.rules.base import EXCLUSIVE_STAGE

        return ([f for f in self.features if f.stage < EXCLUSIVE_STAGE],
                [f for f in self.features if f.stage > EXCLUSIVE_STAGE])


@dataclass
class Ruleset:
    """A whole rules file, loaded and checked; ``version`` is the hash of its text."""

    version: str
    timezone: ZoneInfo
    tiers: tuple[Tier, ...]
    point_types: dict[str, PointType]
    event_types: dict[str, EventType]
    categories: dict[str, Category]
    rules: dict[str, Rule]
    roles: tuple[str, ...]
    source: str = ""
    title: str = ""
    by_event: dict[str, list[Rule]] = field(default_factory=dict)
    _counted: dict[str, list[Feature]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.by_event = {}
        for rule in sorted(self.rules.values(), key=lambda r: r.order):
            self.by_event.setdefault(rule.event_type, []).append(rule)

    def tier_keys(self) -> tuple[str, ...]:
        """The configured tier keys, least attention first."""
        return tuple(t.key for t in self.tiers)

    def features_of(self, rule: Rule) -> list[Feature]:
        """The rule's own features, then its category's (caps and floors shared by the category)."""
        if rule.category:
            return [*rule.features, *self.categories[rule.category].features]
        return list(rule.features)

    def counted_features(self, rule: Rule) -> list[Feature]:
        """The rule's features (its category's included) that read counters, found once per rule."""
        found = self._counted.get(rule.id)
        if found is None:
            from scoring.rules.base import Feature as Base

            found = self._counted[rule.id] = [f for f in self.features_of(rule) if type(f).counter_keys is not Base.counter_keys]
        return found


@dataclass(frozen=True)
class PublishedVersion:
    """A ruleset in force from a local date on (the effective date of publishing)."""

    effective: date
    ruleset: Ruleset


class VersionTable:
    """Ruleset versions ordered by effective date; an event is scored by the one in force."""

    def __init__(self, versions: list[PublishedVersion]):
        self.versions = sorted(versions, key=lambda v: v.effective)
        self._days = [v.effective for v in self.versions]

    def at(self, day: date) -> Ruleset | None:
        """The ruleset in force on a local date, or none before the first."""
        i = bisect_right(self._days, day)
        return self.versions[i - 1].ruleset if i else None

    def latest(self) -> Ruleset | None:
        """The ruleset with the latest effective date."""
        return self.versions[-1].ruleset if self.versions else None

    def retired(self, ruleset: Ruleset) -> dict[str, PointType]:
        """Point types an earlier version declared and ``ruleset`` does not (the newest declaration of each).

        Points already held in such a type stay in the ledger: they are still shown, never silently hidden.
        """
        out: dict[str, PointType] = {}
        for v in self.versions:
            for key, pt in v.ruleset.point_types.items():
                if key not in ruleset.point_types:
                    out[key] = pt
        return out


@dataclass
class Event:
    """Something that happened, resolved to ids by an adapter, ready to be scored.

    ``person_id``/``household_id`` are the subject and the household concerned;
    ``home_household_id`` is the subject person's household on that day (the
    account a household-held point type credits); ``attrs`` carries what the
    adapter knows of that day (``tier`` of the household concerned).
    """

    id: str
    type: str
    occurred_at: datetime
    fields: dict[str, Any]
    person_id: int | None = None
    household_id: int | None = None
    home_household_id: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    source: str = "api"
    approved_by: str = ""
    points: int | None = None  # hundredths chosen by a reviewer, for range rules
    rule_id: str = ""  # the rule-table item an event names, for pick-rule event types


@dataclass(frozen=True)
class Step:
    """One line of an entry's explanation (a message code and its parameters)."""

    code: str
    params: dict[str, Any]


@dataclass
class Draft:
    """What one rule makes of one event: an amount for a holder, and why."""

    event_id: str
    rule_id: str
    point_type: str
    holder: str
    person_id: int | None
    amount: int
    category: str | None
    steps: list[Step]
    pending: bool = False  # waits for approval (审核) before it may post
    notice_days: int = 0
    veto: bool = False

    @property
    def key(self) -> str:
        """The idempotency key of the entry: one per event and rule."""
        return f"{self.event_id}/{self.rule_id}"
