"""Storage adapter: SQLModel tables, migrations and the ledger writer around the pure core."""
