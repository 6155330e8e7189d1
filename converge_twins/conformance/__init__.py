"""The conformance diff: the same SDK-level behaviours against a twin and against another service.

StrongDM's digital-twin practice: run one suite of behaviours against the real service (a test
account) and against the twin until no differences remain. ``invoke twins.conformance
--service anthropic --against URL`` starts the twin (or uses ``--twin-url``), runs every
behaviour of the service's :class:`Suite` against both, and prints where status, headers of
interest, response shapes or facts differ, as a table and as JSON.

Each service's suite lives in its own module (``anthropic``, ``stripe``, ``supabase``) and is
found through :data:`SUITES`; a suite is plain data (:mod:`.suite`), so adding a behaviour is
adding one function and one list entry. To add a service: a module with a ``SUITE`` (its
``connect`` builds the SDK client over :class:`.recording.RecordingTransport` so every exchange
is observed; its ``validate`` checks each response against the service's published schema), an
entry in :data:`SUITES`, and a ``fidelity(base_url)`` source in :mod:`.fidelity` for the README's
table. Credentials are the service's usual variables, as the README documents them:
``ANTHROPIC_API_KEY``; ``STRIPE_API_KEY`` (a test-mode key); ``SUPABASE_ANON_KEY`` and
``SUPABASE_SERVICE_ROLE_KEY``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from converge_twins.conformance.diff import Comparison, Difference, compare, render_table
from converge_twins.conformance.serve import serve_twin
from converge_twins.conformance.suite import (
    NOT_A_TWIN,
    Behaviour,
    ConformanceError,
    Credential,
    Exchange,
    Observation,
    Outcome,
    Recorder,
    Suite,
    observe,
    run_behaviours,
)

__all__ = [
    "SUITES",
    "Behaviour",
    "Comparison",
    "ConformanceError",
    "Credential",
    "Difference",
    "Exchange",
    "Observation",
    "Outcome",
    "Recorder",
    "Suite",
    "compare",
    "compare_service",
    "credentials_for",
    "describe_suite",
    "load_suite",
    "observe",
    "render_table",
]

# service name -> "module:attribute" of its suite (imported only when asked for: each needs its
# official SDK, from the sdk extra).
SUITES: dict[str, str] = {
    "anthropic": "converge_twins.conformance.anthropic:SUITE",
    "stripe": "converge_twins.conformance.stripe:SUITE",
    "supabase": "converge_twins.conformance.supabase:SUITE",
}
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def load_suite(service: str) -> Suite[Any]:
    spec = SUITES.get(service)
    if spec is None:
        raise ConformanceError(
            f"--service: expected one of {', '.join(sorted(SUITES))}, got {service!r}"
        )
    module, _, attribute = spec.partition(":")
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ConformanceError(
            f"the {service} suite needs {exc.name!r}: pip install -e '.[dev]' (the sdk extra)"
        ) from None
    suite: Suite[Any] = getattr(loaded, attribute)
    return suite


def describe_suite(service: str) -> str:
    """The behaviours of a service's suite and the credentials it reads, as text."""
    suite = load_suite(service)
    lines = [f"{suite.service}: {len(suite.behaviours)} behaviours"]
    for behaviour in suite.behaviours:
        notes = [behaviour.row or "-"]
        if behaviour.needs_control:
            notes.append("twins only")
        lines.append(f"  {behaviour.name}  ({', '.join(notes)})")
    lines.append("credentials (from the environment, for a target that is not on this machine):")
    for credential in suite.credentials.values():
        lines.append(f"  {credential.env}: {credential.description}")
    # Another twin (a branch's build, the compose stack's) compares cleanly only when it runs
    # as the suite's own twin does: same factory, same made-up keys and project.
    lines.append("another twin to compare with runs as the suite's twin does:")
    settings = " ".join(f"{name}={value}" for name, value in suite.twin_env.items())
    lines.append(f"  {settings} python -m uvicorn --factory {suite.twin_app}")
    return "\n".join(lines) + "\n"


def credentials_for(
    suite: Suite[Any], target_url: str, environ: Mapping[str, str]
) -> dict[str, str]:
    """The target's credentials from the environment.

    A target on this machine (another twin) may go without them and gets the twin's defaults; a
    remote one must have every credential set, so that a real account is never sent a made-up
    key by mistake.
    """
    local = (urlsplit(target_url).hostname or "") in LOOPBACK
    values: dict[str, str] = {}
    missing: list[str] = []
    for key, credential in suite.credentials.items():
        value = environ.get(credential.env)
        if value:
            values[key] = value
        elif local:
            values[key] = credential.twin_default
        else:
            missing.append(f"{credential.env} ({credential.description})")
    if missing:
        raise ConformanceError(
            f"{suite.service}: {target_url} needs credentials in the environment: "
            + ", ".join(missing)
        )
    return values


def twin_credentials(suite: Suite[Any]) -> dict[str, str]:
    return {key: credential.twin_default for key, credential in suite.credentials.items()}


def is_twin(base_url: str) -> bool:
    """Whether a base URL answers a twin's ``/_twin/health``."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/_twin/health", timeout=5) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


def compare_service(
    service: str,
    target_url: str,
    environ: Mapping[str, str],
    *,
    twin_url: str | None = None,
    names: Sequence[str] = (),
) -> Comparison:
    """Run a service's suite against the twin (started here unless ``twin_url``) and a target.

    Behaviours that need a twin's control plane run only when the target is a twin too, so
    that both sides always ran the same behaviours.
    """
    suite = load_suite(service)
    behaviours = suite.select(names)
    target_credentials = credentials_for(suite, target_url, environ)
    both_twins = is_twin(target_url)
    target = list(
        run_behaviours(suite, target_url, target_credentials, behaviours, is_twin=both_twins)
    )
    ran = [seen for seen in target if seen.error != NOT_A_TWIN]
    if ran and all(seen.error for seen in ran):
        raise ConformanceError(
            f"{target_url}: no behaviour could run ({ran[0].detail or ran[0].error})"
        )
    if twin_url is None:
        with serve_twin(suite.twin_app, suite.twin_env) as url:
            twin = list(
                run_behaviours(suite, url, twin_credentials(suite), behaviours,
                               is_twin=both_twins)
            )  # fmt: skip
        shown_twin = f"{suite.twin_app} (started for this run)"
    else:
        twin = list(
            run_behaviours(suite, twin_url, twin_credentials(suite), behaviours,
                           is_twin=both_twins)
        )  # fmt: skip
        shown_twin = twin_url
    differences: list[Difference] = []
    for behaviour, mine, theirs in zip(behaviours, twin, target, strict=True):
        differences += compare(mine, theirs, behaviour.ignore)
    skipped = [seen.behaviour for seen in target if seen.error == NOT_A_TWIN]
    return Comparison(service, shown_twin, target_url, twin, target, differences, skipped)
