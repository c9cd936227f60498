"""Binds every scenario under features/web/: each user journey of the site through the Flask test client.

The steps live in features/steps/web_steps.py and are imported here (features/conftest.py
belongs to the engine steps). The site's scenarios run on SQLite; the services below them
are exercised on PostgreSQL by their own suites.
"""

from pytest_bdd import scenarios

from features.steps.web_steps import *  # noqa: F403  (step definitions and the site fixture)

scenarios("web")
