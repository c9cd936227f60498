"""The scoring engine: a pure core with no web framework and no database.

Storage, the web site and the scheduler are adapters around it (see ``store``,
``web`` and ``services``). Everything here imports only the standard library,
``ruamel.yaml`` (rules files with line numbers) and ``simpleeval`` (safe
conditions).
"""
