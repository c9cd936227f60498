#!/usr/bin/env python3
"""One entry point for a fresh clone; needs only python3.

    python3 run.py          set up, build the demo county, serve the site on SQLite
    python3 run.py test     run the whole suite (lint, types, unit, features, integration, browser)
    python3 run.py bench    run every benchmark under bench/ (``--quick`` for a small county)

Setting up means: a virtual environment in ``.venv`` with the project installed
(again only when pyproject.toml changed), the database migrated, the shipped
rules published and, on an empty database, a demo county generated.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".installed"


def sh(*args: str, **kw: object) -> None:
    """Run a command; stop with its exit code if it fails."""
    print("+", " ".join(args), flush=True)
    code = subprocess.call(args, cwd=ROOT, **kw)  # type: ignore[arg-type]
    if code:
        sys.exit(code)


def ensure_venv() -> None:
    """Create .venv and install the project with its dev tools, when pyproject.toml changed."""
    if not PY.exists():
        print("creating .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest:
        return
    sh(str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip")
    sh(str(PY), "-m", "pip", "install", "-q", "-e", ".[dev]")
    STAMP.write_text(digest)


def main(argv: list[str]) -> None:
    """Dispatch the sub-command."""
    ensure_venv()
    if not argv or argv[0].startswith("-"):
        argv = ["serve", *argv]  # `python3 run.py --size tiny` serves with options
    command = argv[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if command == "test":
        sh(str(PY), "-m", "ruff", "check", ".")
        sh(str(PY), "-m", "mypy")
        sh(str(PY), "-m", "pytest", *argv[1:], env=env)
    elif command == "bench":
        sh(str(PY), "-m", "bench", *argv[1:], env=env)
    elif command == "serve":
        sh(str(PY), "-m", "services.devserver", *argv[1:], env=env)
    else:
        sys.exit(f"unknown command {command!r}: use serve, test or bench")


if __name__ == "__main__":
    main(sys.argv[1:])
