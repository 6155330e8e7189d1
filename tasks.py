"""Invoke tasks: what people type locally and what CI runs, step by step.

Thin on purpose: each task turns its flags into a library call under ``errors.guard``, which is
the one place mapping errors to exit codes (0 ok, 1 a critical scenario or gate failed, 2 the
run could not judge the change). The configuration is setup.cfg's ``[converge]`` section, handed
to Invoke at the bottom so that invoke.yaml and ``INVOKE_CONVERGE_*`` variables override it.

    invoke converge [--keep] [--no-twins] [--runs N] [--priority TIER]
    invoke twins.up | twins.down | twins.status [--json] | twins.logs [--service NAME]
    invoke holdouts.pull | holdouts.validate
    invoke gates | gates.lint | gates.types | gates.backend | gates.frontend
    invoke report.comment | report.summary
"""

from __future__ import annotations

import json as jsonlib
import os
import sys
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from converge import config, pipeline, twins
from converge import gates as gates_lib
from converge import holdouts as holdouts_lib
from converge.errors import ConfigError, ReportError, guard
from converge.model import TIERS

ROOT = Path(__file__).resolve().parent

BACKEND_HELP = "Twins backend for this command: auto, compose or process (default: configured)."


def _settings(c: Context) -> config.Settings:
    """Settings from Invoke's ``converge`` config (setup.cfg, then invoke.yaml/env overrides)."""
    return config.Settings.from_mapping(
        dict(c.config.converge),
        os.environ,
        root=ROOT,
        file_values={**config.DEFAULTS, **config.read_setup_cfg(ROOT / "setup.cfg")},
    )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _backend(value: str | None) -> twins.BackendChoice | None:
    if value is None:
        return None
    for choice in config.BACKENDS:
        if value == choice:
            return choice
    raise ConfigError(f"--backend: expected one of auto, compose, process, got {value!r}")


def _backend_for(c: Context, backend: str | None) -> twins.Backend:
    settings = _settings(c)
    return twins.select_backend(pipeline.twins_config(settings, _backend(backend)), _say)


# --- converge -------------------------------------------------------------------------------


@task(
    default=True,
    help={
        "keep": "Leave the twins running afterwards (stop them with `invoke twins.down`).",
        "no-twins": "Do not start the twins: run against API_URL, running twins, or api_url.",
        "runs": "Run each scenario N times; satisfaction is the mean over the runs.",
        "priority": "Run only one tier: critical, important or nice-to-have.",
        "backend": BACKEND_HELP,
        "verbose": "Show every step and every failed check with expected and actual values.",
    },
)
def run(
    c: Context,
    *,
    keep: bool = False,
    no_twins: bool = False,
    runs: int = 1,
    priority: str | None = None,
    backend: str | None = None,
    verbose: bool = False,
) -> None:
    """The whole pipeline: twins up, pull holdouts, run the scenarios, report, twins down."""
    with guard():
        if runs < 1:
            raise ConfigError(f"--runs: expected a whole number of at least 1, got {runs}")
        tier = next((t for t in TIERS if t == priority), None)
        if priority is not None and tier is None:
            raise ConfigError(f"--priority: expected one of {', '.join(TIERS)}, got {priority!r}")
        options = pipeline.Options(
            keep=keep,
            no_twins=no_twins,
            runs=runs,
            priority=tier,
            backend=_backend(backend),
            verbose=verbose,
        )
        code = pipeline.converge(_settings(c), options, sys.stdout, sys.stderr)
    raise SystemExit(code)


# --- twins ----------------------------------------------------------------------------------


@task(help={"backend": BACKEND_HELP})
def up(c: Context, backend: str | None = None) -> None:
    """Start the twins and the reference API, and wait until all are healthy."""
    with guard():
        statuses = _backend_for(c, backend).up()
        for status in statuses:
            print(f"{status.name:16} {status.url}")


@task(help={"backend": BACKEND_HELP})
def down(c: Context, backend: str | None = None) -> None:
    """Stop the twins and the reference API (a no-op when nothing runs)."""
    with guard():
        _backend_for(c, backend).down()


@task(
    help={
        "backend": BACKEND_HELP,
        "json": 'Print JSON, [{"name", "url", "healthy"}], for scripts.',
    }
)
def status(c: Context, backend: str | None = None, json: bool = False) -> None:
    """Each service with its URL and health."""
    with guard():
        statuses = _backend_for(c, backend).status()
    if json:
        print(jsonlib.dumps([s.as_dict() for s in statuses], indent=2))
        return
    for s in statuses:
        health = "healthy" if s.healthy else ("unhealthy" if s.url else "not running")
        print(f"{s.name:16} {s.url or '-':32} {health}")


@task(
    help={
        "service": "One service (mock-anthropic, mock-supabase, mock-stripe, gravix-api).",
        "tail": "How many lines from the end of each log.",
        "backend": BACKEND_HELP,
    },
)
def logs(
    c: Context, service: str | None = None, tail: int = 100, backend: str | None = None
) -> None:
    """The end of the twins' logs (one service, or all of them)."""
    with guard():
        print(_backend_for(c, backend).logs(service or None, tail), end="")


# --- holdouts -------------------------------------------------------------------------------


@task(
    help={
        "repo": "Pull from this folder or git URL instead of the configured holdouts_repo.",
        "ref": "Branch, tag or commit to check out instead of the configured holdouts_ref.",
    }
)
def pull(c: Context, repo: str | None = None, ref: str | None = None) -> None:
    """Clone, or fetch and reset, the holdouts repository into the scenarios folder."""
    with guard():
        settings = _settings(c)
        holdouts_lib.pull(
            repo or settings.holdouts_repo,
            settings.holdouts_ref if ref is None else ref,
            settings.scenarios_dir,
            root=settings.root,
            token=settings.holdout_pat,
            say=_say,
        )


@task
def validate(c: Context) -> None:
    """Schema-check the pulled scenarios (no request is sent)."""
    from converge import engine

    with guard():
        settings = _settings(c)
        loaded = engine.validate(settings.scenarios_dir)
        print(
            f"{len(loaded)} scenario{'s' if len(loaded) != 1 else ''} valid in "
            f"{settings.scenarios_dir}"
        )


# --- gates ----------------------------------------------------------------------------------


def _gates(c: Context, *names: str) -> None:
    with guard():
        settings = _settings(c)
        gates_lib.run(gates_lib.configured(settings, names), cwd=settings.root)


@task(default=True, name="all")
def all_gates(c: Context) -> None:
    """Every gate in turn, reporting every failure, then failing once."""
    _gates(c, *gates_lib.GATE_NAMES)


@task
def lint(c: Context) -> None:
    """The lint gate (gate_lint; default: ruff check .)."""
    _gates(c, "lint")


@task
def types(c: Context) -> None:
    """The type-check gate (gate_types; default: mypy)."""
    _gates(c, "types")


@task(name="backend")
def backend_gate(c: Context) -> None:
    """The backend test gate (gate_backend; default: pytest -q)."""
    _gates(c, "backend")


@task
def frontend(c: Context) -> None:
    """The frontend gate (gate_frontend, one command per line; skipped when none)."""
    _gates(c, "frontend")


# --- report ---------------------------------------------------------------------------------


def _markdown(c: Context, file: str | None) -> str:
    from converge import report

    settings = _settings(c)
    path = Path(file) if file else settings.report_file
    return report.render_markdown(report.load_report(path), sticky_marker=True)


@task(help={"file": "The report to render (default: the configured report_file)."})
def comment(c: Context, file: str | None = None) -> None:
    """The report as the Markdown of the sticky PR comment (with its hidden marker)."""
    with guard():
        print(_markdown(c, file), end="")


@task(help={"file": "The report to render (default: the configured report_file)."})
def summary(c: Context, file: str | None = None) -> None:
    """Append the report's Markdown to $GITHUB_STEP_SUMMARY (or print it when unset)."""
    with guard():
        text = _markdown(c, file)
        target = os.environ.get("GITHUB_STEP_SUMMARY")
        if not target:
            _say("report: GITHUB_STEP_SUMMARY is not set; printing the summary instead")
            print(text, end="")
            return
        try:
            with Path(target).open("a", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as error:
            reason = error.strerror or str(error)
            raise ReportError(
                f"GITHUB_STEP_SUMMARY={target}: cannot append to it: {reason}"
            ) from None
        _say(f"report: summary appended to {target}")


# --- the collection -------------------------------------------------------------------------

ns = Collection()
ns.add_collection(Collection("converge", run))
ns.add_collection(Collection("twins", up, down, status, logs))
ns.add_collection(Collection("holdouts", pull, validate))
ns.add_collection(Collection("gates", all_gates, lint, types, backend_gate, frontend))
ns.add_collection(Collection("report", comment, summary))
ns.configure({"converge": config.invoke_defaults(ROOT)})
