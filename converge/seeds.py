"""Per-run seeds: what makes each trajectory its own, and any one of them repeatable.

Every converge run has a base seed (``--seed``, else a random one), recorded in the report. Each
scenario run's seed is derived from it, the scenario's file and the run's number, so the same
base seed gives the same seeds again whatever else is selected, and the report names the seed of
every run. The seed travels to the API under test in the W3C ``baggage`` header
(``converge-seed=1234``); an API that propagates baggage to its dependencies, as
OpenTelemetry-instrumented services do, hands it to the twins, which vary by it (mock-anthropic's
wording and, with variability on, its answers). ``converge run --replay`` sends a recorded seed
again.
"""

from __future__ import annotations

import hashlib
import secrets

BAGGAGE_HEADER = "baggage"
BAGGAGE_KEY = "converge-seed"  # as converge_twins._determinism.SEED_BAGGAGE_KEY
MAX_SEED = 2**31 - 1  # small enough for every JSON reader (JavaScript's numbers included)


def new_base_seed() -> int:
    return secrets.randbelow(MAX_SEED) + 1


def run_seed(base: int, scenario_file: str, run: int) -> int:
    """The seed of run ``run`` (1-based) of the scenario in ``scenario_file``."""
    digest = hashlib.sha256(f"{base}:{scenario_file}:{run}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % MAX_SEED + 1


def baggage(seed: int) -> str:
    """The ``baggage`` header value that carries a run's seed."""
    return f"{BAGGAGE_KEY}={seed}"
