"""Import every module that defines tables, so the metadata (and Alembic) sees them all."""

import store.models
import store.models_api
import store.models_shop
import store.models_web
import store.models_workflow  # noqa: F401
