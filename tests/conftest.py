"""Fixtures shared across test modules live in tests/support/, one module per topic."""

from __future__ import annotations

pytest_plugins = [
    "tests.support.processes",
    "tests.support.servers",
    "tests.support.stack",
    "tests.support.supabase",
]
