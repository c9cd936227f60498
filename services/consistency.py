"""Whether the kept balances and period tallies still equal what the ledger's entries add up to.

Balances and tallies are kept beside the entries, in the same transaction, so that
reading them never scans the ledger. This check does the scan: every balance and
earned total against the sum of its holder's entries, every tally (month, quarter
and year × holder, with vetoes) against the entries of its period. The hash chain
(``store.seal``) proves that entries were not changed; this proves that nothing
derived from them drifted (a crash between writes, a hand edit of a balance, a bug).
Every read is made in one snapshot (one transaction; REPEATABLE READ on PostgreSQL), so writers busy
beside it (the site, the scheduler) never show as drift. Tallies are summed and compared inside the
database (only differences come back); balances by holder. It runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from services.queries import ledger_sums
from store.db import is_postgres
from store.models import Balance, Tally

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
    with engine.connect() as plain:
        conn = plain.execution_options(isolation_level="REPEATABLE READ") if is_postgres(plain) else plain
        return _check(conn)


def _check(conn: Connection) -> Consistency:
    """``check`` within one transaction of ``conn`` (SQLite: its first read fixes the snapshot, WAL)."""
    out = Consistency()
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

        out.tallies = int(conn.execute(select(func.count()).select_from(Tally)).scalar_one())
        # Summed and compared inside the database: a county's 1.1 million tallies are never held in memory.
        for pt, period, hk, hid, amount, want in conn.execute(text(_tally_diffs(is_postgres(conn)))):
            out.tally_count += 1
            if len(out.tally_diffs) < SHOWN:
                out.tally_diffs.append((pt, period, hk, int(hid), int(amount), int(want)))
    return out


def _tally_diffs(pg: bool) -> str:
    """SQL: every tally (kept, or due from the entries) whose points or vetoes differ from the rule entries of its period.

    A period's score is what rules gave in it: awards and their reversals. Closing, spending and
    expiry entries move balances, not tallies. A tally missing where entries add up to nothing is no
    difference. Periods are written as ``scoring.periods`` writes them (2026-03, 2026-Q1, 2026).
    """
    if pg:
        month, year = "to_char(local_day, 'YYYY-MM')", "to_char(local_day, 'YYYY')"
        quarter = "to_char(local_day, 'YYYY') || '-Q' || to_char(local_day, 'Q')"
    else:  # SQLite keeps dates as text: 2026-03-11
        month, year = "substr(local_day, 1, 7)", "substr(local_day, 1, 4)"
        quarter = "substr(local_day, 1, 4) || '-Q' || ((CAST(substr(local_day, 6, 2) AS INTEGER) + 2) / 3)"
    due = f"""
      SELECT point_type, period, holder_kind, holder_id, SUM(amount) AS amount, SUM(vetoes) AS vetoes FROM (
        SELECT point_type, {month} AS period, holder_kind, holder_id, amount, vetoes FROM scored
        UNION ALL SELECT point_type, {quarter}, holder_kind, holder_id, amount, vetoes FROM scored
        UNION ALL SELECT point_type, {year}, holder_kind, holder_id, amount, vetoes FROM scored
      ) AS p GROUP BY point_type, period, holder_kind, holder_id"""
    scored = """
      SELECT point_type, holder_kind, holder_id, local_day, amount,
             CASE WHEN kind = 'award' AND veto THEN 1
                  WHEN kind = 'reversal' AND EXISTS (SELECT 1 FROM entry AS o WHERE o.id = e.reverses_id AND o.veto) THEN -1
                  ELSE 0 END AS vetoes
      FROM entry AS e WHERE kind = 'award' OR (kind = 'reversal' AND rule_id <> '')"""
    same = "k.point_type = d.point_type AND k.period = d.period AND k.holder_kind = d.holder_kind AND k.holder_id = d.holder_id"
    # ``due`` is named once and read twice: SQLite (3.35+) and PostgreSQL (12+) compute such a CTE once.
    return f"""
      WITH scored AS ({scored}), due AS ({due})
      SELECT k.point_type, k.period, k.holder_kind, k.holder_id, k.amount, COALESCE(d.amount, 0)
      FROM tally AS k LEFT JOIN due AS d ON {same}
      WHERE k.amount <> COALESCE(d.amount, 0) OR k.vetoes <> COALESCE(d.vetoes, 0)
      UNION ALL
      SELECT d.point_type, d.period, d.holder_kind, d.holder_id, 0, d.amount
      FROM due AS d LEFT JOIN tally AS k ON {same}
      WHERE k.holder_id IS NULL AND (d.amount <> 0 OR d.vetoes <> 0)"""
