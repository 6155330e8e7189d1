"""Shard reports in, one report out: ``converge merge REPORT...`` and ``invoke report.merge``.

A run split with ``--shard K/N`` over a CI job matrix leaves N reports. The merge checks that
they are the N shards of one run, then builds the report a single run would have written:
every scenario's runs are read back from its shard's report and scored again with the functions
a run scores with (:func:`converge.scoring.score`: satisfaction, the Wilson lower bounds, flaky
checks, runs needed, the outcome under the shards' gate and thresholds), and
:func:`converge.report.build_report` makes the document. So the table, the Markdown, the JUnit
and the exit code follow the rules of a single run (0, 1 when a critical scenario falls short).

Exit 2, naming the report, when the reports are not the shards of one run:

- a report that cannot be read, that is not a shard's (no ``shard`` section), or is already a
  merged one;
- a shard missing, or given twice; reports of different numbers of shards;
- a shard of another run: another scenario list (its fingerprint: other files or contents, other
  filters), other ``--runs``, other thresholds or another gate;
- a shard that holds fewer scenarios than its run chose (it stopped early);
- a shard that could not judge the change (its own exit 2): its error is repeated.

The merged report is written in every case, as a run's is: with the error and exit code 2 when
the merge could not judge, so an earlier verdict never stays in its place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from converge import _gc, baseline
from converge.colors import ColorChoice
from converge.engine import show_table, write_outputs
from converge.errors import EXIT_ERROR, ConfigError, ConvergeError, ReportError
from converge.model import TIERS, Detail, Gate, Priority, Scenario, ScenarioResult
from converge.redact import Redactor
from converge.report import VERBOSE_PUBLIC, build_report, load_report, runs_of
from converge.scoring import DEFAULT_THRESHOLDS, exit_code, score


@dataclass(frozen=True)
class MergeOptions:
    reports: tuple[Path, ...]
    report_file: Path | None = None
    markdown_file: Path | None = None
    junit_file: Path | None = None
    baseline: Path | None = None  # a previous report to compare the merged run with
    verbose: bool = False
    color: ColorChoice = "auto"
    detail: Detail = "public"  # of the Markdown and JUnit (converge.model.Detail)
    table_detail: Detail = "full"  # of the table


@dataclass(frozen=True)
class _Shard:
    """One shard's report, as given."""

    file: str
    document: Mapping[str, Any]

    @property
    def index(self) -> int:
        return int(self.document["shard"]["index"])

    @property
    def total(self) -> int:
        return int(self.document["shard"]["total"])

    @property
    def judged(self) -> bool:
        return bool(self.document["exit_code"] != EXIT_ERROR)

    def __str__(self) -> str:
        return f"shard {self.index}/{self.total} ({self.file})"


def execute(options: MergeOptions, out: TextIO, err: TextIO) -> int:
    """Merge, show the table, write the report. Returns 0 or 1; raises the ConvergeError of an
    exit 2 after writing the report."""
    with _gc.paused():  # the shards' reports, read and built again, are large trees that live on
        return _execute(options, out, err)


def _execute(options: MergeOptions, out: TextIO, err: TextIO) -> int:
    failure: ConvergeError | None = None
    shards: list[_Shard] = []
    results: list[ScenarioResult] = []
    try:
        if options.verbose and options.table_detail == "public":
            raise ConfigError(VERBOSE_PUBLIC)
        shards = _read(options.reports)
        _check(shards)
        results = _scored(shards)
        errors = [f"{shard} could not judge: {shard.document['error']}" for shard in shards
                  if not shard.judged]
        if errors:
            raise ConvergeError("\n".join(errors))
    except ConvergeError as error:
        failure = error
    document = _document(shards, results, failure)
    if failure is None and options.baseline is not None:
        try:
            before = load_report(options.baseline)
        except ReportError as error:
            failure = ReportError(f"--baseline: {error}")
            document = _document(shards, results, failure)
        else:
            document = baseline.with_baseline(document, before, str(options.baseline))
    if failure is None:
        show_table(
            document, options.report_file, verbose=options.verbose, color=options.color,
            out=out, err=err, detail=options.table_detail,
        )
    write_outputs(
        document, options.report_file, options.markdown_file, options.junit_file, out,
        detail=options.detail, failure=failure,
    )
    if failure is not None:
        raise failure
    return int(document["exit_code"])


# --- reading and checking -------------------------------------------------------------------


def _read(paths: Sequence[Path]) -> list[_Shard]:
    if not paths:
        raise ReportError("converge merge needs the shards' reports")
    problems: list[str] = []
    shards: list[_Shard] = []
    for path in paths:
        try:
            document = load_report(path)
        except ReportError as error:
            problems.append(error.message)
            continue
        if "merged" in document:
            problems.append(f"{path}: already a merged report, not a shard's")
        elif "shard" not in document:
            problems.append(f"{path}: not a shard's report (no shard section: was it run with "
                            "--shard K/N?)")
        else:
            shards.append(_Shard(str(path), document))
    _raise(problems)
    return shards


def _check(shards: Sequence[_Shard]) -> None:
    """Every way the reports are not the shards of one run, all at once."""
    problems: list[str] = []
    total = _common([shard.total for shard in shards], shards)
    for shard in shards:
        if shard.total != total:
            problems.append(f"{shard} is a shard of {shard.total}, the other reports of {total}")
    by_index: dict[int, list[_Shard]] = {}
    for shard in shards:
        by_index.setdefault(shard.index, []).append(shard)
    for index, given in sorted(by_index.items()):
        if len(given) > 1:
            files = ", ".join(shard.file for shard in given)
            problems.append(f"shard {index}/{total} given {len(given)} times: {files}")
    missing = [f"{index}/{total}" for index in range(1, total + 1) if index not in by_index]
    if missing:
        problems.append(f"missing shard{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    judged = [shard for shard in shards if shard.judged]
    problems += _mismatches(judged)
    problems += _incomplete(judged)
    _raise(problems)


# How a shard's run is compared with the others': what is read, and how it is shown.
_COMPARED: tuple[tuple[Callable[[Mapping[str, Any]], Any], Callable[[Any], str]], ...] = (
    (
        lambda document: document["shard"]["fingerprint"],
        lambda value: f"the scenario list {str(value)[:19]}…",
    ),
    (lambda document: document["runs"], lambda value: f"--runs {value}"),
    (
        lambda document: tuple(float(document["thresholds"][tier]) for tier in TIERS),
        lambda value: "thresholds "
        + ", ".join(f"{tier}={v:g}" for tier, v in zip(TIERS, value, strict=True)),
    ),
    (lambda document: document.get("gate", "mean"), lambda value: f"--gate {value}"),
)


def _mismatches(shards: Sequence[_Shard]) -> list[str]:
    """The shards run differently from the others (the most common way is the run's)."""
    problems = []
    for of, shown in _COMPARED:
        usual = _common([of(shard.document) for shard in shards], shards)
        for shard in shards:
            value = of(shard.document)
            if value != usual:
                problems.append(
                    f"{shard} is of another run: {shown(value)}; the other shards: "
                    f"{shown(usual)}"
                )
    return problems


def _incomplete(shards: Sequence[_Shard]) -> list[str]:
    problems = []
    seen: dict[tuple[str, str], _Shard] = {}
    for shard in shards:
        chosen = shard.document["shard"]["scenarios"]
        held = len(shard.document["scenarios"])
        if chosen is not None and held != chosen:
            problems.append(f"{shard} holds {held} scenarios of the {chosen} its run chose")
        for scenario in shard.document["scenarios"]:
            key = (scenario["file"], scenario["name"])
            if key in seen:
                problems.append(
                    f"scenario {scenario['name']!r} ({scenario['file']}) is in {seen[key]} "
                    f"and in {shard}"
                )
            seen.setdefault(key, shard)
    return problems


def _common(values: Sequence[Any], shards: Sequence[_Shard]) -> Any:
    """The value most shards have (``values`` lines up with ``shards``); between equally
    common ones, the lowest shard's."""
    counts = Counter(values)
    best = max(counts.values(), default=0)
    ordered = sorted(zip(shards, values, strict=True), key=lambda pair: pair[0].index)
    return next((value for _shard, value in ordered if counts[value] == best), None)


def _raise(problems: Sequence[str]) -> None:
    if problems:
        plural = "s" if len(problems) > 1 else ""
        raise ReportError(
            f"{len(problems)} problem{plural} with the shard reports:\n" + "\n".join(problems)
        )


# --- scoring and the document ---------------------------------------------------------------


def _scored(shards: Sequence[_Shard]) -> list[ScenarioResult]:
    """Every scenario of every shard, scored again from its runs as a single run scores it."""
    results = []
    for shard in shards:
        thresholds = _thresholds(shard.document)
        gate: Gate = shard.document.get("gate", "mean")
        for saved in shard.document["scenarios"]:
            scenario = Scenario(
                name=saved["name"], priority=saved["priority"], file=saved["file"], steps=()
            )
            results.append(score(scenario, runs_of(saved), thresholds, gate))
    return results


def _document(
    shards: Sequence[_Shard], results: Sequence[ScenarioResult], failure: ConvergeError | None
) -> dict[str, Any]:
    judged = [shard for shard in shards if shard.judged] or list(shards)
    first = min(judged, key=lambda shard: shard.index) if judged else None
    started = [_when(shard.document["started_at"]) for shard in shards]
    finished = [_when(shard.document["finished_at"]) for shard in shards]
    now = datetime.now(UTC)
    seeds = {shard.document.get("seed") for shard in judged}
    return build_report(
        results,
        api_url=first.document["api_url"] if first else "",
        scenarios_dir=first.document["scenarios_dir"] if first else "",
        started_at=min(started, default=now),
        finished_at=max(finished, default=now),
        exit_code=failure.exit_code if failure else exit_code(results),
        error=failure.message if failure else None,
        thresholds=_thresholds(first.document) if first else DEFAULT_THRESHOLDS,
        runs=int(first.document["runs"]) if first else 1,
        redactor=Redactor.from_environment([]),
        # One base seed when the shards shared one (--seed), as a single run has; else none.
        seed=seeds.pop() if len(seeds) == 1 else None,
        gate=first.document.get("gate", "mean") if first else "mean",
        merged=_section(shards) if shards else None,
    )


def _section(shards: Sequence[_Shard]) -> dict[str, Any]:
    ordered = sorted(shards, key=lambda shard: shard.index)
    fingerprints = {shard.document["shard"]["fingerprint"] for shard in ordered if shard.judged}
    return {
        "shards": max(shard.total for shard in ordered),
        "fingerprint": fingerprints.pop() if len(fingerprints) == 1 else None,
        "reports": [
            {
                "shard": shard.index,
                "file": shard.file,
                "exit_code": shard.document["exit_code"],
                "scenarios": len(shard.document["scenarios"]),
                "api_url": shard.document["api_url"],
                "started_at": shard.document["started_at"],
                "duration_ms": shard.document["duration_ms"],
            }
            for shard in ordered
        ],
    }


def _thresholds(document: Mapping[str, Any]) -> dict[Priority, float]:
    return {tier: float(document["thresholds"][tier]) for tier in TIERS}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)
