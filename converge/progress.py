"""A progress line for long runs, on stderr so it never mixes with the table on stdout.

Nothing is shown for a run that finishes quickly. After that: on a terminal, one line rewritten
in place; elsewhere (CI logs), a plain line every so often, so a log stays readable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TextIO

QUIET_SECONDS = 2.0  # a run shorter than this shows no progress at all
TTY_INTERVAL = 0.1  # seconds between redraws of the live line
PLAIN_INTERVAL = 10.0  # seconds between plain lines in a log


class Progress:
    """Counts finished scenario runs; thread-safe, since workers report from their threads."""

    def __init__(
        self,
        total: int,
        stream: TextIO,
        *,
        live: bool | None = None,
        quiet_seconds: float = QUIET_SECONDS,
        plain_interval: float = PLAIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        what: str = "scenario runs",
    ) -> None:
        self.total = total
        self.what = what
        self.done = 0
        self.failed = 0
        self._stream = stream
        self._live = _is_tty(stream) if live is None else live
        self._quiet_until = clock() + quiet_seconds
        self._interval = TTY_INTERVAL if self._live else plain_interval
        self._clock = clock
        self._last_shown = float("-inf")
        self._drawn = False
        self._lock = threading.Lock()

    def advance(self, name: str, all_passed: bool) -> None:
        with self._lock:
            self.done += 1
            if not all_passed:
                self.failed += 1
            now = self._clock()
            if now < self._quiet_until or self.done >= self.total:
                return
            if now - self._last_shown < self._interval:
                return
            self._last_shown = now
            self._show(name)

    def expect(self, total: int) -> None:
        """The total is known now (it was an estimate while the scenarios were being read)."""
        with self._lock:
            self.total = total

    def close(self) -> None:
        """End the live line, so the table starts on a clean line."""
        with self._lock:
            if self._live and self._drawn:
                self._stream.write("\r\x1b[2K")
                self._stream.flush()
            self._drawn = False

    def line(self, name: str) -> str:
        percent = min(100, 100 * self.done // self.total) if self.total else 100
        failing = f", {self.failed} with failed checks" if self.failed else ""
        counts = f"{self.done}/{self.total} {self.what} ({percent}%){failing}"
        return f"converge: {counts}; last: {name}"

    def _show(self, name: str) -> None:
        text = self.line(_one_line(name))
        if self._live:
            self._stream.write("\r\x1b[2K" + text[:200])
            self._drawn = True
        else:
            self._stream.write(text + "\n")
        self._stream.flush()


def note(
    stream: TextIO,
    text: str,
    *,
    since: float,
    quiet_seconds: float = QUIET_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """A line saying what a long run does now that its scenarios are done (writing the report
    of 10,000 scenarios takes a moment); nothing for a run shorter than ``quiet_seconds`` since
    ``since``, which showed no progress either."""
    if clock() - since < quiet_seconds:
        return
    stream.write(f"converge: {text}\n")
    stream.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _one_line(text: str) -> str:
    return "".join(" " if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F else c for c in text)
