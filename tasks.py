"""Invoke tasks: what people type locally and what CI runs, step by step.

Thin on purpose: each task turns its flags into a library call under ``errors.guard``, which is
the one place mapping errors to exit codes (0 ok, 1 a critical scenario or gate failed, 2 the
run could not judge the change). The configuration is setup.cfg's ``[converge]`` section, handed
to Invoke at the bottom so that invoke.yaml and ``INVOKE_CONVERGE_*`` variables override it.

    invoke converge [converge run's flags] [--keep] [--no-twins] [--backend B]
                    [--holdouts-repo SOURCE] [--holdouts-ref REF]
    invoke twins.up | twins.down | twins.status [--json] | twins.logs [--service NAME]
    invoke holdouts.pull [--holdouts-repo SOURCE] [--holdouts-ref REF] | holdouts.validate
    invoke gates | gates.lint | gates.types | gates.backend | gates.frontend
    invoke gates.spec [--dry-run] [--base REF] [--head]
    invoke done [--from-reports] [--no-twins]
    invoke report.comment | report.summary [--detail public|full]
    invoke report.merge --shards GLOB [--report-file F] [--detail public|full]
    invoke bench [--quick] [--only MEASURES] [--rounds N]
"""

from __future__ import annotations

import glob
import json as jsonlib
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import Task, task

from converge import cli, config, pipeline, twins
from converge import gates as gates_lib
from converge import holdouts as holdouts_lib
from converge.errors import ConfigError, ConvergeError, ReportError, guard

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

RUN_OPTIONS = cli.run_options()


class _SharedFlags(Task[Any]):
    """A task whose flags that ``converge run`` also has are ``converge run``'s: the same long
    and short names (``-k`` is the name filter in both, not invoke's first-letter ``--keep``),
    the same help, and the same checks of each value (see :func:`_shared`). Flags of the task
    alone get no short name (use with ``auto_shortflags=False``)."""

    ALIASES: dict[str, list[str]] = {}  # more long names of a flag
    LONG_ONLY: frozenset[str] = frozenset()  # flags that must not take a short name


    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        opts["names"] = [*opts["names"], *self.ALIASES.get(name, [])]
        if name in self.LONG_ONLY:
            opts["names"] = [flag for flag in opts["names"] if len(flag) > 1]
        action = RUN_OPTIONS.get(name)
        if action is not None:
            longs = [flag[2:] for flag in action.option_strings if flag.startswith("--")]
            shorts = [flag[1:] for flag in action.option_strings if not flag.startswith("--")]
            # The keyword is the long name (``filter`` for --filter): invoke's help finds an
            # argument by its keyword turned into a flag.
            opts["names"] = [*longs, *shorts]
            choices = f" One of: {', '.join(action.choices)}." if action.choices else ""
            opts.setdefault("help", _sentence(action.help or "") + choices)
        return opts


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _shared(name: str, value: str | None) -> Any:
    """A shared flag's value converted and checked as ``converge run`` does (None: not given)."""
    if value is None:
        return None
    return cli.convert_option(RUN_OPTIONS[name], str(value))


@task(
    klass=_SharedFlags,
    default=True,
    auto_shortflags=False,
    iterable=["threshold", "var"],
    help={
        "keep": "Leave the twins running afterwards (stop them with `invoke twins.down`).",
        "no-twins": "Do not start the twins: run against --api-url, API_URL, running twins, "
        "or api_url.",
        "backend": BACKEND_HELP,
        "holdouts-repo": "Pull the scenarios from this folder, git path or URL instead of the "
        "configured holdouts_repo.",
        "holdouts-ref": "Branch, tag or commit of --holdouts-repo (default: the configured "
        "holdouts_ref).",
        "scenarios-dir": "Run the scenarios in this folder as they are, without pulling (with "
        "--holdouts-repo: pull into it).",
        "api-url": "The API under test, as API_URL does (default: the twins' gravix-api).",
        "report-file": "Where to write the JSON report, - for stdout (default: report_file).",
        "timeout": "Default timeout of a step in seconds (default: the configured timeout).",
        "workers": "Scenarios run in parallel (default: the configured workers).",
    },
)
def run(
    c: Context,
    *,
    keep: bool = False,
    no_twins: bool = False,
    backend: str | None = None,
    holdouts_repo: str | None = None,
    holdouts_ref: str | None = None,
    scenarios_dir: str | None = None,
    api_url: str | None = None,
    report_file: str | None = None,
    markdown_file: str | None = None,
    junit_file: str | None = None,
    verbose: bool = False,
    runs: str | None = None,
    priority: str | None = None,
    filter: str | None = None,  # the flag is --filter, as in converge run
    threshold: list[str] | None = None,
    timeout: str | None = None,
    workers: str | None = None,
    seed: str | None = None,
    gate: str | None = None,
    color: str | None = None,
    baseline: str | None = None,
    var: list[str] | None = None,
    vars_file: str | None = None,
    trust_env: bool = False,
    shard: str | None = None,
    detail: str | None = None,
) -> None:
    """The whole pipeline: twins up, pull holdouts, run the scenarios, report, twins down."""
    with guard():
        with pipeline.reported_if_bad(lambda: _report_file_of(c, report_file)):
            settings = _settings(c)
            overrides: dict[str, Any] = {
                "holdouts_repo": holdouts_repo,
                "holdouts_ref": holdouts_ref,
                "scenarios_dir": _path(_shared("scenarios_dir", scenarios_dir)),
                "report_file": _path(_shared("report_file", report_file)),
                "timeout": _shared("timeout", timeout),
                "workers": _shared("workers", workers),
            }
            if threshold:
                overrides["thresholds"] = cli.parse_thresholds(threshold, settings.thresholds)
            settings = replace(
                settings, **{key: value for key, value in overrides.items() if value is not None}
            )
            options = pipeline.Options(
                keep=keep,
                no_twins=no_twins,
                runs=_shared("runs", runs) or 1,
                priority=_shared("priority", priority),
                backend=_backend(backend),
                verbose=verbose,
                api_url=_shared("api_url", api_url),
                seed=_shared("seed", seed),
                gate=_shared("gate", gate),
                color=_shared("color", color) or "auto",
                trust_env=True if trust_env else None,
                baseline=_path(_shared("baseline", baseline)),
                name_filter=filter,
                markdown_file=_path(_shared("markdown_file", markdown_file)),
                junit_file=_path(_shared("junit_file", junit_file)),
                # A folder named by flag is run as it is; pulling into it needs --holdouts-repo too.
                pull=scenarios_dir is None or holdouts_repo is not None,
                holdouts_chosen=holdouts_repo is not None,
                variables=tuple(var or ()),
                vars_file=_path(_shared("vars_file", vars_file)),
                shard=_shared("shard", shard),
                detail=_shared("detail", detail),
            )
        code = pipeline.converge(settings, options, sys.stdout, sys.stderr)
    raise SystemExit(code)


def _report_file_of(c: Context, flag: str | None) -> Path:
    """Where the report of this run goes, as far as the flags and settings can be read (a bad
    flag or setting is reported there too)."""
    try:
        chosen = _path(_shared("report_file", flag))
    except ConfigError:
        chosen = None
    if chosen is not None:
        return chosen
    try:
        return _settings(c).report_file
    except ConfigError:
        configured = str(c.config.converge.get("report_file") or "").strip()
        return ROOT / (configured or config.DEFAULTS["report_file"])


def _path(value: Any) -> Path | None:
    """A path given by flag: relative to the current folder, as on any command line (configured
    paths are relative to the project root); ``-`` (stdout) stays as it is."""
    if value is None:
        return None
    path = Path(value)
    return path if str(path) == "-" else path.absolute()


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


class _LogsFlags(_SharedFlags):
    LONG_ONLY = frozenset({"health_checks"})  # -h is --help


@task(
    klass=_LogsFlags,
    help={
        "service": "One service (mock-anthropic, mock-supabase, mock-stripe, gravix-api).",
        "tail": "How many lines from the end of each log.",
        "backend": BACKEND_HELP,
        "health-checks": "Also show the health-check requests (hidden: they come every second).",
    },
)
def logs(
    c: Context,
    service: str | None = None,
    tail: int = 100,
    backend: str | None = None,
    health_checks: bool = False,
) -> None:
    """The end of the twins' logs (one service, or all of them), without the health checks."""
    with guard():
        text = _backend_for(c, backend).logs(service or None, tail, health_checks=health_checks)
    if text.strip():
        print(text.rstrip("\n"))  # one newline at the end, so the shell prompt starts a line


@task(
    help={
        "service": "The service to compare: anthropic, stripe or supabase.",
        "against": "Base URL of the other side: the real service (credentials from the "
        "environment) or another twin.",
        "twin-url": "Compare a twin already running at this URL instead of starting one.",
        "only": "Run only this behaviour (repeatable).",
        "json-file": "Where to write the JSON (default: reports/conformance-SERVICE.json).",
        "list": "List the service's behaviours and the credentials it reads, run nothing.",
    },
    iterable=["only"],
)
def conformance(
    c: Context,
    *,
    service: str = "anthropic",
    against: str | None = None,
    twin_url: str | None = None,
    only: list[str] | None = None,
    json_file: str | None = None,
    list: bool = False,
) -> None:
    """Run a service's behaviours against the twin and another base URL; print the differences."""
    from converge_twins import conformance as conformance_lib

    with guard():
        try:
            if list:
                print(conformance_lib.describe_suite(service), end="")
                return
            if not against:
                raise ConfigError("--against: give the base URL to compare the twin with")
            comparison = conformance_lib.compare_service(
                service, against, os.environ, twin_url=twin_url, names=only or ()
            )
        except conformance_lib.ConformanceError as error:
            raise ConfigError(str(error)) from None
        target = Path(json_file) if json_file else ROOT / "reports" / f"conformance-{service}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(comparison.to_json(), encoding="utf-8")
        print(conformance_lib.render_table(comparison), end="")
        _say(f"conformance: JSON written to {target}")
    raise SystemExit(1 if comparison.differences else 0)


# --- holdouts -------------------------------------------------------------------------------


class _PullFlags(_SharedFlags):
    # Older names still accepted: `holdouts.pull --repo X` predates the shared vocabulary.
    ALIASES = {"holdouts_repo": ["repo"], "holdouts_ref": ["ref"]}


@task(
    klass=_PullFlags,
    auto_shortflags=False,
    help={
        "holdouts-repo": "Pull from this folder, git path or URL instead of the configured "
        "holdouts_repo.",
        "holdouts-ref": "Branch, tag or commit to check out instead of the configured "
        "holdouts_ref.",
    },
)
def pull(c: Context, holdouts_repo: str | None = None, holdouts_ref: str | None = None) -> None:
    """Clone, or fetch and reset, the holdouts repository into the scenarios folder."""
    with guard():
        settings = _settings(c)
        holdouts_lib.pull(
            holdouts_repo or settings.holdouts_repo,
            settings.holdouts_ref if holdouts_ref is None else holdouts_ref,
            settings.scenarios_dir,
            root=settings.root,
            token=settings.holdout_pat,
            say=_say,
        )


@task(
    iterable=["var"],
    help={
        "var": "A user variable NAME=VALUE the scenarios may use; repeatable.",
        "vars-file": "A YAML or JSON mapping of user variables (default: the configured "
        "vars_file).",
        "detail": "full (default: every problem, with its file, line and field) or public (only "
        "how many, for a log the code's author reads).",
    },
)
def validate(
    c: Context,
    var: list[str] | None = None,
    vars_file: str | None = None,
    detail: str | None = None,
) -> None:
    """Schema-check the pulled scenarios (no request is sent)."""
    from converge import engine
    from converge.report import public_error

    with guard():
        level = _shared("detail", detail) or "full"
        settings = _settings(c)
        folder = settings.scenarios_dir
        shown = folder.relative_to(Path.cwd()) if folder.is_relative_to(Path.cwd()) else folder
        try:
            scenarios = engine.validate(
                folder,
                tuple(var or ()),
                _path(vars_file) or settings.vars_file,
                settings.timeout,
            )
        except ConvergeError as error:
            if level == "public":
                error.message = public_error(error.message)
            raise
        print(engine.validation_summary(scenarios, shown))


# --- gates ----------------------------------------------------------------------------------


def _gates(c: Context, *names: str) -> None:
    from converge import done as done_lib

    with guard():
        settings = _settings(c)
        outcomes = gates_lib.execute(gates_lib.configured(settings, names), cwd=settings.root)
        done_lib.record_gates(settings, outcomes)  # for `invoke done --from-reports`
        gates_lib.raise_failures(outcomes)


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


@task(
    name="spec",
    help={
        "dry-run": "Print what would be sent (files, sizes, chunks); ask no model, write nothing.",
        "base": "Measure the change from this commit or branch (default: spec_base, the pull "
        "request's base in CI, else the merge base with the default branch).",
        "head": "Review the committed change only (base to HEAD), not the working tree.",
    },
)
def spec_gate(
    c: Context, dry_run: bool = False, base: str | None = None, head: bool = False
) -> None:
    """The spec review: a model checks the change against the spec (needs ANTHROPIC_API_KEY)."""
    from converge.spec import gate

    with guard():
        options = gate.options_for(
            _settings(c), os.environ, worktree=not head, base=base or None, dry_run=dry_run
        )
        code = gate.execute(options, sys.stdout, sys.stderr)
    raise SystemExit(code)


# --- done -----------------------------------------------------------------------------------


@task(
    help={
        "from-reports": "Run nothing: read the latest reports of the four criteria.",
        "no-twins": "Run the holdouts against API_URL or running twins (as converge --no-twins).",
        "backend": BACKEND_HELP,
    }
)
def done(
    c: Context, from_reports: bool = False, no_twins: bool = False, backend: str | None = None
) -> None:
    """The four criteria (tests, lint + types, critical holdouts, spec review), one verdict."""
    from converge import done as done_lib

    with guard():
        settings = _settings(c)
        if from_reports:
            criteria = done_lib.from_reports(settings)
        else:
            options = done_lib.DoneOptions(no_twins=no_twins, backend=_backend(backend))
            criteria = done_lib.run_all(settings, options, os.environ, sys.stdout, sys.stderr)
        print(done_lib.render_table(criteria), end="", flush=True)
    raise SystemExit(done_lib.exit_code(criteria))


# --- report ---------------------------------------------------------------------------------


def _markdown(c: Context, file: str | None, detail: str | None) -> str:
    from converge import done as done_lib
    from converge import report

    settings = _settings(c)
    level = _shared("detail", detail) or settings.detail
    path = Path(file) if file else settings.report_file
    document = report.load_report(path)
    criteria = done_lib.comment_lines(settings, path)
    return report.render_markdown(document, sticky_marker=True, criteria=criteria, detail=level)


REPORT_HELP = {
    "file": "The report to render (default: the configured report_file).",
    "detail": "public (scores and counts only, for the code's author) or full (every failed "
    "check, for the holdouts' owner); default: the configured detail, public.",
}


@task(help=REPORT_HELP)
def comment(c: Context, file: str | None = None, detail: str | None = None) -> None:
    """The report as the Markdown of the sticky PR comment (with its hidden marker)."""
    with guard():
        print(_markdown(c, file, detail), end="")


@task(help=REPORT_HELP)
def summary(c: Context, file: str | None = None, detail: str | None = None) -> None:
    """Append the report's Markdown to $GITHUB_STEP_SUMMARY (or print it when unset)."""
    with guard():
        text = _markdown(c, file, detail)
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


@task(
    iterable=["shards"],
    help={
        "shards": "A shard's report, or a glob of them (e.g. 'shards/*/latest.json'); "
        "repeatable.",
        "report-file": "Where to write the merged report (default: the configured report_file).",
        "markdown-file": "Also write the Markdown summary here.",
        "junit-file": "Also write JUnit XML here.",
        "baseline": "A previous report to compare the whole run with.",
        "verbose": "Show every step, and every failed check with expected and actual values.",
        "detail": "public or full: what the Markdown and JUnit show of the holdouts (default: "
        "the configured detail, public); given, the table too.",
    },
)
def merge(
    c: Context,
    *,
    shards: list[str] | None = None,
    report_file: str | None = None,
    markdown_file: str | None = None,
    junit_file: str | None = None,
    baseline: str | None = None,
    verbose: bool = False,
    detail: str | None = None,
) -> None:
    """Combine the reports of the shards of one run (converge run --shard K/N) into one."""
    from converge import merge as merge_lib
    from converge.model import detail_levels

    with guard():
        settings = _settings(c)
        files, table = detail_levels(_shared("detail", detail), settings.detail)
        options = merge_lib.MergeOptions(
            reports=tuple(_globbed(shards or [])),
            report_file=_path(report_file) or settings.report_file,
            markdown_file=_path(markdown_file),
            junit_file=_path(junit_file),
            baseline=_path(baseline),
            verbose=verbose,
            detail=files,
            table_detail=table,
        )
        code = merge_lib.execute(options, sys.stdout, sys.stderr)
    raise SystemExit(code)


def _globbed(patterns: list[str]) -> list[Path]:
    """Each pattern's files in sorted order. A pattern that matches nothing is passed on as it
    is, so that the merge names it (no such report file) and still writes its report."""
    found: list[Path] = []
    for pattern in patterns:
        # glob.glob, not Path.glob: a pattern may be absolute ('/tmp/shards/*.json').
        matches = sorted(glob.glob(pattern, recursive=True))  # noqa: PTH207
        found.extend(Path(match) for match in matches or [pattern])
    return found


# --- bench ----------------------------------------------------------------------------------


@task(
    help={
        "quick": "A smaller run to try the bench: 2 rounds, 1000 files, 40 scenarios.",
        "only": "Comma-separated measures: throughput, startup, validate, workers, scale, stack.",
        "rounds": "Rounds of the throughput measure (default 5).",
        "tavern-python": "An interpreter with Tavern installed, to measure it too.",
    }
)
def bench(
    c: Context,
    quick: bool = False,
    only: str | None = None,
    rounds: int | None = None,
    tavern_python: str | None = None,
) -> None:
    """converge's speed against a raw requests loop measured in the same run (bench/run.py)."""
    arguments = [sys.executable, str(ROOT / "bench" / "run.py")]
    arguments += ["--quick"] if quick else []
    arguments += ["--only", only] if only else []
    arguments += ["--rounds", str(rounds)] if rounds else []
    arguments += ["--tavern-python", tavern_python] if tavern_python else []
    c.run(shlex.join(arguments), pty=False)


# --- the collection -------------------------------------------------------------------------

ns = Collection()
ns.add_collection(Collection("converge", run))
ns.add_collection(Collection("twins", up, down, status, logs, conformance))
ns.add_collection(Collection("holdouts", pull, validate))
ns.add_collection(Collection("gates", all_gates, lint, types, backend_gate, frontend, spec_gate))
ns.add_task(done)
ns.add_collection(Collection("report", comment, summary, merge))
ns.add_task(bench)
ns.configure({"converge": config.invoke_defaults(ROOT)})
