"""``invoke done``: the four convergence criteria, and the one verdict a team waits for.

A change is done when (1) the in-repo tests pass, (2) lint and type checks pass, (3) every critical
holdout scenario reaches its threshold, and (4) the spec review finds it compliant. Each criterion
is read from the report its own command writes, so ``invoke done --from-reports`` (CI's report
job, or a developer after running the parts) and ``invoke done`` (which runs them all first) give
the same table:

- tests: ``reports/gates.json``, gate ``backend`` (``invoke gates.backend``);
- lint + types: ``reports/gates.json``, gates ``lint`` and ``types``, and ``frontend`` when one is
  configured (``invoke gates.lint``, ``gates.types``, ``gates.frontend``);
- critical holdouts: ``reports/latest.json`` (``invoke converge``);
- spec review: ``reports/spec-review.json`` (``invoke gates.spec``).

Each is PASS, FAIL or ERROR (could not be judged: not run, not configured, made for another
commit, or an exit 2). The verdict exits 0 when all four pass, 1 when one fails (whatever else
could not be judged: the change needs work either way), else 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from tabulate import tabulate

from converge import __version__, _schemas
from converge import report as run_report
from converge.config import BackendChoice, Settings
from converge.errors import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    ConvergeError,
    ReportError,
)
from converge.gates import GateOutcome
from converge.report import write_report_atomic
from converge.spec import report as spec_report
from converge.spec.change import head_commit

PASS, FAIL, ERROR = "PASS", "FAIL", "ERROR"
GATES_REPORT = "gates.json"
GATES_FORMAT = 1
LINT_GATES = ("lint", "types")  # required; frontend counts when configured


@dataclass(frozen=True)
class Criterion:
    name: str
    status: str  # PASS, FAIL or ERROR
    reason: str  # one line


def reports_dir(settings: Settings) -> Path:
    """Every criterion's report lives next to the convergence report (``report_file``)."""
    return settings.report_file.parent


# --- the gates' record ------------------------------------------------------------------------


def record_gates(settings: Settings, outcomes: Sequence[GateOutcome]) -> None:
    """Add these gates' outcomes to ``reports/gates.json`` (a record of another commit is reset).

    The gates run one by one in CI (``gates.lint``, ``gates.types``, ``gates.backend``), so each
    run updates its own entries and keeps the others made at the same commit.
    """
    path = reports_dir(settings) / GATES_REPORT
    commit = head_commit(settings.root)
    try:
        previous = load_gates(path)
    except ReportError:
        previous = None
    gates: dict[str, Any] = {}
    if previous is not None and previous["commit"] == commit:
        gates = dict(previous["gates"])
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    for outcome in outcomes:
        gates[outcome.name] = {
            "status": outcome.status,
            "finished_at": now,
            "commands": [
                {
                    "command": command.command,
                    "exit_code": command.exit_code,
                    "duration_ms": round(command.seconds * 1000, 3),
                }
                for command in outcome.commands
            ],
        }
    document = {"version": __version__, "format": GATES_FORMAT, "commit": commit, "gates": gates}
    try:
        write_report_atomic(document, path)
    except OSError as error:
        raise ReportError(f"cannot write the gates' record {path}: {error}") from None


def load_gates(path: Path) -> dict[str, Any] | None:
    """The gates' record, or None when there is none; ReportError when it is not one."""
    import jsonschema

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as error:
        raise ReportError(f"{path}: not a readable JSON record: {error}") from None
    validator = jsonschema.Draft202012Validator(_schemas.load(_schemas.GATES))
    problem = next(iter(validator.iter_errors(document)), None)
    if problem is not None:
        raise ReportError(f"{path}: not a gates record: {problem.json_path}: {problem.message}")
    result: dict[str, Any] = document
    return result


# --- the four criteria, from the reports ------------------------------------------------------


def from_reports(settings: Settings, report_file: Path | None = None) -> list[Criterion]:
    """The four criteria as the latest reports have them (next to ``report_file``, by default
    the configured one)."""
    report_file = report_file or settings.report_file
    folder = report_file.parent
    commit = head_commit(settings.root)
    try:
        gates = load_gates(folder / GATES_REPORT)
        gates_problem = None if gates is None else _stale(gates, folder / GATES_REPORT, commit)
    except ReportError as error:
        gates, gates_problem = None, str(error)
    return [
        _tests(gates, gates_problem),
        _lint_and_types(gates, gates_problem),
        holdouts(settings, report_file),
        spec_review(folder, commit),
    ]


def _stale(document: Mapping[str, Any], path: Path, commit: str | None) -> str | None:
    made = document.get("commit")
    if made and commit and made != commit:
        return f"{path.name} was made at commit {made[:12]}, HEAD is {commit[:12]}: run it again"
    return None


def _tests(gates: Mapping[str, Any] | None, problem: str | None) -> Criterion:
    name = "tests"
    if problem:
        return Criterion(name, ERROR, problem)
    entry = (gates or {}).get("gates", {}).get("backend")
    if entry is None:
        return Criterion(name, ERROR, "not run: invoke gates.backend")
    if entry["status"] == "skipped":
        return Criterion(name, ERROR, "no test command configured ([converge] gate_backend)")
    return _gate_criterion(name, {"backend": entry})


def _lint_and_types(gates: Mapping[str, Any] | None, problem: str | None) -> Criterion:
    name = "lint + types"
    if problem:
        return Criterion(name, ERROR, problem)
    entries = (gates or {}).get("gates", {})
    chosen = {gate: entries[gate] for gate in (*LINT_GATES, "frontend") if gate in entries}
    failed = [gate for gate, entry in chosen.items() if entry["status"] == "failed"]
    if failed:
        return _gate_criterion(name, {gate: chosen[gate] for gate in failed})
    missing = [gate for gate in LINT_GATES if gate not in chosen]
    if missing:
        return Criterion(name, ERROR, "not run: " + ", ".join(f"invoke gates.{g}" for g in missing))
    unconfigured = [gate for gate in LINT_GATES if chosen[gate]["status"] == "skipped"]
    if unconfigured:
        keys = ", ".join(f"gate_{gate}" for gate in unconfigured)
        return Criterion(name, ERROR, f"no command configured ([converge] {keys})")
    ran = {gate: entry for gate, entry in chosen.items() if entry["status"] != "skipped"}
    return _gate_criterion(name, ran)


def _gate_criterion(name: str, entries: Mapping[str, Mapping[str, Any]]) -> Criterion:
    commands = [command for entry in entries.values() for command in entry["commands"]]
    failed = [command for command in commands if command["exit_code"] != 0]
    if failed:
        reason = "; ".join(f"`{c['command']}` exited {c['exit_code']}" for c in failed)
        return Criterion(name, FAIL, reason)
    seconds = sum(command["duration_ms"] for command in commands) / 1000
    shown = ", ".join(f"`{command['command']}`" for command in commands)
    return Criterion(name, PASS, f"{shown} passed ({seconds:.1f}s)")


def holdouts(settings: Settings, report_file: Path) -> Criterion:
    threshold = settings.thresholds["critical"]
    name = f"critical holdouts ≥ {threshold:g}%"
    try:
        document = run_report.load_report(report_file)
    except ReportError as error:
        if not report_file.exists():
            return Criterion(name, ERROR, "not run: invoke converge")
        return Criterion(name, ERROR, str(error).splitlines()[0])
    name = f"critical holdouts ≥ {document['thresholds']['critical']:g}%"
    line = run_report.verdict(document)
    status = {0: PASS, 1: FAIL}.get(document["exit_code"], ERROR)
    for prefix in ("PASS: ", "FAIL: ", "ERROR: "):
        line = line.removeprefix(prefix)
    return Criterion(name, status, line)


def spec_review(folder: Path, commit: str | None) -> Criterion:
    name = "spec review"
    path, _markdown = spec_report.paths(folder)
    try:
        document = spec_report.load(path)
    except ReportError as error:
        if not path.exists():
            return Criterion(name, ERROR, "not run: invoke gates.spec")
        return Criterion(name, ERROR, str(error))
    stale = _stale(document, path, commit)
    if stale:
        return Criterion(name, ERROR, stale)
    status = {0: PASS, 1: FAIL}.get(document["exit_code"], ERROR)
    return Criterion(name, status, spec_report.reason(document))


def with_error(criterion: Criterion, error: ConvergeError | None) -> Criterion:
    """The criterion as its run ended: an exit 2 that left no fresh report is an ERROR."""
    if error is None or error.exit_code != EXIT_ERROR:
        return criterion
    return Criterion(criterion.name, ERROR, str(error).splitlines()[0])


# --- the verdict ------------------------------------------------------------------------------


def exit_code(criteria: Sequence[Criterion]) -> int:
    statuses = {criterion.status for criterion in criteria}
    if FAIL in statuses:
        return EXIT_FAILED
    if ERROR in statuses:
        return EXIT_ERROR
    return EXIT_OK


def verdict(criteria: Sequence[Criterion]) -> str:
    failed = [c.name for c in criteria if c.status == FAIL]
    unjudged = [c.name for c in criteria if c.status == ERROR]
    if not failed and not unjudged:
        return f"DONE: all {len(criteria)} criteria pass"
    parts = []
    if failed:
        parts.append(f"{_list(failed)} failed")
    if unjudged:
        parts.append(f"{_list(unjudged)} could not be judged")
    return "NOT DONE: " + "; ".join(parts)


def render_table(criteria: Sequence[Criterion]) -> str:
    rows = [[c.name, c.status, c.reason] for c in criteria]
    table = tabulate(
        rows,
        headers=["Criterion", "Result", "Reason"],
        maxcolwidths=[None, None, 80],
        disable_numparse=True,
    )
    return f"{table}\n\n{verdict(criteria)}\n"


def markdown_lines(criteria: Sequence[Criterion]) -> list[str]:
    """The four lines for the PR comment, above the scenario table, then the verdict."""
    rows = [
        [_md(c.name), f"**{c.status}**" if c.status != PASS else PASS, _md(c.reason)]
        for c in criteria
    ]
    table = tabulate(
        rows, headers=["Criterion", "Result", "Reason"], tablefmt="github", disable_numparse=True
    )
    return [table, "", f"**{_md(verdict(criteria))}**"]


def comment_lines(settings: Settings, report_file: Path) -> list[str]:
    """What the PR comment shows above the scenario table: the four criteria, the verdict, and
    the spec review's findings folded away (they are about the code against the spec, never
    about what a holdout checks)."""
    lines = markdown_lines(from_reports(settings, report_file))
    try:
        review = spec_report.load(spec_report.paths(report_file.parent)[0])
    except ReportError:
        return lines
    if review["findings"]:
        count = len(review["findings"])
        lines.extend(
            [
                "",
                f"<details><summary>Spec review findings ({count})</summary>",
                *spec_report.markdown_findings(review["findings"]),
                "",
                "</details>",
            ]
        )
    return lines


def _list(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


# --- running them -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DoneOptions:
    no_twins: bool = False  # the holdouts run against API_URL or running twins
    backend: BackendChoice | None = None  # the twins' backend for this run (None: configured)


def run_all(
    settings: Settings, options: DoneOptions, environ: Mapping[str, str], out: TextIO, err: TextIO
) -> list[Criterion]:
    """Run the four criteria in turn (each writes its report), then read them back."""
    from converge import gates, pipeline
    from converge.spec import gate

    def say(message: str) -> None:
        print(message, file=err, flush=True)

    say("done: 1/3 the gates (lint, types, tests, frontend)")
    outcomes = gates.execute(gates.configured(settings), cwd=settings.root, say=say)
    record_gates(settings, outcomes)
    say("done: 2/3 the holdout scenarios")
    holdouts_error = _attempt(
        lambda: pipeline.converge(
            settings,
            pipeline.Options(no_twins=options.no_twins, backend=options.backend),
            out,
            err,
        ),
        err,
    )
    say("done: 3/3 the spec review")
    spec_error = _attempt(lambda: gate.execute(gate.options_for(settings, environ), out, err), err)
    tests, lint, holdouts_criterion, spec = from_reports(settings)
    return [
        tests,
        lint,
        with_error(holdouts_criterion, holdouts_error),
        with_error(spec, spec_error),
    ]


def _attempt(step: Callable[[], int], err: TextIO) -> ConvergeError | None:
    try:
        step()
    except ConvergeError as error:
        print(f"converge: error: {error}", file=err, flush=True)
        return error
    return None
