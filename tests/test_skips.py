"""The skip rule (tests/support/skips.py): a skip nobody expected fails the run instead of
leaving it green."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from tests.support import skips

SUITE = """
import pytest

def test_skips_when_told():
    pytest.skip("the thing it needs is missing")

@pytest.mark.docker
def test_needs_an_engine():
    pytest.skip("no Docker engine answers")

def test_runs():
    assert True
"""


@pytest.fixture
def outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in skips.IN_CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def run(pytester: pytest.Pytester, source: str = SUITE) -> pytest.RunResult:
    pytester.makepyfile(test_suite=source)
    pytester.makeini("[pytest]\nmarkers =\n    docker: needs an engine\n")
    return pytester.runpytest_inprocess("-p", "tests.support.skips", "-p", "no:cacheprovider")


def test_outside_ci_only_docker_tests_may_skip(pytester: pytest.Pytester, outside_ci: None) -> None:
    result = run(pytester)
    result.assert_outcomes(passed=1, skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*unexpected skip outside CI*the thing it needs is missing*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("variable", skips.IN_CI_VARIABLES)
def test_in_ci_nothing_may_skip(
    pytester: pytest.Pytester, outside_ci: None, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*unexpected skip in CI: no Docker engine answers*"])


def test_a_skipif_and_an_importorskip_are_caught_too(
    pytester: pytest.Pytester, outside_ci: None
) -> None:
    result = run(
        pytester,
        """
import pytest

@pytest.mark.skipif(True, reason="the stack is incomplete")
def test_marked():
    pass

def test_imports():
    pytest.importorskip("a_module_that_is_not_there")
""",
    )
    result.assert_outcomes(failed=1, errors=1)  # a skipif skips at setup: an error there


def test_a_module_skipped_whole_fails_collection(
    pytester: pytest.Pytester, outside_ci: None
) -> None:
    result = run(
        pytester,
        """
import pytest
pytest.importorskip("a_module_that_is_not_there")

def test_never_collected():
    pass
""",
    )
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*unexpected skip*a_module_that_is_not_there*"])


def test_ci_is_off_when_the_variables_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, on in (("", False), ("0", False), ("false", False), ("true", True), ("1", True)):
        monkeypatch.setenv("CI", value)
        monkeypatch.delenv("CONVERGE_REQUIRE_DOCKER", raising=False)
        assert skips.in_ci() is on, value


def test_nothing_deselects_the_slow_or_docker_tests_in_ci() -> None:
    # Deselected tests are not even skipped: they vanish from the count. CI runs them all.
    repo = Path(__file__).resolve().parents[1]
    setup = configparser.ConfigParser()
    setup.read(repo / "setup.cfg")
    assert "-m" not in setup["tool:pytest"]["addopts"].split()
    assert setup["converge"]["gate_backend"] == "pytest -q"  # the workflow's test job
    ci_run = (repo / ".ci/run").read_text().splitlines()
    assert ci_run[-1] == "pytest"
