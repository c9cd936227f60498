"""Load and check a rules file.

``ruamel.yaml`` keeps the line and column of every key and value, so each
problem names its place (``rules.yaml:42:7``) with a hint to fix it. Loading
collects every problem in the file before failing; a file with any problem
never becomes a ``Ruleset``, so it can never replace the live rules.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent
from ruamel.yaml.reader import ReaderError

import scoring.rules  # noqa: F401  (registers every feature module)
from scoring.errors import Problem, RulesFileError
from scoring.model import (
    HOUSEHOLD,
    PERSON,
    Category,
    EventType,
    FieldSpec,
    GradeLevel,
    PointType,
    Rule,
    Ruleset,
    Tier,
    YearEnd,
)
from scoring.periods import PERIODS
from scoring.points import AmountError, parse_amount
from scoring.rules.base import FEATURES, Feature

T = TypeVar("T")
D = TypeVar("D")

DEFAULT_TIERS = (Tier("yellow", "黄色", "#e6b800", "Yellow"), Tier("orange", "橙色", "#f08c00", "Orange"),
                 Tier("red", "红色", "#d9480f", "Red"))
DEFAULT_ROLES = ("villager", "party_member", "grid_worker", "steward", "secretary", "committee", "admin")
FIELD_TYPES = ("int", "decimal", "text", "choice", "bool", "date")
# Names the engine supplies itself: the household tier, whether the subject is a Party member, and
# whether the subject looks after the household (党员联户).
RESERVED_NAMES = ("tier", "party_member", "linked", "points", "rule")
# Points expire at most a century after they are given (the ledger adds the days to a date).
MAX_VALIDITY_DAYS = 36500
# Stands for "a field whose name cannot be read" among an event type's unknown fields.
ANY_FIELD = "*"


class Node:
    """A YAML value with its place in the file, and helpers that report problems there."""

    def __init__(self, value: Any, doc: Document, line: int, column: int, path: str = ""):
        self.value = value
        self.doc = doc
        self.line = line
        self.column = column
        self.path = path
        self.allowed: tuple[str, ...] = ()  # the keys ``only_keys`` accepts, once it has run

    # -- reporting -------------------------------------------------------------
    def error(self, code: str, hint: str = "", **params: Any) -> None:
        """Report a problem at this node's place."""
        self.doc.problems.append(
            Problem(code, params, file=self.doc.filename, line=self.line, column=self.column, hint=hint)
        )

    # -- structure -------------------------------------------------------------
    def is_map(self) -> bool:
        """Whether the value is a mapping; reports a problem when not."""
        if isinstance(self.value, dict):
            return True
        self.error("not_mapping", "hint_yaml")
        return False

    def child(self, key: str) -> Node | None:
        """The node under ``key`` of a mapping, placed at its value; None when absent."""
        if not isinstance(self.value, dict) or key not in self.value:
            return None
        value = self.value[key]
        line, col = self.line, self.column
        if isinstance(self.value, CommentedMap):
            try:
                if value is None:
                    # An empty value has no place of its own; ruamel gives the next token's.
                    raise KeyError(key)
                if isinstance(value, CommentedMap | CommentedSeq):
                    line, col = value.lc.line + 1, value.lc.col + 1
                else:
                    vl, vc = self.value.lc.value(key)
                    line, col = vl + 1, vc + 1
            except (KeyError, TypeError, AttributeError):
                kl, kc = self.value.lc.key(key)
                line, col = kl + 1, kc + 1
        return Node(value, self.doc, line, col, f"{self.path}.{key}" if self.path else key)

    def key_node(self, key: str) -> Node:
        """A node placed at the key itself (for 'unknown key' and 'missing value')."""
        line, col = self.line, self.column
        if isinstance(self.value, CommentedMap) and key in self.value:
            kl, kc = self.value.lc.key(key)
            line, col = kl + 1, kc + 1
        return Node(key, self.doc, line, col, self.path)

    def get(self, key: str, read: Callable[[Node], T], default: D) -> T | D:
        """Read an optional key with ``read`` (``Node.text``, ``Node.count`` …), or the default."""
        node = self.child(key)
        return default if node is None else read(node)

    def require(self, key: str) -> Node | None:
        """The child under ``key``, or report it missing here."""
        node = self.child(key)
        if node is None and self.near_key(key) is not None:
            # A misspelt key ("nme:") is reported as unknown, naming this one: not again as missing.
            return None
        if node is None or node.value is None:
            self.error("missing_key", key=key)
            return None
        return node

    def near_key(self, key: str) -> str | None:
        """The unknown key of this mapping that looks like a misspelling of ``key``, if any."""
        if not isinstance(self.value, dict) or not self.allowed:
            return None
        for written in map(str, self.value):
            if written not in self.allowed and _closest(written, self.allowed) == key:
                return written
        return None

    def only_keys(self, allowed: tuple[str, ...] | list[str]) -> None:
        """Report each key of this mapping that is not allowed."""
        self.allowed = tuple(allowed)
        if not isinstance(self.value, dict):
            return
        for key in self.value:
            if key not in allowed:
                if (near := _closest(str(key), self.allowed)) is not None:
                    self.key_node(str(key)).error("unknown_key_near", key=key, near=near)
                else:
                    self.key_node(str(key)).error(
                        "unknown_key", "hint_spelling", key=key, allowed=", ".join(allowed)
                    )

    def items(self) -> Iterator[Node]:
        """The items of a list, each placed at its own line."""
        if not isinstance(self.value, list):
            self.error("not_list", "hint_yaml")
            return
        for i, item in enumerate(self.value):
            line, col = self.line, self.column
            if isinstance(self.value, CommentedSeq):
                il, ic = self.value.lc.item(i)
                line, col = il + 1, ic + 1
            if isinstance(item, CommentedMap):
                line, col = item.lc.line + 1, item.lc.col + 1
            yield Node(item, self.doc, line, col, f"{self.path}[{i}]")

    # -- scalars ----------------------------------------------------------------
    def text(self) -> str | None:
        """A non-empty string."""
        if isinstance(self.value, str) and self.value.strip():
            return self.value.strip()
        if isinstance(self.value, int | float) and not isinstance(self.value, bool):
            return str(self.value)
        # Named by its key (the place is in line:column): "choices", not "event_types[7].fields[0].choices[3]".
        last = self.path.rsplit(".", 1)[-1]
        self.error("bad_text_item" if last.endswith("]") else "bad_text", key=last.split("[", 1)[0])
        return None

    def amount(self, step: int | None = None) -> int | None:
        """An exact amount of points (hundredths), optionally a multiple of ``step``."""
        try:
            value = parse_amount(self.value)
        except AmountError:
            self.error("bad_amount", value=self.value)
            return None
        if step and value % step:
            self.error("bad_step", value=self.value, step=step / 100)
            return None
        return value

    def number(self) -> Decimal | None:
        """An exact number (a field's bound), written as 24 or 0.5."""
        if not isinstance(self.value, bool) and isinstance(self.value, int | float | str):
            try:
                value = Decimal(str(self.value).strip())
            except InvalidOperation:
                value = None
            if value is not None and value.is_finite():
                return value
        self.error("bad_number", value=self.value)
        return None

    def count(self) -> int | None:
        """A whole number, zero or more."""
        if isinstance(self.value, int) and not isinstance(self.value, bool) and self.value >= 0:
            return self.value
        self.error("bad_int", value=self.value)
        return None

    def count_within(self, low: int, high: int) -> int | None:
        """A whole number from ``low`` to ``high`` (a percentage, a number of days)."""
        if isinstance(self.value, int) and not isinstance(self.value, bool) and low <= self.value <= high:
            return self.value
        key = self.path.rsplit(".", 1)[-1].split("[", 1)[0]
        self.error("bad_int_range", key=key, value=self.value, low=low, high=high)
        return None

    def day(self) -> date | None:
        """A calendar date written as 2026-01-01 (a time of day is refused: validity counts whole days)."""
        value = self.value
        if isinstance(value, datetime):  # a datetime is a date too: the type alone does not tell them apart
            self.error("bad_date_time", value=value)
            return None
        if isinstance(value, date):
            return value
        text = value.strip() if isinstance(value, str) else ""
        if found := _DAY.fullmatch(text):
            try:
                if found["compact"]:  # 20260301, as date.fromisoformat took it before dates were read as text
                    return date.fromisoformat(text)
                return date(int(found["y"]), int(found["m"]), int(found["d"]))  # 2026-3-1 too, as YAML read it
            except ValueError:  # 2026-02-30: written right, but no such day
                self.error("bad_date_day", value=text)
                return None
        self.error("bad_date_time" if _DAY_TIME.match(text) else "bad_date", value=value)
        return None

    def choice(self, allowed: tuple[str, ...] | list[str]) -> str | None:
        """One of the allowed words."""
        if isinstance(self.value, str) and self.value in allowed:
            return self.value
        self.error("bad_choice", value=self.value, allowed=", ".join(allowed))
        return None

    def flag(self) -> bool:
        """A true/false value."""
        if isinstance(self.value, bool):
            return self.value
        self.error("bad_choice", value=self.value, allowed="true, false")
        return False


# A date as the rules file writes it, and a date followed by a time of day.
_DAY = re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})|(?P<compact>\d{8})")
_DAY_TIME = re.compile(r"\d{4}-\d{1,2}-\d{1,2}([Tt]|\s+)\d")


def _closest(written: str, allowed: tuple[str, ...]) -> str | None:
    """The allowed key a misspelt one most likely means ("nme" → "name"), or None."""
    found = difflib.get_close_matches(written, allowed, n=1, cutoff=0.75)
    return found[0] if found else None


def _english(node: Node, key: str = "name_en") -> str:
    """The English name a mapping gives beside its Chinese one (``name_en``, ``label_en``): "" when it gives none.

    Optional everywhere (the site shows the Chinese name instead); a value that is not text is a problem at its place.
    """
    return node.get(key, Node.text, "") or ""


class Document:
    """The parsed file and the problems found so far."""

    def __init__(self, filename: str, text: str = ""):
        self.filename = filename
        self.lines = text.splitlines()
        self.problems: list[Problem] = []

    def column_of(self, node: Node, snippet: str) -> int | None:
        """The 1-based column where ``snippet`` starts within a one-line value (quoted or not)."""
        if not 0 < node.line <= len(self.lines):
            return None
        line = self.lines[node.line - 1]
        start = node.column - 1
        if line[start : start + 1] in ("'", '"'):
            start += 1
        return start + 1 if line.startswith(snippet, start) else None


def version_of(text: str) -> str:
    """The ruleset version: the first 12 hex digits of the SHA-256 of the file's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


class _Constructor(RoundTripConstructor):
    """The round-trip constructor, but dates stay as written and a value it cannot build is placed.

    ruamel turns ``2026-03-01`` into a ``date`` while it reads the file, and ``2026-02-30`` into a
    ValueError with no place; ``Node.day`` reads the text instead, at its line and column.
    """

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        return str(node.value)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (YAMLError, RecursionError):
            raise
        except Exception as exc:  # a bad !!int, !!float … : ruamel's converters raise with no place
            raise ConstructorError(None, None, f"cannot read the value {node.value!r} ({exc})", node.start_mark) from None


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)

# Nesting deeper than this is a slip (a run of brackets), never a rules file; far deeper, the parser
# itself gives up (RecursionError).
MAX_DEPTH = 50


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    return yaml


def read_yaml(text: str) -> Any:
    """A rules text as data, read as ``load_rules`` reads it (dates stay text): for a text it accepted."""
    return _yaml().load(text)


# Checks added after texts may have been published under the looser ones. A text already published
# (``load_rules(published=True)``: the ledger loading its versions) is not refused for them, or the
# whole site would stop on a version in force: the value they name is left out (a cap of 0, a factor
# of -2, a percent beside reset), as such a value never meant anything sensible, and `jifen rules
# check` on that text still names each one so the next version corrects it.
LATER_CHECKS = frozenset({"bad_factor", "bad_int_range", "cap_not_positive", "exclusive_types", "floor_not_positive",
                          "full_width_separator", "percent_without_carry"})


def load_rules(text: str, filename: str = "rules.yaml", published: bool = False) -> Ruleset:
    """Parse and check a rules file; raise ``RulesFileError`` listing every problem (see ``LATER_CHECKS``)."""
    doc = Document(filename, text)
    if _bracket_depth(text) > MAX_DEPTH and (deep := _depth_problem(text, filename)) is not None:
        raise RulesFileError([deep])  # found at once: the parser would take seconds to give up
    try:
        data = _yaml().load(text)
    except MarkedYAMLError as exc:
        raise RulesFileError([yaml_problem(exc, filename, text)]) from None
    except ReaderError as exc:
        raise RulesFileError([_reader_problem(exc, text, filename)]) from None
    except RecursionError:
        raise RulesFileError([_depth_problem(text, filename) or _too_deep(filename)]) from None
    except YAMLError as exc:  # anything else the parser refuses, in its own words
        raise RulesFileError([Problem("yaml_syntax", {"detail": str(exc)}, filename, 1, 1, hint="hint_yaml")]) from None
    root = Node(data, doc, 1, 1)
    if not root.is_map():
        raise RulesFileError(doc.problems)
    try:
        ruleset = _Builder(root, doc).build(version_of(text))
    except RecursionError:
        raise RulesFileError([_depth_problem(text, filename) or _too_deep(filename)]) from None
    problems = [p for p in doc.problems if not (published and p.code in LATER_CHECKS)]
    if problems or ruleset is None:
        raise RulesFileError(sorted(problems, key=lambda p: (p.line, p.column)))
    ruleset.source = text
    return ruleset


def _place(text: str, position: int) -> tuple[int, int]:
    """The 1-based line and column of a character of ``text``."""
    position = max(0, min(position, len(text)))
    return text.count("\n", 0, position) + 1, position - (text.rfind("\n", 0, position) + 1) + 1


def _reader_problem(exc: ReaderError, text: str, filename: str) -> Problem:
    """A character YAML does not allow (a form feed pasted from Word), at its place."""
    line, col = _place(text, exc.position if isinstance(exc.position, int) else 0)
    char = exc.character
    shown = f"U+{char:04X}" if isinstance(char, int) else repr(char)
    return Problem("yaml_control_char", {"char": shown}, filename, line, col)


def _bracket_depth(text: str) -> int:
    """How deep the brackets of ``text`` nest, roughly (quotes and comments are not told apart): a quick look."""
    depth = deepest = 0
    for found in re.finditer(r"[\[\]{}]", text):
        depth = depth + 1 if found.group() in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


def _too_deep(filename: str, line: int = 1, column: int = 1) -> Problem:
    return Problem("yaml_too_deep", {"limit": MAX_DEPTH}, filename, line, column)


def _depth_problem(text: str, filename: str) -> Problem | None:
    """Nesting past ``MAX_DEPTH`` levels, placed at the first bracket or block past it; None when there is none."""
    depth = 0
    try:
        for event in YAML(typ="rt").parse(text):  # the parser keeps a stack of states: no recursion
            if isinstance(event, CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return _too_deep(filename, event.start_mark.line + 1, event.start_mark.column + 1)
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    except (YAMLError, RecursionError):
        pass
    return None


# The parser's common complaints (ruamel's English), each turned into a message that says what
# is wrong and how to fix it. Checked in order; the first match wins. A pattern's named groups
# become the message's parameters.
_YAML_CAUSES: tuple[tuple[str, str], ...] = (
    (r"expected ',' or '\]'", "yaml_flow_seq"),
    (r"expected ',' or '\}'", "yaml_flow_map"),
    (r"found character '\\t' that cannot start any token", "yaml_tab"),
    (r'found duplicate key "(?P<key>[^"]*)"', "yaml_duplicate"),
    (r"mapping values are not allowed here", "yaml_colon_here"),
    (r"could not find expected ':'", "yaml_no_colon"),
    (r"expected <block end>, but found '<scalar>'", "yaml_extra"),
    (r"expected <block end>|did not find expected (key|'-' indicator)", "yaml_indent"),
    (r"found unexpected end of stream", "yaml_quote"),
    (r"found character '(?P<char>[^']+)' that cannot start any token", "yaml_char"),
    (r"found unknown escape character '(?P<char>[^']*)'", "yaml_escape"),
    (r"found undefined alias '(?P<name>[^']*)'", "yaml_alias"),
    (r"cannot read the value", "yaml_value"),
)


def _unpaired_quote(text: str, first: int, last: int) -> int | None:
    """The first line from ``first`` to ``last`` (1-based) with an odd number of double quotes, outside comments."""
    for n, line in enumerate(text.splitlines()[max(first - 1, 0):last], max(first, 1)):
        code = line.split(" #", 1)[0].replace('\\"', "")
        if code.count('"') % 2:
            return n
    return None


def yaml_problem(exc: MarkedYAMLError, filename: str, text: str = "") -> Problem:
    """A YAML syntax error as a problem at its place, explained with its fix when it is a common one."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
    detail = exc.problem or exc.context or str(exc)
    # A double quote left open swallows the lines after it up to the next quote, and the parser trips
    # far below: the place to fix is the line whose quotes do not pair.
    if text and mark is not None and not re.search(r"duplicate key|'\\t'", detail):
        start = exc.context_mark.line + 1 if exc.context_mark else 1
        unpaired = _unpaired_quote(text, start, line)
        if unpaired is not None and unpaired < line:
            return Problem("yaml_quote", {"detail": detail, "open": unpaired}, filename, unpaired, 1)
    # Where the unclosed bracket or quote, or the first of two keys, was opened: the place to fix
    # is often there, not where the parser noticed.
    opened = exc.context_mark.line + 1 if exc.context_mark else line
    for pattern, code in _YAML_CAUSES:
        if found := re.search(pattern, detail):
            params = {"detail": detail, "open": opened, **found.groupdict()}
            return Problem(code, params, filename, line, col)
    return Problem("yaml_syntax", {"detail": detail}, filename, line, col, hint="hint_yaml")


# Full-width punctuation typed with a Chinese input method where YAML wants its ASCII separators.
_FULL_WIDTH = {"，": ",", "：": ":", "；": ";", "［": "[", "］": "]", "｛": "{", "｝": "}"}


def _identifier(node: Node) -> str | None:
    """A key or reference (a role, a point type, a rule id): text with none of the full-width separators.

    ``[villager，party_member]`` reads as one role named ``villager，party_member``: said once, where it
    was typed, instead of at every rule that names ``villager``.
    """
    value = node.text()
    if value is None:
        return None
    found = next((c for c in value if c in _FULL_WIDTH), None)
    if found is not None:
        node.error("full_width_separator", value=value, char=found, ascii=_FULL_WIDTH[found])
        return None
    return value


def _identifiers(node: Node) -> list[str]:
    """One list item that should be one identifier: the parts a full-width separator joined, once reported."""
    if _identifier(node) is not None:
        return [str(node.text())]
    text = node.value if isinstance(node.value, str) else ""
    return [part.strip() for part in re.split("|".join(map(re.escape, _FULL_WIDTH)), text) if part.strip()]


def check_rules(text: str, filename: str = "rules.yaml") -> list[Problem]:
    """Every problem in a rules file; an empty list means it can be published."""
    try:
        load_rules(text, filename)
    except RulesFileError as exc:
        return exc.problems
    return []


class _Builder:
    TOP = ("title", "timezone", "tiers", "roles", "point_types", "event_types", "categories", "rules")

    def __init__(self, root: Node, doc: Document):
        self.root = root
        self.doc = doc
        # A definition with a bad value stays defined (a stand-in replaces that value), so that the
        # rules naming it are not each reported as naming something unknown: one mistake, one
        # problem. What a stand-in cannot vouch for is remembered here, and the checks that
        # depend on it are skipped.
        self.unsure_step: set[str] = set()  # point types whose step is unknown
        self.unsure_holder: set[str] = set()  # point types whose holder is unknown
        self.unsure_subject: set[str] = set()  # event types whose subject or household is unknown
        self.unsure_fields: dict[str, set[str]] = {}  # event type → fields it may have (ANY_FIELD: any)
        self.unsure_categories: set[str] = set()  # categories whose point type is unknown

    def build(self, version: str) -> Ruleset | None:
        root = self.root
        root.only_keys(self.TOP)
        title = root.get("title", Node.text, "")
        tz = self.timezone(root.child("timezone"))
        tiers = self.tiers(root.child("tiers"))
        roles: tuple[str, ...] = DEFAULT_ROLES
        if (roles_node := root.child("roles")) is not None:
            # A role typed with a full-width comma is named once and read as the roles meant, so the rules
            # naming them are not refused one by one for it.
            roles = tuple(part for n in roles_node.items() for part in _identifiers(n))
        point_types = self.point_types(root.require("point_types"))
        event_types = self.event_types(root.require("event_types"), tiers)
        ruleset = Ruleset(version, tz, tiers, point_types, event_types, {}, {}, roles, title=title or "")
        self.categories(root.child("categories"), ruleset)
        self.rules(root.require("rules"), ruleset)
        ruleset.__post_init__()
        return ruleset

    # -- settings ------------------------------------------------------------------
    def timezone(self, node: Node | None) -> ZoneInfo:
        if node is None:
            return ZoneInfo("Asia/Shanghai")
        try:
            return ZoneInfo(str(node.value))
        except (ZoneInfoNotFoundError, ValueError):
            node.error("bad_timezone", value=node.value)
            return ZoneInfo("Asia/Shanghai")

    def tiers(self, node: Node | None) -> tuple[Tier, ...]:
        if node is None:
            return DEFAULT_TIERS
        tiers = []
        for item in node.items():
            if item.is_map():
                item.only_keys(("key", "name", "name_en", "color"))
                key_n, name_n = item.require("key"), item.require("name")
                color = item.child("color")
                key = key_n.text() if key_n else None
                name = name_n.text() if name_n else None
                name_en = _english(item)
                # A tier without a good name is still a tier: conditions naming it are not wrong.
                if key:
                    tiers.append(Tier(key, name or key, color.text() or "" if color else "", name_en))
        return tuple(tiers)

    def _unique(self, node: Node, ident: str, seen: dict[str, int]) -> bool:
        if ident in seen:
            node.error("duplicate_id", id=ident, line=seen[ident])
            return False
        seen[ident] = node.line
        return True

    # -- point types -----------------------------------------------------------------
    def point_types(self, node: Node | None) -> dict[str, PointType]:
        result: dict[str, PointType] = {}
        if node is None:
            return result
        seen: dict[str, int] = {}
        allowed = ("key", "name", "name_en", "holder", "unit", "step", "period", "year_end", "validity_days", "spendable", "grades",
                   "members_only")
        for item in node.items():
            if not item.is_map():
                continue
            item.only_keys(allowed)
            key_n = item.require("key")
            key = key_n.text() if key_n else None
            name_n, holder_n = item.require("name"), item.require("holder")
            name = name_n.text() if name_n else None
            holder = holder_n.choice((PERSON, HOUSEHOLD)) if holder_n else None
            unit = item.get("unit", Node.text, "分")
            step = item.get("step", Node.amount, 100)
            if step is not None and step <= 0:
                item.child("step").error("bad_step_size", value=item.value["step"])  # type: ignore[union-attr]
                step = None
            period = item.get("period", lambda n: n.choice(PERIODS), "year")
            year_end = self.year_end(item.child("year_end"))
            validity = item.get("validity_days", lambda n: n.count_within(1, MAX_VALIDITY_DAYS), None)  # 0 would mean nothing: leave it out
            spendable = item.get("spendable", Node.flag, False)
            members_only = item.get("members_only", Node.flag, None)
            if members_only and holder == HOUSEHOLD:
                item.child("members_only").error("members_only_person")  # type: ignore[union-attr]
            if members_only is None:
                # Not said: a person's tally that starts from zero each year is the 零基 pattern, Party members'
                # own (as rules texts published before the key existed meant it); ``members_only: false`` opens it.
                members_only = holder == PERSON and year_end is not None and year_end.policy == "reset"
            grades, grade_name, grade_name_en = self.grades(item.child("grades"), step or 100)
            name_en = _english(item)
            if not (key and key_n and self._unique(key_n, key, seen)):
                continue
            if step is None or item.near_key("step") is not None:  # "stpe: 0.5" leaves the step unknown too
                self.unsure_step.add(key)
            if holder is None:
                self.unsure_holder.add(key)
            result[key] = PointType(
                key, name or key, holder or PERSON, unit or "分", step or 1, period or "year",
                year_end or YearEnd("never"), spendable, validity or None, grades, grade_name, name_en, grade_name_en,
                bool(members_only),
            )
        return result

    def year_end(self, node: Node | None) -> YearEnd | None:
        if node is None:
            return YearEnd("never")
        if not node.is_map():
            return None
        node.only_keys(("policy", "percent"))
        pol_n = node.require("policy")
        policy = pol_n.choice(("reset", "carry", "never")) if pol_n else None
        percent = 0
        if policy == "carry":
            pct = node.require("percent")
            percent = (pct.count_within(0, 100) or 0) if pct else 0
        elif policy and (pct_n := node.child("percent")) is not None:  # it would be ignored without a word
            pct_n.error("percent_without_carry", policy=policy)
        return YearEnd(policy, percent) if policy else None

    def grades(self, node: Node | None, step: int) -> tuple[tuple[GradeLevel, ...], str, str]:
        """A point type's grades: its levels from the top, and the grades' name in Chinese and English."""
        if node is None or not node.is_map():
            return (), "", ""
        node.only_keys(("name", "name_en", "levels"))
        name = node.get("name", Node.text, "")
        name_en = _english(node)
        levels: list[GradeLevel] = []
        levels_n = node.require("levels")
        for item in levels_n.items() if levels_n else []:
            if not item.is_map():
                continue
            item.only_keys(("key", "name", "name_en", "min"))
            k, n, m = item.require("key"), item.require("name"), item.require("min")
            level_en = _english(item)
            if k and n and m:
                amount = m.amount()
                if amount is not None:
                    levels.append(GradeLevel(k.text() or "", n.text() or "", amount, level_en))
        if any(a.min <= b.min for a, b in itertools.pairwise(levels)):
            node.error("grade_order")
        return tuple(levels), name or "", name_en

    # -- event types --------------------------------------------------------------------
    def event_types(self, node: Node | None, tiers: tuple[Tier, ...]) -> dict[str, EventType]:
        result: dict[str, EventType] = {}
        if node is None:
            return result
        seen: dict[str, int] = {}
        for item in node.items():
            if not item.is_map():
                continue
            item.only_keys(("key", "name", "name_en", "subject", "household", "linked", "pick_rule", "fields"))
            key_n, name_n, subj_n = item.require("key"), item.require("name"), item.require("subject")
            key = key_n.text() if key_n else None
            name = name_n.text() if name_n else None
            name_en = _english(item)
            subject = subj_n.choice((PERSON, HOUSEHOLD)) if subj_n else None
            household_n = item.child("household")
            # Who the event is about is unknown when its subject or household flag is written wrong.
            unsure = (
                subject is None
                or (household_n is not None and not isinstance(household_n.value, bool))
                or item.near_key("household") is not None
            )
            household = item.get("household", Node.flag, subject == HOUSEHOLD)
            pick_rule = item.get("pick_rule", Node.flag, False)
            linked = item.get("linked", Node.flag, False)
            if linked and not unsure and (subject != PERSON or not household):
                item.child("linked").error("linked_needs_household")  # type: ignore[union-attr]
            if unsure:
                # The widest view, so that no name the engine might supply (tier, party_member,
                # linked) is reported as unknown in the rules for this event type.
                subject, household = PERSON, True
            fields: dict[str, FieldSpec] = {}
            unsure_fields: set[str] = set()
            fields_n = item.child("fields")
            if (fields_n is not None and not isinstance(fields_n.value, list)) or item.near_key("fields"):
                unsure_fields.add(ANY_FIELD)
            for f in fields_n.items() if fields_n else []:
                if not f.is_map():
                    unsure_fields.add(ANY_FIELD)
                    continue
                f.only_keys(("name", "type", "choices", "required", "label", "label_en", "min", "max"))
                fn, ft = f.require("name"), f.require("type")
                fname = fn.text() if fn else None
                ftype = ft.choice(FIELD_TYPES) if ft else None
                choices: tuple[str, ...] = ()
                if ftype == "choice":
                    ch = f.require("choices")
                    texts = [c.text() for c in ch.items()] if ch else []
                    # With one choice written wrong the allowed values are unknown: check none of
                    # them, rather than report the good values the rules compare with.
                    choices = tuple(t for t in texts if t) if all(texts) else ()
                required = f.get("required", Node.flag, False)
                label = f.get("label", Node.text, "")
                label_en = _english(f, "label_en")
                low, high = self._bounds(f, ftype)
                if not fname or not ftype:
                    # Left out, but the rules naming it are not wrong: their checks skip it.
                    unsure_fields.add(fname or ANY_FIELD)
                    continue
                if fname in fields or fname in RESERVED_NAMES:
                    fn.error("duplicate_id", id=fname, line=f.line)  # type: ignore[union-attr]
                fields[fname] = FieldSpec(fname, ftype, choices, required, label or "", low, high, label_en)
            if not (key and key_n and self._unique(key_n, key, seen)):
                continue
            if unsure:
                self.unsure_subject.add(key)
            self.unsure_fields[key] = unsure_fields
            result[key] = EventType(
                key, name or key, subject or PERSON, bool(household), fields, pick_rule, bool(linked), name_en
            )
        return result

    @staticmethod
    def _bounds(f: Node, ftype: str | None) -> tuple[Decimal | None, Decimal | None]:
        """A number field's ``min`` and ``max`` (either may be left out)."""
        nodes = [f.child("min"), f.child("max")]
        # An unreadable type is reported already: read the bounds as numbers, not as misplaced.
        if ftype not in ("int", "decimal", None):
            for n in nodes:
                if n is not None:
                    n.error("bound_needs_number", type=ftype or "-")
            return None, None
        low, high = (n.number() if n is not None else None for n in nodes)
        if low is not None and high is not None and low > high:
            nodes[0].error("bad_range", low=low, high=high)  # type: ignore[union-attr]
        return low, high

    # -- categories and rules ---------------------------------------------------------------
    def _features(self, item: Node, owner: dict[str, Any], for_category: bool) -> list[Feature]:
        features: list[Feature] = []
        for key in item.value:
            cls = FEATURES.get(str(key))
            if cls is None or not (cls.on_categories if for_category else cls.on_rules):
                continue
            node = item.child(str(key))
            assert node is not None
            feature = cls.parse(node, owner)
            if feature is not None:
                features.append(feature)
        return sorted(features, key=lambda f: f.stage)

    def categories(self, node: Node | None, ruleset: Ruleset) -> None:
        if node is None:
            return
        seen: dict[str, int] = {}
        cat_keys = [k for k, c in FEATURES.items() if c.on_categories]
        for item in node.items():
            if not item.is_map():
                continue
            item.only_keys(("key", "name", "name_en", "point_type", *cat_keys))
            key_n, name_n, pt_n = item.require("key"), item.require("name"), item.require("point_type")
            key = key_n.text() if key_n else None
            pt = self._ref(pt_n, ruleset.point_types, ("积分类型", "point type")) if pt_n else None
            features = self._features(item, {"point_type": pt}, for_category=True)
            name = name_n.text() if name_n else None
            name_en = _english(item)
            if key and key_n and self._unique(key_n, key, seen):
                if pt is None:
                    self.unsure_categories.add(key)
                ruleset.categories[key] = Category(key, name or key, pt or "", features, name_en)

    def _ref(self, node: Node, table: dict[str, Any], kind: tuple[str, str]) -> str | None:
        value = node.text()
        if value is None:
            return None
        if value not in table and _identifier(node) is None:  # typed with a full-width separator: said so
            return None
        if value not in table:
            node.error("unknown_ref", "hint_spelling", kind=kind, value=value, allowed=", ".join(table) or "-")
            return None
        return value

    def rules(self, node: Node | None, ruleset: Ruleset) -> None:
        if node is None:
            return
        seen: dict[str, int] = {}
        rule_keys = [k for k, c in FEATURES.items() if c.on_rules]
        for order, item in enumerate(node.items()):
            if not item.is_map():
                continue
            item.only_keys(("id", "name", "name_en", "point_type", "event", "category", "note", *rule_keys))
            id_n, name_n = item.require("id"), item.require("name")
            pt_n, ev_n = item.require("point_type"), item.require("event")
            rid = id_n.text() if id_n else None
            name_en = _english(item)
            pt = self._ref(pt_n, ruleset.point_types, ("积分类型", "point type")) if pt_n else None
            et = self._ref(ev_n, ruleset.event_types, ("事件类型", "event type")) if ev_n else None
            cat = None
            if (cat_n := item.child("category")) is not None:
                cat = self._ref(cat_n, ruleset.categories, ("类别", "category"))
                if cat and pt and cat not in self.unsure_categories and ruleset.categories[cat].point_type != pt:
                    cat_n.error("holder_mismatch", category=cat, ctype=ruleset.categories[cat].point_type, rtype=pt)
            if item.child("points") is None:
                item.error("missing_key", key="points")
            if pt and et and ev_n and pt not in self.unsure_holder and et not in self.unsure_subject:
                holder = ruleset.point_types[pt].holder
                subject = ruleset.event_types[et].subject
                if holder == PERSON and subject == HOUSEHOLD:
                    ev_n.error("no_subject", event=et, subject=subject, ptype=pt, holder=holder)
            owner = {"point_type": pt, "event": et}
            features = self._features(item, owner, for_category=False)
            unique = bool(rid and id_n and self._unique(id_n, rid, seen))
            if not (rid and name_n and pt and et):
                continue
            # A rule with a duplicate id is still checked, so that every problem of the file
            # is reported at once; it just never joins the ruleset.
            rule = Rule(rid, name_n.text() or rid, pt, et, cat, features, line=item.line, order=order, name_en=name_en)
            event_type = ruleset.event_types[et]
            start = len(self.doc.problems)
            for feature in features:
                fnode = item.child(feature.key)
                assert fnode is not None
                feature.check(fnode, event_type, ruleset, rule)
                feature.configure(rule)
            self.doc.problems[start:] = [p for p in self.doc.problems[start:] if not self._follows(p, pt, et)]
            if unique:
                ruleset.rules[rid] = rule

    def _follows(self, problem: Problem, point_type: str, event_type: str) -> bool:
        """Whether a rule's problem only follows from a bad value of its point or event type."""
        if problem.code == "bad_step":
            return point_type in self.unsure_step
        if problem.code in ("expr_name", "multiplier_attr"):
            unsure = self.unsure_fields.get(event_type, set())
            name = problem.params.get("name", problem.params.get("attr"))
            return ANY_FIELD in unsure or name in unsure
        return False
