"""``converge run | validate | report``: flags in, one library call, exit code out.

Errors become a one-line message and an exit code in :func:`converge.errors.guard` only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from converge import __version__
from converge.errors import EXIT_OK, ConfigError, guard
from converge.model import TIERS, Priority

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_SCENARIOS_DIR = ".holdouts"
DEFAULT_REPORT_FILE = "reports/latest.json"


def main(argv: Sequence[str] | None = None) -> None:
    """The console script; always ends in ``SystemExit`` with converge's exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    with guard(sys.stderr):
        code = arguments.handler(arguments, sys.stdout, sys.stderr)
    raise SystemExit(code)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="converge",
        description="Run holdout HTTP scenarios against an API and judge the change.",
        epilog="Exit codes: 0 every critical scenario passes, 1 a critical scenario fails, "
        "2 input or infrastructure error.",
    )
    parser.add_argument("--version", action="version", version=f"converge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the scenarios against the API and report")
    run.add_argument(
        "--scenarios-dir", type=Path, default=Path(DEFAULT_SCENARIOS_DIR),
        help=f"folder with critical/ important/ nice-to-have/ (default {DEFAULT_SCENARIOS_DIR})",
    )
    run.add_argument(
        "--api-url", default=os.environ.get("API_URL") or DEFAULT_API_URL,
        help=f"base URL of the API under test (default $API_URL or {DEFAULT_API_URL})",
    )
    run.add_argument(
        "--report-file", type=Path, default=Path(DEFAULT_REPORT_FILE),
        help=f"where to write the JSON report (default {DEFAULT_REPORT_FILE})",
    )
    run.add_argument("--markdown-file", type=Path, help="also write the Markdown summary here")
    run.add_argument("--junit-file", type=Path, help="also write JUnit XML here")
    run.add_argument(
        "-v", "--verbose", action="store_true",
        help="show every step, and every failed check with expected and actual values",
    )
    run.add_argument(
        "--runs", type=_positive_int, default=1, metavar="N",
        help="run each scenario N times; satisfaction is the mean (default 1)",
    )
    run.add_argument("--priority", choices=TIERS, help="run only this tier")
    run.add_argument(
        "-k", "--filter", dest="name_filter", metavar="TEXT",
        help="run only scenarios whose name contains TEXT (case-insensitive)",
    )
    run.add_argument(
        "--threshold", action="append", default=[], metavar="[TIER=]PERCENT",
        help="pass mark, e.g. critical=90; a bare number sets every tier (default 85); repeatable",
    )
    run.add_argument(
        "--timeout", type=_positive_float, default=10.0, metavar="SECONDS",
        help="default timeout of a step (default 10)",
    )
    run.add_argument(
        "--workers", type=_positive_int, default=4, metavar="N",
        help="scenarios run in parallel (default 4)",
    )
    run.add_argument(
        "--seed", type=_positive_int, metavar="N",
        help="base seed of the runs' seeds (default: a new random one, recorded in the report)",
    )
    run.add_argument(
        "--twin-url", action="append", default=[], metavar="URL", dest="twin_urls",
        help="a twin whose state for a run's seed is reset before the run; repeatable",
    )
    run.set_defaults(handler=_run)

    validate = commands.add_parser("validate", help="check the scenario files; send no request")
    validate.add_argument("directory", type=Path, nargs="?", help="the scenarios folder")
    validate.add_argument("--scenarios-dir", type=Path, help=argparse.SUPPRESS)
    validate.set_defaults(handler=_validate)

    report = commands.add_parser("report", help="render a saved JSON report")
    report.add_argument("file", type=Path, help="a report written by `converge run`")
    report.add_argument(
        "--format", choices=("table", "markdown", "junit"), default="table",
        help="table (terminal), markdown (PR comment) or junit (XML)",
    )
    report.add_argument("-v", "--verbose", action="store_true", help="table: show every step")
    report.add_argument(
        "--no-marker", action="store_true",
        help="markdown: leave out the hidden marker that identifies the sticky PR comment",
    )
    report.set_defaults(handler=_report)
    return parser


def parse_thresholds(values: Sequence[str]) -> dict[Priority, float]:
    """``["90"]`` sets every tier; ``["critical=95", "nice-to-have=50"]`` one tier each."""
    from converge.scoring import DEFAULT_THRESHOLDS

    thresholds: dict[Priority, float] = dict(DEFAULT_THRESHOLDS)
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
    from converge.engine import RunOptions, execute
    from converge.tokens import jwt_secret_from_env

    options = RunOptions(
        scenarios_dir=arguments.scenarios_dir,
        api_url=arguments.api_url,
        report_file=arguments.report_file,
        runs=arguments.runs,
        priority=arguments.priority,
        name_filter=arguments.name_filter,
        thresholds=parse_thresholds(arguments.threshold),
        timeout=arguments.timeout,
        workers=arguments.workers,
        verbose=arguments.verbose,
        jwt_secret=jwt_secret_from_env(),
        markdown_file=arguments.markdown_file,
        junit_file=arguments.junit_file,
        seed=arguments.seed,
        twin_urls=tuple(arguments.twin_urls),
    )
    return execute(options, out, err)


def _validate(arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from converge.engine import validate

    directory = arguments.directory or arguments.scenarios_dir or Path(DEFAULT_SCENARIOS_DIR)
    scenarios = validate(directory)
    counts = ", ".join(
        f"{sum(1 for s in scenarios if s.priority == tier)} {tier}" for tier in TIERS
    )
    checks = sum(s.checks_total for s in scenarios)
    out.write(
        f"ok: {len(scenarios)} scenario{'s' if len(scenarios) != 1 else ''} in {directory} "
        f"({counts}; {checks} checks)\n"
    )
    return EXIT_OK


def _report(arguments: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from converge.report import load_report, render_junit, render_markdown, render_table

    document = load_report(arguments.file)
    if arguments.format == "markdown":
        out.write(render_markdown(document, sticky_marker=not arguments.no_marker))
    elif arguments.format == "junit":
        out.write(render_junit(document))
    else:
        out.write(render_table(document, verbose=arguments.verbose))
    return EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 (got {text})")
    return value
