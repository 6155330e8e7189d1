"""The cyclic garbage collector, paused while converge builds large trees that stay alive.

Loading scenarios and building a report make millions of small objects and no cyclic garbage:
the collector walked them again and again (a third of the loading time of 500 files, and
nearly half of the building of a 10,000-scenario report). Reference counting still frees
everything else at once; the collector runs again as soon as the block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
