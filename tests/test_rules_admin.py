"""The rules editor's services: a broken file never goes live; a dry run shows what would change."""

from __future__ import annotations

import json
from datetime import date

import pytest

from scoring.errors import RulesFileError
from services import rules_admin
from services.actors import Actor
from services.context import AppContext
from services.errors import Forbidden, ServiceError
from services.ingest import ingest_text
from store import rules_repo
from store.ledger import Ledger
from tests.builders import County
from tests.conftest import Clock

ADMIN = Actor("admin", "admin")


@pytest.fixture
def ctx(ledger: Ledger, clock: Clock) -> AppContext:
    c = AppContext(str(ledger.engine.url), clock)
    c.__dict__["engine"] = ledger.engine  # share the test's engine and ledger
    c.__dict__["ledger"] = ledger
    return c


def visits(ledger: Ledger) -> None:
    records = [
        {"id": f"v{i}", "type": "household_visit", "occurred_at": f"2026-05-{i + 1:02d}T10:00:00", "person": "M1", "household": h}
        for i, h in enumerate(["H1", "H2", "H1", "H2"])
    ]
    ingest_text(ledger, "\n".join(json.dumps(r) for r in records), "jsonl", "import", "clerk")


def test_validate_names_the_line_of_each_problem(rules_text: str) -> None:
    broken = rules_text.replace("when: rating >= 4", "when: ratting >= 4")
    problems = rules_admin.validate(broken, "en")
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if "ratting" in text)
    assert [p["line"] for p in problems] == [line]
    assert "ratting" in problems[0]["message"] and "rating" in problems[0]["message"]


def test_a_broken_file_is_refused_and_the_live_rules_stay(ctx: AppContext, rules_text: str) -> None:
    before = rules_repo.history(ctx.engine)
    with pytest.raises(ServiceError) as err:
        rules_admin.publish(ctx, rules_text.replace("step: 0.5", "step: zero", 1), date(2026, 7, 1), ADMIN)
    assert "未发布" in err.value.message("zh")
    assert rules_repo.history(ctx.engine) == before
    assert rules_admin.live_text(ctx) == rules_text


def test_only_an_administrator_publishes(ctx: AppContext, rules_text: str) -> None:
    with pytest.raises(Forbidden):
        rules_admin.publish(ctx, rules_text, date(2026, 7, 1), Actor("sec", "secretary"))


def test_diff_shows_the_changed_line(rules_text: str) -> None:
    lines = rules_admin.diff(rules_text, rules_text.replace("points: {fixed: 1}\n    multiplier", "points: {fixed: 2}\n    multiplier", 1))
    assert "-    points: {fixed: 1}" in lines and "+    points: {fixed: 2}" in lines


def test_dry_run_shows_how_standings_would_change(ctx: AppContext, ledger: Ledger, county: County, rules_text: str) -> None:
    visits(ledger)
    doubled = rules_text.replace("points: {fixed: 1}\n    multiplier", "points: {fixed: 2}\n    multiplier", 1)
    result = rules_admin.dry_run(ctx, doubled, "2026-05")
    member = ("p", county.ids["M1"])
    change = next(c for c in result.changes if (c.holder_kind, c.holder_id) == member and c.point_type == "party_work")
    # H1 is red (×2) and H2 yellow: 2+1+2+1 = 6 points kept; doubling the base gives 12.
    assert (change.old, change.new) == (600, 1200)
    assert result.events == 4
    # Nothing was written: the kept balance is unchanged.
    assert ledger.balance("party_work", "p", county.ids["M1"]) == (600, 600)


LH01 = "    points: {fixed: 1}\n    multiplier: {by: tier, values: {yellow: 1, orange: 1.5, red: 2}}\n    cooldown: {hours: 24, per: household}"


def test_dry_run_of_a_new_cap_cuts_what_exceeds_it(ctx: AppContext, ledger: Ledger, county: County, rules_text: str) -> None:
    visits(ledger)
    assert rules_text.count(LH01) == 1
    capped = rules_text.replace(LH01, LH01 + "\n    caps:\n      - {window: month, max: 3}")
    result = rules_admin.dry_run(ctx, capped, "2026-05")
    # In order: H1 red 2, H2 yellow 1 (3 used of 3), then H1 and H2 are cut to nothing.
    assert [(c.point_type, c.holder_id, c.old, c.new) for c in result.changes] == [("party_work", county.ids["M1"], 600, 300)]
    assert result.totals["party_work"] == (600, 300)
    # Only the event types the change reaches are scored again; the same answer as scoring every event.
    full = rules_admin.dry_run(ctx, capped, "2026-05", full=True)
    assert full.full and not result.full
    assert (full.changes, full.totals, full.holders, full.events) == (result.changes, result.totals, result.holders, result.events)


def test_a_change_reaches_only_the_events_it_can_touch(ctx: AppContext, ledger: Ledger, county: County, rules_text: str) -> None:
    visits(ledger)
    same = rules_admin.dry_run(ctx, rules_text, "2026-05")
    assert (same.events, same.kept_events, same.changes) == (0, 4, [])
    # 主题党日签到 has no category: its change cannot reach household visits, whose kept points stand.
    signin = "    points: {fixed: 5}\n    caps:\n      - {window: month, max: 5}"
    assert rules_text.count(signin) == 1
    other = rules_admin.dry_run(ctx, rules_text.replace(signin, signin.replace("fixed: 5", "fixed: 4")), "2026-05")
    assert (other.events, other.kept_events, other.changes) == (0, 4, [])
    assert other.totals["party_work"] == (600, 600)
    # A change to the time zone reaches every event.
    moved = rules_admin.dry_run(ctx, rules_text.replace("timezone: Asia/Shanghai", "timezone: Asia/Chongqing"), "2026-05")
    assert moved.full and moved.events == 4 and moved.changes == []


def test_the_dry_runs_reading_of_a_record_is_the_ledgers(ledger: Ledger, county: County, rules_text: str) -> None:
    from zoneinfo import ZoneInfo

    from services.ingest import _plain, to_incoming
    from store.directory import Directory

    tz = ZoneInfo("Asia/Shanghai")
    records = [
        {"id": "a", "type": "household_visit", "occurred_at": "2026-05-01T10:00:00", "person": "M1", "household": "H1"},
        {"id": "b", "type": "household_visit", "occurred_at": "2026-05-02T10:00:00+08:00", "person": "M1", "household": "H2",
         "approved_by": "sec", "points": 2, "fields": {"note": "x"}},
        {"id": "c", "type": "household_visit", "occurred_at": "2026-05-01T10:00:00", "person": "NOBODY"},
        {"id": "d", "type": "household_visit", "occurred_at": "2026-05-01T10:00:00"},
        {"id": "e", "type": "household_visit", "occurred_at": "not a time", "person": "M1"},
    ]
    with ledger.engine.connect() as conn:
        directory = Directory(conn)
        directory.prepare(["M1", "NOBODY"], ["H1", "H2"])
        for data in records:
            inc = to_incoming(str(data["id"]), data, tz, "import", "")
            ledgers = None if isinstance(inc, list) else directory.event_for(inc, inc.occurred_at.astimezone(tz).date())[0]
            clean = _plain(data)
            assert clean is not None
            assert rules_admin._event(clean, "import", tz, directory) == ledgers


def test_rollback_publishes_an_earlier_text_again(ctx: AppContext, rules_text: str) -> None:
    changed = rules_text.replace("title: 示范县积分制治理细则(2026 版)", "title: 示范县积分制治理细则(修订)")
    rules_admin.publish(ctx, changed, date(2026, 7, 1), ADMIN)
    first = rules_repo.history(ctx.engine)[-1]
    rules_admin.rollback(ctx, first.id, date(2026, 8, 1), ADMIN)
    newest = rules_repo.history(ctx.engine)[0]
    assert newest.version == first.version and newest.effective == date(2026, 8, 1)


def test_rolling_back_to_a_text_already_published_for_that_day_is_refused_naming_another_day(ctx: AppContext, rules_text: str) -> None:
    a = rules_admin.publish(ctx, rules_text.replace("(2026 版)", "(甲)"), date(2026, 9, 1), ADMIN)
    rules_admin.publish(ctx, rules_text.replace("(2026 版)", "(乙)"), date(2026, 9, 1), ADMIN)
    with pytest.raises(ServiceError) as refused:
        rules_admin.rollback(ctx, a.id, date(2026, 9, 1), ADMIN)
    assert refused.value.field == "effective" and "请另选生效日期" in refused.value.message("zh")
    rules_admin.rollback(ctx, a.id, date(2026, 9, 2), ADMIN)
    ruleset = ctx.ledger.versions().at(date(2026, 9, 2))
    assert ruleset is not None and ruleset.title.endswith("(甲)")


BROKEN = [  # (what the shipped file says, what an editor typed, the message code)
    ("valid: {from: 2026-03-01,", "valid: {from: 2026-02-30,", "bad_date_day"),
    ("valid: {from: 2026-03-01, to: 2026-12-31}", "valid: {from: 2026-03-01 08:00:00, to: 2026-12-31}", "bad_date_time"),
    ("valid: {from: 2026-03-01, to: 2026-12-31}", "valid: {from: 2026-03-01 08:00:00}", "bad_date_time"),
    ("    name: 走访联系户\n", "    name: 走访\x0c联系户\n", "yaml_control_char"),
    ("    name: 走访联系户\n", "    name: " + "[" * 2000 + "]" * 2000 + "\n", "yaml_too_deep"),
    ("      - {window: month, max: 40}", "      - {window: month, max: -40}", "cap_not_positive"),
    ("red: 2}", "red: -2}", "bad_factor"),
    ("factor: 2}", "factor: 1e300}", "bad_factor"),
    ("notice_days: 7", "notice_days: 100000000", "bad_int_range"),
    ("percent: 20}", "percent: 150}", "bad_int_range"),
]


@pytest.mark.parametrize(("old", "new", "code"), BROKEN)
def test_the_editor_places_each_bad_value_and_publishes_nothing(ctx: AppContext, rules_text: str, old: str, new: str,
                                                                 code: str) -> None:
    assert old in rules_text
    broken = rules_text.replace(old, new, 1)
    line = next(i for i, text in enumerate(broken.splitlines(), 1) if new.strip().splitlines()[0][:20] in text)
    for lang in ("zh", "en"):
        [problem] = rules_admin.validate(broken, lang)
        assert (problem["code"], problem["line"]) == (code, line) and problem["column"] > 1
        assert problem["message"] and "Traceback" not in problem["message"]
    before = rules_repo.history(ctx.engine)
    with pytest.raises(ServiceError) as err:
        rules_admin.publish(ctx, broken, date(2026, 7, 1), ADMIN)
    assert err.value.code == "rules_invalid"
    assert rules_repo.history(ctx.engine) == before and rules_admin.live_text(ctx) == rules_text
    with pytest.raises(RulesFileError):
        rules_admin.dry_run(ctx, broken, "2026-05")


@pytest.mark.parametrize("period", ["0001", "0001-01", "0001-Q1", "9999", "2026-13", "soon"])
def test_a_dry_run_of_a_period_out_of_reach_is_refused_as_a_form_error(ctx: AppContext, rules_text: str, period: str) -> None:
    with pytest.raises(ServiceError) as err:
        rules_admin.dry_run(ctx, rules_text, period)
    assert err.value.field == "period" and err.value.code == "dryrun_period"
    assert f"期间 “{period}” 无法试算" in err.value.message("zh") and "2026-Q1" in err.value.message("en")


def test_a_dry_run_reads_a_date_like_text_as_text(ctx: AppContext, ledger: Ledger, county: County, rules_text: str) -> None:
    # The loader keeps "2026-02-30" as the text it is; the dry run's own reading of the file did not (ValueError).
    visits(ledger)
    titled = rules_text.replace("title: 示范县积分制治理细则(2026 版)", "title: 2026-02-30", 1)
    assert titled != rules_text and rules_admin.validate(titled) == []
    result = rules_admin.dry_run(ctx, titled, "2026-05")
    assert (result.events, result.kept_events) == (0, 4)  # a title reaches no event: the kept points stand
    assert result.changes == [] and result.totals["party_work"] == (600, 600)


def test_a_dry_run_starts_from_the_counters_the_ledger_had_when_the_period_began(ctx: AppContext, ledger: Ledger,
                                                                                 county: County, rules_text: str) -> None:
    """An absence in April makes May's a repeat (PM-03, ×2 within 90 days): renaming the rule changes no score."""
    absent = [{"id": f"a{i}", "type": "meeting_attendance", "occurred_at": day, "person": "M1", "fields": {"status": "absent"}}
              for i, day in enumerate(["2026-04-20T10:00:00", "2026-05-06T10:00:00"])]
    ingest_text(ledger, "\n".join(json.dumps(r) for r in absent), "jsonl", "import", "clerk")
    assert ledger.period_score(ledger.engine.connect(), "party_work", "2026-05", "p", county.ids["M1"]) == (-200, False)
    renamed = rules_text.replace("name: 无故缺席会议、党课", "name: 无故缺席会议或党课", 1)
    assert renamed != rules_text
    same = rules_admin.dry_run(ctx, renamed, "2026-05")
    assert same.events == 1 and same.changes == []  # the May absence scored again, as the repeat it was
    # A real change still shows, counted from the same starting point: a repeat now triples.
    tripled = rules_admin.dry_run(ctx, rules_text.replace("repeat: {within_days: 90, factor: 2}", "repeat: {within_days: 90, factor: 3}", 1), "2026-05")
    assert [(c.old, c.new) for c in tripled.changes] == [(-200, -300)]


def test_the_same_rules_from_the_browser_and_from_a_file_are_one_version(ctx: AppContext, rules_text: str) -> None:
    """A browser posts CRLF line ends and Notepad may add a byte-order mark: still the text already published."""
    before = rules_repo.history(ctx.engine)
    again = rules_repo.publish(ctx.engine, "\ufeff" + rules_text.replace("\n", "\r\n"), date(2026, 1, 1), "admin", ctx.now())
    assert rules_repo.history(ctx.engine) == before and again.version == before[0].version
