"""The report: built from scored results, saved as JSON, rendered from the saved JSON.

:func:`build_report` is the only place that turns results into the report document, and it
passes the whole document through the run's :class:`~converge.redact.Redactor` before anyone
sees it. Every renderer (terminal table, Markdown for a PR comment, JUnit XML) reads that saved
document, never the runner's state, so ``converge report FILE`` shows exactly what the run showed.

Each renderer takes a detail level (:data:`~converge.model.Detail`). At ``public`` it shows
scenario names, tiers, scores, check counts and results, and counts of failed, flaky, regressed
and fixed checks: never a step's name, method or path, a check's target, expected or actual
value or message, or where a check is written (file and line), since whoever writes the code
reads the PR comment, the step summary and the JUnit file, and the holdouts are the checks they
must not see. The Markdown and JUnit default to ``public``; the terminal table (a local run's) and
the JSON report keep everything.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from tabulate import tabulate

from converge import __version__, _schemas, baseline, colors, scoring
from converge.errors import ReportError
from converge.model import (
    TIERS,
    CheckResult,
    Detail,
    Gate,
    Priority,
    RunResult,
    ScenarioResult,
    StepResult,
)
from converge.redact import Redaction, Redactor
from converge.scoring import run_satisfaction
from converge.visible import show

REPORT_FORMAT = 1
STICKY_MARKER = "<!-- converge-report -->"
VERBOSE_PUBLIC = (
    "--verbose shows what the holdouts check, which --detail public hides: use one or the other"
)
OUTCOMES = ("PASS", "FAIL", "WARN", "INFO")

_TIER_ORDER = {tier: position for position, tier in enumerate(TIERS)}


# --- building ------------------------------------------------------------------------------


def build_report(
    results: Sequence[ScenarioResult],
    *,
    api_url: str,
    scenarios_dir: str,
    started_at: datetime,
    finished_at: datetime,
    exit_code: int,
    error: str | None,
    thresholds: Mapping[Priority, float],
    runs: int,
    redactor: Redactor,
    seed: int | None = None,
    gate: Gate = "mean",
    complete: bool = True,
    shard: Mapping[str, Any] | None = None,
    merged: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report document (plain JSON data), with every secret of every run redacted.

    ``complete`` is False for a run a signal stopped: ``results`` are the runs that finished.
    ``shard``: the section of a shard's report (:func:`converge.shards.section`); ``merged``:
    that of a report merged from shards (:mod:`converge.merge`). Both absent otherwise.

    Every text is redacted as the document is built (a report of 10,000 scenarios is millions
    of values: one pass, not a build and then a walk over a copy); the summary and thresholds
    hold only numbers and converge's own words."""
    secrets = {secret for result in results for run in result.runs for secret in run.secrets}
    redaction = redactor.with_secrets(secrets).session()
    text = redaction.text
    ordered = sorted(results, key=lambda r: (_TIER_ORDER[r.priority], r.name, r.file))
    return {
        "version": __version__,
        "format": REPORT_FORMAT,
        "api_url": text(api_url),
        "scenarios_dir": text(scenarios_dir),
        "started_at": started_at.isoformat(timespec="milliseconds"),
        "finished_at": finished_at.isoformat(timespec="milliseconds"),
        "duration_ms": round((finished_at - started_at).total_seconds() * 1000, 3),
        "exit_code": exit_code,
        "error": None if error is None else text(error),
        "complete": complete,
        "runs": runs,
        "seed": seed,
        "gate": gate,
        **({"shard": redaction.value(dict(shard))} if shard is not None else {}),
        **({"merged": redaction.value(dict(merged))} if merged is not None else {}),
        "thresholds": {tier: float(thresholds[tier]) for tier in TIERS},
        "summary": _summary(ordered),
        "scenarios": [_scenario(result, redaction) for result in ordered],
    }


def _summary(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    by_result: Counter[str] = Counter(r.outcome for r in results)
    tiers: dict[str, dict[str, int]] = {}
    for tier in TIERS:
        in_tier = [r for r in results if r.priority == tier]
        counts: Counter[str] = Counter(r.outcome for r in in_tier)
        tiers[tier] = {
            "total": len(in_tier),
            "passed": sum(1 for r in in_tier if r.passed),
            "failed": sum(1 for r in in_tier if not r.passed),
            **{outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        }
    return {
        "total": len(results),
        "passed": sum(1 for r in results if r.passed),
        "failed": sum(1 for r in results if not r.passed),
        "checks_passed": sum(r.checks_passed for r in results),
        "checks_total": sum(r.checks_total for r in results),
        "flaky_checks": sum(len(r.flaky_checks) for r in results),
        "by_result": {outcome: by_result.get(outcome, 0) for outcome in OUTCOMES},
        "by_tier": tiers,
    }


def _scenario(result: ScenarioResult, redaction: Redaction) -> dict[str, Any]:
    text = redaction.text
    runs = [_run(number, run, redaction) for number, run in enumerate(result.runs, start=1)]
    # The top-level steps are the most telling run: the first with a failed check, else run 1.
    shown = next((run for run in runs if not run["all_passed"]), runs[0])
    return {
        "name": text(result.name),
        "file": text(result.file),
        "priority": result.priority,
        "satisfaction": result.satisfaction,
        "threshold": result.threshold,
        "passed": result.passed,
        "result": result.outcome,
        "checks_passed": result.checks_passed,
        "checks_total": result.checks_total,
        "pass_rate": result.pass_rate,
        "satisfaction_lower_bound": result.satisfaction_lower_bound,
        "pass_rate_lower_bound": result.pass_rate_lower_bound,
        "runs_needed": result.runs_needed,
        "flaky_checks": [
            {
                "step": flaky.step,
                "step_name": text(flaky.step_name),
                "kind": flaky.kind,
                "target": text(flaky.target),
                "passed": flaky.passed,
                "runs": flaky.runs,
                "pass_rate": flaky.pass_rate,
            }
            for flaky in result.flaky_checks
        ],
        "duration_ms": round(result.duration_ms, 3),
        "steps_from_run": shown["run"],
        "steps": shown["steps"],
        "runs": runs,
    }


def _run(number: int, run: RunResult, redaction: Redaction) -> dict[str, Any]:
    return {
        "run": number,
        "seed": run.seed,
        "satisfaction": run_satisfaction(run),
        "checks_passed": run.checks_passed,
        "checks_total": run.checks_total,
        "all_passed": run.all_passed,
        "duration_ms": round(run.duration_ms, 3),
        "steps": [_step(step, redaction) for step in run.steps],
    }


def _step(step: StepResult, redaction: Redaction) -> dict[str, Any]:
    text = redaction.text
    return {
        "name": text(step.name),
        "method": text(step.method),
        "path": text(step.path),
        "status_code": step.status_code,
        "duration_ms": round(step.duration_ms, 3),
        "attempts": step.attempts,
        "error": None if step.error is None else text(step.error),
        "checks_passed": step.checks_passed,
        "checks_total": len(step.checks),
        "line": step.line,
        "checks": [
            {
                "kind": check.kind,
                "target": text(check.target),
                "expected": _redacted(check.expected, redaction),
                "actual": _redacted(check.actual, redaction),
                "passed": check.passed,
                "message": text(check.message),
                "line": check.line,
            }
            for check in step.checks
        ],
    }


# --- reading back ---------------------------------------------------------------------------


def runs_of(scenario: Mapping[str, Any]) -> tuple[RunResult, ...]:
    """A saved scenario's runs as the runner returned them (what :func:`_run` wrote), so a
    report can be scored again (``converge merge``). Its values are already redacted."""
    return tuple(
        RunResult(
            steps=tuple(_step_result(step) for step in run["steps"]),
            duration_ms=run["duration_ms"],
            seed=run.get("seed"),
        )
        for run in scenario["runs"]
    )


def _step_result(step: Mapping[str, Any]) -> StepResult:
    # The reverse of _step: a field added there must be read back here (test_merge pins that
    # a merge of one shard gives back the shard's own report).
    return StepResult(
        name=step["name"],
        method=step["method"],
        path=step["path"],
        status_code=step["status_code"],
        duration_ms=step["duration_ms"],
        attempts=step.get("attempts", 1),
        error=step["error"],
        line=step.get("line", 0),
        checks=tuple(
            CheckResult(
                kind=check["kind"],
                target=check["target"],
                expected=check["expected"],
                actual=check["actual"],
                passed=check["passed"],
                message=check["message"],
                line=check.get("line", 0),
            )
            for check in step["checks"]
        ),
    )


def _redacted(value: Any, redaction: Redaction) -> Any:
    """A check's value as the report holds it: JSON-safe and redacted. (Most are a text or a
    number: those go the short way, as a report of 10,000 scenarios holds 200,000 of them.)"""
    kind = type(value)
    if kind is str:
        return redaction.text(value)
    if kind is int or kind is bool or value is None:
        return value
    return redaction.value(_json_safe(value))


def _json_safe(value: Any) -> Any:
    """Tuples become lists; anything JSON cannot hold becomes its text."""
    if isinstance(value, float) and not math.isfinite(value):
        # Python's json reads NaN/Infinity from an API and would write them into the report,
        # which strict JSON readers (jq, JSON.parse in CI) then refuse.
        return json.dumps(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    return str(value)


# --- saving and loading --------------------------------------------------------------------


def write_report_atomic(document: Mapping[str, Any], path: Path) -> None:
    """Write the JSON report so a reader sees the old file or the new one, never half of one."""
    with _atomic_file(path) as handle:
        for chunk in report_chunks(document):
            handle.write(chunk)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as :func:`write_report_atomic` writes a report."""
    with _atomic_file(path) as handle:
        handle.write(text)


@contextmanager
def _atomic_file(path: Path) -> Iterator[IO[str]]:
    """A file written through a temporary file beside ``path``, renamed into place once the
    block ends; the temporary file is gone afterwards whatever happens (``path`` a folder, a
    full disk, an exception in the block)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed before the rename below)
        "w", encoding="utf-8", errors=WRITE_ERRORS, dir=path.parent, prefix=f".{path.name}.",
        suffix=".tmp", delete=False,
    )
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        Path(handle.name).chmod(0o644)
        Path(handle.name).replace(path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


# An API may send a lone surrogate ("\ud800" in its JSON), which no UTF-8 file can hold: it is
# written as that same escape, "\ud800". Only a lone surrogate cannot be encoded, and inside a
# JSON string that escape reads back as the very value the API sent (in Markdown and JUnit it is
# plain text); the file is always written.
WRITE_ERRORS = "backslashreplace"


def writable(text: str) -> str:
    """``text`` as a UTF-8 stream that is not a file of converge's (stdout) can take it."""
    if text.isascii():
        return text
    return text.encode("utf-8", WRITE_ERRORS).decode("utf-8")


def report_json(document: Mapping[str, Any]) -> str:
    """The report's text: one line of JSON (see :func:`report_chunks`)."""
    return "".join(report_chunks(document))


def report_chunks(document: Mapping[str, Any]) -> Iterator[str]:
    """The report's one line of JSON, a scenario at a time: the same text as ``json.dumps``
    gives, without the whole of a large report's text in memory at once (10,000 scenarios are
    about 45 MB of it).

    One line, from json's C encoder: with ``indent=`` json falls back to its pure-Python encoder,
    several times slower on a big report. People read the table and the Markdown; ``converge
    report`` renders the file."""
    yield "{"
    for position, (key, value) in enumerate(document.items()):
        yield f"{', ' if position else ''}{_dumps(key)}: "
        if key == "scenarios" and isinstance(value, list):
            yield "["
            for index, scenario in enumerate(value):
                yield f"{', ' if index else ''}{_dumps(scenario)}"
            yield "]"
        else:
            yield _dumps(value)
    yield "}\n"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def load_report(path: Path) -> dict[str, Any]:
    """A saved report, checked against the report schema; :class:`ReportError` otherwise."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report file") from None
    except (OSError, ValueError) as error:
        raise ReportError(f"{path}: not a readable JSON report: {error}") from None
    except RecursionError:
        raise ReportError(f"{path}: not a converge report: nested too deeply") from None
    problems = schema_problems(document)
    if problems:
        raise ReportError(f"{path}: not a converge report: {problems[0]}")
    result: dict[str, Any] = document
    return result


def schema_problems(document: Any) -> list[str]:
    """Every way the document departs from schemas/report.schema.json, as readable lines."""
    # No stubs in the declared dependencies; the ignore stays harmless when they are installed.
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schemas.load(_schemas.REPORT))
    return [
        f"{error.json_path}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    ]


# --- rendering -----------------------------------------------------------------------------


def render_table(
    document: Mapping[str, Any],
    verbose: bool = False,
    color: bool = False,
    why: str | None = None,
    detail: Detail = "full",
) -> str:
    """The terminal view: one row per scenario, warnings, then the one-line verdict.

    ``color``: results and the verdict in colour (:mod:`converge.colors`). ``why``: how to see
    the failed checks, said on one last line when a scenario is below its threshold and the
    view is not already verbose (e.g. ``converge report -v reports/latest.json``). ``detail``
    ``public`` (a CI log the code's author reads) shows no step or check, verbose or not.
    """
    public = detail == "public"
    verbose = verbose and not public
    why = None if public else why
    lines: list[str] = []
    scenarios = _ordered(document)
    paint = colors.paint if color else (lambda text, _word: text)
    if scenarios:
        headers, rows = _score_rows(
            document, scenarios, _one_line, lambda result: paint(result, result)
        )
        lines.append(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    if verbose:
        for scenario in scenarios:
            lines.append("")
            lines.extend(_verbose_scenario(scenario))
    flaky = flaky_lines(document, detail)
    if flaky:
        lines.append("")
        lines.extend(flaky)
    section = document.get("baseline")
    if section:
        lines.append("")
        lines.append(_one_line(baseline.headline(section)))
        for kind, label in (("regressions", "regression"), ("fixes", "fix")):
            lines.extend(
                f"  {label}: {_one_line(line)}" for line in baseline.listed(section, kind, detail)
            )
        lines.extend(f"  {_one_line(line)}" for line in baseline.new_and_removed(section))
    warnings = warning_lines(document)
    if warnings:
        lines.append("")
        lines.extend(paint(line, "warning") for line in warnings)
    lines.append("")
    word, _, rest = verdict(document).partition(":")
    lines.append(paint(word, word) + ":" + rest)
    if why and not verbose and any(not s["passed"] for s in scenarios):
        lines.append(f"To see why: {why}")
    return "\n".join(lines) + "\n"


def _score_rows(
    document: Mapping[str, Any],
    scenarios: Sequence[Mapping[str, Any]],
    text: Callable[[str], str],
    result: Callable[[str], str],
) -> tuple[list[str], list[list[str]]]:
    """The scores table of the terminal and the Markdown: the same columns, escaped by ``text``.

    The lower bound is always shown (one run of a few checks is a weak proof too); the flaky
    column only when the scenarios ran more than once, since one run cannot show flakiness.
    """
    several = int(document.get("runs", 1)) > 1
    compared = bool(document.get("baseline")) and not document["baseline"].get("error")
    headers = ["Tier", "Scenario", "Satisfaction"]
    headers += ["Delta"] if compared else []
    headers += ["Lower bound", "Checks"]
    headers += ["Flaky"] if several else []
    headers += ["Result", "Time"]
    rows = []
    for s in scenarios:
        row = [s["priority"], text(s["name"]), _percent(s["satisfaction"])]
        row += [_delta(s.get("delta"))] if compared else []
        row += [_bound(s), f"{s['checks_passed']}/{s['checks_total']}"]
        row += [str(len(s.get("flaky_checks", [])))] if several else []
        # The time of one run, as satisfaction is one run's: the mean over --runs N.
        runs = len(s.get("runs", ())) or 1
        row += [result(s["result"]), _seconds(s["duration_ms"] / runs)]
        rows.append(row)
    return headers, rows


def _delta(value: float | None) -> str:
    """Percentage points since the baseline; "new" for a scenario it did not have."""
    if value is None:
        return "new"
    text = f"{value:+.2f}".replace(".00", "")
    return "0" if text in ("+0", "-0") else text


def _bound(scenario: Mapping[str, Any]) -> str:
    value = scenario.get("satisfaction_lower_bound")
    return "-" if value is None else _percent(value)  # reports from before the bound existed


def gate_of(document: Mapping[str, Any]) -> str:
    return str(document.get("gate") or "mean")


def gate_note(document: Mapping[str, Any], scenario: Mapping[str, Any]) -> str:
    """Why a scenario below its threshold on the lower bound is there, and what would lift it."""
    bound, threshold = scenario.get("satisfaction_lower_bound", 0.0), scenario["threshold"]
    note = (
        f"lower bound {_percent(bound)} < {_percent(threshold)} "
        f"(satisfaction {_percent(scenario['satisfaction'])} over "
        f"{len(scenario.get('runs', [])) or 1} run{_s(len(scenario.get('runs', [])))})"
    )
    needed = scenario.get("runs_needed")
    if needed is None:
        return note + "; no number of runs at this rate can clear it"
    return note + f"; {needed} runs at this rate would clear it"


def flaky_lines(document: Mapping[str, Any], detail: Detail = "full") -> list[str]:
    """The flaky checks of every scenario, one line each (empty when there are none); at the
    public detail level one line per scenario, counting them."""
    lines: list[str] = []
    for scenario in _ordered(document):
        flaky = scenario.get("flaky_checks") or []
        if not flaky:
            continue
        if not lines:
            lines.append("Flaky checks (held in some runs, failed in others):")
        title = f"  {scenario['priority']} / {_one_line(scenario['name'])}"
        if detail == "public":
            lines.append(f"{title}: {_count(len(flaky), 'flaky check')}")
            continue
        lines.append(title)
        for check in flaky:
            lines.append(f"    {_one_line(_flaky_label(check))}")
    return lines


def _flaky_label(check: Mapping[str, Any]) -> str:
    rate = _percent(round(100 * check["pass_rate"], 2))
    return (
        f"step {check['step']} {check['step_name']!r}: {_check_label(check)} held in "
        f"{check['passed']} of {check['runs']} runs ({rate})"
    )


def warning_lines(document: Mapping[str, Any]) -> list[str]:
    """One warning per important scenario below its threshold (they do not fail the run), and
    under the lower-bound gate one note per scenario the bound holds back."""
    lines = []
    for s in _ordered(document):
        if s["result"] == "PASS":
            continue
        if gate_of(document) == "lower-bound":
            lines.append(f"{s['priority']} {_one_line(s['name'])!r}: {gate_note(document, s)}")
        elif s["result"] == "WARN":
            lines.append(
                f"warning: important scenario {_one_line(s['name'])!r} is below its threshold "
                f"({_percent(s['satisfaction'])} < {_percent(s['threshold'])})"
            )
    return lines


def public_error(message: str) -> str:
    """An exit-2 message as the code's author may read it: its first line. Past it, an error may
    quote the scenario files (every problem found, with file, line, field and value)."""
    first, _, rest = message.partition("\n")
    if not rest:
        return first
    return f"{first.rstrip(':')} (shown at --detail full, for the holdouts' owner)"


def verdict(document: Mapping[str, Any]) -> str:
    """One line saying whether the change may merge, and why."""
    if document.get("error"):
        first = str(document["error"]).splitlines()[0]
        return f"ERROR: converge could not judge the change: {first}"
    tiers = document["summary"]["by_tier"]
    critical = tiers["critical"]
    others = []
    if tiers["important"]["failed"]:
        others.append(f"{tiers['important']['failed']} important below threshold")
    if tiers["nice-to-have"]["failed"]:
        others.append(f"{tiers['nice-to-have']['failed']} nice-to-have below threshold")
    if gate_of(document) == "lower-bound":
        others.append("gate: 95% lower bound")
    tail = f" ({'; '.join(others)})" if others else ""
    if critical["failed"]:
        return (
            f"FAIL: {critical['failed']} of {critical['total']} critical "
            f"scenario{_s(critical['total'])} below threshold{tail}"
        )
    total = document["summary"]["total"]
    passing = (
        "no critical scenario selected"
        if not critical["total"]
        else "the critical scenario passes"
        if critical["total"] == 1
        else f"all {critical['total']} critical scenarios pass"
    )
    return (
        f"PASS: {passing}; {document['summary']['passed']}/{total} "
        f"scenario{_s(total)} at threshold{tail}"
    )


def render_markdown(
    document: Mapping[str, Any],
    sticky_marker: bool = True,
    criteria: Sequence[str] = (),
    detail: Detail = "public",
) -> str:
    """A GitHub-flavoured summary for a PR comment; the hidden marker lets CI update it in place.

    ``criteria`` are Markdown lines placed above the scenario table: ``invoke done``'s four
    criteria and its verdict, in the PR comment. ``detail``: ``public`` (the default: a PR
    comment is read by the code's author) counts the failed, flaky, regressed and fixed checks;
    ``full`` names each with its step, file and line, expected and actual values.
    """
    lines = [STICKY_MARKER, ""] if sticky_marker else []
    status = _status_word(document)
    lines.append(f"### converge: {status}")
    lines.append("")
    section = document.get("baseline")
    regressed = baseline.listed(section, "regressions", detail) if section else []
    if section and regressed:
        # The PR comment leads with what got worse since the base branch.
        lines.append(f"**Regressions** ({_md(baseline.headline(section))}):")
        lines.append("")
        lines.extend(f"- {_md(line)}" for line in regressed)
        lines.append("")
    lines.append(_md(verdict(document)))
    lines.extend(["", *criteria] if criteria else [])
    scenarios = _ordered(document)
    if scenarios:
        headers, rows = _score_rows(
            document, scenarios, _md, lambda result: f"**{result}**" if result != "PASS" else result
        )
        lines.append("")
        lines.append(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))
    held_back = [s for s in scenarios if s["result"] != "PASS"]
    if held_back and gate_of(document) == "lower-bound":
        lines.append("")
        for scenario in held_back:
            lines.append(f"- **{_md(scenario['name'])}**: {_md(gate_note(document, scenario))}")
    lines.extend(_markdown_flaky(scenarios, detail))
    lines.extend(_markdown_failures(scenarios, detail))
    if section:
        others = [f"fix: {line}" for line in baseline.listed(section, "fixes", detail)]
        others += baseline.new_and_removed(section)
        lines.append("")
        lines.append(_md(baseline.headline(section)) + (":" if others else ""))
        if others:
            lines.append("")
            lines.extend(f"- {_md(line)}" for line in others)
    lines.append("")
    lines.append(
        f"<sub>converge {_md(str(document.get('version', '')))} · "
        f"{_md(str(document.get('api_url', '')))} · {document.get('runs', 1)} run(s) per "
        f"scenario</sub>"
    )
    return "\n".join(lines) + "\n"


def _markdown_flaky(scenarios: Sequence[Mapping[str, Any]], detail: Detail) -> list[str]:
    """The PR comment's flaky checks: counted per scenario (public), or each folded away (full)."""
    flaky = [s for s in scenarios if s.get("flaky_checks")]
    if not flaky:
        return []
    count = sum(len(s["flaky_checks"]) for s in flaky)
    if detail == "public":
        return [
            "",
            f"Flaky checks: {count} (held in some runs, failed in others):",
            "",
            *(
                f"- **{_md(s['name'])}**: {_count(len(s['flaky_checks']), 'flaky check')}"
                for s in flaky
            ),
        ]
    lines = [
        "",
        f"<details><summary>Flaky checks: {count} (held in some runs, failed in "
        "others)</summary>",
        "",
    ]
    for scenario in flaky:
        lines.append(f"**{_md(scenario['name'])}** ({_md(scenario['file'])})")
        lines.append("")
        lines.extend(f"- {_md(_flaky_label(check))}" for check in scenario["flaky_checks"])
        lines.append("")
    lines.append("</details>")
    return lines


def _markdown_failures(scenarios: Sequence[Mapping[str, Any]], detail: Detail) -> list[str]:
    """The PR comment's failed checks: a note that they are hidden (public; the table counts
    them), or each with its step, file and line, folded away (full)."""
    failing = [s for s in scenarios if _failed_checks(s)]
    if not failing:
        return []
    if detail == "public":
        return ["", HIDDEN]
    lines = ["", "<details><summary>Failed checks</summary>", ""]
    for scenario in failing:
        lines.append(f"**{_md(scenario['name'])}** ({_md(scenario['file'])})")
        lines.append("")
        lines.extend(f"- {_md(line)}" for line in failure_lines(scenario))
        lines.append("")
    lines.append("</details>")
    return lines


def render_junit(document: Mapping[str, Any], detail: Detail = "public") -> str:
    """JUnit XML: one testcase per scenario, and one ``error`` case for a run that could not
    judge the change (exit 2).

    ``detail``: ``public`` (the default: test-report tools show it to the code's author) says
    how many checks failed and leaves out the scenario's file; ``full`` names each failed check.

    Only a critical scenario below its threshold is a ``failure``: it is what fails the run. An
    important or nice-to-have one below its threshold passes, with a warning in its
    ``system-out``, since the run itself passes (exit 0) and a red test on a CI dashboard would
    say otherwise. The output follows the common JUnit schema (tests/resources/junit.xsd).
    """
    public = detail == "public"
    scenarios = _ordered(document)
    failures = sum(1 for s in scenarios if s["result"] == "FAIL")
    errors = 1 if document.get("error") else 0
    suite = ET.Element(
        "testsuite",
        {
            "name": "converge",
            "tests": str(len(scenarios) + errors),
            "failures": str(failures),
            "errors": str(errors),
            "skipped": "0",
            "time": _junit_time(document.get("duration_ms", 0)),
            "timestamp": _xml(str(document.get("started_at", ""))),
        },
    )
    if errors:
        case = ET.SubElement(suite, "testcase", {"classname": "converge", "name": "run"})
        error = ET.SubElement(
            case, "error", {"message": _xml(str(document["error"]).splitlines()[0]),
                            "type": "ConvergeError"}
        )
        # Past its first line, an error may quote the scenario files (every problem found).
        error.text = _xml(str(document["error"]).splitlines()[0] if public else document["error"])
    for scenario in scenarios:
        attributes = {
            "classname": f"converge.{scenario['priority']}",
            "name": _xml(scenario["name"]),
            "file": _xml(scenario["file"]),
            "time": _junit_time(scenario["duration_ms"]),
        }
        if public:
            del attributes["file"]
        case = ET.SubElement(suite, "testcase", attributes)
        summary = (
            f"satisfaction {_percent(scenario['satisfaction'])} "
            f"({scenario['checks_passed']}/{scenario['checks_total']} checks), "
            f"lower bound {_bound(scenario)}, threshold {_percent(scenario['threshold'])} "
            f"(gate: {gate_of(document)})"
        )
        why = _failed_count(scenario) if public else "\n".join(failure_lines(scenario))
        out_text = summary
        if scenario["result"] == "FAIL":
            failure = ET.SubElement(
                case, "failure", {"message": _xml(summary), "type": scenario["result"]}
            )
            failure.text = _xml(why)
        elif not scenario["passed"]:
            # Below its threshold without failing the run: said, not counted as a failure.
            out_text = (
                f"warning: {scenario['priority']} scenario below its threshold: {summary}\n{why}"
            )
        out = ET.SubElement(case, "system-out")
        out.text = _xml(out_text)
    root = ET.Element(
        "testsuites",
        {"name": "converge", "tests": suite.get("tests", "0"), "failures": str(failures),
         "errors": str(errors)},
    )
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


# --- rendering helpers ---------------------------------------------------------------------


def _ordered(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    scenarios: list[dict[str, Any]] = list(document.get("scenarios", []))
    return sorted(
        scenarios, key=lambda s: (_TIER_ORDER.get(s["priority"], len(TIERS)), s["name"], s["file"])
    )


def _verbose_scenario(scenario: Mapping[str, Any]) -> list[str]:
    run_note = f", run {scenario['steps_from_run']}" if len(scenario.get("runs", [])) > 1 else ""
    title = f"{scenario['priority']} / {_one_line(scenario['name'])}"
    lines = [f"{title} ({_one_line(scenario['file'])}{run_note})"]
    for index, step in enumerate(scenario["steps"], start=1):
        status = step["status_code"] if step["status_code"] is not None else "---"
        attempts = step.get("attempts", 1)
        tries = f", {attempts} attempts" if attempts > 1 else ""
        lines.append(
            f"  step {index} {_one_line(_quoted(step['name']))}: {step['method']} "
            f"{_one_line(step['path'])} -> {status} ({step['duration_ms']:.0f} ms{tries}) "
            f"{step['checks_passed']}/{step['checks_total']}"
        )
        if step["error"]:
            lines.append(f"      {_one_line(step['error'])}")
        for check in step["checks"]:
            if check["passed"]:
                continue
            lines.append(f"    x {_check_label(check)}, {_one_line(_at(scenario, check))}")
            lines.append(f"        expected: {_one_line(_text(check['expected']))}")
            # A step not sent (or not answered) has nothing to show per check: its reason,
            # said once above, is every check's.
            if check["message"] == step["error"]:
                continue
            lines.append(f"        actual:   {_one_line(_text(check['actual']))}")
            if check["message"]:
                lines.append(f"        {_one_line(check['message'])}")
    return lines


def failure_lines(scenario: Mapping[str, Any]) -> list[str]:
    """Why a scenario fell short, as plain text: a line per failed check naming its step (by
    position and name) and where it is written (file and line), or one line for a step that was
    not sent or not answered. Renderers escape it for their format."""
    lines = []
    for index, step in enumerate(scenario["steps"], start=1):
        failed = [check for check in step["checks"] if not check["passed"]]
        if not failed:
            continue
        where = f"step {index} {_quoted(step['name'])} ({step['method']} {step['path']})"
        if step["error"]:
            count = f"{len(failed)} check{_s(len(failed))} fail"
            lines.append(f"{where}, {_at(scenario, step)}: {step['error']} ({count})")
            continue
        for check in failed:
            lines.append(
                f"{where}, {_at(scenario, check)}: {_check_label(check)}: {check['message']}"
            )
    return lines


HIDDEN = (
    "Which checks failed, and why, is not shown at the public detail level: the holdout "
    "scenarios stay hidden from the code's author."
)


def _failed_count(scenario: Mapping[str, Any]) -> str:
    """The public account of a scenario's failed checks: how many, over all its runs."""
    failed = int(scenario["checks_total"]) - int(scenario["checks_passed"])
    return (
        f"{failed} of {_count(int(scenario['checks_total']), 'check')} failed; which ones, and "
        "why, is not shown at the public detail level"
    )


def _count(count: int, word: str) -> str:
    return f"{count} {word}{_s(count)}"


def _quoted(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def _at(scenario: Mapping[str, Any], item: Mapping[str, Any]) -> str:
    """``file:line`` of a step or check (the file alone in reports from before lines)."""
    line = item.get("line") or 0
    return f"{scenario['file']}:{line}" if line else str(scenario["file"])


def _failed_checks(scenario: Mapping[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (step, check)
        for step in scenario["steps"]
        for check in step["checks"]
        if not check["passed"]
    ]


def _check_label(check: Mapping[str, Any]) -> str:
    kind, target = check["kind"], _one_line(check["target"])
    return kind if target == kind else f"{kind} {target}"


def _status_word(document: Mapping[str, Any]) -> str:
    if document.get("error"):
        return "ERROR"
    return "FAIL" if document.get("exit_code") == 1 else "PASS"


def _percent(value: float) -> str:
    return scoring.shown(value)


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.2f}s"


def _junit_time(ms: float) -> str:
    return f"{ms / 1000:.3f}"


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _text(value: Any) -> str:
    if value is None:
        return "(nothing)"
    return show(value)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C1 too: U+009B is a CSI on some terminals


def _one_line(text: str) -> str:
    """Terminal-safe: no newlines or escape sequences from hostile scenario files or APIs."""
    return _CONTROL.sub(" ", str(text))


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~@])")


def _md(text: str) -> str:
    """Inert Markdown: no links, images, HTML, mentions or table breaks from hostile text."""
    return _MD_SPECIAL.sub(r"\\\1", _one_line(text))


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml(text: str) -> str:
    """Text XML 1.0 can hold (ElementTree escapes markup but not invalid characters)."""
    return _XML_INVALID.sub("?", text)


def sorted_names(document: Mapping[str, Any]) -> Iterable[str]:
    """Scenario names in the order every renderer shows them (tier, then name)."""
    return [s["name"] for s in _ordered(document)]
