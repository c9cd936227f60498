"""Periods follow local time (Asia/Shanghai), never UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from scoring.periods import local_date, parse_period, period_key, previous_period, window_keys

SH = ZoneInfo("Asia/Shanghai")


def test_late_evening_of_march_31_is_in_march_and_q1_although_utc_says_15_30() -> None:
    moment = datetime.fromisoformat("2026-03-31T23:30:00+08:00")
    assert moment.astimezone(UTC).isoformat() == "2026-03-31T15:30:00+00:00"
    day = local_date(moment, SH)
    assert day == date(2026, 3, 31)
    keys = window_keys(day)
    assert keys["month"] == "2026-03"
    assert keys["quarter"] == "2026-Q1"
    assert keys["year"] == "2026"


def test_just_after_midnight_on_april_1_is_in_april_although_utc_is_still_march_31() -> None:
    moment = datetime.fromisoformat("2026-04-01T00:30:00+08:00")
    assert moment.astimezone(UTC).date() == date(2026, 3, 31)
    day = local_date(moment, SH)
    assert day == date(2026, 4, 1)
    assert period_key("month", day) == "2026-04"
    assert period_key("quarter", day) == "2026-Q2"


def test_a_utc_moment_is_placed_by_its_local_date() -> None:
    moment = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 2027-01-01 00:30 in Beijing
    day = local_date(moment, SH)
    assert window_keys(day) == {
        "day": "2027-01-01", "week": "2026-W53", "month": "2027-01", "quarter": "2027-Q1", "year": "2027", "total": "all",
    }


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2026, 3, 1, 9), SH)


def test_iso_weeks_cross_years() -> None:
    assert period_key("week", date(2026, 1, 1)) == "2026-W01"
    assert period_key("week", date(2027, 1, 1)) == "2026-W53"
    assert period_key("week", date(2025, 12, 29)) == "2026-W01"


@pytest.mark.parametrize(("key", "kind", "start", "end"), [
    ("2026", "year", date(2026, 1, 1), date(2027, 1, 1)),
    ("2026-Q1", "quarter", date(2026, 1, 1), date(2026, 4, 1)),
    ("2026-Q4", "quarter", date(2026, 10, 1), date(2027, 1, 1)),
    ("2026-02", "month", date(2026, 2, 1), date(2026, 3, 1)),
    ("2026-12", "month", date(2026, 12, 1), date(2027, 1, 1)),
])
def test_period_keys_read_back_into_dates(key: str, kind: str, start: date, end: date) -> None:
    p = parse_period(key)
    assert (p.kind, p.start, p.end) == (kind, start, end)
    assert p.contains(start) and not p.contains(end)
    assert period_key(kind, start) == key


@pytest.mark.parametrize("bad", ["2026-Q5", "2026-13", "26", "2026-Q0", "2026/03", "abcd"])
def test_bad_period_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a period key"):
        parse_period(bad)


def test_previous_periods() -> None:
    assert previous_period(parse_period("2026-Q1")).key == "2025-Q4"
    assert previous_period(parse_period("2026-01")).key == "2025-12"
    assert previous_period(parse_period("2026")).key == "2025"


def _closing_codes(point_type_period: str, key: str, today: date, closed: set[str]) -> list[str]:
    from pathlib import Path

    from scoring.grades import closing_problems
    from scoring.loader import load_rules

    ruleset = load_rules((Path(__file__).resolve().parent.parent / "rules.yaml").read_text(encoding="utf-8"))
    pt = next(p for p in ruleset.point_types.values() if p.period == point_type_period)
    return [p.code for p in closing_problems(pt, key, today, date(2026, 1, 1), closed)]


def test_a_period_closes_once_ended_and_in_order_and_never_before_a_later_one_already_closed() -> None:
    assert _closing_codes("year", "2026", date(2027, 1, 1), set()) == []
    assert _closing_codes("year", "2026", date(2026, 12, 31), set()) == ["close_not_ended"]
    assert _closing_codes("year", "2025", date(2027, 1, 1), set()) == ["close_before_rules"]
    assert _closing_codes("year", "2026-05", date(2027, 1, 1), set()) == ["close_kind"]
    assert _closing_codes("year", "2026-X", date(2027, 1, 1), set()) == ["close_bad_period"]
    assert _closing_codes("year", "2027", date(2028, 1, 1), set()) == ["close_out_of_order"]
    assert _closing_codes("year", "2027", date(2028, 1, 1), {"2026"}) == []
    # Closed before this check existed: a later year already closed bars an earlier one.
    assert _closing_codes("year", "2026", date(2029, 1, 1), {"2027"}) == ["close_later_closed"]


def test_window_start_is_the_first_day_of_each_window_holding_a_day() -> None:
    from scoring.periods import window_start

    day = date(2026, 10, 15)  # a Thursday
    assert [window_start(w, day) for w in ("day", "week", "month", "quarter", "year")] == [
        day, date(2026, 10, 12), date(2026, 10, 1), date(2026, 10, 1), date(2026, 1, 1)]
    assert window_start("quarter", date(2026, 8, 31)) == date(2026, 7, 1)
    assert window_start("total", day) == date.min
