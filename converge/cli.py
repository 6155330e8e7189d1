"""``converge run | validate | report``: flags in, one library call, exit code out.

Errors become a one-line message and an exit code in :func:`converge.errors.guard` only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from converge import __version__, colors, shards
from converge.colors import CHOICES
from converge.config import DEFAULT_WORKERS, MAX_RUNS, MAX_WORKERS
from converge.errors import EXIT_ERROR, EXIT_OK, ConfigError, ConvergeError, guard
from converge.model import DETAILS, GATES, TIERS, Priority, detail_levels
from converge.shards import Shard

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_SCENARIOS_DIR = ".holdouts"
DEFAULT_REPORT_FILE = "reports/latest.json"


def main(argv: Sequence[str] | None = None) -> None:
    """The console script; always ends in ``SystemExit`` with converge's exit code."""
    given = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        arguments = parser.parse_args(given)
    except _UsageError as usage:
        # A bad option of `converge run` is an exit 2 like any other: its report replaces the
        # previous verdict, so CI never posts an old PASS for a run that did not happen.
        if given[:1] == ["run"]:
            with guard(sys.stderr):
                _record(ConfigError(usage.message), _report_file_in(given[1:]))
        usage.parser.print_usage(sys.stderr)
        print(f"{usage.parser.prog}: error: {usage.message}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None
    with guard(sys.stderr):
        code = arguments.handler(arguments, sys.stdout, sys.stderr)
    raise SystemExit(code)


class _UsageError(Exception):
    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors come back to :func:`main` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def _report_file_in(arguments: Sequence[str]) -> Path | None:
    """Where ``converge run`` with these (possibly bad) arguments writes its report: the last
    ``--report-file``, else the default; none for ``--replay`` without one."""
    found: str | None = None
    for index, argument in enumerate(arguments):
        if argument == "--report-file" and index + 1 < len(arguments):
            found = arguments[index + 1]
        elif argument.startswith("--report-file="):
            found = argument.partition("=")[2]
    if found:
        return Path(found)
    if any(a == "--replay" or a.startswith("--replay=") for a in arguments):
        return None
    return Path(DEFAULT_REPORT_FILE)


def _record(error: ConvergeError, report_file: Path | None, api_url: str | None = None) -> None:
    """The exit-2 report of a ``converge run`` that stopped before it began; adds to the
    error's message when the report cannot be written."""
    from converge.engine import record_failure
    from converge.tokens import jwt_secret_from_env

    record_failure(
        error,
        report_file=report_file,
        api_url=api_url or "",
        scenarios_dir=Path(DEFAULT_SCENARIOS_DIR),
        secrets=[jwt_secret_from_env()],
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="converge",
        description="Run holdout HTTP scenarios against an API and judge the change.",
        epilog="Exit codes: 0 every critical scenario passes, 1 a critical scenario fails, "
        "2 input or infrastructure error.",
    )
    parser.add_argument("--version", action="version", version=f"converge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the scenarios against the API and report")
    run.add_argument(
        "--scenarios-dir", type=Path,
        help="folder with critical/ important/ nice-to-have/, or one scenario file "
        f"(default {DEFAULT_SCENARIOS_DIR})",
    )
    run.add_argument(
        "--api-url",
        help="base URL of the API under test (default: $API_URL, else the gravix-api of twins "
        f"left running by `invoke twins.up` or --keep, else {DEFAULT_API_URL})",
    )
    run.add_argument(
        "--report-file", type=Path,
        help=f"where to write the JSON report, - for stdout (default {DEFAULT_REPORT_FILE})",
    )
    run.add_argument("--markdown-file", type=Path, help="also write the Markdown summary here")
    run.add_argument("--junit-file", type=Path, help="also write JUnit XML here")
    _add_detail(run)
    run.add_argument(
        "-v", "--verbose", action="store_true",
        help="show every step, and every failed check with expected and actual values",
    )
    run.add_argument(
        "--runs", type=_count(MAX_RUNS), default=1, metavar="N",
        help=f"run each scenario N times, at most {MAX_RUNS}; satisfaction is the mean "
        "(default 1)",
    )
    run.add_argument("--priority", choices=TIERS, help="run only this tier")
    run.add_argument(
        "-k", "--filter", dest="name_filter", metavar="TEXT",
        help="run only the scenarios whose name contains this text (case-insensitive)",
    )
    run.add_argument(
        "--threshold", action="append", default=[], metavar="[TIER=]PERCENT",
        help="pass mark, e.g. critical=90; a bare number sets every tier (default 85); repeatable",
    )
    run.add_argument(
        "--gate", choices=GATES,
        help="compare thresholds with the satisfaction (mean, the default) or with its "
        "confidence lower bound (lower-bound: a pass that more runs would not overturn)",
    )
    run.add_argument(
        "--timeout", type=_positive_float, default=10.0, metavar="SECONDS",
        help="default timeout of a step (default 10)",
    )
    run.add_argument(
        "--workers", type=_count(MAX_WORKERS), default=DEFAULT_WORKERS, metavar="N",
        help=f"scenarios run in parallel, at most {MAX_WORKERS} (default {DEFAULT_WORKERS})",
    )
    run.add_argument(
        "--seed", type=_positive_int, metavar="N",
        help="base seed of the runs' seeds (default: a new random one, recorded in the report)",
    )
    run.add_argument(
        "--twin-url", action="append", default=[], metavar="URL", dest="twin_urls",
        help="a twin whose state for a run's seed is reset before the run; repeatable",
    )
    run.add_argument(
        "--baseline", type=Path, metavar="FILE",
        help="a previous report (e.g. the base branch's last one): show each scenario's change "
        "and list regressions, fixes, new and removed scenarios",
    )
    run.add_argument(
        "--replay", type=Path, metavar="REPORT",
        help="repeat one recorded run of a report with its seed, verbosely (with --scenario and "
        "--run); writes a report only where --report-file says",
    )
    run.add_argument("--scenario", metavar="NAME", help="--replay: the scenario, by its name")
    run.add_argument(
        "--run", type=_positive_int, metavar="K", dest="replay_run",
        help="--replay: which run of the scenario, from 1",
    )
    run.add_argument(
        "--color", choices=CHOICES, default="auto",
        help="colour the results: auto (on a terminal, unless NO_COLOR is set), always, never",
    )
    run.add_argument(
        "--shard", type=_shard, metavar="K/N",
        help="run only shard K of N (e.g. 2/4): every machine of a CI matrix takes the same "
        "share, balanced by steps; `converge merge` combines the shards' reports",
    )
    _add_variable_options(run)
    run.add_argument(
        "--trust-env", action="store_true",
        help="send the requests through the proxy of HTTP(S)_PROXY/NO_PROXY and trust the CA "
        "bundle of REQUESTS_CA_BUNDLE (by default both are ignored)",
    )
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check the scenario files; send no request")
    validate.add_argument(
        "path", type=Path, nargs="?", metavar="PATH",
        help=f"a scenarios folder (default {DEFAULT_SCENARIOS_DIR}) or one scenario file",
    )
    validate.add_argument("--scenarios-dir", type=Path, help=argparse.SUPPRESS)
    _add_variable_options(validate)
    validate.add_argument(
        "--timeout", type=_positive_float, default=10.0, metavar="SECONDS",
        help="the default step timeout a run would have, for the worst case of a retry "
        "(default 10)",
    )
    validate.set_defaults(handler=_validate)

    report = commands.add_parser("report", help="render a saved JSON report")
    report.add_argument("file", type=Path, help="a report written by `converge run`")
    report.add_argument(
        "--format", choices=("table", "markdown", "junit"), default="table",
        help="table (terminal), markdown (PR comment) or junit (XML)",
    )
    report.add_argument("-v", "--verbose", action="store_true", help="table: show every step")
    report.add_argument(
        "--color", choices=CHOICES, default="auto",
        help="table: colour the results (auto, always, never)",
    )
    _add_detail(report, "markdown and junit: ")
    report.add_argument(
        "--no-marker", action="store_true",
        help="markdown: leave out the hidden marker that identifies the sticky PR comment",
    )
    report.set_defaults(handler=_report)

    _add_merge(commands)

    trend = commands.add_parser(
        "trend", help="each scenario's satisfaction across reports, in time order"
    )
    trend.add_argument("files", type=Path, nargs="+", metavar="REPORT", help="saved reports")
    trend.add_argument(
        "--plot", type=Path, metavar="FILE.png",
        help="also draw it into a PNG file (needs the plot extra: pip install 'converge[plot]')",
    )
    trend.set_defaults(handler=_trend)
    return parser


def _add_merge(commands: argparse._SubParsersAction[_Parser]) -> None:
    merge = commands.add_parser(
        "merge", help="combine the reports of the shards of one run (--shard K/N) into one"
    )
    merge.add_argument(
        "reports", type=Path, nargs="+", metavar="REPORT", help="the shards' reports, one each"
    )
    merge.add_argument(
        "--report-file", type=Path,
        help=f"where to write the merged JSON report, - for stdout (default {DEFAULT_REPORT_FILE})",
    )
    merge.add_argument("--markdown-file", type=Path, help="also write the Markdown summary here")
    merge.add_argument("--junit-file", type=Path, help="also write JUnit XML here")
    _add_detail(merge)
    merge.add_argument(
        "--baseline", type=Path, metavar="FILE",
        help="a previous report to compare the whole run with (as converge run --baseline)",
    )
    merge.add_argument(
        "-v", "--verbose", action="store_true",
        help="show every step, and every failed check with expected and actual values",
    )
    merge.add_argument(
        "--color", choices=CHOICES, default="auto",
        help="colour the results: auto (on a terminal, unless NO_COLOR is set), always, never",
    )
    merge.set_defaults(handler=_merge)


DETAIL_HELP = (
    "how much of what the holdouts check is shown: public (scores and counts only, for the "
    "code's author; the default of the Markdown and JUnit) or full (every failed check; the "
    "default of the terminal); given, it sets both"
)


def _add_detail(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument(
        "--detail", choices=DETAILS, metavar="LEVEL",
        help=prefix + DETAIL_HELP + " (public or full)",
    )


def run_options() -> dict[str, argparse.Action]:
    """The options of ``converge run`` by long name as a Python keyword (``filter`` for
    ``-k, --filter``, ``report_file`` for ``--report-file``).

    ``invoke converge`` takes its shared flags from here (long and short names, help, and the
    conversion and checks of each value), so that the two speak one vocabulary.
    """
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    options = {}
    for action in commands.choices["run"]._actions:
        longs = [flag for flag in action.option_strings if flag.startswith("--")]
        if longs and action.dest != "help":
            options[longs[0][2:].replace("-", "_")] = action
    return options


def convert_option(action: argparse.Action, value: str) -> object:
    """One value given to a shared flag elsewhere (an Invoke task), converted and checked the way
    ``converge run`` does; a :class:`ConfigError` naming the flag otherwise."""
    flag = max(action.option_strings, key=len)
    try:
        converted = action.type(value) if callable(action.type) else value
    except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
        raise ConfigError(f"{flag}: {error}") from None
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(str(choice) for choice in action.choices)
        raise ConfigError(f"{flag}: expected one of {choices}, got {value!r}")
    return converted


def _add_variable_options(parser: argparse.ArgumentParser) -> None:
    """--var and --vars-file: values the scenarios get from outside (also CONVERGE_VAR_<NAME>)."""
    parser.add_argument(
        "--var", action="append", default=[], metavar="NAME=VALUE", dest="variables",
        help="a user variable, {{NAME}} in the scenarios (text); repeatable; overrides "
        "--vars-file and $CONVERGE_VAR_NAME",
    )
    parser.add_argument(
        "--vars-file", type=Path, metavar="FILE",
        help="a YAML or JSON mapping of user variables (values keep their types; redacted in "
        "every output, as $CONVERGE_VAR_<NAME> values are)",
    )


def parse_thresholds(
    values: Sequence[str], base: Mapping[Priority, float] | None = None
) -> dict[Priority, float]:
    """``["90"]`` sets every tier; ``["critical=95", "nice-to-have=50"]`` one tier each; the
    tiers not named keep ``base`` (default: 85 each)."""
    from converge.scoring import DEFAULT_THRESHOLDS

    thresholds: dict[Priority, float] = dict(DEFAULT_THRESHOLDS if base is None else base)
    for value in values:
        tier_text, separator, number = value.rpartition("=")
        tiers: tuple[Priority, ...] = TIERS
        if separator:
            tier = _tier(tier_text.strip())
            if tier is None:
                raise ConfigError(
                    f"--threshold {value!r}: unknown tier {tier_text!r} "
                    f"(one of {', '.join(TIERS)})"
                )
            tiers = (tier,)
        try:
            percent = float(number)
        except ValueError:
            raise ConfigError(f"--threshold {value!r}: {number!r} is not a number") from None
        if not 0 <= percent <= 100:
            raise ConfigError(f"--threshold {value!r}: must be between 0 and 100")
        for tier in tiers:
            thresholds[tier] = percent
    return thresholds


def _tier(text: str) -> Priority | None:
    for tier in TIERS:
        if text in (tier, tier.replace("-", "_")):
            return tier
    return None


def _run(arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        return _run_or_replay(arguments, out, err)
    except ConvergeError as error:
        if not error.reported:  # a bad value found before the engine began: report it too
            report_file = arguments.report_file
            if report_file is None and arguments.replay is None:
                report_file = Path(DEFAULT_REPORT_FILE)
            _record(error, report_file, arguments.api_url)
        raise


def _run_or_replay(arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from converge.engine import RunOptions, execute
    from converge.tokens import jwt_secret_from_env

    if arguments.replay is not None:
        return _replay(arguments, out, err)
    if arguments.scenario is not None or arguments.replay_run is not None:
        raise ConfigError("--scenario and --run choose the run to repeat: use them with --replay")
    twin_urls = list(arguments.twin_urls)
    options = RunOptions(
        scenarios_dir=arguments.scenarios_dir or Path(DEFAULT_SCENARIOS_DIR),
        api_url=arguments.api_url or _api_url(err, twin_urls),
        report_file=arguments.report_file or Path(DEFAULT_REPORT_FILE),
        runs=arguments.runs,
        priority=arguments.priority,
        name_filter=arguments.name_filter,
        thresholds=parse_thresholds(arguments.threshold),
        timeout=arguments.timeout,
        workers=arguments.workers,
        verbose=arguments.verbose,
        color=arguments.color,
        trust_env=arguments.trust_env,
        jwt_secret=jwt_secret_from_env(),
        markdown_file=arguments.markdown_file,
        junit_file=arguments.junit_file,
        seed=arguments.seed,
        gate=arguments.gate or "mean",
        detail=detail_levels(arguments.detail)[0],
        table_detail=detail_levels(arguments.detail)[1],
        twin_urls=tuple(twin_urls),
        baseline=arguments.baseline,
        variables=tuple(arguments.variables),
        vars_file=arguments.vars_file,
        shard=arguments.shard,
    )
    return execute(options, out, err)


def _merge(arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from converge.merge import MergeOptions, execute

    options = MergeOptions(
        reports=tuple(arguments.reports),
        report_file=arguments.report_file or Path(DEFAULT_REPORT_FILE),
        markdown_file=arguments.markdown_file,
        junit_file=arguments.junit_file,
        baseline=arguments.baseline,
        verbose=arguments.verbose,
        color=arguments.color,
        detail=detail_levels(arguments.detail)[0],
        table_detail=detail_levels(arguments.detail)[1],
    )
    return execute(options, out, err)


def _replay(arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """One recorded run again: its seed, its scenario, the report's thresholds and gate."""
    from converge import replay
    from converge.engine import RunOptions, execute
    from converge.tokens import jwt_secret_from_env

    if arguments.scenario is None or arguments.replay_run is None:
        raise ConfigError("--replay needs --scenario NAME and --run K (the run to repeat)")
    if arguments.detail == "public":
        raise ConfigError("--replay shows every step and check: --detail public does not apply")
    if arguments.runs != 1 or arguments.seed is not None or arguments.shard is not None:
        raise ConfigError(
            "--replay repeats one recorded run: --runs, --seed and --shard do not apply"
        )
    chosen = replay.from_report(arguments.replay, arguments.scenario, arguments.replay_run)
    twin_urls = list(arguments.twin_urls)
    api_url = arguments.api_url or _api_url(err, twin_urls)
    err.write(f"converge: {chosen.describe()} against {api_url}\n")
    options = RunOptions(
        scenarios_dir=arguments.scenarios_dir or chosen.scenarios_dir,
        api_url=api_url,
        report_file=arguments.report_file,  # none unless asked: the report replayed stays
        thresholds=parse_thresholds(arguments.threshold, chosen.thresholds),
        timeout=arguments.timeout,
        verbose=True,
        color=arguments.color,
        trust_env=arguments.trust_env,
        jwt_secret=jwt_secret_from_env(),
        markdown_file=arguments.markdown_file,
        junit_file=arguments.junit_file,
        gate=arguments.gate or chosen.gate,
        twin_urls=tuple(twin_urls),
        scenario=chosen.scenario,
        replay_seed=chosen.seed,
        variables=tuple(arguments.variables),
        vars_file=arguments.vars_file,
    )
    return execute(options, out, err)


def _api_url(err: TextIO, twin_urls: list[str]) -> str:
    """No --api-url: the rule of ``invoke converge --no-twins`` (API_URL, running twins, the
    configured api_url), with this folder as the project (its setup.cfg, its .converge). When
    the API is the running twins' gravix-api, those twins are reset for each run's seed too
    (added to ``twin_urls`` unless some were named)."""
    from converge import config, pipeline

    settings = config.load(Path.cwd())
    url, why = pipeline.external_api_url(settings, None, lambda _message: None)
    err.write(f"api: {url} ({why})\n")
    if not twin_urls and why == pipeline.RUNNING_TWINS:
        twin_urls.extend(pipeline.running_twin_urls(settings))
    return url


def _validate(arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from converge.engine import validate, validation_summary

    path = arguments.path or arguments.scenarios_dir or Path(DEFAULT_SCENARIOS_DIR)
    scenarios = validate(path, arguments.variables, arguments.vars_file, arguments.timeout)
    out.write(validation_summary(scenarios, path) + "\n")
    return EXIT_OK


def _report(arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from converge.report import (
        VERBOSE_PUBLIC,
        load_report,
        render_junit,
        render_markdown,
        render_table,
    )

    document = load_report(arguments.file)
    files, terminal = detail_levels(arguments.detail)
    if arguments.format == "markdown":
        out.write(
            render_markdown(document, sticky_marker=not arguments.no_marker, detail=files)
        )
    elif arguments.format == "junit":
        out.write(render_junit(document, detail=files))
    else:
        if arguments.verbose and terminal == "public":
            raise ConfigError(VERBOSE_PUBLIC)
        color = colors.wanted(arguments.color, out)
        out.write(
            render_table(document, verbose=arguments.verbose, color=color, detail=terminal)
        )
    return EXIT_OK


def _trend(arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from converge import trend

    found = trend.load(arguments.files)
    out.write(trend.render(found))
    if arguments.plot is not None:
        trend.plot(found, arguments.plot)
        err.write(f"trend: plot written to {arguments.plot}\n")
    return EXIT_OK


def _shard(text: str) -> Shard:
    try:
        return shards.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _count(maximum: int) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to ``maximum``."""

    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from 1 to {maximum} (got {text})")
        return value

    return count


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 (got {text})")
    return value
