"""A blank 台账 workbook a village fills in and gives back to ``jifen ingest``: ``jifen ingest-template``.

Sheet 1 (台账) is what ``jifen ingest`` reads: its header names the columns in
Chinese exactly as the reader takes them (``services.ingest.HEADER_ALIASES``:
事件编号, 类型, 时间, 村民 or 党员, 户号, 规则, 分值, 审核人, 说明) and each field of
the chosen event types by its label (``Names.translate`` reads 小时 as ``hours``),
then one example row per event type. Sheet 2 (说明) lists, for each event type,
its Chinese and English name and every column it takes: type, unit, bounds,
allowed values and whether it is required.

The example rows name the placeholder codes ``P0000000`` and ``H000000`` (the roll
gives codes from ``P0000001`` on), so an example left in the sheet is refused as an
unknown person, never scored for a real one; ``jifen directory export`` lists the
real codes. Code, text and time columns are text cells (a number cell would drop
an ID-like code's leading zeros or its last digits); times are written as text
the reader accepts (``2026-03-16 09:30``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import IO, Any

from scoring.model import PERSON, EventType, FieldSpec, Rule, Ruleset
from scoring.points import fmt
from scoring.rules.condition import When
from services.ingest import ENVELOPE, HEADER_ALIASES, PLACEHOLDER_HOUSEHOLD, PLACEHOLDER_PERSON

SHEETS = ("台账", "说明")
# The envelope's columns by the Chinese header ``jifen ingest`` reads (HEADER_ALIASES maps them back).
ID, TYPE, TIME, VILLAGER, MEMBER, HOUSEHOLD, RULE, POINTS, APPROVER, NOTE = (
    "事件编号", "类型", "时间", "村民", "党员", "户号", "规则", "分值", "审核人", "说明")
TYPE_NAMES = {"int": ("整数", "whole number"), "decimal": ("数字", "number"), "text": ("文字", "text"),
              "choice": ("选项", "one of the values"), "bool": ("是/否", "yes/no"), "date": ("日期", "date")}
YES, NO = "是 / yes", "否 / no"


@dataclass
class Column:
    """A column of the 台账: its header and whether its cells are text (codes, words, times)."""

    header: str
    text: bool = True


@dataclass
class Template:
    """The two sheets: the 台账's columns and example rows, and the notes (说明) with their header."""

    columns: list[Column]
    rows: list[dict[str, Any]]
    notes_header: list[str]
    notes: list[list[Any]] = field(default_factory=list)


def scorable(ruleset: Ruleset) -> list[EventType]:
    """The event types some rule scores, in the rules file's order (an import refuses any other)."""
    return [et for et in ruleset.event_types.values() if et.key in ruleset.by_event]


_LIST = re.compile(r"[,,、;;]")


def pick_types(ruleset: Ruleset, wanted: Sequence[str]) -> tuple[list[EventType], list[str]]:
    """The event types named (by key, Chinese or English name, as a 台账 names them), and the names none has."""
    known = scorable(ruleset)
    if not wanted:
        return known, []
    by_name = {n.casefold(): et for et in known for n in (et.key, et.name, et.name_en) if n}
    found: list[EventType] = []
    unknown: list[str] = []
    names = [n for given in wanted  # --type a,b as --type a --type b, unless a type is named so
             for n in ([given] if given.strip().casefold() in by_name else _LIST.split(given)) if n.strip()]
    if not names:
        return known, []
    for name in names:
        et = by_name.get(name.strip().casefold())
        if et is None:
            unknown.append(name)
        elif et not in found:
            found.append(et)
    return found, unknown


def is_party_work(ruleset: Ruleset, et: EventType) -> bool:
    """Whether only Party members do this kind of work: linked to households (联户), or scored on their tally alone."""
    rules = ruleset.by_event.get(et.key, [])
    return et.linked or (bool(rules) and all(ruleset.point_types[r.point_type].members_only for r in rules))


def field_header(spec: FieldSpec) -> str:
    """The column of a field: its Chinese label, unless the label is an envelope column's name (then its key)."""
    label = spec.label.strip()
    if not label or label in HEADER_ALIASES or label in ENVELOPE:
        return spec.name
    return label


def _clamp(value: Decimal, spec: FieldSpec) -> Decimal:
    if spec.low is not None and value < spec.low:
        value = spec.low
    if spec.high is not None and value > spec.high:
        value = spec.high
    return value


def _scoring_choice(spec: FieldSpec, rules: list[Rule], values: dict[str, Any], ruleset: Ruleset) -> str | None:
    """The first of a choice field's values that one of the rules' own conditions scores, or None when none tells.

    A rule without a condition scores any value, so the first value stands. The other names a condition may
    read are the row's other examples and what the engine supplies: the highest tier, a linked Party member.
    """
    if any(not any(isinstance(f, When) for f in r.features) for r in rules):
        return None
    supplied = {"tier": ruleset.tiers[-1].key if ruleset.tiers else "", "party_member": True, "linked": True}
    for choice in spec.choices:
        names = {**_as_read(values), **supplied, spec.name: choice}
        for rule in rules:
            for feature in rule.features:
                if isinstance(feature, When) and feature.condition is not None:
                    try:
                        if feature.condition(names):
                            return choice
                    except Exception:
                        continue
    return None


def _as_read(values: dict[str, Any]) -> dict[str, Any]:
    """Example values as the engine would hold them after reading the row (是 → True)."""
    return {k: (v == "是") if v in ("是", "否") else v for k, v in values.items()}


def example_value(spec: FieldSpec, moment: datetime) -> Any:
    """A plausible value of a field: within its bounds, one of its values, a date as text."""
    if spec.type == "int":
        if spec.high is not None and spec.high <= 10:  # a rating or a count of stars: the top one
            return int(spec.high)
        return int(_clamp(Decimal(2), spec))
    if spec.type == "decimal":
        typical = Decimal("85.5") if spec.high is not None and spec.high >= 100 else Decimal("2.5")  # a score, else hours
        return _clamp(typical, spec)
    if spec.type == "choice":
        return spec.choices[0] if spec.choices else ""
    if spec.type == "bool":
        return "是"
    if spec.type == "date":
        return moment.date().isoformat()
    return f"示例:{spec.label or spec.name}"


def _points_rule(ruleset: Ruleset, et: EventType) -> Rule | None:
    """The rule of an example: the first of its type (the one its 规则 names when each record picks one)."""
    rules = ruleset.by_event.get(et.key, [])
    return rules[0] if rules else None


def build(ruleset: Ruleset, types: Sequence[EventType], moment: datetime) -> Template:
    """The 台账's columns, one example row per event type (dated ``moment``, local time) and the notes."""
    party = all(is_party_work(ruleset, et) for et in types if et.subject == PERSON)
    person = MEMBER if party and any(et.subject == PERSON for et in types) else VILLAGER
    needs_household = any(et.household or et.subject != PERSON for et in types)
    picks = any(et.pick_rule for et in types)
    ranged = any(r.chooses_points for et in types for r in ruleset.by_event.get(et.key, []))
    columns = [Column(ID), Column(TYPE), Column(TIME), Column(person)]
    if needs_household:
        columns.append(Column(HOUSEHOLD))
    if picks:
        columns.append(Column(RULE))
    if ranged:
        columns.append(Column(POINTS, text=False))
    seen = {c.header for c in columns}
    for et in types:
        for spec in et.fields.values():
            header = field_header(spec)
            if header not in seen:
                seen.add(header)
                columns.append(Column(header, text=spec.type not in ("int", "decimal")))
            elif spec.type not in ("int", "decimal"):  # a label two types share: text wins
                next(c for c in columns if c.header == header).text = True
    columns += [Column(APPROVER), Column(NOTE)]

    rows: list[dict[str, Any]] = []
    for n, et in enumerate(types, 1):
        row: dict[str, Any] = {ID: f"{moment:%Y%m%d}-{n:03d}", TYPE: et.name, TIME: f"{moment:%Y-%m-%d %H:%M}"}
        if et.subject == PERSON:
            row[person] = PLACEHOLDER_PERSON
        if et.household or et.subject != PERSON:
            row[HOUSEHOLD] = PLACEHOLDER_HOUSEHOLD
        rule = _points_rule(ruleset, et)
        if et.pick_rule and rule is not None:
            row[RULE] = rule.id
        chosen = [rule] if et.pick_rule and rule is not None else ruleset.by_event.get(et.key, [])
        ranges = [r.points_range for r in chosen if r.points_range is not None]
        if ranges:
            row[POINTS] = Decimal(fmt(ranges[0][0]))  # the least the range allows: a reviewer may raise it
        values = {spec.name: example_value(spec, moment) for spec in et.fields.values()}
        for spec in et.fields.values():
            if spec.type == "choice":  # a value some rule scores: an example that scores nothing reads as a failure
                values[spec.name] = _scoring_choice(spec, chosen, values, ruleset) or values[spec.name]
            row[field_header(spec)] = values[spec.name]
        rows.append(row)
    notes_header, notes = _notes(ruleset, types, person, moment)
    return Template(columns, rows, notes_header, notes)


NOTES_HEADER = ["事件类型", "Event type", "列", "Column", "类型 / Type", "单位 / Unit", "最小 / Min", "最大 / Max",
                "可选值 / Allowed values", "必填 / Required", "说明 / Notes"]


def _type_name(kind: str) -> str:
    zh, en = TYPE_NAMES.get(kind, (kind, kind))
    return f"{zh} / {en}"


def _number(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def _notes(ruleset: Ruleset, types: Sequence[EventType], person: str, moment: datetime) -> tuple[list[str], list[list[Any]]]:
    """The 说明 sheet: the columns every record has, then each event type's, with their type, bounds and values."""
    when, m = f"{moment:%Y-%m-%d %H:%M}", moment
    every = ("全部", "all")
    notes: list[list[Any]] = [
        [*every, ID, "id", _type_name("text"), "", "", "", "", YES,
         "每条记录一个编号,不可重复;同一编号再次导入只记一次 / one per record, never reused: a record sent again counts once"],
        [*every, TYPE, "type", _type_name("choice"), "", "", "", "、".join(et.name for et in types), YES,
         "写事件类型的中文名(或英文名)/ the event type's Chinese (or English) name"],
        [*every, TIME, "occurred_at", "日期时间 / date and time", "", "", "", "", YES,
         f"县的当地时间,如 {when}、{m.year}/{m.month}/{m.day} {m.hour}:{m.minute:02d}、{m.year}年{m.month}月{m.day}日 {m.hour}时;"
         "不能晚于现在 / "
         "the county's local time, as text or an Excel date; not in the future"],
        [*every, APPROVER, "approved_by", _type_name("text"), "", "", "", "", NO,
         "填了即视为已审核;需审核的规则不填则进入待审核 / filled: approved; empty: rules needing review wait for it"],
        [*every, NOTE, "description", _type_name("text"), "", "", "", "", NO, "备注 / a note"],
    ]
    for et in types:
        names = (et.name, et.name_en or et.name)
        rules = ruleset.by_event.get(et.key, [])
        if et.subject == PERSON:
            who = ("党员", "Party member") if is_party_work(ruleset, et) else ("村民", "villager")
            zh, en = f"{who[0]}的人员编号(jifen directory export 可导出)", f"the {who[1]}'s person code"
            if et.linked:
                zh, en = zh + ";须是这一天联系该户的党员(联户)", en + ", linked to the household on the day"
            notes.append([*names, person, "person", _type_name("text"), "", "", "", "", YES, f"{zh} / {en}"])
        if et.household or et.subject != PERSON:
            notes.append([*names, HOUSEHOLD, "household", _type_name("text"), "", "", "", "", YES,
                          "所涉农户的户号 / the code of the household concerned"])
        if et.pick_rule:
            allowed = ";".join(f"{r.id} {r.name}" for r in rules)  # a rule's name may hold 、
            notes.append([*names, RULE, "rule", _type_name("choice"), "", "", "", allowed, YES,
                          "每条记录写明所依的细则编号 / each record names its item of the rule table"])
        for r in rules:
            if r.points_range is not None:
                low, high = r.points_range
                unit = ruleset.point_types[r.point_type].unit
                notes.append([*names, POINTS, "points", _type_name("decimal"), unit, fmt(low), fmt(high), "", NO,
                              f"{r.id} {r.name}:由审核人在范围内酌定;不填则审核时再定 / {r.id}: chosen within the range "
                              "by the reviewer; empty: chosen when approved"])
        for spec in et.fields.values():
            counted = [(r, pu) for r in rules if (pu := r.per_unit) is not None and pu[0] == spec.name]
            how = "、".join(f"{r.id} 每 1 记 {fmt(rate)} {ruleset.point_types[r.point_type].unit}" for r, (_, rate) in counted)
            label = spec.caption("zh")
            extra = f"{label} / {spec.caption('en')}" + (f";{how}" if how else "")
            notes.append([*names, field_header(spec), spec.name, _type_name(spec.type), "", _number(spec.low), _number(spec.high),
                          "、".join(spec.choices), YES if spec.required else NO, extra])
    return NOTES_HEADER, notes


def write(template: Template, out: IO[bytes]) -> None:
    """Write the workbook: the 台账 (header, example rows; text columns as text cells) and the 说明."""
    from openpyxl import Workbook  # imported here: only a workbook pays for it
    from openpyxl.utils import get_column_letter

    book = Workbook()
    ledger = book.active
    assert ledger is not None
    ledger.title = SHEETS[0]
    ledger.append([c.header for c in template.columns])
    for row in template.rows:
        ledger.append([row.get(c.header) for c in template.columns])
    for i, column in enumerate(template.columns, 1):
        letter = get_column_letter(i)
        ledger.column_dimensions[letter].width = max(10, 2 * len(column.header) + 4)
        if not column.text:
            continue
        ledger.column_dimensions[letter].number_format = "@"  # what a clerk types later stays text too
        for (cell,) in ledger.iter_rows(min_col=i, max_col=i, min_row=1, max_row=len(template.rows) + 1):
            cell.number_format = "@"
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, even one starting with "=": never a formula
    ledger.freeze_panes = "A2"
    notes = book.create_sheet(SHEETS[1])
    notes.append(template.notes_header)
    for line in template.notes:
        notes.append([None if v == "" else v for v in line])  # an empty cell, not an empty text
    for row in notes.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"
    for i, width in enumerate((14, 24, 12, 12, 14, 8, 8, 8, 30, 10, 60), 1):
        notes.column_dimensions[get_column_letter(i)].width = width
    book.save(out)
