"""Periods in local time.

A village's month, quarter and year begin at local midnight (Asia/Shanghai by
default), so every period key is computed from the local date of an event, never
from UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

WINDOWS = ("day", "week", "month", "quarter", "year", "total")
PERIODS = ("month", "quarter", "year")


@lru_cache(maxsize=4096)
def _keys_for_date(d: date) -> tuple[str, str, str, str, str, str]:
    iso = d.isocalendar()
    return (
        d.isoformat(),
        f"{iso.year}-W{iso.week:02d}",
        f"{d.year}-{d.month:02d}",
        f"{d.year}-Q{(d.month - 1) // 3 + 1}",
        f"{d.year}",
        "all",
    )


@lru_cache(maxsize=4096)
def window_keys(local_day: date) -> dict[str, str]:
    """The key of every window (day … total) that a local date falls in (shared: read it, never change it)."""
    return dict(zip(WINDOWS, _keys_for_date(local_day), strict=True))


def window_start(kind: str, local_day: date) -> date:
    """The first local day of the window of ``kind`` (day … total) that holds ``local_day``."""
    if kind == "day":
        return local_day
    if kind == "week":
        return local_day - timedelta(days=local_day.weekday())  # ISO weeks start on Monday
    if kind == "month":
        return local_day.replace(day=1)
    if kind == "quarter":
        return local_day.replace(month=(local_day.month - 1) // 3 * 3 + 1, day=1)
    if kind == "year":
        return local_day.replace(month=1, day=1)
    return date.min  # total


def period_key(kind: str, local_day: date) -> str:
    """The key of one window kind (``month`` → ``2026-03``) for a local date."""
    return _keys_for_date(local_day)[WINDOWS.index(kind)]


@dataclass(frozen=True)
class Period:
    """A named span of local dates, ``start`` inclusive and ``end`` exclusive."""

    kind: str
    key: str
    start: date
    end: date

    def contains(self, d: date) -> bool:
        """Whether a local date falls within the period."""
        return self.start <= d < self.end


def parse_period(key: str) -> Period:
    """Read a period key (``2026``, ``2026-Q2``, ``2026-03``) back into its dates."""
    try:
        if len(key) == 4 and key.isdigit():
            y = int(key)
            return Period("year", key, date(y, 1, 1), date(y + 1, 1, 1))
        if len(key) == 7 and key[4:6] == "-Q":
            y, q = int(key[:4]), int(key[6])
            if not 1 <= q <= 4:
                raise ValueError(key)
            start = date(y, 3 * (q - 1) + 1, 1)
            end = date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)
            return Period("quarter", key, start, end)
        if len(key) == 7 and key[4] == "-":
            y, m = int(key[:4]), int(key[5:7])
            start = date(y, m, 1)
            end = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
            return Period("month", key, start, end)
    except ValueError:
        pass
    raise ValueError(f"not a period key: {key!r} (use 2026, 2026-Q2 or 2026-03)")


def previous_period(p: Period) -> Period:
    """The period of the same kind just before ``p``."""
    day_before = p.start - timedelta(days=1)
    return parse_period(period_key(p.kind, day_before))


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The local calendar date of an aware moment."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every moment in the engine carries its zone")
    return moment.astimezone(tz).date()
