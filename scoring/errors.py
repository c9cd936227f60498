"""Problems the core reports, each with a place, a message code and a hint."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scoring.messages import render


@dataclass(frozen=True)
class Problem:
    """One problem at one place: a rules file line, or a record and field of a batch."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)
    file: str = ""
    line: int = 0  # 1-based; 0 when unknown
    column: int = 0  # 1-based
    record: str = ""  # which record of a batch (line number or event id)
    field: str = ""  # which field of that record
    hint: str = ""  # a message code for how to fix it

    def where(self) -> str:
        """``rules.yaml:12:5`` or ``events.jsonl 第3条 (field)`` style location."""
        if self.file:
            return f"{self.file}:{self.line}:{self.column}"
        loc = self.record
        if self.field:
            loc = f"{loc} [{self.field}]" if loc else self.field
        return loc

    def message(self, lang: str = "zh") -> str:
        """The problem as one sentence, with its fix when there is a hint."""
        text = render(self.code, lang, **self.params)
        if self.hint:
            sep = "。" if not lang.startswith("en") else ". "
            text = f"{text}{sep}{render(self.hint, lang)}"
        return text

    def format(self, lang: str = "zh") -> str:
        """Place and message on one line, as the check command prints it."""
        where = self.where()
        return f"{where}: {self.message(lang)}" if where else self.message(lang)

    def as_dict(self, lang: str = "zh") -> dict[str, Any]:
        """A JSON-ready form for the API and the rules editor."""
        return {
            "code": self.code,
            "message": self.message(lang),
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "record": self.record,
            "field": self.field,
        }


class ScoringError(Exception):
    """Raised with one or more problems; nothing has been recorded."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.format("en") for p in problems))
        self.problems = problems


class RulesFileError(ScoringError):
    """A rules file that cannot be published."""


class EventError(ScoringError):
    """An event that cannot be scored."""
