"""Spreadsheets read as rows of text: an Excel workbook (.xlsx) or a CSV file, the way village offices keep 台账.

Every reader here gives the same thing: the header (the first row, trimmed) and
each later row as ``(row number as Excel shows it, {header: text})``. Cells are
turned into the text a clerk typed: a whole number without ``.0``, a decimal
exactly as shown (never a binary float's digits), a date as ``2026-03-11``, a
date with a time as ``2026-03-11T09:30:00`` (local time), a blank as ``""``.
Callers check the text as they check a CSV's, so one set of messages serves both.

openpyxl reads the workbook (its read-only mode streams rows, so a county's roll
of 600,000 persons is not held in memory as cells).
"""

from __future__ import annotations

import csv
import itertools
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from scoring.errors import Problem

XLSX_SUFFIXES = (".xlsx", ".xlsm")
OLD_SUFFIXES = (".xls", ".et", ".xlsb")
_ESCAPED = re.compile("[\udc80-\udcff]")  # bytes the encoding could not read (surrogateescape)
Row = tuple[int, dict[str, str]]


@dataclass
class Table:
    """A sheet's header and its rows (lazily read); ``problem`` refuses the whole file (unreadable, no header).

    A workbook found damaged part-way sets ``problem`` while its rows are read: check it after reading them.
    """

    header: list[str]
    rows: Iterable[Row]
    problem: Problem | None = None


class BigNumber(str):
    """A cell Excel stored as a number too long to hold exactly (an ID number typed into a number cell).

    Its last digits are already lost in the workbook; the readers refuse it with a message saying so.
    """


def undecodable(text: str) -> bool:
    """Whether text read by ``ingest.decode_lines`` holds bytes its encoding could not read (kept as surrogate escapes)."""
    return _ESCAPED.search(text) is not None


def is_old_workbook(name: str) -> bool:
    """Whether a file name is an old binary workbook (Excel 97–2003 .xls, WPS .et) that must be saved as .xlsx first."""
    return name.lower().endswith(OLD_SUFFIXES)


def is_workbook(name: str) -> bool:
    """Whether a file name is an Excel workbook this reader opens."""
    return name.lower().endswith(XLSX_SUFFIXES)


def cell_text(value: Any) -> str:
    """A cell's value as the text a clerk typed (see the module's docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            if abs(value) >= 10**15:  # Excel keeps 15 significant digits: a 16-digit code or an ID number lost its tail
                return BigNumber(f"{value:.0f}")
            return str(int(value))
        return format(Decimal(repr(value)).normalize(), "f")  # repr: the shortest text that reads back the same
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    return str(value).strip()


HEADER_SEARCH = 5  # rows looked at for the header: a sheet often has a title row or two above it
IsHeader = Callable[[list[str]], bool]


def _split_header(rows: Iterator[list[str]], is_header: IsHeader | None) -> tuple[list[str], int, list[tuple[int, list[str]]]]:
    """(header, its row number, data rows already read with theirs) from a sheet's leading rows.

    The header is the first of the leading rows ``is_header`` accepts, else the first row: rows above it
    (a merged title such as 青山镇2026年户籍花名册, a date line, a blank) are skipped.
    """
    seen: list[list[str]] = []
    for values in rows:
        seen.append(values)
        if is_header is None or is_header(values) or len(seen) == HEADER_SEARCH:
            break
    at = next((n for n, values in enumerate(seen) if is_header is not None and is_header(values)), 0)
    if not seen:
        return [], 1, []
    return seen[at], at + 1, [(at + 2 + i, values) for i, values in enumerate(seen[at + 1 :])]


def read_workbook(raw: BinaryIO, sheet: str | None = None, is_header: IsHeader | None = None) -> Table:
    """The first sheet (or ``sheet``) of an .xlsx workbook as a ``Table``; a file that is not one is refused."""
    from openpyxl import load_workbook  # imported here: only an Excel import pays for it

    try:
        book = load_workbook(raw, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        return Table([], (), Problem("xlsx_unreadable", {"detail": type(exc).__name__}, record="#1"))
    if sheet is not None and sheet not in book.sheetnames:
        names = "、".join(book.sheetnames)
        return Table([], (), Problem("xlsx_no_sheet", {"sheet": sheet, "sheets": names}, record="#1"))
    ws = book[sheet] if sheet is not None else book.worksheets[0]
    it = ([cell_text(v) for v in values] for values in ws.iter_rows(values_only=True))
    try:
        first, at, read = _split_header(it, is_header)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError) as exc:
        book.close()
        return Table([], (), Problem("xlsx_unreadable", {"detail": type(exc).__name__}, record="#1"))
    if not first:
        book.close()
        return Table([], (), Problem("table_empty", {}, record="#1"))
    header = _header(first)
    table = Table(header, ())

    def rows() -> Iterator[Row]:
        try:
            for n, texts in itertools.chain(read, enumerate(it, at + len(read) + 1)):
                if not any(texts):
                    continue  # a blank row between blocks, or the formatted tail of a sheet
                yield n, _row(header, texts)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, SyntaxError) as exc:  # a cut or damaged file
            # XML parse errors are SyntaxErrors. The rows read so far are kept by the caller; the file is refused.
            table.problem = Problem("xlsx_unreadable", {"detail": type(exc).__name__}, record="#1")
        finally:
            book.close()

    table.rows = rows()
    return table


def read_csv_table(lines: Iterable[str], is_header: IsHeader | None = None) -> Table:
    """A CSV file's header and rows, as ``read_workbook`` gives them (lines from ``ingest.decode_lines``)."""
    reader = csv.reader(lines)
    first, at, read = _split_header(reader, is_header)
    if not first:
        return Table([], (), Problem("table_empty", {}, record="#1"))
    header = _header(first)

    def rows() -> Iterator[Row]:
        for n, values in itertools.chain(read, enumerate(reader, at + len(read) + 1)):
            if not any(v.strip() for v in values):
                continue
            row = _row(header, [v.strip() for v in values])
            if any(undecodable(v) for v in values):  # bytes in neither UTF-8 nor GB18030: the caller refuses the row
                row = {"#encoding": "1"}
            yield n, row

    return Table(header, rows())


def open_table(path: str | Path, raw: BinaryIO, sheet: str | None = None, is_header: IsHeader | None = None) -> Table:
    """A workbook or a CSV file, chosen by the file's name; an old binary workbook (.xls, WPS .et) is refused.

    ``is_header`` recognises the header among the leading rows (title rows above it are skipped).
    """
    if is_old_workbook(str(path)):
        return Table([], (), Problem("xls_old_format", {}, record="#1"))
    if is_workbook(str(path)):
        return read_workbook(raw, sheet, is_header)
    # CSV imports' encoding sniffing (UTF-8 or GB18030); imported here, as services.ingest imports this module.
    from services.ingest import decode_lines

    return read_csv_table(decode_lines(raw), is_header)


def _header(names: Iterable[str]) -> list[str]:
    """Header cells trimmed; trailing blank columns (a sheet's formatting) dropped."""
    header = [str(n).strip().lstrip("\ufeff") for n in names]
    while header and not header[-1]:
        header.pop()
    return header


def _row(header: list[str], values: list[str]) -> dict[str, str]:
    """A row by column name; values past the header are kept under ``None``-free keys ``#n`` so callers can refuse them."""
    row = {name: (values[i] if i < len(values) else "") for i, name in enumerate(header) if name}
    extra = [v for v in values[len(header):] if v]
    if extra:
        row["#extra"] = "、".join(extra[:5])
    return row
