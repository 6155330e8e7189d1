"""SIGINT and SIGTERM: a run that stops promptly and still says what it saw.

Two ways of handling them, each for a stretch of the main thread's work:

- :func:`raising`: the signal raises :class:`~converge.errors.Interrupted` where the main thread
  is (starting the twins, pulling the holdouts, the pre-flight request), so every ``finally``
  between there and the top runs: the twins go down, the report is written.
- :func:`deferred`: the signal only sets a flag, which the runner's workers look at before each
  step and the transport's watchdog acts on (it abandons the requests in flight); the caller
  then writes the report of what finished and raises :class:`Interrupted` itself. A second
  signal raises at once: whoever presses Ctrl-C twice means it.

Python delivers signals to the main thread only; elsewhere both are no-ops (the caller's own
handling applies).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from converge.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopFlag:
    """Set by the first signal of a :func:`deferred` stretch; says which signal it was."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    def interrupted(self) -> Interrupted:
        assert self.signum is not None
        return Interrupted(self.signum)


@contextmanager
def raising() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM raise :class:`Interrupted`."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signum)

    with handlers(handler):
        yield


@contextmanager
def deferred(stop: StopFlag | None = None) -> Iterator[StopFlag]:
    """While the block runs, the first SIGINT or SIGTERM sets the flag; a second one raises."""
    flag = stop if stop is not None else StopFlag()

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag:
            raise Interrupted(signum)
        # Only an assignment and Event.set (which no code of the main thread holds the lock
        # of): the handler runs between two instructions of whatever the main thread does.
        flag.signum = signum
        flag.event.set()

    with handlers(handler):
        yield flag


@contextmanager
def held() -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM wait: each is delivered again, to the handlers
    of the time, once the block has ended. For a short wait that must not be cut in two."""
    caught: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    try:
        with handlers(note):
            yield
    finally:
        for signum in caught:
            signal.raise_signal(signum)


@contextmanager
def handlers(handler: Callable[[int, FrameType | None], Any] | int) -> Iterator[None]:
    """``handler`` for SIGINT and SIGTERM while the block runs, the previous ones after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            # None: a handler installed outside Python, which cannot be put back; default it.
            signal.signal(signum, signal.SIG_DFL if old is None else old)
