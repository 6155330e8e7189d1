"""What changed since a baseline report (``--baseline FILE``, e.g. the base branch's last one).

Plain functions over two saved report documents, so that any report can be compared with any
earlier one. Scenarios are matched by file, then (for a file moved to another tier folder) by
name; checks by step name, check kind and target (the n-th such check of the scenario, so an
inserted step does not shift them).

- A **scenario regression** went from passing its threshold to failing it; a **fix** the other
  way. The delta is the change of satisfaction in percentage points.
- A **check regression** held in every run of the baseline and fails in every run now, or, with
  several runs, fell so far that the 95% Wilson intervals of its two pass rates no longer
  overlap. A check that only became flaky is not a regression: the flaky checks say so. A
  **check fix** is the reverse. This keeps two runs of the same code, with a service that
  answers differently each time, from reporting regressions that are only chance.
- **New** scenarios are in this report only, **removed** ones in the baseline only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from converge import scoring, stats
from converge.model import Detail

CheckKey = tuple[str, str, str, int]  # step name, kind, target, occurrence
Text = Callable[[str], str]  # makes a piece of text safe for the output (terminal, Markdown)


def with_baseline(
    document: Mapping[str, Any], baseline: Mapping[str, Any], source: str
) -> dict[str, Any]:
    """The report with its ``baseline`` section and each scenario's ``delta`` (percentage points
    of satisfaction since the baseline; null for a scenario the baseline did not have)."""
    section, deltas = compare(document, baseline, source)
    scenarios = [{**s, "delta": deltas.get(s["file"])} for s in document["scenarios"]]
    return {**document, "scenarios": scenarios, "baseline": section}


def compare(
    current: Mapping[str, Any], baseline: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], dict[str, float]]:
    """The ``baseline`` section of a report, and the delta of each scenario (by file)."""
    deltas: dict[str, float] = {}
    section: dict[str, Any] = {
        "file": source,
        "started_at": baseline.get("started_at"),
        "error": None,
        "regressions": {"scenarios": [], "checks": []},
        "fixes": {"scenarios": [], "checks": []},
        "new": [],
        "removed": [],
    }
    if baseline.get("error"):
        first = str(baseline["error"]).splitlines()[0]
        section["error"] = f"the baseline run could not judge its change: {first}"
        return section, deltas
    pairs, new, removed = _match(current["scenarios"], baseline["scenarios"])
    section["new"] = [_identity(s) for s in new]
    section["removed"] = [_identity(s) for s in removed]
    for now, before in pairs:
        deltas[now["file"]] = round(now["satisfaction"] - before["satisfaction"], 2)
        was, is_ = before["result"] == "PASS", now["result"] == "PASS"
        if was != is_:
            kind = "fixes" if is_ else "regressions"
            section[kind]["scenarios"].append(
                {
                    **_identity(now),
                    "was": before["result"],
                    "now": now["result"],
                    "satisfaction_was": before["satisfaction"],
                    "satisfaction_now": now["satisfaction"],
                }
            )
        for kind, check in _check_changes(now, before):
            section[kind]["checks"].append(check)
    return section, deltas


def _identity(scenario: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": scenario["name"], "file": scenario["file"], "priority": scenario["priority"]}


def _match(
    current: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]]
) -> tuple[list[tuple[Mapping[str, Any], Mapping[str, Any]]], list[Any], list[Any]]:
    by_file = {s["file"]: s for s in baseline}
    pairs, unmatched = [], []
    for scenario in current:
        before = by_file.pop(scenario["file"], None)
        if before is None:
            unmatched.append(scenario)
        else:
            pairs.append((scenario, before))
    by_name = {s["name"]: s for s in by_file.values()}
    new = []
    for scenario in unmatched:
        before = by_name.pop(scenario["name"], None)
        if before is None:
            new.append(scenario)
        else:
            pairs.append((scenario, before))
    return pairs, new, list(by_name.values())


def check_tallies(scenario: Mapping[str, Any]) -> dict[CheckKey, tuple[int, int, int, str]]:
    """Each check of a scenario in a report: (runs held, runs, step number, step name)."""
    tallies: dict[CheckKey, tuple[int, int, int, str]] = {}
    for run in scenario.get("runs") or []:
        seen: Counter[tuple[str, str, str]] = Counter()
        for number, step in enumerate(run["steps"], start=1):
            for check in step["checks"]:
                name = (step["name"], check["kind"], check["target"])
                key = (*name, seen[name])
                seen[name] += 1
                held, runs, _, _ = tallies.get(key, (0, 0, number, step["name"]))
                tallies[key] = (held + int(bool(check["passed"])), runs + 1, number, step["name"])
    return tallies


def _check_changes(
    now: Mapping[str, Any], before: Mapping[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    tallies_now, tallies_before = check_tallies(now), check_tallies(before)
    changes = []
    for key, (held, runs, step, step_name) in tallies_now.items():
        if key not in tallies_before:
            continue
        held_before, runs_before, _, _ = tallies_before[key]
        kind = _direction(held_before, runs_before, held, runs)
        if kind is None:
            continue
        changes.append(
            (
                kind,
                {
                    "scenario": now["name"],
                    "file": now["file"],
                    "step": step,
                    "step_name": step_name,
                    "kind": key[1],
                    "target": key[2],
                    "pass_rate_was": round(held_before / runs_before, 4),
                    "pass_rate_now": round(held / runs, 4),
                },
            )
        )
    return changes


def _direction(held_before: int, runs_before: int, held: int, runs: int) -> str | None:
    """"regressions", "fixes" or None, by the rule of the module docstring."""
    if held_before == runs_before and held == 0:
        return "regressions"
    if held_before == 0 and held == runs:
        return "fixes"
    if _upper(held, runs) < stats.wilson_lower(held_before, runs_before):
        return "regressions"
    if _upper(held_before, runs_before) < stats.wilson_lower(held, runs):
        return "fixes"
    return None


def _upper(successes: int, trials: int) -> float:
    return 1 - stats.wilson_lower(trials - successes, trials)


# --- text for the renderers (which escape it for their output) ---------------------------------


def _percent(value: float) -> str:
    return scoring.shown(value)


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else words or word + 's'}"


def headline(section: Mapping[str, Any]) -> str:
    """One line: what the comparison found, or why there is none."""
    source = section["file"]
    if section.get("error"):
        return f"Baseline {source}: {section['error']}; nothing compared"
    counts = []
    for kind, word in (("regressions", "regression"), ("fixes", "fix")):
        scenarios, checks = (len(section[kind][part]) for part in ("scenarios", "checks"))
        total = scenarios + checks
        label = _plural(total, word, kind)
        if total:
            label += f" ({_plural(scenarios, 'scenario')}, {_plural(checks, 'check')})"
        counts.append(label)
    counts.append(f"{len(section['new'])} new")
    counts.append(f"{len(section['removed'])} removed")
    return f"Since the baseline {source}: {', '.join(counts)}"


def scenario_change(change: Mapping[str, Any]) -> str:
    return (
        f"{change['priority']} {change['name']!r}: {change['was']} -> {change['now']} "
        f"({_percent(change['satisfaction_was'])} -> {_percent(change['satisfaction_now'])})"
    )


def check_change(change: Mapping[str, Any]) -> str:
    kind, target = change["kind"], change["target"]
    label = kind if target == kind else f"{kind} {target}"
    return (
        f"{change['scenario']!r} step {change['step']} {change['step_name']!r}: {label} held in "
        f"{_percent(round(100 * change['pass_rate_was'], 2))} of the runs, now "
        f"{_percent(round(100 * change['pass_rate_now'], 2))}"
    )


def listed(section: Mapping[str, Any], kind: str, detail: Detail = "full") -> list[str]:
    """The scenarios and the checks that regressed or were fixed (``kind``).

    At the public detail level a check is not named (its step, kind and target say what the
    holdouts check): each scenario's checks are counted instead."""
    lines = [scenario_change(change) for change in section[kind]["scenarios"]]
    if detail == "full":
        return lines + [check_change(change) for change in section[kind]["checks"]]
    counts = Counter(change["scenario"] for change in section[kind]["checks"])
    word = {"regressions": "regressed", "fixes": "fixed"}.get(kind, kind)
    return lines + [
        f"{scenario!r}: {_plural(count, 'check')} {word}" for scenario, count in counts.items()
    ]


def new_and_removed(section: Mapping[str, Any]) -> list[str]:
    return [f"new: {s['priority']} {s['name']!r}" for s in section["new"]] + [
        f"removed: {s['priority']} {s['name']!r}" for s in section["removed"]
    ]
