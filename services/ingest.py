"""Ingesting events from JSONL, CSV, Excel or the API: validate, score in batches, report per record."""

from __future__ import annotations

import csv
import gc
import io
import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import orjson
from marshmallow import ValidationError

from scoring.engine import parse_moment, parse_points_field
from scoring.errors import Problem
from scoring.model import Ruleset
from services.privacy import mask_cell, mask_numbers
from services.schemas import EventIn, problems_from
from services.tables import BigNumber, Table, undecodable
from store.ledger import Incoming, Ledger, RecordResult

ENVELOPE = ("id", "type", "occurred_at", "person", "household", "rule", "points", "actor", "approved_by", "description")
# The envelope's columns as a village office heads them in its 台账 (a spreadsheet's header; JSON keeps the names above).
HEADER_ALIASES = {
    "编号": "id", "事件编号": "id", "类型": "type", "事件类型": "type", "事项": "type", "时间": "occurred_at",
    "日期": "occurred_at", "发生时间": "occurred_at", "村民": "person", "人员编号": "person", "党员": "person",
    "户号": "household", "农户": "household", "规则": "rule", "细则编号": "rule", "分值": "points", "录入人": "actor",
    "审核人": "approved_by", "说明": "description",
}


# The codes ``jifen ingest-template`` writes in its example rows (services.ledger_template): no roll
# gives them (persons are numbered from P0000001), so a row still holding one is an example left in.
PLACEHOLDER_PERSON = "P0000000"
PLACEHOLDER_HOUSEHOLD = "H000000"


def _canonical_row(cells: dict[str, Any], ref: str, names: dict[str, str]) -> dict[str, Any] | Problem:
    """A row keyed by the envelope's own names (``names``: the sheet's header → them, built once per sheet);
    of two columns of one name (村民 and 党员), the one filled in.

    Both filled in, with different values, is a problem naming both: which person is meant is not for us to guess.
    """
    row: dict[str, Any] = {}
    header: dict[str, str] = {}
    for k, v in cells.items():  # the rows keep the sheet's own header
        name = names.get(k, k)
        if name in row and v not in (None, "") and row[name] not in (None, "") and str(row[name]).strip() != str(v).strip():
            return Problem("columns_disagree", {"first": header[name], "second": k, "a": mask_numbers(str(row[name])),
                                               "b": mask_numbers(str(v))}, record=ref, field=name)
        if name not in row or v not in (None, ""):
            row[name], header[name] = v, k
    for key, code in (("person", PLACEHOLDER_PERSON), ("household", PLACEHOLDER_HOUSEHOLD)):
        if str(row.get(key) or "").strip() == code:
            return Problem("template_example_left", {"value": code}, record=ref, field=key)
    return row


def canonical_header(header: Iterable[str]) -> list[str]:
    """A spreadsheet's header with the Chinese names of envelope columns read as the envelope's own (户号 → household)."""
    return [HEADER_ALIASES.get(name.strip(), name.strip()) if name else name for name in header]


REQUIRED = ("id", "type", "occurred_at")  # the envelope's columns every CSV needs
_schema = EventIn()


@dataclass
class IngestReport:
    """Counts by outcome and every problem, each naming its record and field.

    ``results`` keeps every record's result (its entries included) unless
    ``keep_results`` is off, as it is for a file of a million records.
    """

    counts: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    results: list[RecordResult] = field(default_factory=list)
    keep_results: bool = True

    def add(self, result: RecordResult) -> None:
        """Count one record's outcome (and whether a period's close cut it: dated in a period already closed)."""
        self.counts[result.status] += 1
        if any(e["kind"] == "close" for e in result.entries):
            self.counts["after_close"] += 1
        if result.status == "rejected":
            self.problems.extend(result.problems)
        if self.keep_results:
            self.results.append(result)

    def in_record_order(self) -> list[Problem]:
        """The problems by record, first row first: records are refused in several passes (reading, checking, scoring)."""
        return by_record(self.problems)

    def summary(self, lang: str = "zh") -> str:
        """One line: how many recorded, waiting for review, duplicates, rejected."""
        c = self.counts
        if lang.startswith("en"):
            late = f"; {c['after_close']} dated in a period already closed, cut as its close would have" if c["after_close"] else ""
            return (f"{c['recorded']} recorded, {c['pending']} waiting for review, {c['nothing']} matched no points, "
                    f"{c['duplicate']} already recorded, {c['rejected']} rejected{late}")
        late = f";其中 {c['after_close']} 条记在已结转的期间,余额按结转计" if c["after_close"] else ""
        return (f"记分 {c['recorded']} 条,待审核 {c['pending']} 条,未计分 {c['nothing']} 条,"
                f"已记录过 {c['duplicate']} 条,退回 {c['rejected']} 条{late}")


SAMPLE = 1 << 20  # bytes read to tell a file's encoding


def file_encoding(sample: bytes) -> str:
    """The encoding of a file from its first bytes: UTF-8 (a byte-order mark dropped) or GB18030.

    Excel in a Chinese Windows saves CSV in GBK, of which GB18030 is the superset.
    The whole sample decides, not a line: a short GBK line can happen to be
    valid UTF-8, a megabyte of Chinese text cannot. The encoding that reads
    further into it wins (a broken line further down does not change it);
    UTF-8 on a tie.
    """
    def reach(encoding: str) -> int:
        try:
            sample.decode(encoding)
        except UnicodeDecodeError as exc:
            # A character cut in two at the sample's end is no error of the file's.
            return len(sample) if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data" else exc.start
        return len(sample)

    return "gb18030" if reach("gb18030") > reach("utf-8") else "utf-8-sig"


def decode_lines(raw: BinaryIO) -> Iterator[str]:
    """A file's lines as text, in its encoding (``file_encoding``), ending in LF, CRLF or CR.

    Bytes the encoding cannot read are kept as escapes (``surrogateescape``), so
    the readers can refuse exactly the records that hold them.
    """
    encoding = file_encoding(raw.read(SAMPLE))
    raw.seek(0)
    text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
    try:
        yield from text
    finally:
        with suppress(ValueError):  # already closed by the caller, when a reader stopped early
            text.detach()  # the caller opened the file and closes it


def read_jsonl(stream: Iterable[str]) -> Iterator[tuple[str, dict[str, Any] | Problem]]:
    """Records of a JSON-lines file, each with its line number; a bad line becomes a problem."""
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        ref = f"#{n}"
        if undecodable(line):
            yield ref, Problem("bad_encoding", {}, record=ref)
            continue
        try:
            data = orjson.loads(line)  # ~1.5 µs a record against json's ~5
        except orjson.JSONDecodeError:
            try:  # json reads what orjson refuses (NaN, huge integers) and words what neither reads
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield ref, Problem("bad_json", {"detail": exc.msg}, record=ref)
                continue
        if not isinstance(data, dict):
            yield ref, Problem("bad_json", {"detail": "not an object"}, record=ref)
            continue
        yield ref, data


def _missing_columns(header: Iterable[str]) -> Problem | None:
    """One problem for a file whose header lacks a required column (not one per row: every row would miss it)."""
    missing = [c for c in REQUIRED if c not in header]
    if not missing:
        return None
    optional = ", ".join(c for c in ENVELOPE if c not in REQUIRED)
    return Problem("csv_missing_columns", {"columns": ", ".join(missing), "optional": optional}, record="#1")


def read_csv(stream: Iterable[str]) -> Iterator[tuple[str, dict[str, Any] | Problem]]:
    """Records of a CSV file with a header; columns beyond the envelope are event fields.

    A record is named by its row as Excel numbers it (the header is row 1). A
    record holding bytes its file's encoding cannot read is refused whole; an
    unreadable header refuses the file.
    """
    reader = csv.DictReader(stream)
    header = reader.fieldnames or ()
    if any(undecodable(name) for name in header):
        yield "#1", Problem("bad_encoding", {}, record="#1")
        return
    names = dict(zip(header, canonical_header(header), strict=True))
    missing = _missing_columns(list(names.values()))
    if missing is not None:
        yield "#1", missing
        return
    for n, row in enumerate(reader, 2):
        ref = f"#{n}"
        if any(undecodable(v) for v in row.values() if isinstance(v, str)):
            yield ref, Problem("bad_encoding", {}, record=ref)
            continue
        extra = row.pop(None, None)  # type: ignore[call-overload]  # values past the header's last column
        if extra:
            shown = ", ".join(str(v) for v in extra[:5]) + (" …" if len(extra) > 5 else "")
            yield ref, Problem("csv_extra_values", {"count": len(extra), "values": shown}, record=ref)
            continue
        read = _canonical_row(row, ref, names)
        yield ref, read if isinstance(read, Problem) else _event_of(read)


def read_workbook_events(table: Table) -> Iterator[tuple[str, dict[str, Any] | Problem]]:
    """Records of an Excel sheet (``services.tables``), columns as in a CSV file: the paper ledger (台账) typed into Excel.

    A date or time cell is read as the county's local time; a number as typed.
    """
    if table.problem is not None:
        yield "#1", table.problem
        return
    names = dict(zip(table.header, canonical_header(table.header), strict=True))
    missing = _missing_columns(list(names.values()))
    if missing is not None:
        yield "#1", missing
        return
    for n, cells in table.rows:
        ref = f"#{n}"
        read = _canonical_row(cells, ref, names)
        if isinstance(read, Problem):
            yield ref, read
            continue
        row = read
        extra = row.pop("#extra", None)
        if extra:
            yield ref, Problem("csv_extra_values", {"count": extra.count("、") + 1, "values": mask_cell(extra)}, record=ref)
            continue
        lost = next((k for k, v in row.items() if isinstance(v, BigNumber)), None)
        if lost is not None:
            yield ref, Problem("xlsx_number_too_long", {"column": lost}, record=ref, field=lost)
            continue
        yield ref, _event_of(row)
    if table.problem is not None:  # damaged part-way: the rows before were read; the rest of the file is refused
        yield "#1", table.problem


def _event_of(row: dict[str, Any]) -> dict[str, Any]:
    """A spreadsheet row as an event: the envelope's columns, and every other column a field."""
    data: dict[str, Any] = {k: v for k, v in row.items() if k in ENVELOPE and v not in (None, "")}
    data["fields"] = {k: v for k, v in row.items() if k not in ENVELOPE and k and v not in (None, "")}
    return data


_PAYLOAD = json.JSONEncoder(ensure_ascii=False, default=str)  # what json.dumps(…, ensure_ascii=False, default=str) does, built once
_KNOWN = frozenset((*ENVELOPE, "fields"))
_TEXT = ("person", "household", "rule", "actor", "approved_by", "description")


def _plain(data: dict[str, Any]) -> dict[str, Any] | None:
    """What ``EventIn().load`` returns, for a record that is plainly well formed; else None.

    The schema costs ~35 µs a record, most of an import's time; a record with only
    known keys, text where text is due and a dict of fields is checked here in ~2 µs.
    Anything else goes through the schema, which words the problems.
    """
    if not _KNOWN.issuperset(data):
        return None
    rid, kind, when = data.get("id"), data.get("type"), data.get("occurred_at")
    if type(rid) is not str or type(kind) is not str or type(when) is not str:
        return None
    if not (0 < len(rid) <= 200 and 0 < len(kind) <= 100):
        return None
    clean: dict[str, Any] = {"id": rid, "type": kind, "occurred_at": when, "points": data.get("points")}
    for name in _TEXT:
        value = data.get(name, None if name in ("person", "household") else "")
        if value is not None and type(value) is not str:
            return None
        clean[name] = value
    fields = data.get("fields", {})
    if type(fields) is not dict or not all(type(k) is str for k in fields):
        return None
    clean["fields_"] = dict(fields)
    return clean


def to_incoming(ref: str, data: dict[str, Any], tz: ZoneInfo, source: str, actor: str) -> Incoming | list[Problem]:
    """Validate one record's envelope; the fields are checked later against its event type."""
    clean = _plain(data)
    if clean is None:
        try:
            clean = _schema.load(data)
        except ValidationError as exc:
            return problems_from(exc, ref)
    problems = []
    try:
        moment = parse_moment(clean["occurred_at"], tz)
    except ValueError:
        problems.append(Problem("event_time", {"value": clean["occurred_at"]}, record=ref, field="occurred_at"))
    try:
        points = parse_points_field(clean["points"])
    except ValueError:
        problems.append(Problem("bad_amount", {"value": clean["points"]}, record=ref, field="points"))
    if not clean["person"] and not clean["household"]:
        problems.append(Problem("event_missing", {"field": "person"}, record=ref, field="person"))
    if problems:
        return problems
    return Incoming(
        key=clean["id"], type=clean["type"], occurred_at=moment, person=clean["person"] or None,
        household=clean["household"] or None, fields=clean["fields_"], points=points, rule=clean["rule"] or "",
        actor=clean["actor"] or actor, approved_by=clean["approved_by"] or "", source=source, ref=f"{ref} ({clean['id']})",
        description=clean["description"] or "", payload=_payload(data),
    )


def _payload(data: dict[str, Any]) -> str:
    """The record as received, as JSON text (orjson when it can: a fifth of json's time)."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:  # what orjson cannot write (huge integers, dates from a caller): json with str()
        return _PAYLOAD.encode(data)


CHUNK = 10_000  # records scored at a time: what memory holds of a batch (see Ledger.record_chunks)
# Records per transaction for a file import: balances, tallies and counters are written once per
# transaction, so larger is faster (bench/README.md: 20,000 → 50,000 is 12% faster, 100,000 only 2%
# more for 70 MB more); SQLite's write lock is held for one transaction, about 6 s at this size.
IMPORT_TRANSACTION = 50_000


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_saved: tuple[int, int, int] = (0, 0, 0)


@contextmanager
def no_full_collections() -> Iterator[None]:
    """Within the block, Python's cycle collector runs its young generations only.

    An import builds a large heap that lives for the whole import (the
    directory, the counters and tallies of a transaction), and each automatic
    full collection walks all of it: on the bench county, 30% of the time. Young
    collections still run, so a cycle made while scoring a record is freed as
    before; what reaches the old generation waits for the block's end. Nested
    and concurrent blocks (threads of one web worker) share one pause.
    """
    global _gc_pauses, _gc_saved
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(_gc_saved[0], _gc_saved[1], 1_000_000_000)
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0:
                gc.set_threshold(*_gc_saved)


def _record_number(problem: Problem) -> int:
    # A record is named ``#12`` or ``#12 (event id)``; anything else sorts last, in the order met.
    head = problem.record.lstrip("#").split(" ", 1)[0]
    return int(head) if head.isdigit() else 1 << 62


def by_record(problems: Iterable[Problem]) -> list[Problem]:
    """Problems in the order of their records (``#12`` by number, first row first; file-wide ones first)."""
    return sorted(problems, key=_record_number)


def ingest(ledger: Ledger, records: Iterable[tuple[str, dict[str, Any] | Problem]], source: str, actor: str,
           batch_size: int = 5000, keep_results: bool = True, chunk_size: int = CHUNK) -> IngestReport:
    """Score records, one transaction per ``batch_size``, ``chunk_size`` at a time; good records are kept whatever the others hold."""
    report = IngestReport(keep_results=keep_results)
    latest = ledger.versions().latest()
    tz = latest.timezone if latest else ZoneInfo("Asia/Shanghai")

    def scored_chunks() -> Iterator[list[Incoming]]:
        for chunk, rejected in _chunks(records, tz, source, actor, min(batch_size, chunk_size), Names.of(latest)):
            for r in rejected:
                report.add(r)
            if chunk:
                yield chunk

    with no_full_collections():
        for results in ledger.record_chunks(scored_chunks(), batch_size):
            for r in results:
                report.add(r)
    return report


class Names:
    """Event types and fields by the names people write in a 台账: 入户走访 for household_visit, 小时 for hours.

    The rules file names each (``name``, ``name_en``; a field's ``label``, ``label_en``); a record that uses
    those names is read as if it used the keys, so that it is stored, compared and explained alike.
    """

    def __init__(self, ruleset: Ruleset):
        self.types = ruleset.event_types
        self.by_name = {n: et.key for et in ruleset.event_types.values() for n in (et.name, et.name_en) if n}
        self.fields = {et.key: {n: f.name for f in et.fields.values() for n in (f.label, f.label_en) if n}
                       for et in ruleset.event_types.values()}

    @classmethod
    def of(cls, ruleset: Ruleset | None) -> Names | None:
        """The names of a ruleset (None without one)."""
        return cls(ruleset) if ruleset is not None else None

    def translate(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with its event type and field names as keys; a record already in keys is returned as it is."""
        kind = data.get("type")
        if isinstance(kind, str) and kind not in self.types and kind.strip() in self.by_name:
            data = {**data, "type": self.by_name[kind.strip()]}
            kind = data["type"]
        fields = data.get("fields")
        if isinstance(kind, str) and kind in self.types and isinstance(fields, dict):
            labels, known = self.fields[kind], self.types[kind].fields
            if any(k not in known and k in labels for k in fields):
                data = {**data, "fields": {labels.get(k, k) if k not in known else k: v for k, v in fields.items()}}
        return data


def _chunks(records: Iterable[tuple[str, dict[str, Any] | Problem]], tz: ZoneInfo, source: str, actor: str,
            size: int, names: Names | None = None) -> Iterator[tuple[list[Incoming], list[RecordResult]]]:
    """Checked records in chunks of ``size``, each with the records refused while reading it."""
    batch: list[Incoming] = []
    rejected: list[RecordResult] = []
    for ref, data in records:
        if isinstance(data, Problem):
            rejected.append(RecordResult(ref, "", "rejected", problems=[data]))
            continue
        if names is not None:
            data = names.translate(data)
        inc = to_incoming(ref, data, tz, source, actor)
        if isinstance(inc, list):
            rejected.append(RecordResult(ref, str(data.get("id", "")), "rejected", problems=inc))
            continue
        batch.append(inc)
        if len(batch) >= size:
            yield batch, rejected
            batch, rejected = [], []
    if batch or rejected:
        yield batch, rejected


def ingest_text(ledger: Ledger, text: str, fmt: str, source: str, actor: str) -> IngestReport:
    """Ingest a whole JSONL or CSV text."""
    reader = read_csv(io.StringIO(text)) if fmt == "csv" else read_jsonl(io.StringIO(text))
    return ingest(ledger, reader, source, actor)
