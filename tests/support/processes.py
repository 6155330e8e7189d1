"""Checking that processes are gone: every test that starts one uses these.

A zombie counts as gone: it has exited and only waits for its parent to read the status (which,
for a child of the test process itself, nobody may ever do). Waits are bounded; nothing here
assumes how long a process takes to exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

DEFAULT_TIMEOUT = 10.0
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; False once it exited (zombie or reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    return fields is None or fields[0] not in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group or session is ``pgid`` (the leader's pid)."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or fields[0] in ("Z", "X"):
            continue
        if str(pgid) in (fields[2], fields[3]):
            members.append(int(entry.name))
    return members


def wait_gone(
    pids: Iterable[int], timeout: float = DEFAULT_TIMEOUT, groups: bool = False
) -> list[int]:
    """Wait up to ``timeout`` seconds; return what still runs (empty when all are gone).

    With ``groups`` each pid is taken as a process group / session id and every member counts.
    """
    pids = list(pids)
    deadline = time.monotonic() + timeout
    while True:
        if groups:
            left = sorted({member for pid in pids for member in group_members(pid)})
        else:
            left = [pid for pid in pids if pid_alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def assert_gone(*pids: int, timeout: float = DEFAULT_TIMEOUT) -> None:
    left = wait_gone(pids, timeout)
    assert not left, f"processes still running after {timeout:g}s: {left}"


def assert_group_gone(*pgids: int, timeout: float = DEFAULT_TIMEOUT) -> None:
    left = wait_gone(pgids, timeout, groups=True)
    assert not left, f"process group members still running after {timeout:g}s: {left}"


def kill_groups(pgids: Iterable[int]) -> None:
    """Last resort after a failed test: SIGKILL whatever is left, so no failure leaks orphans."""
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        for pid in group_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def run_to_the_end(
    argv: list[str], *, timeout: float, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(argv, capture_output=True, text=True)`` in a session of its own, then
    fail if anything it started in that session still runs (a child it forgot to stop)."""
    process = subprocess.Popen(  # type: ignore[call-overload]
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, **kwargs,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_groups([process.pid])
        process.communicate()
        raise
    left = wait_gone([process.pid], groups=True)
    if left:
        kill_groups([process.pid])
        pytest.fail(f"{argv[1:3]} left processes running after it exited: {left}")
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


class Watched:
    """Pids (or process groups) a test started; checked and cleaned up when the test ends."""

    def __init__(self) -> None:
        self.groups: set[int] = set()

    def add(self, *pgids: int) -> None:
        self.groups.update(pgids)


@pytest.fixture
def watched_processes() -> Iterator[Watched]:
    """Register the process groups a test starts; after the test they must be gone.

    Leftovers are killed (so one failure does not leak into the machine) and then fail the test.
    """
    watched = Watched()
    yield watched
    left = wait_gone(watched.groups, timeout=2.0, groups=True)
    if left:
        kill_groups(watched.groups)
        pytest.fail(f"processes left running after the test: {left}")
