"""The whole ``invoke converge`` run: twins up, pull the holdouts, run them, twins down.

:func:`converge` is the pipeline in one short function; the rest of the module picks the API
URL and builds the twins' configuration from the settings. Errors are not handled here: they
travel up as :class:`~converge.errors.ConvergeError` (twins that will not start, holdouts that
cannot be pulled, bad scenarios: all exit 2) to the task's ``guard``, after ``twins.running`` has
taken the stack down on the way.
"""

from __future__ import annotations

import fcntl
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from converge import engine, holdouts, interrupt, twins
from converge.colors import ColorChoice
from converge.config import Settings
from converge.errors import ConvergeError, Interrupted, TwinsError
from converge.model import Detail, Gate, Priority, detail_levels
from converge.shards import Shard

Say = Callable[[str], None]

STATE_DIR = ".converge"  # under the project root, git-ignored: the process backend's state
RUN_LOCK = "converge.lock"  # in STATE_DIR: held by the one pipeline running in this checkout


@dataclass(frozen=True)
class Options:
    """The flags of ``invoke converge``."""

    keep: bool = False  # leave the twins running afterwards
    no_twins: bool = False  # run against an API that is already up
    runs: int = 1
    gate: Gate | None = None  # None: the configured one
    baseline: Path | None = None  # a previous report to compare with
    priority: Priority | None = None  # only this tier
    backend: twins.BackendChoice | None = None  # None: the configured one
    verbose: bool = False
    name_filter: str | None = None  # only scenarios whose name contains this (case-insensitive)
    markdown_file: Path | None = None
    junit_file: Path | None = None
    api_url: str | None = None  # --api-url: wins as API_URL does, even over started twins
    seed: int | None = None  # the base seed of the runs' seeds; None: a new random one
    color: ColorChoice = "auto"
    trust_env: bool | None = None  # --trust-env; None: the configured trust_env
    pull: bool = True  # False: run the scenarios folder as it is (named by flag)
    holdouts_chosen: bool = False  # the source was named by flag, not taken from the settings
    variables: tuple[str, ...] = ()  # --var NAME=VALUE
    vars_file: Path | None = None  # --vars-file; None: the configured vars_file, if any
    shard: Shard | None = None  # --shard K/N: only this shard's share of the scenarios
    detail: Detail | None = None  # --detail: every rendering; None: the configured one's rule


def converge(settings: Settings, options: Options, out: TextIO, err: TextIO) -> int:
    """Run the pipeline; return the engine's exit code (0 or 1). Raises ConvergeError (exit 2).

    SIGINT or SIGTERM at any point ends in :class:`~converge.errors.Interrupted` (exit 130 or
    143), after the twins are down (unless ``keep``) and a report saying so (exit_code 2) has
    replaced the previous one.
    """

    def say(message: str) -> None:
        print(message, file=err, flush=True)

    try:
        with interrupt.raising(), _one_run_at_a_time(settings.root / STATE_DIR, say):
            return _converge(settings, options, out, err, say)
    except (KeyboardInterrupt, SystemExit) as stopped:
        interrupted = _as_interrupted(stopped)
        if interrupted is None:
            raise
        if not interrupted.reported:  # stopped before the engine wrote its own report
            _record_failure(
                settings,
                options.api_url or settings.api_url,
                ConvergeError(f"interrupted by {interrupted.name} before any scenario ran"),
            )
            interrupted.reported = True
        raise interrupted from None


@contextmanager
def reported_if_bad(report_file: Callable[[], Path]) -> Iterator[None]:
    """A bad flag or setting of ``invoke converge`` (found before the pipeline starts) is an
    exit 2 whose report, written to ``report_file()``, replaces the previous verdict."""
    try:
        yield
    except ConvergeError as error:
        if not error.reported:
            engine.record_failure(
                error, report_file=report_file(), api_url="", scenarios_dir=Path(".holdouts")
            )
        raise


def _as_interrupted(stopped: BaseException) -> Interrupted | None:
    """The signal behind an exception, if one is: twins.running raises KeyboardInterrupt for
    SIGINT and SystemExit(143) for SIGTERM while it starts the stack."""
    if isinstance(stopped, Interrupted):
        return stopped
    if isinstance(stopped, KeyboardInterrupt):
        return Interrupted(signal.SIGINT)
    if isinstance(stopped, SystemExit) and stopped.code == 128 + signal.SIGTERM:
        return Interrupted(signal.SIGTERM)
    return None


@contextmanager
def _one_run_at_a_time(state_dir: Path, say: Say) -> Iterator[None]:
    """Let one pipeline at a time run in a checkout; a second one waits, and says so.

    Two runs share the process stack's state, ``.holdouts`` and the report: the second would
    find the first one's twins up, use them, and lose them when the first tears them down (or
    take them away from the first), so one of the two would report failures the change did not
    cause. The lock is an ``flock``, so it goes with the process that held it, however it ended.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / RUN_LOCK).open("a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip()
            say(
                "converge: another run of the pipeline holds this checkout"
                + (f" (pid {holder})" if holder.isdigit() else "")
                + "; waiting for it to finish"
            )
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _converge(settings: Settings, options: Options, out: TextIO, err: TextIO, say: Say) -> int:
    if options.no_twins:
        api_url, running = _external_api_url(settings, options, say)
        return _pull_and_run(settings, options, api_url, out, err, twin_urls=running)
    backend = twins.select_backend(twins_config(settings, options.backend), say)
    stack_up = False
    try:
        with twins.running(backend, keep=options.keep) as statuses:
            stack_up = True
            code = _pull_and_run(
                settings,
                options,
                _stack_api_url(settings, options, statuses),
                out,
                err,
                twin_urls=_twin_urls(statuses),
            )
    except TwinsError as error:
        if not stack_up:  # a failure to stop the twins comes after the engine's own report
            _record_failure(settings, settings.api_url, error)
        raise
    if options.keep:
        say(f"twins: left running ({backend.name} backend); stop them with `invoke twins.down`")
    return code


def _pull_and_run(
    settings: Settings,
    options: Options,
    api_url: str,
    out: TextIO,
    err: TextIO,
    *,
    twin_urls: tuple[str, ...] = (),
) -> int:
    try:
        scenarios = _scenarios(settings, options, lambda m: print(m, file=err, flush=True))
    except ConvergeError as error:
        _record_failure(settings, api_url, error)
        raise
    run_options = engine.RunOptions(
        scenarios_dir=scenarios,
        api_url=api_url,
        report_file=settings.report_file,
        runs=options.runs,
        gate=options.gate or settings.gate,
        baseline=options.baseline,
        priority=options.priority,
        name_filter=options.name_filter,
        thresholds=dict(settings.thresholds),
        timeout=settings.timeout,
        workers=settings.workers,
        jwt_secret=settings.jwt_secret,
        verbose=options.verbose,
        twin_urls=twin_urls,
        seed=options.seed,
        color=options.color,
        trust_env=settings.trust_env if options.trust_env is None else options.trust_env,
        markdown_file=options.markdown_file,
        junit_file=options.junit_file,
        variables=options.variables,
        vars_file=options.vars_file or settings.vars_file,
        shard=options.shard,
        detail=detail_levels(options.detail, settings.detail)[0],
        table_detail=detail_levels(options.detail, settings.detail)[1],
    )
    return engine.execute(run_options, out, err)


def _scenarios(settings: Settings, options: Options, say: Say) -> Path:
    """The folder to run: pulled from the holdouts source, or as it is when that is the intent.

    As it is: a folder named by ``--scenarios-dir`` alone, and scenarios that an explicit
    ``invoke holdouts.pull --repo X`` put in place of the configured source's (pulling the
    configured source again would silently replace what the user just chose to pull).
    """
    folder = settings.scenarios_dir
    if not options.pull:
        say(f"holdouts: running the scenarios in {_shown(folder)} as they are (no pull)")
        return folder
    recorded = holdouts.recorded_source(folder)
    if (
        not options.holdouts_chosen
        and recorded is not None
        and not holdouts.same_source(recorded, settings.holdouts_repo, settings.root)
    ):
        say(
            f"holdouts: {_shown(folder)} holds the scenarios pulled from {recorded}, not from "
            f"the configured {settings.holdouts_repo}: running them as they are "
            "(--holdouts-repo pulls a source again)"
        )
        return folder
    return holdouts.pull(
        settings.holdouts_repo,
        settings.holdouts_ref,
        folder,
        root=settings.root,
        token=settings.holdout_pat,
        say=say,
    )


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _record_failure(settings: Settings, api_url: str, error: ConvergeError) -> None:
    engine.record_failure(
        error,
        report_file=settings.report_file,
        api_url=api_url,
        scenarios_dir=settings.scenarios_dir,
        secrets=[settings.jwt_secret, *([settings.holdout_pat] if settings.holdout_pat else [])],
    )


def twins_config(
    settings: Settings, backend: twins.BackendChoice | None = None
) -> twins.TwinsConfig:
    """The twins' configuration from the settings (``backend`` forces one, e.g. ``--backend``)."""
    return twins.TwinsConfig(
        backend=backend or settings.twins_backend,
        compose_file=settings.compose_file,
        compose_project=settings.compose_project,
        state_dir=settings.root / STATE_DIR,
        jwt_secret=settings.jwt_secret,
        variability=settings.twins_variability,
    )


def _twin_urls(statuses: Sequence[twins.ServiceStatus]) -> tuple[str, ...]:
    """The started twins (not the API): converge resets their per-seed state between runs."""
    return tuple(s.url for s in statuses if s.name != twins.API_SERVICE and s.url)


def _stack_api_url(
    settings: Settings, options: Options, statuses: Sequence[twins.ServiceStatus]
) -> str:
    # API_URL set on purpose wins even over the stack just started (e.g. an API run by hand in
    # a debugger, talking to these twins).
    if options.api_url:
        return options.api_url
    if settings.api_url_from_env:
        return settings.api_url
    for status in statuses:
        if status.name == twins.API_SERVICE and status.url:
            return status.url
    return settings.api_url


def _external_api_url(
    settings: Settings, options: Options, say: Say
) -> tuple[str, tuple[str, ...]]:
    """The API to judge, and the running twins behind it (to reset per seed) when it is theirs."""
    if options.api_url:
        url, why = options.api_url, "from --api-url"
    else:
        url, why = external_api_url(settings, options.backend, say)
    say(f"api: {url} ({why})")
    return url, tuple(running_twin_urls(settings)) if why == RUNNING_TWINS else ()


RUNNING_TWINS = "the running twins' gravix-api"


def running_twin_urls(settings: Settings) -> list[str]:
    """The twins (not the API) of a stack already running, for per-seed resets; [] if none."""
    try:
        statuses = twins.select_backend(twins_config(settings), lambda _message: None).status()
    except TwinsError:
        return []
    return list(_twin_urls([s for s in statuses if s.healthy]))


def external_api_url(
    settings: Settings, backend: twins.BackendChoice | None, say: Say
) -> tuple[str, str]:
    """The API to judge when converge starts no twins, and why: ``API_URL`` (or ``--api-url``),
    else the gravix-api of twins already running (left up by ``invoke twins.up`` or ``converge
    --keep`` on ports chosen at start), else the configured ``api_url``.

    ``invoke converge --no-twins`` and ``converge run`` without ``--api-url`` both use this rule.
    """
    if settings.api_url_from_env:
        return settings.api_url, "from API_URL"
    try:
        running = twins.select_backend(twins_config(settings, backend), say).api_url()
    except TwinsError as error:
        say(f"api: could not look for running twins: {error}")
        running = None
    if running:
        return running, RUNNING_TWINS
    return settings.api_url, "setup.cfg [converge] api_url"
