"""The whole run in one place: load, select, pre-flight, run, score, report.

:func:`execute` is what ``converge run`` and the Invoke tasks call. It returns the exit code when
converge could judge the change (0 or 1) and raises the :class:`~converge.errors.ConvergeError`
when it could not (exit 2), after writing the report either way, so CI always has a report (with
``error`` set) to show.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from converge import _gc, baseline, colors, interrupt, seeds, shards
from converge.colors import ColorChoice
from converge.config import DEFAULT_WORKERS, MAX_RUNS, MAX_WORKERS
from converge.errors import (
    EXIT_ERROR,
    ConfigError,
    ConvergeError,
    Interrupted,
    NoScenariosError,
    ReportError,
)
from converge.model import (
    DEFAULT_TIMEOUT,
    DETAILS,
    GATES,
    TIERS,
    Detail,
    Gate,
    Priority,
    Scenario,
    ScenarioResult,
)
from converge.progress import Progress, note
from converge.redact import Redactor
from converge.report import (
    VERBOSE_PUBLIC,
    build_report,
    load_report,
    public_error,
    render_junit,
    render_markdown,
    render_table,
    report_chunks,
    report_json,
    writable,
    write_report_atomic,
    write_text_atomic,
)
from converge.scenario import (
    SUFFIXES,
    FileRead,
    LoadOptions,
    Tally,
    check_dir,
    load_dir,
    load_file,
    streamed,
)
from converge.scoring import DEFAULT_THRESHOLDS, exit_code, score
from converge.shards import Shard
from converge.tokens import DEFAULT_JWT_SECRET
from converge.variables import UserVariables
from converge.variables import collect as collect_variables

if TYPE_CHECKING:
    from converge.runner import BeforeRun

# The HTTP stack (converge.runner: requests, urllib3) is imported by the functions that send:
# `converge validate` and `converge --help` start without it (a third of a run's start-up).

RESET_TIMEOUT = 10.0  # seconds a twin may take to reset one seed's state
MAX_TIMEOUT = 86400.0  # as config.MAX_TIMEOUT and the schema; a socket cannot wait 1e300 s


@dataclass(frozen=True)
class RunOptions:
    scenarios_dir: Path
    api_url: str
    report_file: Path | None = None
    runs: int = 1
    priority: Priority | None = None  # None: every tier
    name_filter: str | None = None  # case-insensitive substring of the scenario name
    thresholds: Mapping[Priority, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    timeout: float = DEFAULT_TIMEOUT
    workers: int = DEFAULT_WORKERS
    verbose: bool = False
    jwt_secret: str = DEFAULT_JWT_SECRET
    secrets: tuple[str, ...] = ()  # more values to redact (HOLDOUT_PAT is always added)
    markdown_file: Path | None = None
    junit_file: Path | None = None
    seed: int | None = None  # the base seed of the runs' seeds; None: a random one
    gate: Gate = "mean"  # what the thresholds are compared with (converge.model.Gate)
    scenario: str | None = None  # only the scenario with exactly this name (--replay)
    replay_seed: int | None = None  # every run uses this seed (--replay), not a derived one
    baseline: Path | None = None  # a previous report to compare with (converge.baseline)
    # Twins whose per-seed state is reset before each run (POST /_twin/reset {"seed": ...}).
    twin_urls: tuple[str, ...] = ()
    color: ColorChoice = "auto"
    variables: tuple[str, ...] = ()  # --var NAME=VALUE, in order (the last of a name wins)
    vars_file: Path | None = None  # --vars-file: a YAML or JSON mapping of user variables
    trust_env: bool = False  # proxies and CA bundle from the environment (--trust-env)
    shard: Shard | None = None  # --shard K/N: only this shard's share (converge.shards)
    # What the Markdown and JUnit show of the holdouts (converge.model.Detail), and the table.
    detail: Detail = "public"
    table_detail: Detail = "full"


STDOUT = Path("-")  # as report_file: the JSON report goes to stdout, the table to stderr


def to_stdout(path: Path | None) -> bool:
    return path is not None and str(path) == "-"


def execute(options: RunOptions, out: TextIO, err: TextIO) -> int:
    """Run the scenarios and report. Returns 0 or 1; raises the ConvergeError of an exit 2.

    SIGINT or SIGTERM stops the run: no new step is sent, the requests in flight are abandoned,
    the report of the runs that finished is written (exit_code 2, ``complete`` false), and
    :class:`~converge.errors.Interrupted` is raised (the process exits 130 or 143).
    """
    with interrupt.raising():
        return _execute(options, out, err)


@dataclass
class _Judged:
    """What the run came to, before any of it is written."""

    results: list[ScenarioResult] = field(default_factory=list)
    code: int = EXIT_ERROR
    failure: ConvergeError | None = None  # an exit 2, with what the report's error says
    crash: Exception | None = None  # a bug in converge, raised again once the report is out
    interrupted: Interrupted | None = None  # a signal stopped it
    options_ok: bool = False
    before: dict[str, Any] | None = None  # the --baseline report
    redactor: Redactor = field(default_factory=Redactor)  # with the user variables' secrets
    # The report's shard section: which shard, then (once loaded) the whole list's fingerprint.
    shard: dict[str, Any] | None = None


def _execute(options: RunOptions, out: TextIO, err: TextIO) -> int:
    started, began = _now(), time.monotonic()
    if options.seed is None:
        options = replace(options, seed=seeds.new_base_seed())
    redactor = Redactor.from_environment([options.jwt_secret, *options.secrets])
    judged = _judge(options, err, redactor)
    failure, interrupted, redactor = judged.failure, judged.interrupted, judged.redactor
    if judged.results:
        note(err, f"writing the report of {_count(judged.results)}", since=began)
    with _gc.paused():
        document = build_report(
            judged.results,
            api_url=options.api_url,
            scenarios_dir=str(options.scenarios_dir),
            started_at=started,
            finished_at=_now(),
            exit_code=failure.exit_code if failure else judged.code,
            error=failure.message if failure else None,
            thresholds=options.thresholds if judged.options_ok else DEFAULT_THRESHOLDS,
            runs=options.runs if judged.options_ok else 1,
            redactor=redactor,
            seed=options.seed if judged.options_ok else None,
            gate=options.gate if judged.options_ok else "mean",
            complete=interrupted is None,
            shard=judged.shard,
        )
        if judged.before is not None and failure is None and options.baseline is not None:
            document = baseline.with_baseline(document, judged.before, str(options.baseline))
        if failure is None or (interrupted is not None and judged.results):
            show_table(
                document, options.report_file, verbose=options.verbose, color=options.color,
                out=out, err=err, detail=options.table_detail,
            )
        # A signal now must not cut the writing short (the previous verdict would stay in
        # place): it is honoured once the report is written.
        with interrupt.deferred() as late:
            write_outputs(
                document, options.report_file, options.markdown_file, options.junit_file, out,
                detail=options.detail, failure=failure,
            )
    interrupted = interrupted or (late.interrupted() if late else None)
    if failure is not None and options.table_detail == "public":
        failure.message = public_error(failure.message)  # the report above keeps it whole
    if interrupted is not None:
        interrupted.reported = True
        if failure is not None:
            err.write(f"converge: error: {failure.message}\n")
        raise interrupted
    if judged.crash is not None:
        raise judged.crash
    if failure is not None:
        failure.reported = True
        raise failure
    return judged.code


def _judge(options: RunOptions, err: TextIO, redactor: Redactor) -> _Judged:
    """Load, select, pre-flight, run and score; every way that can end, caught and kept."""
    judged = _Judged(redactor=redactor)
    if options.shard is not None:
        judged.shard = shards.section(options.shard, None)
    planned: int | None = 0  # scenario runs the options asked for (None: not all read yet)
    try:
        # Inside the try: a bad option is an exit 2 whose report replaces the previous verdict.
        check_options(options)
        # From the environment and a vars file, they are secrets: redacted from here on.
        user, redactor = _user_variables(options, redactor)
        judged.redactor = redactor
        judged.options_ok = True
        judged.before = _load_baseline(options.baseline)
        with _chosen(options, user, judged.shard, err) as chosen:
            from converge.runner import PREFLIGHT_TIMEOUT, ApiOrigin, preflight

            origin = ApiOrigin(options.api_url)
            if options.verbose:
                err.write(
                    f"converge: {chosen.expected} {chosen.unit} x {options.runs} run(s) "
                    f"against {origin.base_url}, {options.workers} worker(s)\n"
                )
            planned = chosen.expected * options.runs if chosen.known else None
            # No request at all when there is nothing to run (a shard may have none, and the
            # filters may take none of the files still being read).
            if chosen.any():
                try:
                    preflight(
                        origin, min(options.timeout, PREFLIGHT_TIMEOUT),
                        trust_env=options.trust_env,
                    )
                except ConvergeError:
                    chosen.finish()  # what the files say comes first, as it always has
                    raise
            judged.results, judged.interrupted = _run(chosen, options, err, redactor, user)
            planned = chosen.expected * options.runs if chosen.known else None
        judged.code = exit_code(judged.results)
    except Interrupted as error:  # before the scenarios ran, or a second signal during them
        judged.interrupted = error
    except ConvergeError as error:
        judged.failure = error
        error.message = redactor.text(error.message)
    except Exception as error:
        # A bug in converge is still an exit 2: the report says so rather than leaving the
        # previous run's verdict in place; the exception itself goes on up with its traceback.
        judged.crash = error
        judged.failure = ConvergeError(
            redactor.text(f"internal error in converge: {type(error).__name__}: {error}")
        )
    if judged.interrupted is not None:
        judged.failure = ConvergeError(_interruption(judged.interrupted, judged.results, planned))
    return judged


def _count(results: Sequence[ScenarioResult]) -> str:
    return f"{len(results):,} scenario{'s' if len(results) != 1 else ''}"


def _interruption(
    interrupted: Interrupted, results: Sequence[ScenarioResult], planned: int | None
) -> str:
    """What the report's ``error`` says of a run a signal stopped (``planned`` is None when the
    scenario files were still being read, so how many runs there would have been is unknown)."""
    finished = sum(len(result.runs) for result in results)
    if planned == 0 or not finished:
        return f"interrupted by {interrupted.name} before any scenario run finished"
    of = "" if planned is None else f" of {planned}"
    still = ", while the scenario files were still being read" if planned is None else ""
    return (
        f"interrupted by {interrupted.name} after {finished}{of} scenario runs{still}: the "
        "results are incomplete (only the runs that finished are reported)"
    )


def record_failure(
    error: ConvergeError,
    *,
    report_file: Path | None,
    api_url: str,
    scenarios_dir: Path,
    secrets: Sequence[str] = (),
) -> None:
    """Write the report of a run stopped before :func:`execute` began (twins that did not start,
    holdouts that could not be pulled), so that no earlier verdict stays in its place for CI
    to post. The error itself is the caller's to raise; a report that cannot be written only
    adds to its message."""
    if report_file is None:
        return
    error.reported = True
    redactor = Redactor.from_environment(secrets)
    error.message = redactor.text(error.message)
    now = _now()
    document = build_report(
        [],
        api_url=api_url,
        scenarios_dir=str(scenarios_dir),
        started_at=now,
        finished_at=now,
        exit_code=error.exit_code,
        error=error.message,
        thresholds=DEFAULT_THRESHOLDS,
        runs=1,
        redactor=redactor,
    )
    try:
        if to_stdout(report_file):
            sys.stdout.write(writable(report_json(document)))
            sys.stdout.flush()
        else:
            write_report_atomic(document, report_file)
    except OSError as problem:
        error.message += f"\ncannot write the report: {problem}"


def validate(
    scenarios_dir: Path,
    variables: Sequence[str] = (),
    vars_file: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Tally]:
    """Validate every scenario file, knowing the user variables a run would have (``--var``
    assignments, a vars file, the environment); no request is sent. The tier and number of
    checks of each scenario; many files are checked on every core."""
    user = user_variables(variables, vars_file)
    options = LoadOptions(variables=user.sources, default_timeout=timeout)
    if scenarios_dir.is_file():
        return [Tally(s.priority, s.checks_total) for s in load(scenarios_dir, options)]
    return check_dir(scenarios_dir, options)


def user_variables(assignments: Sequence[str], vars_file: Path | None) -> UserVariables:
    """The user variables of a run: ``CONVERGE_VAR_*`` from the environment, the vars file,
    then ``--var`` assignments."""
    return collect_variables(assignments, vars_file, os.environ)


def _user_variables(
    options: RunOptions, redactor: Redactor
) -> tuple[UserVariables, Redactor]:
    user = user_variables(options.variables, options.vars_file)
    return user, redactor.with_secrets(user.secrets)


def load(
    scenarios: Path, options: LoadOptions | None = None, err: TextIO | None = None
) -> list[Scenario]:
    """A scenarios folder, or one scenario file: its tier is its ``priority``, or its folder's
    name when that is a tier (``holdouts/critical/auth.yaml``). With ``err``, reading many
    files shows progress there, as the runs do."""
    if not scenarios.is_file():
        if err is None:
            return load_dir(scenarios, options)
        with _reading_shown(err) as on_file:
            return load_dir(scenarios, options, on_file)
    if not scenarios.name.endswith(SUFFIXES):
        raise NoScenariosError(f"{scenarios} is not a scenario file (*.yaml, *.yml)")
    # From the folder above a tier folder, so that the file is shown as critical/auth.yaml.
    root = scenarios.parent.parent if scenarios.parent.name in TIERS else scenarios.parent
    return load_file(scenarios, root, options)


@contextmanager
def _reading_shown(err: TextIO) -> Iterator[FileRead]:
    """Progress of reading many files, on ``err`` as the runs' is: told of each file read."""
    shown: list[Progress] = []

    def on_file(total: int, name: str) -> None:
        if not shown:
            shown.append(Progress(total, err, what="scenario files read"))
        shown[0].advance(name, True)

    try:
        yield on_file
    finally:
        for counter in shown:
            counter.close()


def validation_summary(scenarios: Sequence[Tally | Scenario], where: Path | str) -> str:
    """What ``converge validate`` and ``invoke holdouts.validate`` both say of valid scenarios."""
    counts = ", ".join(
        f"{sum(1 for s in scenarios if s.priority == tier)} {tier}" for tier in TIERS
    )
    checks = sum(s.checks_total for s in scenarios)
    plural = "s" if len(scenarios) != 1 else ""
    checks_plural = "s" if checks != 1 else ""
    return (
        f"valid: {len(scenarios)} scenario{plural} in {where} "
        f"({counts}; {checks} check{checks_plural})"
    )


def select(
    scenarios: Sequence[Scenario], priority: Priority | None, name_filter: str | None
) -> list[Scenario]:
    """The scenarios to run; :class:`NoScenariosError` when the filters leave none."""
    return list(_selecting(scenarios, priority, name_filter))


def _selecting(
    scenarios: Iterable[Scenario], priority: Priority | None, name_filter: str | None
) -> Iterator[Scenario]:
    """The scenarios the filters let through, as they come; once all have come,
    :class:`NoScenariosError` when the filters left none."""
    needle = (name_filter or "").casefold()
    loaded = chosen = 0
    for scenario in scenarios:
        loaded += 1
        if (priority is None or scenario.priority == priority) and (
            needle in scenario.name.casefold()
        ):
            chosen += 1
            yield scenario
    if not chosen:
        filters = []
        if priority is not None:
            filters.append(f"priority {priority}")
        if name_filter:
            filters.append(f"name containing {name_filter!r}")
        raise NoScenariosError(
            f"no scenario matches {' and '.join(filters)} "
            f"({loaded} scenario{'s' if loaded != 1 else ''} loaded)"
        )


class _Chosen:
    """The scenarios a run runs, in order; each is kept as it is taken (``taken``).

    Either all of them, read before any runs, or a stream of them still being read
    (:func:`converge.scenario.streamed`): then ``expected`` counts the files until the last
    one is read, and iterating raises what reading them found.
    """

    def __init__(
        self, scenarios: Iterable[Scenario], expected: int, unit: str, *, known: bool = True
    ) -> None:
        self._scenarios = iter(scenarios)
        self._first: list[Scenario] | None = None
        self.expected = expected
        self.known = known  # whether ``expected`` is the number of scenarios yet
        self.unit = unit
        self.taken: list[Scenario] = []
        self._ended: list[Callable[[int], None]] = []

    def any(self) -> bool:
        """Whether there is a scenario to run: waits for the first one (or raises what reading
        and choosing found before one came)."""
        if self._first is None:
            self._first = list(itertools.islice(self._scenarios, 1))
        return bool(self._first)

    def __iter__(self) -> Iterator[Scenario]:
        for scenario in itertools.chain(self._first or (), self._scenarios):
            self.taken.append(scenario)
            yield scenario
        self.expected, self.known = len(self.taken), True
        for ended in self._ended:
            ended(self.expected)

    def on_end(self, ended: Callable[[int], None]) -> None:
        """Told the number of scenarios once the last one is taken."""
        self._ended.append(ended)

    def finish(self) -> None:
        """Read what is left, untaken: raises what reading and choosing found, if anything."""
        for _ in self._scenarios:
            pass


@contextmanager
def _chosen(
    options: RunOptions, user: UserVariables, placement: dict[str, Any] | None, err: TextIO
) -> Iterator[_Chosen]:
    """The scenarios the options select: tier and name filter, or the one to replay; of those,
    with ``--shard``, this shard's share (``placement``, the report's section, is filled in).

    A whole folder is streamed: its first scenarios run while the rest are still being read.
    A replay and a shard are chosen from the whole list, so they read it all first.
    """
    loading = LoadOptions(variables=user.sources, default_timeout=options.timeout)
    if options.scenario is None and options.shard is None and not options.scenarios_dir.is_file():
        with (
            _reading_shown(err) as on_file,
            streamed(options.scenarios_dir, loading, on_file) as stream,
        ):
            if stream.reading:
                yield _Chosen(
                    _selecting(stream, options.priority, options.name_filter),
                    stream.expected,
                    "scenario file(s)",
                    known=False,
                )
                return
            every = list(stream)
    else:
        every = load(options.scenarios_dir, loading, err)
    scenarios = select(every, options.priority, options.name_filter)
    if options.scenario is not None:
        scenarios = named(scenarios, options.scenario)
    elif options.shard is not None and placement is not None:
        mine = shards.select(scenarios, options.shard)
        placement.update(shards.section(options.shard, scenarios, mine))
        err.write(
            f"converge: shard {options.shard}: {len(mine)} of {len(scenarios)} scenarios "
            f"({placement['steps']} steps)\n"
        )
        scenarios = mine
    yield _Chosen(scenarios, len(scenarios), "scenario(s)")


def _load_baseline(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return load_report(path)
    except ReportError as error:
        raise ReportError(f"--baseline: {error}") from None


def named(scenarios: Sequence[Scenario], name: str) -> list[Scenario]:
    """The scenarios called exactly ``name``; :class:`NoScenariosError` when there is none."""
    chosen = [s for s in scenarios if s.name == name]
    if not chosen:
        raise NoScenariosError(
            f"no scenario named {name!r} in the scenarios folder ({len(scenarios)} loaded)"
        )
    return chosen


def check_options(options: RunOptions) -> None:
    """Reject impossible option values with a message naming the option."""
    if not 1 <= options.runs <= MAX_RUNS:
        raise ConfigError(f"--runs must be from 1 to {MAX_RUNS} (got {options.runs})")
    if not 1 <= options.workers <= MAX_WORKERS:
        raise ConfigError(f"--workers must be from 1 to {MAX_WORKERS} (got {options.workers})")
    if not 0 < options.timeout <= MAX_TIMEOUT:
        raise ConfigError(
            f"--timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds "
            f"(got {options.timeout})"
        )
    if options.seed is not None and not 1 <= options.seed <= seeds.MAX_SEED:
        raise ConfigError(f"--seed must be from 1 to {seeds.MAX_SEED} (got {options.seed})")
    if options.gate not in GATES:
        raise ConfigError(f"--gate must be one of {', '.join(GATES)} (got {options.gate!r})")
    for detail in (options.detail, options.table_detail):
        if detail not in DETAILS:
            raise ConfigError(f"--detail must be one of {', '.join(DETAILS)} (got {detail!r})")
    if options.verbose and options.table_detail == "public":
        raise ConfigError(VERBOSE_PUBLIC)
    if options.priority is not None and options.priority not in TIERS:
        raise ConfigError(f"--priority must be one of {', '.join(TIERS)}")
    if options.shard is not None and options.baseline is not None:
        # One shard's comparison would call every scenario of the other shards "removed".
        raise ConfigError(
            "--baseline compares a whole run: give it to `converge merge` of the shards' "
            "reports, not to one shard"
        )
    for tier in TIERS:
        value = options.thresholds.get(tier)
        if value is None or not 0 <= value <= 100:
            raise ConfigError(f"threshold for {tier} must be between 0 and 100 (got {value})")


def _run(
    scenarios: _Chosen,
    options: RunOptions,
    err: TextIO,
    redactor: Redactor,
    user: UserVariables,
) -> tuple[list[ScenarioResult], Interrupted | None]:
    """The scored results, and the signal that stopped the runs if one did (then the results
    hold the runs that finished, and no scenario none of whose runs did)."""
    from converge.runner import RunnerConfig
    from converge.runner import run_all as run_scenarios

    config = RunnerConfig(
        variables=user.values,
        public_variables=frozenset(
            name for name, source in user.sources.items() if source == "--var"
        ),
        api_url=options.api_url,
        timeout=options.timeout,
        workers=options.workers,
        runs=options.runs,
        jwt_secret=options.jwt_secret,
        seed=options.seed if options.seed is not None else seeds.new_base_seed(),
        trust_env=options.trust_env,
    )
    replay_seed = options.replay_seed
    counter = Progress(scenarios.expected * options.runs, err)
    scenarios.on_end(lambda count: counter.expect(count * options.runs))
    with interrupt.deferred() as stop:
        try:
            runs = run_scenarios(
                scenarios,
                config,
                on_run=lambda scenario, run: counter.advance(
                    redactor.text(scenario.name), run.all_passed
                ),
                before_run=_twin_resetter(options.twin_urls, err),
                seed_of=None if replay_seed is None else lambda _scenario, _run: replay_seed,
                stop=stop.event,
            )
        finally:
            counter.close()
    results = [
        score(scenario, scenario_runs, options.thresholds, options.gate)
        for scenario, scenario_runs in zip(scenarios.taken, runs, strict=True)
        if scenario_runs
    ]
    return results, stop.interrupted() if stop else None


def _twin_resetter(urls: Sequence[str], err: TextIO) -> BeforeRun | None:
    """Before each run, reset what the twins keep for its seed; warn once if one cannot.

    A twin that cannot be reset does not stop the run: the runs are still independent (fresh
    users, captures and seeds), only a replay of them may no longer match exactly. It is not
    asked again (a twin that hangs would cost every run its timeout); a slow answer is waited
    for, since on a busy machine a reset given up too soon is a replay that silently differs.
    """
    if not urls:
        return None
    from converge.twins import reset_seed

    given_up: set[str] = set()
    lock = threading.Lock()

    def reset(scenario: Scenario, seed: int) -> None:
        for url in urls:
            with lock:
                if url in given_up:
                    continue
            problem = reset_seed(url, seed, timeout=RESET_TIMEOUT)
            if problem is None:
                continue
            with lock:
                if url not in given_up:
                    given_up.add(url)
                    err.write(
                        f"converge: warning: cannot reset the twin's state between runs "
                        f"({problem}); runs go on without it\n"
                    )

    return reset


def _why(report_file: Path | None) -> str:
    """How to see the failed checks of this run, for the table's last line."""
    if report_file is None or to_stdout(report_file):
        return "run again with --verbose"
    shown = report_file
    if shown.is_absolute() and shown.is_relative_to(Path.cwd()):
        shown = shown.relative_to(Path.cwd())
    return f"converge report -v {shown} (or run again with --verbose)"


def show_table(
    document: Mapping[str, Any],
    report_file: Path | None,
    *,
    verbose: bool,
    color: ColorChoice,
    out: TextIO,
    err: TextIO,
    detail: Detail = "full",
) -> None:
    """The results table, where a run (or a merge) shows it."""
    # With the JSON on stdout (--report-file -), everything else goes to stderr.
    table_out = err if to_stdout(report_file) else out
    table = render_table(
        document,
        verbose=verbose,
        color=colors.wanted(color, table_out),
        why=_why(report_file),
        detail=detail,
    )
    table_out.write(table)
    table_out.flush()


def write_outputs(
    document: dict[str, object],
    report_file: Path | None,
    markdown_file: Path | None,
    junit_file: Path | None,
    out: TextIO,
    *,
    detail: Detail = "public",
    failure: ConvergeError | None = None,
) -> None:
    """The JSON report (``-``: to ``out``), and the Markdown and JUnit files when asked for,
    at ``detail`` (the JSON report always keeps everything: it is private).

    A file that cannot be written is a :class:`ReportError`, or, when the run already ends in
    ``failure``, one more line of that error (the first problem is the one to report)."""
    try:
        if to_stdout(report_file):
            out.writelines(writable(chunk) for chunk in report_chunks(document))
            out.flush()
        elif report_file is not None:
            write_report_atomic(document, report_file)
        if markdown_file is not None:
            text = render_markdown(document, sticky_marker=True, detail=detail)
            _write_text(markdown_file, text)
        if junit_file is not None:
            _write_text(junit_file, render_junit(document, detail=detail))
    except OSError as error:
        problem = f"cannot write the report: {error}"
        if failure is None:
            raise ReportError(problem) from None
        failure.message += f"\n{problem}"


def _write_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def _now() -> datetime:
    return datetime.now(UTC)
