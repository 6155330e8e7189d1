"""A green run means what it says: a skip the suite does not expect fails the test.

A skip is a test that did not run, so a skip nobody expected hides a regression (renaming one
of the stack's apps once turned 59 tests into skips and left the run green). The rule:

- Outside CI only tests marked ``docker`` may skip: not every machine has a Docker engine.
- In CI (``CI`` or ``CONVERGE_REQUIRE_DOCKER`` set) a skip fails unless its reason contains one
  of ``ALLOWED_IN_CI``. The list is empty: CI sets up everything the suite needs, Docker
  included, so there every test runs. Add a reason here only with a comment saying why CI cannot
  run that test.

Anything else that skips (a ``pytest.skip`` in a test or fixture, a ``skipif``, an
``importorskip``) is reported as a failure naming the reason.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

ALLOWED_IN_CI: tuple[str, ...] = ()
IN_CI_VARIABLES = ("CI", "CONVERGE_REQUIRE_DOCKER")


def in_ci() -> bool:
    """Whether this run is CI's (where nothing may skip unless allowed)."""
    values = (os.environ.get(name, "").strip().lower() for name in IN_CI_VARIABLES)
    return any(value not in ("", "0", "false") for value in values)


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def expected(item: pytest.Item | None, reason: str) -> bool:
    """Whether a skip of ``item`` (None: a whole module at collection) for ``reason`` is allowed."""
    if in_ci():
        return any(allowed in reason for allowed in ALLOWED_IN_CI)
    return item is not None and item.get_closest_marker("docker") is not None


def _unexpected(report: pytest.TestReport | pytest.CollectReport, reason: str) -> None:
    where = "in CI" if in_ci() else "outside CI (only tests marked docker may skip there)"
    report.outcome = "failed"
    report.longrepr = (
        f"unexpected skip {where}: {reason}\n"
        "A skipped test did not run; fix what it needs, or see tests/support/skips.py."
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = skip_reason(report)
        if not expected(item, reason):
            _unexpected(report, reason)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if report.skipped:
        reason = skip_reason(report)
        if not expected(None, reason):
            _unexpected(report, reason)
    return report
