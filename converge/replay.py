"""``converge run --replay REPORT --scenario NAME --run K``: one recorded trajectory, again.

The report names every run's seed; a replay sends that seed again (the twins answer as they did,
once their state for the seed is reset) and shows the run verbosely. What a replay cannot repeat
is said here: the built-in tokens are minted afresh for new users (the original users' quotas and
rows are spent), and an API that does not propagate the seed to its dependencies, or
dependencies that are not converge's twins, answer as they will.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converge.errors import ConfigError, ReportError
from converge.model import GATES, TIERS, Gate, Priority
from converge.report import load_report


@dataclass(frozen=True)
class Replay:
    """What a replay takes from the report: which scenario, which seed, and the original rules."""

    report: Path
    scenario: str
    run: int
    seed: int
    scenarios_dir: Path
    thresholds: Mapping[Priority, float]
    gate: Gate

    def describe(self) -> str:
        return (
            f"replaying run {self.run} of {self.scenario!r} with seed {self.seed} "
            f"(from {self.report})"
        )


def from_report(path: Path, scenario: str, run: int) -> Replay:
    """The replay of run ``run`` (from 1) of the scenario named ``scenario`` in a saved report."""
    document = load_report(path)
    entries = [s for s in document["scenarios"] if s["name"] == scenario]
    if not entries:
        known = ", ".join(repr(s["name"]) for s in document["scenarios"]) or "none"
        raise ReportError(f"{path}: no scenario named {scenario!r} (the report has: {known})")
    runs: list[dict[str, Any]] = entries[0]["runs"]
    if not 1 <= run <= len(runs):
        raise ConfigError(
            f"--run {run}: {scenario!r} has run{'s' if len(runs) > 1 else ''} 1"
            f"{f' to {len(runs)}' if len(runs) > 1 else ''} in {path}"
        )
    seed = runs[run - 1].get("seed")
    if not isinstance(seed, int):
        raise ReportError(
            f"{path}: run {run} of {scenario!r} has no recorded seed (a report from before "
            "converge recorded seeds cannot be replayed)"
        )
    gate: Gate = next((g for g in GATES if g == document.get("gate")), "mean")
    return Replay(
        report=path,
        scenario=scenario,
        run=run,
        seed=seed,
        scenarios_dir=Path(document["scenarios_dir"]),
        thresholds={tier: float(document["thresholds"][tier]) for tier in TIERS},
        gate=gate,
    )
