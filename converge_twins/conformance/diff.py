"""Two services' observations side by side: the differences, as a table and as JSON."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from converge_twins.conformance.suite import Observation

ABSENT = "(absent)"
CELL = 60


@dataclass(frozen=True)
class Difference:
    behaviour: str
    aspect: str  # "status", "header", "shape", "fact" or "error"
    where: str  # the header, JSON path or fact it is about ("" for status and error)
    twin: Any
    target: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "behaviour": self.behaviour,
            "aspect": self.aspect,
            "where": self.where,
            "twin": self.twin,
            "target": self.target,
        }


def _compare_maps(
    behaviour: str, aspect: str, twin: Mapping[str, Any], target: Mapping[str, Any]
) -> list[Difference]:
    return [
        Difference(behaviour, aspect, key, twin.get(key, ABSENT), target.get(key, ABSENT))
        for key in sorted(set(twin) | set(target))
        if twin.get(key, ABSENT) != target.get(key, ABSENT)
    ]


def compare(
    twin: Observation, target: Observation, ignore: Sequence[str] = ()
) -> list[Difference]:
    """Where two observations of one behaviour disagree (minus the ``aspect:where`` ignored)."""
    name = twin.behaviour
    found: list[Difference] = []
    if twin.error or target.error:
        if twin.error != target.error:
            found.append(Difference(name, "error", "", twin.error, target.error))
        # A behaviour that could not run on one side has nothing else worth comparing.
        return found
    if twin.status != target.status:
        found.append(Difference(name, "status", "", twin.status, target.status))
    found += _compare_maps(name, "header", twin.headers, target.headers)
    found += _compare_maps(name, "shape", twin.shape, target.shape)
    found += _compare_maps(name, "fact", twin.facts, target.facts)
    return [
        difference
        for difference in found
        if not any(
            fnmatch.fnmatchcase(f"{difference.aspect}:{difference.where}", pattern)
            for pattern in ignore
        )
    ]


@dataclass(frozen=True)
class Comparison:
    """A suite run against the twin and a target, behaviour by behaviour."""

    service: str
    twin_url: str
    target_url: str
    twin: Sequence[Observation]
    target: Sequence[Observation]
    differences: Sequence[Difference]
    skipped: Sequence[str] = ()  # behaviours that need a twin, when the target is not one

    @property
    def differing_behaviours(self) -> list[str]:
        seen: dict[str, None] = {}
        for difference in self.differences:
            seen.setdefault(difference.behaviour)
        return list(seen)

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "twin": self.twin_url,
            "target": self.target_url,
            "behaviours": [
                {
                    "name": mine.behaviour,
                    "twin": mine.as_dict(),
                    "target": theirs.as_dict(),
                    "differences": [
                        d.as_dict() for d in self.differences if d.behaviour == mine.behaviour
                    ],
                }
                for mine, theirs in zip(self.twin, self.target, strict=True)
            ],
            "differences": len(self.differences),
            "differing_behaviours": self.differing_behaviours,
            "skipped": list(self.skipped),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False) + "\n"


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def render_table(comparison: Comparison) -> str:
    """The differences as a text table, then one summary line."""
    count = len(comparison.twin) - len(comparison.skipped)
    summary = f"{comparison.service}: {count} behaviour{'s' if count != 1 else ''} compared, "
    if comparison.skipped:
        summary = (
            f"{comparison.service}: {len(comparison.skipped)} behaviour(s) skipped "
            f"(they need a twin's control plane: {', '.join(comparison.skipped)})\n" + summary
        )
    if not comparison.differences:
        return summary + "no differences\n"
    rows = [
        [d.behaviour, d.aspect, d.where or "-", _cell(d.twin), _cell(d.target)]
        for d in comparison.differences
    ]
    table = tabulate(rows, headers=["Behaviour", "Aspect", "Where", "Twin", "Target"])
    differing = len(comparison.differing_behaviours)
    return (
        f"{table}\n\n{summary}{len(comparison.differences)} difference"
        f"{'s' if len(comparison.differences) != 1 else ''} in {differing} of them\n"
    )
