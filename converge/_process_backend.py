"""The process backend: the stack as local uvicorn subprocesses on free 127.0.0.1 ports.

Each service runs in its own session (``start_new_session``), so Ctrl-C in the terminal does not
reach it half-way and ``down`` can signal the whole process group, children included. What was
started is written to ``<state_dir>/twins.json`` before waiting for health, so a later command
(``invoke twins.status``/``down`` after ``twins.up`` or ``converge --keep``), or the next ``up``
after a crash, finds and stops it. Liveness is read from ``/proc`` where it exists: a zombie is
gone, and a recorded start time tells our process from an unrelated one that reused its pid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from converge.errors import TwinsError
from converge.twins import (
    API_SERVICE,
    HOST,
    SERVICES,
    STACK_MODULES,
    ServiceStatus,
    TwinsConfig,
    health_check,
    not_a_health_check,
    require_twins_extra,
    service_env,
)

STATE_FILE = "twins.json"
LOCK_FILE = "twins.lock"
LOG_DIR = "logs"
LOG_TAIL_LINES = 20
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL, and again for SIGKILL to take effect
POLL_INTERVAL = 0.1
HEALTH_TIMEOUT = 1.0
_PROC = Path("/proc")
# Credentials converge itself may hold that no service of the stack needs: not handed down.
_WITHHELD_VARIABLES = frozenset({"HOLDOUT_PAT", "GITHUB_TOKEN", "GH_TOKEN"})


@dataclass(frozen=True)
class _Started:
    """One service as recorded in the state file."""

    name: str
    pid: int  # also its process group and session id
    port: int
    url: str
    health_url: str
    log: str
    start_time: str | None  # from /proc/<pid>/stat: tells our process from a reused pid


class ProcessBackend:
    name = "process"

    def __init__(self, config: TwinsConfig, say: Callable[[str], None] | None = None) -> None:
        self._config = config
        self._say = say or (lambda _message: None)
        self._state_dir = Path(config.state_dir)
        # Children of this very process must be reaped by us, or they linger as zombies.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # --- the Backend interface -----------------------------------------------------------------

    def has_stack(self) -> bool:
        """True while a stack of this backend is recorded (running, or left to clean up)."""
        return self._state_path.exists()

    def up(self) -> list[ServiceStatus]:
        with self._locked():
            previous = self._load()
            if previous is not None:
                if self._all_up(previous):
                    self._say("twins: already up and healthy (process backend), nothing to start")
                    return self._statuses(previous)
                self._say("twins: stopping what is left of an earlier stack (process backend)")
                self._stop(previous)
                self._state_path.unlink(missing_ok=True)
            return self._start()

    def down(self) -> None:
        with self._locked():
            started = self._load()
            if started is None:
                self._say("twins: nothing to stop (process backend)")
                return
            self._stop(started)
            self._state_path.unlink(missing_ok=True)
            self._say(f"twins: stopped {len(started)} services (process backend)")

    def status(self) -> list[ServiceStatus]:
        started = self._load()
        if started is None:
            return [ServiceStatus(s.name, None, False) for s in self._config.services]
        return self._statuses(started)

    def logs(self, service: str | None, tail: int, health_checks: bool = True) -> str:
        keep = None if health_checks else not_a_health_check(self._config.services)
        if service is not None:
            return _tail(self._log_path(self._config.service(service).name), tail, keep)
        return "\n".join(
            f"==> {s.name} <==\n{_tail(self._log_path(s.name), tail, keep)}"
            for s in self._config.services
        )

    def api_url(self) -> str | None:
        for entry in self._load() or []:
            if entry.name == API_SERVICE and _is_ours(entry):
                return entry.url
        return None

    # --- starting ------------------------------------------------------------------------------

    def _start(self) -> list[ServiceStatus]:
        services = self._config.services
        # The services run in this interpreter unless told otherwise; another one is its owner's.
        if services == SERVICES and self._config.python == sys.executable:
            require_twins_extra(STACK_MODULES, "starting the twins")
        ports = self._choose_ports()
        urls = {name: f"http://{HOST}:{port}" for name, port in ports.items()}
        log_dir = self._state_dir / LOG_DIR
        log_dir.mkdir(parents=True, exist_ok=True)
        started: list[_Started] = []
        try:
            for service in services:
                # A signal landing inside Popen, after the fork, would lose the child: it waits.
                with _deferred_signals():
                    started.append(self._spawn(service.name, ports, urls))
                    # Recorded as each one starts, so that a converge killed right now (even by
                    # SIGKILL) leaves a state the next `up` or `down` can clean up after.
                    self._save(started)
            self._say(
                f"twins: started {len(started)} services, waiting for their health checks "
                f"(up to {self._config.startup_timeout:g}s)"
            )
            self._wait_healthy(started)
        except BaseException as error:
            try:
                # The children too: a signal may land between Popen and the append above.
                self._stop(started, also=list(self._children))
                self._state_path.unlink(missing_ok=True)
            except TwinsError as stop_error:
                error.add_note(str(stop_error))
            raise
        self._say(f"twins: {len(started)} services healthy (process backend)")
        return [ServiceStatus(entry.name, entry.url, True) for entry in started]

    def _spawn(self, name: str, ports: Mapping[str, int], urls: Mapping[str, str]) -> _Started:
        service = self._config.service(name)
        port = ports[name]
        log_path = self._log_path(name)
        inherited = {k: v for k, v in os.environ.items() if k not in _WITHHELD_VARIABLES}
        env = {**inherited, "PYTHONUNBUFFERED": "1", **service_env(service, urls, self._config)}
        argv = [
            self._config.python,
            "-m",
            "uvicorn",
            "--factory",
            service.factory,
            "--host",
            HOST,
            "--port",
            str(port),
        ]
        with log_path.open("wb") as log:
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            except OSError as error:
                raise TwinsError(
                    f"{name} could not be started with {self._config.python}: {error}"
                ) from error
        self._children[process.pid] = process
        return _Started(
            name=name,
            pid=process.pid,
            port=port,
            url=urls[name],
            health_url=urls[name] + service.health_path,
            log=str(log_path),
            start_time=_start_time(process.pid),
        )

    def _choose_ports(self) -> dict[str, int]:
        fixed = dict(self._config.ports)
        for name, port in fixed.items():
            if not _port_free(port):
                raise TwinsError(
                    f"port {port} on {HOST} for {name} is already in use "
                    "(stop whatever listens there, or choose another port)"
                )
        # All probe sockets stay open until every port is chosen, so no two services get the same.
        with contextlib.ExitStack() as stack:
            for service in self._config.services:
                if service.name in fixed:
                    continue
                probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                probe.bind((HOST, 0))
                fixed[service.name] = probe.getsockname()[1]
        return fixed

    def _wait_healthy(self, started: list[_Started]) -> None:
        deadline = time.monotonic() + self._config.startup_timeout
        pending = list(started)
        while pending:
            for entry in list(pending):
                process = self._children.get(entry.pid)
                code = process.poll() if process is not None else None
                if code is not None:
                    raise TwinsError(self._exited_message(entry, code))
                if health_check(entry.health_url, timeout=HEALTH_TIMEOUT):
                    pending.remove(entry)
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise TwinsError(
                    "\n".join(
                        f"{entry.name} did not become healthy within "
                        f"{self._config.startup_timeout:g}s ({entry.health_url}); "
                        f"last lines of {entry.log}:\n{_indent(_tail(Path(entry.log)))}"
                        for entry in pending
                    )
                )
            time.sleep(POLL_INTERVAL)

    def _exited_message(self, entry: _Started, code: int) -> str:
        log = _tail(Path(entry.log))
        if "address already in use" in log.lower():
            return (
                f"{entry.name} could not listen: port {entry.port} on {HOST} is already in use; "
                f"last lines of {entry.log}:\n{_indent(log)}"
            )
        return (
            f"{entry.name} exited with code {code} before becoming healthy; "
            f"last lines of {entry.log}:\n{_indent(log)}"
        )

    # --- stopping ------------------------------------------------------------------------------

    def _stop(self, started: Iterable[_Started], also: Iterable[int] = ()) -> None:
        """SIGTERM every session, wait, SIGKILL what is left, and verify that all are gone.

        ``also``: sessions led by children of this process, known to be ours without a check.
        """
        sessions = sorted({entry.pid for entry in started if _is_ours(entry)} | set(also))
        if not sessions:
            return
        for sid in sessions:
            _signal_session(sid, signal.SIGTERM)
        if self._wait_gone(sessions, STOP_GRACE):
            return
        for sid in sessions:
            _signal_session(sid, signal.SIGKILL)
        if not self._wait_gone(sessions, STOP_GRACE):
            left = sorted(pid for pids in _sessions_members(sessions).values() for pid in pids)
            raise TwinsError(
                f"could not stop the twins: processes {', '.join(map(str, left))} survived SIGKILL"
            )

    def _wait_gone(self, sessions: list[int], within: float) -> bool:
        deadline = time.monotonic() + within
        while True:
            for pid in sessions:
                process = self._children.get(pid)
                if process is not None and process.poll() is not None:
                    del self._children[pid]
            if not any(_sessions_members(sessions).values()):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL / 2)

    # --- state ---------------------------------------------------------------------------------

    @property
    def _state_path(self) -> Path:
        return self._state_dir / STATE_FILE

    def _log_path(self, name: str) -> Path:
        return self._state_dir / LOG_DIR / f"{name}.log"

    def _save(self, started: list[_Started]) -> None:
        document = {"backend": self.name, "services": [asdict(entry) for entry in started]}
        temporary = self._state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        temporary.replace(self._state_path)

    def _load(self) -> list[_Started] | None:
        try:
            document: Any = json.loads(self._state_path.read_text(encoding="utf-8"))
            return [_Started(**entry) for entry in document["services"]]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise TwinsError(
                f"the twins state file {self._state_path} is unreadable ({error}); "
                "stop any twins by hand and delete it"
            ) from error

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Two commands on the same state directory (say `twins.up` twice in parallel) take turns.
        self._state_dir.mkdir(parents=True, exist_ok=True)
        with (self._state_dir / LOCK_FILE).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _all_up(self, started: list[_Started]) -> bool:
        names = [s.name for s in self._config.services]
        return sorted(e.name for e in started) == sorted(names) and all(
            status.healthy for status in self._statuses(started)
        )

    def _statuses(self, started: list[_Started]) -> list[ServiceStatus]:
        by_name = {entry.name: entry for entry in started}
        order = [s.name for s in self._config.services]
        order += [name for name in by_name if name not in order]

        def one(name: str) -> ServiceStatus:
            entry = by_name.get(name)
            if entry is None or not _is_ours(entry):
                return ServiceStatus(name, None, False)
            return ServiceStatus(name, entry.url, health_check(entry.health_url, HEALTH_TIMEOUT))

        with ThreadPoolExecutor(max_workers=len(order) or 1) as pool:
            return list(pool.map(one, order))


# --- processes, as /proc sees them ---------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), None if gone."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself hold spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _stat_fields(pid)
    return fields is None or fields[0] not in ("Z", "X")


def _sessions_members(sids: Iterable[int]) -> dict[int, list[int]]:
    """Live (non-zombie) processes of each session, in one pass over /proc; a session's id is
    its leader's pid."""
    members: dict[int, list[int]] = {sid: [] for sid in sids}
    if not _PROC.is_dir():
        for sid, found in members.items():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(sid, 0)
                found.append(sid)
        return members
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or fields[0] in ("Z", "X"):
            continue
        session = int(fields[3])
        if session in members:
            members[session].append(int(entry.name))
    return members


def _session_members(sid: int) -> list[int]:
    return _sessions_members([sid])[sid]


def _is_ours(entry: _Started) -> bool:
    """Whether the recorded session still holds anything of ours.

    A live leader must have the recorded start time (else its pid was reused by something
    unrelated). A dead leader whose session still has members is ours too: Linux does not hand
    out a pid again while it names a live session.
    """
    if _alive(entry.pid):
        return entry.start_time is None or _start_time(entry.pid) in (None, entry.start_time)
    return bool(_session_members(entry.pid))


@contextlib.contextmanager
def _deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the length of the block, then deliver them.

    Python-level deferral rather than a blocked signal mask: children inherit the mask, and a
    twin that cannot receive SIGTERM could only be stopped with SIGKILL.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda signum, _frame: received.append(signum))
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            # None: a handler installed outside Python, which cannot be put back; default it.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for pending in received:
            signal.raise_signal(pending)


def _signal_session(sid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, signum)
    # A process that moved to its own group is still in the session: signal it directly.
    for pid in _session_members(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _port_free(port: int) -> bool:
    # SO_REUSEADDR as uvicorn sets it: a port held only by TIME_WAIT connections counts as free.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise TwinsError(f"cannot bind {HOST}:{port}: {error}") from error
    return True


def _tail(
    path: Path, lines: int = LOG_TAIL_LINES, keep: Callable[[str], bool] | None = None
) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    kept = [line for line in text.splitlines() if keep is None or keep(line)]
    return "\n".join(kept[-lines:]) if lines > 0 else ""


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
