"""Tamper evidence: the database refuses edits to the ledger, and the seals name any range edited anyway."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from services.cli import main
from services.ingest import ingest_text
from store.db import is_postgres, make_engine
from store.ledger import Ledger
from store.models import Entry, EventRecord, Seal
from store.rules_repo import publish
from store.seal import GENESIS, SEAL_SIZE, link_digest, seal, verify
from tests.builders import County
from tests.conftest import Clock
from web.testing import build_world


def _visits(n: int, start: int = 0) -> str:
    return "\n".join(json.dumps({"id": f"s{i}", "type": "volunteer_service", "occurred_at": f"2026-03-{i % 28 + 1:02d}T10:{i % 60:02d}:00",
                                 "person": "P1", "fields": {"hours": 1}}) for i in range(start, start + n))


@pytest.fixture(autouse=True)
def short_links(monkeypatch: pytest.MonkeyPatch) -> int:
    """Links of 4 entries, so a few records make several links."""
    monkeypatch.setattr("store.seal.SEAL_SIZE", 4)
    return 4


def _entry_ids(engine: Engine) -> list[int]:
    with engine.connect() as c:
        return list(c.execute(select(Entry.id).order_by(Entry.id)).scalars())


def tamper(engine: Engine, table: str, statement: str) -> None:
    """What someone with the schema owner's rights could do: lift the guard, edit, put the guard back."""
    with engine.begin() as c:
        if is_postgres(c):
            c.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
            c.execute(text(statement))
            c.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only"))
        else:
            triggers = c.execute(text("SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"), {"t": table}).all()
            for name, _ in triggers:
                c.execute(text(f"DROP TRIGGER {name}"))
            c.execute(text(statement))
            for _, sql in triggers:
                c.execute(text(sql))


@pytest.mark.parametrize("statement", [
    "UPDATE entry SET amount = amount * 10",
    "DELETE FROM entry",
    "UPDATE eventrecord SET actor = 'someone else'",
    "DELETE FROM eventrecord",
])
def test_the_database_refuses_to_edit_or_delete_ledger_rows(ledger: Ledger, county: County, statement: str) -> None:
    ingest_text(ledger, _visits(2), "jsonl", "import", "clerk")
    before = _rows(ledger.engine)
    with pytest.raises(DBAPIError) as refused, ledger.engine.begin() as c:
        c.execute(text(statement))
    assert "append-only" in str(refused.value)
    assert _rows(ledger.engine) == before
    assert ledger.balance("volunteer_hours", "p", county.ids["P1"]) == (200, 200)


def _rows(engine: Engine) -> tuple[list[tuple], list[tuple]]:
    with engine.connect() as c:
        return ([tuple(r) for r in c.execute(select(Entry.id, Entry.amount, Entry.actor).order_by(Entry.id))],
                [tuple(r) for r in c.execute(select(EventRecord.event_key, EventRecord.actor).order_by(EventRecord.event_key))])


def test_entries_are_sealed_once_settled_and_verify_while_untouched(ledger: Ledger, county: County, clock: Clock) -> None:
    ingest_text(ledger, _visits(5), "jsonl", "import", "clerk")
    assert seal(ledger.engine, clock() + timedelta(minutes=9)) == 0  # a transaction may still be open: wait
    assert seal(ledger.engine, clock() + timedelta(minutes=10)) == 3  # 10 entries in links of 4
    first = len(_entry_ids(ledger.engine))  # hours and moral points: two entries a record
    clock.advance(hours=1)
    ingest_text(ledger, _visits(3, start=5), "jsonl", "import", "clerk")
    later = len(_entry_ids(ledger.engine)) - first
    v = verify(ledger.engine)
    assert v.ok and (v.links, v.sealed_entries, v.unsealed_entries) == (3, first, later) and first == 10
    assert seal(ledger.engine, clock() + timedelta(hours=1)) == 2  # the new 6 entries
    assert seal(ledger.engine, clock() + timedelta(hours=1)) == 0  # nothing new: no empty link
    noted = v.head_digest
    v = verify(ledger.engine, expect=noted)  # the fingerprint noted before is still in the chain
    assert v.ok and (v.links, v.sealed_entries, v.unsealed_entries) == (5, first + later, 0)
    assert verify(ledger.engine, expect=noted[:8].upper()).ok  # as copied from the board: its start, in capitals
    assert verify(ledger.engine, expect=noted[:7]).expected_found is False  # too short to mean one link


def test_a_long_ledger_is_sealed_in_links_of_bounded_size(ledger: Ledger, county: County, clock: Clock,
                                                          short_links: int) -> None:
    ingest_text(ledger, _visits(5), "jsonl", "import", "clerk")
    n = len(_entry_ids(ledger.engine))
    assert n == 10  # hours and moral points: two entries a record
    assert seal(ledger.engine, clock() + timedelta(hours=1)) == 3
    with ledger.engine.connect() as c:
        assert list(c.execute(select(Seal.entries).order_by(Seal.id)).scalars()) == [4, 4, 2]
    assert SEAL_SIZE == 1000  # what a real ledger uses: a broken link names at most 1,000 entries


@pytest.mark.parametrize(("statement", "reason"), [
    ("UPDATE entry SET amount = 100000 WHERE id = {victim}", "changed"),
    ("UPDATE entry SET approver = 'secretary' WHERE id = {victim}", "changed"),
    ("DELETE FROM entry WHERE id = {victim}", "count"),
])
def test_an_edit_behind_the_guard_is_named_by_its_range(ledger: Ledger, county: County, clock: Clock,
                                                         statement: str, reason: str) -> None:
    ingest_text(ledger, _visits(5), "jsonl", "import", "clerk")
    seal(ledger.engine, clock() + timedelta(hours=1))
    ids = _entry_ids(ledger.engine)
    tamper(ledger.engine, "entry", statement.format(victim=ids[5]))  # in the second link: entries 5–8
    v = verify(ledger.engine)
    assert not v.ok
    assert [(b.link, b.first_entry_id, b.last_entry_id, b.reason) for b in v.breaks] == [(2, ids[4], ids[7], reason)]


def test_rewriting_a_seal_to_hide_an_edit_breaks_the_chain_and_the_noted_fingerprint(ledger: Ledger, county: County,
                                                                                   clock: Clock) -> None:
    ingest_text(ledger, _visits(3), "jsonl", "import", "clerk")
    seal(ledger.engine, clock() + timedelta(hours=1))  # links of entries 1–4 and 5–6
    noted = verify(ledger.engine).head_digest  # printed on the notice board, copied by a villager
    victim = _entry_ids(ledger.engine)[3]
    tamper(ledger.engine, "entry", f"UPDATE entry SET amount = 100000 WHERE id = {victim}")
    # The forger recomputes link 1 to match the edit: link 2, built on the old digest, no longer follows.
    with ledger.engine.connect() as c:
        rows = c.execute(select(Entry).where(Entry.id <= _entry_ids(ledger.engine)[3]).order_by(Entry.id)).mappings().all()
    forged, _ = link_digest(GENESIS, rows)
    tamper(ledger.engine, "seal", f"UPDATE seal SET digest = '{forged}' WHERE id = 1")
    v = verify(ledger.engine)
    assert [(b.link, b.reason) for b in v.breaks] == [(2, "chain")]
    # Forging every link makes the chain hold again, but not the fingerprint people noted.
    with ledger.engine.connect() as c:
        rest = c.execute(select(Entry).where(Entry.id > rows[-1]["id"]).order_by(Entry.id)).mappings().all()
    head, _ = link_digest(forged, rest)
    tamper(ledger.engine, "seal", f"UPDATE seal SET prev_digest = '{forged}', digest = '{head}' WHERE id = 2")
    assert verify(ledger.engine).breaks == []
    v = verify(ledger.engine, expect=noted)
    assert v.expected_found is False and not v.ok


def test_two_sealers_at_once_never_fork_the_chain(ledger: Ledger, county: County, clock: Clock) -> None:
    ingest_text(ledger, _visits(6), "jsonl", "import", "clerk")  # 12 entries: three links
    later = clock() + timedelta(hours=1)
    added: list[int] = []
    sealers = [threading.Thread(target=lambda: added.append(seal(ledger.write_engine, later))) for _ in range(4)]
    for s in sealers:
        s.start()
    for s in sealers:
        s.join()
    assert sum(added) == 3
    v = verify(ledger.engine)
    assert v.ok and (v.links, v.sealed_entries, v.unsealed_entries) == (3, 12, 0)


def _cli(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--db", url, *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def _one_villager_with_hours(engine: Engine, clock: Clock, rules_text: str) -> str:
    """A database file with one villager (P1 of H1) and two records of volunteer hours; its URL."""
    county = County(engine)
    county.village("V1")
    county.household("H1", "G1")
    county.person("P1", "H1")
    publish(engine, rules_text, date(2026, 1, 1), "admin", clock())
    ingest_text(Ledger(engine, clock), _visits(2), "jsonl", "import", "clerk")
    return str(engine.url)


def test_jifen_ledger_verify_names_the_edited_range_in_both_languages(sqlite_engine: Engine, clock: Clock,
                                                                     rules_text: str) -> None:
    url = _one_villager_with_hours(sqlite_engine, clock, rules_text)
    code, out = _cli(url, "ledger", "verify")
    assert code == 0 and "尚未封存任何记录,还没有账本指纹" in out and "0" * 64 not in out
    code, out = _cli(url, "ledger", "seal")  # the real clock: these entries were recorded long ago
    assert code == 0 and "新封存 1 段" in out
    code, out = _cli(url, "ledger", "verify")
    assert code == 0 and "核验通过" in out and "已封存 4 条记录" in out
    noted = verify(sqlite_engine).head_digest
    assert noted in out
    ids = _entry_ids(sqlite_engine)
    tamper(sqlite_engine, "entry", f"UPDATE entry SET amount = 100000 WHERE id = {ids[2]}")
    code, out = _cli(url, "ledger", "verify")
    assert code == 3
    assert f"第 1 段(记录 #{ids[0]}–#{ids[-1]}" in out and "记录被改动过" in out
    code, out = _cli(url, "--lang", "en", "ledger", "verify", "--expect", "ab" * 32)
    assert code == 3
    assert f"link 1 (entries #{ids[0]}–#{ids[-1]}" in out and "entries in it were changed" in out
    assert "is not in the chain" in out


def test_the_public_notice_board_prints_the_fingerprint_anyone_can_check_later(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    clock = Clock(datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    world = build_world(engine, clock, tmp_path / "uploads")
    page = world.client().get("/notice").get_data(as_text=True)
    assert "账本指纹" not in page  # nothing sealed yet: no fingerprint to copy
    seal(engine, clock() + timedelta(hours=1))
    v = verify(engine)
    page = world.client().get("/notice").get_data(as_text=True)
    assert v.head_digest in page and f"账本的 {v.sealed_entries} 条记录已封存" in page
    english = world.client(lang="en").get("/notice").get_data(as_text=True)
    assert f"{v.sealed_entries} entries of the ledger are sealed" in english and v.head_digest in english
    engine.dispose()


@pytest.mark.postgres
def test_a_link_never_passes_an_id_a_transaction_may_still_commit(pg_engine: Engine, clock: Clock, rules_text: str) -> None:
    """PostgreSQL hands out ids before commit: a reversal still open below a committed batch is not skipped."""
    county = County(pg_engine)
    county.village("V1")
    county.household("H1", "G1")
    county.household("H2", "G1")
    county.person("P1", "H1")
    county.person("P2", "H2")
    publish(pg_engine, rules_text, date(2026, 1, 1), "admin", clock())
    ledger = Ledger(pg_engine, clock)
    ingest_text(ledger, _visits(1), "jsonl", "import", "clerk")
    first = _entry_ids(pg_engine)[0]
    with ledger.write_engine.connect() as open_conn:
        open_txn = open_conn.begin()
        ledger.reverse_in(open_conn, first, "secretary", "录错了")  # its id is taken, the row not yet committed
        stale = Ledger(pg_engine, lambda: clock() - timedelta(minutes=11))  # a batch whose clock was read long ago
        ingest_text(stale, _visits(1, start=1).replace('"P1"', '"P2"'), "jsonl", "import", "clerk")
        assert seal(ledger.engine, clock() + timedelta(minutes=1)) == 0  # writers still open: wait for the next run
        open_txn.commit()
    assert seal(ledger.engine, clock() + timedelta(minutes=11)) >= 1
    v = verify(ledger.engine)
    assert v.ok and v.unsealed_entries == 0 and v.sealed_entries == len(_entry_ids(pg_engine))


def test_verify_names_a_balance_or_tally_that_drifted_from_the_entries(ledger: Ledger, county: County, clock: Clock) -> None:
    """On SQLite and PostgreSQL: the entries untouched, a hand-edited balance and a lost tally row are both found."""
    from services import consistency

    ingest_text(ledger, _visits(3), "jsonl", "import", "clerk")
    found = consistency.check(ledger.engine)
    assert found.ok and found.balances == 2 and found.tallies == 6  # P1's hours and H1's moral credit × month, quarter, year
    p1 = county.ids["P1"]
    with ledger.engine.begin() as c:  # balances and tallies are kept, not append-only: an edit is possible, and must show
        c.execute(text(f"UPDATE balance SET amount = amount + 500 WHERE holder_kind = 'p' AND holder_id = {p1}"))
        c.execute(text(f"DELETE FROM tally WHERE holder_kind = 'p' AND holder_id = {p1} AND period = '2026-Q1'"))
    found = consistency.check(ledger.engine)
    assert not found.ok and (found.balance_count, found.tally_count) == (1, 1)
    assert found.balance_diffs == [("volunteer_hours", "p", p1, 800, 300, 300, 300)]  # the balance off, what was earned not
    assert found.tally_diffs == [("volunteer_hours", "2026-Q1", "p", p1, 0, 300)]


def test_jifen_ledger_verify_reports_the_drift_by_holder_code(sqlite_engine: Engine, clock: Clock, rules_text: str) -> None:
    url = _one_villager_with_hours(sqlite_engine, clock, rules_text)
    code, out = _cli(url, "ledger", "verify")
    assert code == 0 and "余额与分期汇总都等于流水合计:2 个账户、6 行汇总" in out
    with sqlite_engine.begin() as c:
        c.execute(text("UPDATE balance SET amount = 0 WHERE holder_kind = 'h'"))
    code, out = _cli(url, "--lang", "en", "ledger", "verify")
    assert code == 3
    assert "H1's Moral credit balance is kept as 0; its entries add up to 4" in out and "points earned" not in out
    assert "balances or tallies differ from the entries: 1 accounts, 0 tallies" in out


def test_the_consistency_check_reads_one_moment_while_writers_go_on(ledger: Ledger, county: County, clock: Clock,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An import committed between the check's reads (the site and the scheduler never stop) is not drift."""
    from services import consistency

    ingest_text(ledger, _visits(2), "jsonl", "import", "clerk")
    real = consistency.ledger_sums

    def sums_then_a_write(conn: Any) -> Any:
        out = real(conn)
        ingest_text(ledger, _visits(2, start=10), "jsonl", "import", "clerk")  # another connection, committed meanwhile
        return out

    monkeypatch.setattr(consistency, "ledger_sums", sums_then_a_write)
    found = consistency.check(ledger.engine)
    assert found.ok, (found.balance_diffs, found.tally_diffs)
    monkeypatch.setattr(consistency, "ledger_sums", real)
    assert consistency.check(ledger.engine).ok and consistency.check(ledger.engine).balances == 2
