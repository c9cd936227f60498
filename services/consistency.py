"""Whether the kept balances and period tallies still equal what the ledger's entries add up to.

Balances and tallies are kept beside the entries, in the same transaction, so that
reading them never scans the ledger. This check does the scan: every balance and
earned total against the sum of its holder's entries, every tally (month, quarter
and year × holder, with vetoes) against the entries of its period. The hash chain
(``store.seal``) proves that entries were not changed; this proves that nothing
derived from them drifted (a crash between writes, a hand edit of a balance, a bug).
Every read is made in one snapshot (one transaction; REPEATABLE READ on PostgreSQL), so writers busy
beside it (the site, the scheduler) never show as drift. Entries are read in id order, streamed; the
sums are held per (type, period, holder). It runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from scoring.periods import window_keys
from services.queries import ledger_sums
from store.db import is_postgres
from store.models import Balance, Entry, Tally

SHOWN = 20  # differences named in full; the rest are counted


@dataclass
class Consistency:
    """What was compared and every difference found (the first ``SHOWN`` of each kind named)."""

    balances: int = 0
    tallies: int = 0
    # type, kind, holder, balance kept, from entries, earned kept, from entries
    balance_diffs: list[tuple[str, str, int, int, int, int, int]] = field(default_factory=list)
    tally_diffs: list[tuple[str, str, str, int, int, int]] = field(default_factory=list)  # type, period, kind, holder, kept, from entries
    balance_count: int = 0
    tally_count: int = 0

    @property
    def ok(self) -> bool:
        """Whether every kept balance and tally equals the ledger's sum."""
        return not self.balance_count and not self.tally_count

    @property
    def balances_ok(self) -> bool:
        """Whether every kept balance and earned total equals the ledger's sum."""
        return not self.balance_count

    @property
    def tallies_ok(self) -> bool:
        """Whether every kept period tally equals the ledger's sum."""
        return not self.tally_count


def check(engine: Engine) -> Consistency:
    """Compare every kept balance, earned total and period tally with the ledger's entries."""
    out = Consistency()
    with engine.connect() as plain:
        conn = plain.execution_options(isolation_level="REPEATABLE READ") if is_postgres(plain) else plain
        return _check(conn, out)


def _check(conn: Connection, out: Consistency) -> Consistency:
    """``check`` within one transaction of ``conn`` (SQLite: its first read fixes the snapshot, WAL)."""
    with conn.begin():
        slow = ledger_sums(conn)
        kept = {(pt, hk, hid): (int(amount), int(earned)) for pt, hk, hid, amount, earned in conn.execute(
            select(Balance.point_type, Balance.holder_kind, Balance.holder_id, Balance.amount, Balance.earned))}
        for key in kept.keys() | slow["balance"].keys():
            amount, earned = kept.get(key, (0, 0))
            want, want_earned = slow["balance"].get(key, 0), slow["earned"].get(key, 0)
            if amount != want or earned != want_earned:
                out.balance_count += 1
                if len(out.balance_diffs) < SHOWN:
                    out.balance_diffs.append((*key, amount, want, earned, want_earned))
        out.balances = len(kept)

        sums = _tallies_from_entries(conn)
        rows = conn.execute(select(Tally.point_type, Tally.period, Tally.holder_kind, Tally.holder_id, Tally.amount, Tally.vetoes))
        seen = 0
        for pt, period, hk, hid, amount, vetoes in rows:
            seen += 1
            want = sums.pop((pt, period, hk, hid), (0, 0))
            if (int(amount), int(vetoes)) != want:
                out.tally_count += 1
                if len(out.tally_diffs) < SHOWN:
                    out.tally_diffs.append((pt, period, hk, hid, int(amount), want[0]))
        for (pt, period, hk, hid), want in sums.items():  # entries whose tally row is missing
            if want != (0, 0):
                out.tally_count += 1
                if len(out.tally_diffs) < SHOWN:
                    out.tally_diffs.append((pt, period, hk, hid, 0, want[0]))
        out.tallies = seen
    return out


def _tallies_from_entries(conn: Connection) -> dict[tuple[str, str, str, int], tuple[int, int]]:
    """Each holder's points and vetoes per month, quarter and year, from the rule entries (awards and their reversals).

    Closing, spending and expiry entries move balances, not tallies: a period's score is what rules gave in it.
    """
    sums: dict[tuple[str, str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    vetoed: set[int] = set()
    stmt = (select(Entry.id, Entry.point_type, Entry.holder_kind, Entry.holder_id, Entry.local_day, Entry.amount, Entry.kind,
                   Entry.veto, Entry.reverses_id, Entry.rule_id)
            .where(Entry.kind.in_(("award", "reversal")))  # type: ignore[attr-defined]
            .order_by(Entry.id))  # type: ignore[arg-type]
    for eid, pt, hk, hid, day, amount, kind, veto, reverses, rule in conn.execution_options(yield_per=10_000).execute(stmt):
        if kind == "reversal" and not rule:
            continue  # the reversal of a spend or a close: not a rule's points
        if kind == "award" and veto:
            vetoed.add(eid)
            v = 1
        else:
            v = -1 if kind == "reversal" and reverses in vetoed else 0
        keys = window_keys(day)
        for period in (keys["month"], keys["quarter"], keys["year"]):
            s = sums[(pt, period, hk, hid)]
            s[0] += int(amount)
            s[1] += v
    return {k: (a, v) for k, (a, v) in sums.items()}
