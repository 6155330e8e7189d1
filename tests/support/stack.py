"""The whole reference stack (three twins + gravix-api) as local processes, once per session.

``reference_stack`` starts it with the process backend in a temporary state directory, yields
its URLs, and after the session takes it down and checks that every process is gone. Tests that
need the real apps use it; it fails (naming it) when an app of the stack is not importable: the
stack is part of converge, so a missing app is a regression, never a reason to skip.
Its mock-stripe validates every response it gives against Stripe's spec (see
``tests/support/stripe_responses.py``), its mock-supabase every GoTrue answer against
GoTrue's OpenAPI and every PostgREST error against errors.rst (``tests/support/supabase.py``),
and its mock-anthropic every answer against the official SDK's types
(``tests/support/anthropic.py``); the session fails when one broke them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from converge._process_backend import STATE_FILE, ProcessBackend
from converge.twins import SERVICES, Service, ServiceStatus, TwinsConfig
from tests.support.processes import kill_groups, wait_gone
from tests.support.stripe_responses import PROBLEMS_FILE_VARIABLE

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ReferenceStack:
    backend: ProcessBackend
    config: TwinsConfig
    statuses: tuple[ServiceStatus, ...]
    api_url: str

    def url(self, service: str) -> str:
        for status in self.statuses:
            if status.name == service and status.url is not None:
                return status.url
        raise KeyError(service)


def missing_apps() -> list[str]:
    """The factories of the stack whose module cannot be imported."""
    missing = []
    for service in SERVICES:
        module = service.factory.partition(":")[0]
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(service.factory)
    return missing


def recorded_pids(state_dir: Path) -> list[int]:
    """The session ids a process backend recorded in its state directory (none when no state)."""
    try:
        document = json.loads((state_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return []
    return [int(entry["pid"]) for entry in document["services"]]


@pytest.fixture(scope="session")
def reference_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceStack]:
    missing = missing_apps()
    if missing:
        pytest.fail(f"the reference stack is incomplete, not importable: {', '.join(missing)}")
    folder = tmp_path_factory.mktemp("stack")
    problems = folder / "stripe-spec-problems.txt"
    problems.touch()
    checked = {name: folder / f"{name}-problems.txt" for name in CHECKING_FACTORIES}
    for path in checked.values():
        path.touch()
    config = TwinsConfig(
        backend="process",
        state_dir=folder / "state",
        services=tuple(
            validating(validating_stripe(service, problems), checked) for service in SERVICES
        ),
    )
    backend = ProcessBackend(config)
    statuses = backend.up()
    pids = recorded_pids(config.state_dir)
    try:
        api_url = backend.api_url()
        assert api_url is not None, "gravix-api is not running after up()"
        yield ReferenceStack(backend, config, tuple(statuses), api_url)
    finally:
        backend.down()
        left = wait_gone(pids, groups=True)
        if left:
            kill_groups(pids)  # never leak processes into the machine, even on failure
    assert not left, f"the reference stack left processes running: {left}"
    assert not (config.state_dir / STATE_FILE).exists(), "down() left the state file behind"
    broken = problems.read_text(encoding="utf-8").splitlines()
    assert not broken, "mock-stripe broke Stripe's spec:\n" + "\n".join(broken[:20])
    for name, path in checked.items():
        broken = path.read_text(encoding="utf-8").splitlines()
        assert not broken, f"{name} broke its service's spec:\n" + "\n".join(broken[:20])


def validating_stripe(service: Service, problems: Path) -> Service:
    """mock-stripe started through the validating factory; the other services unchanged."""
    if service.name != "mock-stripe":
        return service
    wiring = service.env

    def env(urls: Mapping[str, str], config: TwinsConfig) -> dict[str, str]:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return {**wiring(urls, config), PROBLEMS_FILE_VARIABLE: str(problems), "PYTHONPATH": path}

    factory = "tests.support.stripe_responses:create_validating_app"
    return replace(service, factory=factory, env=env)


# The twins started through a factory of the test support that checks each answer, with the
# variable naming the file it appends problems to (mock-stripe's is validating_stripe's).
CHECKING_FACTORIES = {
    "mock-supabase": ("tests.support.supabase:create_validating_app", "SUPABASE_SPEC_PROBLEMS"),
    "mock-anthropic": ("tests.support.anthropic:create_validating_app", "ANTHROPIC_SPEC_PROBLEMS"),
}


def validating(service: Service, problems: Mapping[str, Path]) -> Service:
    """mock-supabase and mock-anthropic started through their checking factories."""
    if service.name not in CHECKING_FACTORIES:
        return service
    factory, variable = CHECKING_FACTORIES[service.name]
    wiring = service.env

    def env(urls: Mapping[str, str], config: TwinsConfig) -> dict[str, str]:
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        target = str(problems[service.name])
        return {**wiring(urls, config), variable: target, "PYTHONPATH": path}

    return replace(service, factory=factory, env=env)


FIXTURE = ROOT / "holdouts-fixture"


def fixture_scores(
    api_url: str, report_file: Path, scenarios: Path = FIXTURE
) -> dict[str, float]:
    """Run holdouts-fixture (or ``scenarios``) through `python -m converge run` against
    ``api_url``; the satisfaction of each scenario file, once the run has exited 0."""
    document = fixture_report(api_url, report_file, scenarios)
    return {scenario["file"]: scenario["satisfaction"] for scenario in document["scenarios"]}


def fixture_report(api_url: str, report_file: Path, scenarios: Path = FIXTURE) -> dict[str, Any]:
    """The JSON report of a `python -m converge run` of ``scenarios`` that exited 0."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "converge",
            "run",
            "--scenarios-dir",
            str(scenarios),
            "--api-url",
            api_url,
            "--report-file",
            str(report_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=FIXTURE.parent,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    document: dict[str, Any] = json.loads(report_file.read_text())
    return document


# Every fixture scenario, at 100% against either backend's reference stack.
FIXTURE_AT_100 = {
    "critical/auth-gating.yaml": 100,
    "critical/free-tier-analysis.yaml": 100,
    "important/feedback-loop.yaml": 100,
    "nice-to-have/product-matching.yaml": 100,
}
