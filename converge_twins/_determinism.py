"""The seeded id generator, the controllable clock and the per-run seeds every twin draws from.

The same ``TWIN_SEED`` gives the same sequence of ids after every start and every reset, and a
frozen ``TWIN_CLOCK`` gives the same timestamps, so two runs of a scenario see the same responses.

A scenario run can also carry its own seed: converge sends it to the API under test in the W3C
``baggage`` header (``baggage: converge-seed=1234``), and an API that propagates its incoming
baggage to its dependencies, as OpenTelemetry-instrumented services do, hands it on to the twins.
:func:`request_seed` reads it; :class:`SeedStreams` gives each such seed its own random stream,
so what a twin varies by seed is the same whenever that run is replayed (after a scoped reset).
"""

from __future__ import annotations

import random
import string
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

ALPHANUMERIC = string.ascii_letters + string.digits
SEED_BAGGAGE_KEY = "converge-seed"
MAX_SEED_STREAMS = 4096  # seeds remembered at once; the oldest is forgotten first


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; a trailing ``Z`` and a missing offset both mean UTC.

    ValueError for text that is not one, and for an instant outside the years 1 to 9999 once
    in UTC (``0001-01-01T00:00:00+14:00`` is in the year 0 there), which the clock could not
    hold.
    """
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 instant") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from None


class Clock:
    """Real time by default; frozen at an instant when told, and movable either way.

    The offset survives in real-time mode so ``advance`` works without freezing: a twin can be
    moved an hour ahead (tokens expire, webhooks go stale) while time keeps flowing.
    """

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._start = frozen_at
        self._frozen: datetime | None = frozen_at
        self._offset = timedelta()

    def now(self) -> datetime:
        if self._frozen is not None:
            return self._frozen
        return datetime.now(UTC) + self._offset

    def timestamp(self) -> int:
        return int(self.now().timestamp())

    def iso(self) -> str:
        return self.now().isoformat()

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def set(self, instant: datetime) -> None:
        self._frozen = instant

    def advance(self, seconds: float) -> None:
        """Move the clock; ValueError (and no change) when that leaves the years 1 to 9999."""
        try:
            step = timedelta(seconds=seconds)
            if self._frozen is not None:
                self._frozen = self._frozen + step
            else:
                # Checked now: past the last date, every later request of the twin would fail.
                offset = self._offset + step
                datetime.now(UTC) + offset
                self._offset = offset
        except OverflowError:
            raise ValueError(
                f"advancing {seconds:g} seconds moves the clock out of the years 1 to 9999"
            ) from None

    def state(self) -> tuple[datetime | None, timedelta]:
        return self._frozen, self._offset

    def set_state(self, state: tuple[datetime | None, timedelta]) -> None:
        self._frozen, self._offset = state

    def unfreeze(self) -> None:
        self._frozen = None
        self._offset = timedelta()

    def reset(self) -> None:
        self._frozen = self._start
        self._offset = timedelta()


class IdGenerator:
    """Ids from a generator seeded by the twin's name and ``TWIN_SEED``.

    The name is part of the seed so two twins started with the same seed do not hand out
    the same suffixes, which would make a mix-up between services look like a match.
    """

    def __init__(self, seed: str, name: str) -> None:
        self._seed = f"{seed}:{name}"
        self._random = random.Random(self._seed)

    def reset(self) -> None:
        self._random = random.Random(self._seed)

    def state(self) -> object:
        return self._random.getstate()

    def set_state(self, state: object) -> None:
        self._random.setstate(state)  # type: ignore[arg-type]

    def token(self, length: int = 24, alphabet: str = ALPHANUMERIC) -> str:
        return "".join(self._random.choice(alphabet) for _ in range(length))

    def prefixed(self, prefix: str, length: int = 24) -> str:
        return f"{prefix}{self.token(length)}"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def hex(self, length: int = 32) -> str:
        return self.token(length, "0123456789abcdef")


def request_seed(headers: Iterable[tuple[str, str]]) -> str | None:
    """The run's seed from the request's ``baggage`` headers (W3C Baggage), or None.

    Members are ``key=value;properties`` separated by commas, in one header or several.
    """
    for name, value in headers:
        if name.lower() != "baggage":
            continue
        for member in value.split(","):
            key, equals, rest = member.partition("=")
            if equals and key.strip() == SEED_BAGGAGE_KEY:
                seed = rest.partition(";")[0].strip()
                if seed and len(seed) <= 64 and seed.isprintable():
                    return seed
    return None


class SeedStreams:
    """One random stream per run seed, drawn in the order the run's requests arrive.

    A run's requests come one after another, so the n-th draw for a seed is the same in every
    replay of that run, once :meth:`forget` (the twin's scoped reset) has restarted its stream.
    Bounded: a long-lived twin forgets the least recently used seeds.
    """

    def __init__(self, twin_seed: str, capacity: int = MAX_SEED_STREAMS) -> None:
        self._twin_seed = twin_seed
        self._capacity = capacity
        self._streams: OrderedDict[str, random.Random] = OrderedDict()

    def stream(self, seed: str) -> random.Random:
        found = self._streams.get(seed)
        if found is None:
            found = random.Random(f"{self._twin_seed}:run:{seed}")
            self._streams[seed] = found
            while len(self._streams) > self._capacity:
                self._streams.popitem(last=False)
        else:
            self._streams.move_to_end(seed)
        return found

    def forget(self, seed: str) -> None:
        self._streams.pop(seed, None)

    def clear(self) -> None:
        self._streams.clear()

    def __len__(self) -> int:
        return len(self._streams)
