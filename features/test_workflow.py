"""Binds every scenario under features/workflow/; each runs on SQLite and on PostgreSQL.

The steps live in features/steps/workflow_steps.py and are imported here (so that
features/conftest.py stays the engine steps' own). The autouse fixture puts ``wf`` (and
so the parametrized ``engine``) in every scenario's closure at collection time, which is
what makes pytest run each scenario once per database.
"""

import pytest
from pytest_bdd import scenarios

from features.steps.workflow_steps import *  # noqa: F403  (step definitions and the wf fixture)
from features.steps.workflow_steps import Wf


@pytest.fixture(autouse=True)
def _workflow_on_each_database(wf: Wf) -> Wf:
    return wf


scenarios("workflow")
