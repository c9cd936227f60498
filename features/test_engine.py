"""Binds every scenario under features/engine/; each runs on SQLite and on PostgreSQL.

The autouse fixture puts ``world`` (and so the parametrized ``engine``) in every
scenario's closure at collection time, which is what makes pytest run each
scenario once per database; steps then fetch it by name.
"""

import pytest
from pytest_bdd import scenarios

from features.steps.engine_steps import World


@pytest.fixture(autouse=True)
def _on_each_database(world: World) -> World:
    return world


scenarios("engine")
