"""Import every module that defines tables, so the metadata (and Alembic) sees them all."""

import store.models  # noqa: F401
