"""Rate limits as the API applies them: requests, input tokens and output tokens per minute.

Each limit is a bucket that refills continuously (its capacity per minute) on the twin's clock,
as the API's token-bucket limits do. Every answer of the Messages API carries the state in
``anthropic-ratelimit-{requests,input-tokens,output-tokens,tokens}-{limit,remaining,reset}``
(reset: when the bucket is full again, RFC 3339); a request that finds a bucket short is a 429
``rate_limit_error`` with ``retry-after`` (whole seconds until it would pass).

Limits come from ``TWIN_ANTHROPIC_RPM``, ``TWIN_ANTHROPIC_ITPM`` and ``TWIN_ANTHROPIC_OTPM``
(defaults: generous, so nothing is limited unless a test asks) and can be changed at run time
through ``/_twin/ratelimits``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULTS = {
    "requests_per_minute": 4_000,
    "input_tokens_per_minute": 2_000_000,
    "output_tokens_per_minute": 400_000,
}
ENV = {
    "requests_per_minute": "TWIN_ANTHROPIC_RPM",
    "input_tokens_per_minute": "TWIN_ANTHROPIC_ITPM",
    "output_tokens_per_minute": "TWIN_ANTHROPIC_OTPM",
}


def _iso(seconds: float) -> str:
    try:
        stamp = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        stamp = datetime.max.replace(tzinfo=UTC)
    return stamp.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Bucket:
    capacity: int
    level: float
    at: float

    def refill(self, now: float) -> None:
        if now > self.at:
            self.level = min(self.capacity, self.level + (now - self.at) * self.capacity / 60)
        self.at = now

    def wait(self, amount: float) -> float:
        """Seconds until ``amount`` is available (0: now)."""
        missing = min(amount, self.capacity) - self.level
        return 0.0 if missing <= 0 else missing * 60 / self.capacity

    def reset_at(self) -> str:
        return _iso(self.at + (self.capacity - self.level) * 60 / self.capacity)


class RateLimits:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.configured = {key: int(env.get(ENV[key]) or value) for key, value in DEFAULTS.items()}
        self.set(self.configured, 0.0)

    def set(self, limits: Mapping[str, int], now: float) -> None:
        self.limits = dict(limits)
        self.requests = Bucket(
            self.limits["requests_per_minute"], self.limits["requests_per_minute"], now
        )
        self.input = Bucket(
            self.limits["input_tokens_per_minute"], self.limits["input_tokens_per_minute"], now
        )
        self.output = Bucket(
            self.limits["output_tokens_per_minute"], self.limits["output_tokens_per_minute"], now
        )

    def reset(self, now: float) -> None:
        self.set(self.configured, now)

    def admit(self, input_tokens: int, now: float) -> float:
        """Take a request of ``input_tokens``; 0 when admitted, else the seconds to wait."""
        for bucket in (self.requests, self.input, self.output):
            bucket.refill(now)
        wait = max(self.requests.wait(1), self.input.wait(input_tokens), self.output.wait(1))
        if wait > 0:
            return wait
        self.requests.level -= 1
        self.input.level -= input_tokens
        return 0.0

    def spend_output(self, tokens: int) -> None:
        self.output.level = max(0.0, self.output.level - tokens)

    def headers(self, now: float) -> dict[str, str]:
        for bucket in (self.requests, self.input, self.output):
            bucket.refill(now)
        found: dict[str, str] = {}
        for name, bucket in (
            ("requests", self.requests),
            ("input-tokens", self.input),
            ("output-tokens", self.output),
        ):
            found[f"anthropic-ratelimit-{name}-limit"] = str(bucket.capacity)
            found[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, math.floor(bucket.level)))
            found[f"anthropic-ratelimit-{name}-reset"] = bucket.reset_at()
        tightest = min((self.input, self.output), key=lambda b: b.level / b.capacity)
        found["anthropic-ratelimit-tokens-limit"] = str(tightest.capacity)
        found["anthropic-ratelimit-tokens-remaining"] = str(max(0, math.floor(tightest.level)))
        found["anthropic-ratelimit-tokens-reset"] = tightest.reset_at()
        return found

    @staticmethod
    def parse(spec: Any) -> dict[str, int]:
        if not isinstance(spec, dict) or not spec or set(spec) - set(DEFAULTS):
            raise ValueError(f"send some of {', '.join(DEFAULTS)}: positive integers")
        for key, value in spec.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer")
        return {key: int(value) for key, value in spec.items()}
