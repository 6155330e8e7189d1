"""Fixtures shared across test modules live in tests/support/, one module per topic."""

from __future__ import annotations

pytest_plugins = [
    "pytester",  # tests/test_skips.py runs small suites through the skip rule
    "tests.support.skips",  # a skip the suite does not expect fails (see the module)
    "tests.support.asgi",  # first: the modules below import it
    "tests.support.anthropic",
    "tests.support.stripe_responses",  # before the stack module, which imports it
    "tests.support.processes",
    "tests.support.servers",
    "tests.support.httpbin",  # after servers, which it imports
    "tests.support.stack",
    "tests.support.stripe_twin",
    "tests.support.supabase",
]
