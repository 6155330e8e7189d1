"""How sure a score is: the Wilson score lower bound, and how many runs would make it sure enough.

A satisfaction measured over a few runs of an API that does not answer the same way twice is an
estimate. The 95% Wilson score interval (Wilson 1927; recommended over the textbook normal
interval by Newcombe 1998 and by Brown, Cai and DasGupta 2001 because it stays inside 0..1 and
keeps close to its 95% coverage for small samples and for rates near 0 or 1) says how low the
true rate could plausibly be. Its lower bound is what ``--gate lower-bound`` compares with the
threshold: a scenario that passes on the bound passes because it is good, not because it was
lucky.

Plain functions over counts, so every place that has the counts (scoring, a merge of shard
reports) computes the same numbers.
"""

from __future__ import annotations

import math

# The 97.5th percentile of the standard normal distribution: a two-sided 95% interval.
Z95 = 1.959963984540054
MAX_RUNS = 10**9  # beyond this many runs "would be needed" means "never", in practice


def wilson_lower(successes: float, trials: float, z: float = Z95) -> float:
    """The lower end of the Wilson score interval for ``successes`` out of ``trials``, as a
    fraction. Fractional counts are allowed (an observed rate projected to more trials).
    """
    if trials <= 0 or successes <= 0:
        return 0.0
    p = min(successes / trials, 1.0)
    z2 = z * z
    centre = p + z2 / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, (centre - spread) / (1 + z2 / trials))


def _half_up(value: float, places: int) -> float:
    # As satisfaction rounds: half up. A tiny allowance absorbs float noise such as 18.764999…
    scale = 10.0**places
    return math.floor(value * scale + 0.5 + 1e-9) / scale


def lower_bound_percent(successes: int, trials: int) -> float:
    """The bound in percent with 2 decimals (``satisfaction_lower_bound``)."""
    return _half_up(100 * wilson_lower(successes, trials), 2)


def lower_bound_fraction(successes: int, trials: int) -> float:
    """The bound as a fraction with 4 decimals (``pass_rate_lower_bound``)."""
    return _half_up(wilson_lower(successes, trials), 4)


def runs_needed(passed: int, total: int, runs: int, threshold: float) -> int | None:
    """How many runs at the observed check pass rate would lift the lower bound (rounded as
    reported) to ``threshold`` percent; None when no number of runs can.

    The bound rises towards the observed rate as runs are added but never reaches it, so a rate
    at or below the threshold can never clear it. With the rate above it, the bound at ``n``
    runs is computed as if every run passed its share of checks; it grows with ``n``, so the
    answer is found by doubling and then halving.
    """
    if total <= 0 or runs <= 0:
        return None
    rate = passed / total
    if 100 * rate <= threshold:
        return None
    per_run = total / runs

    def clears(n: int) -> bool:
        return _half_up(100 * wilson_lower(rate * per_run * n, per_run * n), 2) >= threshold

    low, high = 0, 1
    while not clears(high):
        low, high = high, high * 2
        if high > MAX_RUNS:
            return None
    while high - low > 1:
        middle = (low + high) // 2
        if clears(middle):
            high = middle
        else:
            low = middle
    return high
