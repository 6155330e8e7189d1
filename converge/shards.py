"""Shards: one run split over the machines of a CI job matrix, ``--shard K/N``.

Every shard loads and validates every file (an invalid scenario fails every shard alike), takes
the scenarios the filters select, and runs its own share of them. The shares are decided from
the selected list alone, so the same K/N gives the same files on every machine:

- the list is in the loader's order, sorted by each file's path within the scenarios folder as
  text (code points, not the filesystem's or the locale's order);
- scenarios are dealt out largest first (by steps, ties by that order) to the shard with the
  fewest steps so far (ties: the lowest K), the "longest processing time first" rule, which
  keeps the shards within one scenario's steps of each other;
- every scenario lands in exactly one shard; a shard may get none when there are more shards
  than scenarios (it then runs nothing and passes).

Each shard's report records its shard and a fingerprint of the whole selected list (each
scenario's tier, file, name and the SHA-256 of its file), so ``converge merge`` can tell shards
of one run from shards of runs over different scenarios.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from converge.model import Scenario

MAX_SHARDS = 1000  # far beyond any CI matrix (GitHub allows 256 jobs per matrix)
_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``total``, both from 1 (``--shard 2/4`` is index 2, total 4)."""

    index: int
    total: int

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"


def parse(text: str) -> Shard:
    """``"2/4"`` as a :class:`Shard`; ValueError saying what is wrong otherwise."""
    match = _SHARD.fullmatch(text)
    if match is None:
        raise ValueError(f"expected K/N, e.g. 2/4 for shard 2 of 4 (got {text!r})")
    index, total = int(match.group(1)), int(match.group(2))
    if not 1 <= total <= MAX_SHARDS:
        raise ValueError(f"the number of shards N must be from 1 to {MAX_SHARDS} (got {text!r})")
    if not 1 <= index <= total:
        raise ValueError(f"the shard K must be from 1 to N (got {text!r})")
    return Shard(index, total)


def assign(scenarios: Sequence[Scenario], total: int) -> list[int]:
    """The shard (from 1) of each scenario, in the order given."""
    order = sorted(range(len(scenarios)), key=lambda i: (-len(scenarios[i].steps), i))
    loads = [(0, shard) for shard in range(1, total + 1)]  # (steps so far, shard): a heap
    chosen = [0] * len(scenarios)
    for i in order:
        steps, shard = heapq.heappop(loads)
        chosen[i] = shard
        heapq.heappush(loads, (steps + len(scenarios[i].steps), shard))
    return chosen


def select(scenarios: Sequence[Scenario], shard: Shard) -> list[Scenario]:
    """This shard's scenarios, in the order given."""
    return [
        scenario
        for scenario, chosen in zip(scenarios, assign(scenarios, shard.total), strict=True)
        if chosen == shard.index
    ]


def fingerprint(scenarios: Sequence[Scenario]) -> str:
    """The identity of a whole selected list: equal lists (same files, same contents, same
    names and tiers, same filters applied) have equal fingerprints on any machine."""
    digest = hashlib.sha256()
    for scenario in scenarios:
        for part in (scenario.priority, scenario.file, scenario.name, scenario.digest):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
        digest.update(b"\n")
    return f"sha256:{digest.hexdigest()}"


def section(
    shard: Shard, everything: Sequence[Scenario] | None, mine: Sequence[Scenario] = ()
) -> dict[str, Any]:
    """The report's ``shard`` section (schemas/report.schema.json); with ``everything`` None
    (the run stopped before the list was known) only which shard it was."""
    known = everything is not None
    return {
        "index": shard.index,
        "total": shard.total,
        "fingerprint": fingerprint(everything) if everything is not None else None,
        "scenarios_total": len(everything) if everything is not None else None,
        "scenarios": len(mine) if known else None,
        "steps": sum(len(scenario.steps) for scenario in mine) if known else None,
    }
