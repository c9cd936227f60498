"""The same contention on SQLite: threads on one file, ``BEGIN IMMEDIATE`` serialises the writers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from tests.test_redeem_concurrency_pg import check_points_bind, check_stock_binds


def test_32_clients_one_household_exactly_k_succeed(sqlite_engine: Engine, clock: Any, rules_text: str) -> None:
    check_points_bind(sqlite_engine, clock, rules_text)


def test_32_clients_stock_is_the_limit(sqlite_engine: Engine, clock: Any, rules_text: str) -> None:
    check_stock_binds(sqlite_engine, clock, rules_text)
