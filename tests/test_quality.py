"""The lint and type gates, held by the test suite too: CI runs `pytest`, and a change that
breaks `invoke gates.lint` or `invoke gates.types` should not pass it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_ruff_finds_nothing():
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing():
    # The files and the strictness come from setup.cfg [mypy], as for `invoke gates.types`.
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
