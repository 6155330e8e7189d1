"""The process backend and the lifecycle interface, with real subprocesses.

Most tests run a tiny stand-in app (tests/support/standin_app.py) under the real service names,
so the backend is tested apart from the twins; the last ones use the real reference stack.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from converge import _process_backend
from converge._process_backend import STATE_FILE, ProcessBackend, _Started
from converge.errors import ConfigError, TwinsError
from converge.twins import (
    API_SERVICE,
    SERVICES,
    Service,
    ServiceStatus,
    TwinsConfig,
    health_check,
    not_a_health_check,
    running,
    select_backend,
)
from tests.support.processes import Watched, kill_groups, pid_alive, wait_gone
from tests.support.stack import ReferenceStack, recorded_pids
from tests.support.standin_app import FACTORY

ROOT = Path(__file__).resolve().parents[1]
NAMES = [service.name for service in SERVICES]


def _with_env(
    builder: Callable[..., dict[str, str]], extra: Mapping[str, str]
) -> Callable[..., dict[str, str]]:
    return lambda urls, config: {**builder(urls, config), **extra}


def standin_services(
    extra_env: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[Service, ...]:
    """The real table (names, health paths, env wiring) with the stand-in app as every factory."""
    extra_env = extra_env or {}
    return tuple(
        replace(
            service,
            factory=FACTORY,
            env=_with_env(service.env, extra_env.get(service.name, {})),
        )
        for service in SERVICES
    )


def standin_config(tmp_path: Path, **changes: object) -> TwinsConfig:
    extra_env = changes.pop("extra_env", None)
    settings: dict[str, object] = {
        "backend": "process",
        "state_dir": tmp_path / "state",
        "services": standin_services(extra_env),  # type: ignore[arg-type]
        "env": {"PYTHONPATH": str(ROOT)},
        **changes,
    }
    return TwinsConfig(**settings)  # type: ignore[arg-type]


class RecordingBackend(ProcessBackend):
    """Registers every process it starts, so a test can check they are gone even when up() failed
    before the state file could tell."""

    def __init__(self, config: TwinsConfig, watched: Watched, messages: list[str]) -> None:
        super().__init__(config, messages.append)
        self.watched = watched
        self.spawned: list[int] = []

    def _spawn(self, *args: object, **kwargs: object) -> _Started:
        entry = super()._spawn(*args, **kwargs)  # type: ignore[arg-type]
        self.spawned.append(entry.pid)
        self.watched.add(entry.pid)
        return entry


@pytest.fixture
def messages() -> list[str]:
    return []


@pytest.fixture
def make_backend(
    tmp_path: Path, watched_processes: Watched, messages: list[str]
) -> Iterator[Callable[..., RecordingBackend]]:
    made: list[RecordingBackend] = []

    def make(**changes: object) -> RecordingBackend:
        backend = RecordingBackend(standin_config(tmp_path, **changes), watched_processes, messages)
        made.append(backend)
        return backend

    yield make
    for backend in made:  # a failing test still takes its stack down
        backend.down()


def state_path(backend: ProcessBackend) -> Path:
    return Path(backend._config.state_dir) / STATE_FILE


# --- up, status, logs, down --------------------------------------------------------------------


def test_up_brings_every_service_up_healthy_on_its_own_local_port(make_backend):
    backend = make_backend()

    statuses = backend.up()

    assert [status.name for status in statuses] == NAMES
    assert all(status.healthy for status in statuses)
    urls = [status.url for status in statuses]
    assert all(url is not None and url.startswith("http://127.0.0.1:") for url in urls)
    assert len(set(urls)) == len(NAMES)
    assert backend.status() == statuses
    assert backend.api_url() == statuses[-1].url


def test_status_as_json_has_name_url_and_healthy(make_backend):
    backend = make_backend()
    backend.up()

    document = json.loads(json.dumps([status.as_dict() for status in backend.status()]))

    assert [set(item) for item in document] == [{"name", "url", "healthy"}] * len(NAMES)
    assert [item["name"] for item in document] == NAMES
    assert all(item["healthy"] is True for item in document)


def test_services_are_wired_to_each_others_urls_and_the_secrets(make_backend):
    backend = make_backend(jwt_secret="a-test-secret-of-at-least-32-characters!!")
    urls = {status.name: status.url for status in backend.up()}

    def env_of(name: str) -> dict[str, str]:
        import urllib.request

        with urllib.request.urlopen(f"{urls[name]}/env", timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    api = env_of(API_SERVICE)
    assert api["ANTHROPIC_BASE_URL"] == urls["mock-anthropic"]
    assert api["SUPABASE_URL"] == urls["mock-supabase"]
    assert api["STRIPE_API_BASE"] == urls["mock-stripe"]
    assert api["JWT_SECRET"] == "a-test-secret-of-at-least-32-characters!!"
    stripe = env_of("mock-stripe")
    assert stripe["STRIPE_WEBHOOK_URL"] == f"{urls[API_SERVICE]}/v1/billing/webhook"
    assert stripe["STRIPE_WEBHOOK_SECRET"] == api["STRIPE_WEBHOOK_SECRET"]
    assert env_of("mock-supabase")["JWT_SECRET"] == api["JWT_SECRET"]


def test_converge_credentials_are_not_handed_to_the_services(make_backend, monkeypatch):
    monkeypatch.setenv("HOLDOUT_PAT", "ghp_not_for_the_twins")
    monkeypatch.setenv("CONVERGE_TEST_MARKER", "inherited")
    backend = make_backend()
    api = backend.up()[-1]

    import urllib.request

    assert api.url is not None
    with urllib.request.urlopen(f"{api.url}/env", timeout=5) as response:
        env = json.loads(response.read())
    assert "HOLDOUT_PAT" not in env
    assert env["CONVERGE_TEST_MARKER"] == "inherited"


def test_logs_show_each_service_output_under_its_name(make_backend):
    backend = make_backend()
    backend.up()

    one = backend.logs("mock-stripe", tail=50)
    every = backend.logs(None, tail=50)

    assert "stand-in starting" in one
    assert "==>" not in one
    assert [line for line in every.splitlines() if line.startswith("==>")] == [
        f"==> {name} <==" for name in NAMES
    ]
    assert len(backend.logs("mock-stripe", tail=1).splitlines()) == 1


def test_logs_leave_out_the_health_checks_unless_asked(make_backend):
    backend = make_backend()
    backend.up()
    for status in backend.status():  # more health checks, as `twins.status` makes them
        assert status.healthy

    everything = backend.logs("mock-stripe", tail=1000)
    quiet = backend.logs("mock-stripe", tail=1000, health_checks=False)

    assert '"GET /_twin/health HTTP/1.1" 200' in everything
    assert "/_twin/health" not in quiet
    assert "stand-in starting" in quiet, "the other lines stay"
    # `tail` counts the lines shown, after the health checks are left out.
    assert backend.logs("mock-stripe", tail=1, health_checks=False).splitlines() == [
        quiet.splitlines()[-1]
    ]


def test_a_health_check_line_is_told_from_other_requests():
    keep = not_a_health_check(SERVICES)
    assert not keep('INFO:     127.0.0.1:5 - "GET /_twin/health HTTP/1.1" 200 OK')
    assert not keep('INFO:     127.0.0.1:5 - "GET /health HTTP/1.1" 200 OK')
    assert keep('INFO:     127.0.0.1:5 - "GET /healthy-food HTTP/1.1" 200 OK')
    assert keep('INFO:     127.0.0.1:5 - "POST /v1/analyses HTTP/1.1" 201 Created')
    assert keep("Traceback (most recent call last): /health")


def test_logs_of_an_unknown_service_name_the_known_ones(make_backend):
    backend = make_backend()

    with pytest.raises(TwinsError, match="mock-anthropic, mock-supabase, mock-stripe, gravix-api"):
        backend.logs("mock-paypal", tail=10)


def test_down_stops_every_process_and_removes_the_state(make_backend, messages):
    backend = make_backend()
    backend.up()
    pids = recorded_pids(Path(backend._config.state_dir))
    assert len(pids) == len(NAMES)

    backend.down()

    assert wait_gone(pids, groups=True) == []
    assert not state_path(backend).exists()
    assert backend.status() == [ServiceStatus(name, None, False) for name in NAMES]
    assert backend.api_url() is None
    assert messages[-1] == "twins: stopped 4 services (process backend)"


def test_down_with_nothing_running_says_so(make_backend, messages):
    make_backend().down()

    assert messages == ["twins: nothing to stop (process backend)"]


def test_down_stops_the_children_a_service_started(make_backend, tmp_path):
    pidfile = tmp_path / "child.pid"
    backend = make_backend(extra_env={"mock-anthropic": {"STANDIN_CHILD_PIDFILE": str(pidfile)}})
    backend.up()
    child = int(pidfile.read_text())
    assert pid_alive(child)

    backend.down()

    assert wait_gone([child]) == []


def test_up_twice_is_a_no_op_that_says_so(make_backend, messages):
    backend = make_backend()
    first = backend.up()
    pids = recorded_pids(Path(backend._config.state_dir))

    second = backend.up()

    assert second == first
    assert recorded_pids(Path(backend._config.state_dir)) == pids
    assert messages[-1] == "twins: already up and healthy (process backend), nothing to start"


def test_up_replaces_a_stack_with_a_dead_service(make_backend, messages):
    backend = make_backend()
    backend.up()
    old = recorded_pids(Path(backend._config.state_dir))
    os.killpg(old[1], signal.SIGKILL)
    assert wait_gone([old[1]], groups=True) == []
    assert backend.status()[1] == ServiceStatus("mock-supabase", None, False)

    statuses = backend.up()

    assert all(status.healthy for status in statuses)
    assert "twins: stopping what is left of an earlier stack (process backend)" in messages
    assert wait_gone(old, groups=True) == []
    assert set(recorded_pids(Path(backend._config.state_dir))).isdisjoint(old)


def test_a_later_command_sees_and_stops_the_stack_an_earlier_command_started(
    tmp_path, watched_processes
):
    """Like `invoke twins.up` and then `invoke twins.down`: two processes, one state directory."""
    result = run_driver(tmp_path, "print(len(backend.up()))")
    assert result.returncode == 0, result.stderr
    pids = recorded_pids(tmp_path / "state")
    watched_processes.add(*pids)
    backend = ProcessBackend(standin_config(tmp_path))

    assert all(status.healthy for status in backend.status())
    assert backend.api_url() is not None
    backend.down()

    assert wait_gone(pids, groups=True) == []


def test_down_never_signals_an_unrelated_process_that_reused_a_recorded_pid(
    make_backend, watched_processes
):
    stranger = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
    )
    watched_processes.add(stranger.pid)
    backend = make_backend()
    state_path(backend).parent.mkdir(parents=True)
    entry = {
        "name": "mock-anthropic",
        "pid": stranger.pid,
        "port": 1,
        "url": "http://127.0.0.1:1",
        "health_url": "http://127.0.0.1:1/_twin/health",
        "log": "unused.log",
        "start_time": "1",  # not the stranger's: its pid was "reused"
    }
    state_path(backend).write_text(json.dumps({"backend": "process", "services": [entry]}))

    backend.down()

    assert pid_alive(stranger.pid)
    assert not state_path(backend).exists()
    stranger.kill()
    stranger.wait(timeout=10)


def test_an_unreadable_state_file_is_a_clear_error(make_backend):
    backend = make_backend()
    state_path(backend).parent.mkdir(parents=True)
    state_path(backend).write_text("{not json")

    with pytest.raises(TwinsError, match=r"state file .*twins\.json is unreadable"):
        backend.status()
    state_path(backend).unlink()


# --- start-up failures -------------------------------------------------------------------------


def test_a_service_that_crashes_is_named_with_its_log_tail_and_nothing_is_left(make_backend):
    backend = make_backend(extra_env={"mock-stripe": {"STANDIN_CRASH": "1"}})

    with pytest.raises(TwinsError) as raised:
        backend.up()

    message = str(raised.value)
    assert message.startswith("mock-stripe exited with code")
    assert "before becoming healthy; last lines of" in message
    assert "stand-in told to crash (STANDIN_CRASH)" in message
    assert wait_gone(backend.spawned, groups=True) == []
    assert len(backend.spawned) == len(NAMES)
    assert not state_path(backend).exists()


def test_a_service_that_never_gets_healthy_times_out_naming_it(make_backend):
    backend = make_backend(startup_timeout=3.0, extra_env={API_SERVICE: {"STANDIN_UNHEALTHY": "1"}})

    with pytest.raises(TwinsError) as raised:
        backend.up()

    message = str(raised.value)
    assert message.startswith("gravix-api did not become healthy within 3s (http://127.0.0.1:")
    assert "/health); last lines of" in message
    assert '"GET /health HTTP/1.1" 503' in message
    assert "mock-anthropic" not in message
    assert wait_gone(backend.spawned, groups=True) == []
    assert not state_path(backend).exists()


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_configured_port_in_use_is_named_before_anything_starts(make_backend, busy_port):
    backend = make_backend(ports={"mock-supabase": busy_port})

    with pytest.raises(TwinsError, match=rf"^port {busy_port} on 127.0.0.1 for mock-supabase is "):
        backend.up()

    assert backend.spawned == []


def test_a_port_taken_after_it_was_chosen_is_named(make_backend, busy_port, monkeypatch):
    monkeypatch.setattr(_process_backend, "_port_free", lambda port: True)
    backend = make_backend(ports={"mock-supabase": busy_port})

    with pytest.raises(TwinsError) as raised:
        backend.up()

    assert str(raised.value).startswith(
        f"mock-supabase could not listen: port {busy_port} on 127.0.0.1 is already in use"
    )
    assert wait_gone(backend.spawned, groups=True) == []


def test_a_python_that_does_not_exist_is_a_clear_error(make_backend, tmp_path):
    backend = make_backend(python=str(tmp_path / "no-python"))

    with pytest.raises(TwinsError, match=r"mock-anthropic could not be started with .*no-python"):
        backend.up()


# --- running(): guaranteed teardown ------------------------------------------------------------

DRIVER = """
import json, sys, time
from pathlib import Path
from tests.test_twins_process import standin_config
from converge._process_backend import ProcessBackend
from converge.twins import running
tmp_path = Path(sys.argv[1])
backend = ProcessBackend(standin_config(tmp_path), lambda message: None)
"""


def run_driver(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = DRIVER + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("signum", "returncode"), [(signal.SIGTERM, 143), (signal.SIGINT, -signal.SIGINT)]
)
def test_a_signal_during_a_run_tears_the_stack_down(
    tmp_path, watched_processes, signum, returncode
):
    script = DRIVER + textwrap.dedent(
        """
        with running(backend):
            print("ready", flush=True)
            time.sleep(600)
        """
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    watched_processes.add(driver.pid)
    try:
        assert driver.stdout is not None
        assert driver.stdout.readline() == "ready\n", driver.stderr.read() if driver.stderr else ""
        pids = recorded_pids(tmp_path / "state")
        watched_processes.add(*pids)
        assert len(pids) == len(NAMES)

        driver.send_signal(signum)

        assert driver.wait(timeout=60) == returncode
    finally:
        driver.kill()
        driver.communicate()
    assert wait_gone(pids, groups=True) == []
    assert not (tmp_path / "state" / STATE_FILE).exists()


def test_a_signal_while_waiting_for_health_stops_what_was_started(tmp_path, watched_processes):
    script = DRIVER + textwrap.dedent(
        """
        config = standin_config(tmp_path, extra_env={"gravix-api": {"STANDIN_UNHEALTHY": "1"}})
        with running(ProcessBackend(config)):
            pass
        """
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    watched_processes.add(driver.pid)
    try:
        pids: list[int] = []
        for _ in range(600):  # up to a minute for the four services to be recorded
            pids = recorded_pids(tmp_path / "state") if (tmp_path / "state").is_dir() else []
            if len(pids) == len(NAMES):
                break
            time.sleep(0.1)
        watched_processes.add(*pids)
        assert len(pids) == len(NAMES)

        driver.send_signal(signal.SIGTERM)

        assert driver.wait(timeout=60) == 143
    finally:
        driver.kill()
        driver.wait()
    assert wait_gone(pids, groups=True) == []
    assert not (tmp_path / "state" / STATE_FILE).exists()


class _Terminated(Exception):
    pass


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated


def test_a_signal_while_a_service_is_being_spawned_waits_until_it_is_recorded(monkeypatch):
    """A signal inside Popen, after the fork, would lose the child; spawning defers it."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    recorded = False
    try:
        with pytest.raises(_Terminated):  # noqa: SIM117 - the order of the two matters
            with _process_backend._deferred_signals():
                os.kill(os.getpid(), signal.SIGTERM)
                recorded = True  # still running: the signal has not been delivered yet
        assert recorded
        assert signal.getsignal(signal.SIGTERM) is _raise_terminated
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_right_after_the_first_service_started_leaves_nothing(
    tmp_path, watched_processes, signum
):
    script = DRIVER + textwrap.dedent(
        """
        with running(backend):
            time.sleep(600)
        """
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    watched_processes.add(driver.pid)
    state = tmp_path / "state" / STATE_FILE
    try:
        for _ in range(60_000):  # bounded: about a minute of polling
            if state.exists() or driver.poll() is not None:
                break
            time.sleep(0.001)
        assert state.exists()
        driver.send_signal(signum)
        _, err = driver.communicate(timeout=60)
    finally:
        driver.kill()
        driver.wait()
    assert driver.returncode in (143, -signal.SIGINT), err
    assert not state.exists()
    # Found by their open log files, so that a stand-in the state never recorded counts too.
    leftovers = wait_gone(_standins_of(tmp_path))
    kill_groups(leftovers)
    assert leftovers == []


def _standins_of(tmp_path: Path) -> list[int]:
    """Live stand-in processes started by a driver for ``tmp_path`` (found by their log file)."""
    found = []
    logs = str(tmp_path / "state" / "logs")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            targets = [str(fd.readlink()) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(target.startswith(logs) for target in targets):
            found.append(int(entry.name))
    return found


def test_an_exception_in_a_run_tears_the_stack_down(tmp_path, watched_processes):
    result = run_driver(
        tmp_path,
        """
        try:
            with running(backend):
                print(json.dumps([s.url for s in backend.status()]))
                state = json.loads((tmp_path / "state" / "twins.json").read_text())
                print(json.dumps([entry["pid"] for entry in state["services"]]), flush=True)
                raise RuntimeError("scenario runner blew up")
        except RuntimeError:
            print("raised")
        """,
    )

    lines = result.stdout.splitlines()
    pids = json.loads(lines[1]) if len(lines) > 1 else []
    watched_processes.add(*pids)
    assert result.returncode == 0, result.stderr
    assert lines[-1] == "raised"
    assert len(pids) == len(NAMES)
    assert wait_gone(pids, groups=True) == [], "the stack's processes outlived the exception"
    assert _standins_of(tmp_path) == []
    assert not (tmp_path / "state" / STATE_FILE).exists()
    for url in json.loads(lines[0]):
        assert not health_check(url + "/health", timeout=1)


def test_keep_leaves_the_stack_up_for_a_later_down(tmp_path, watched_processes):
    result = run_driver(
        tmp_path,
        """
        with running(backend, keep=True):
            pass
        """,
    )
    assert result.returncode == 0, result.stderr
    pids = recorded_pids(tmp_path / "state")
    watched_processes.add(*pids)
    backend = ProcessBackend(standin_config(tmp_path))
    assert all(status.healthy for status in backend.status())

    backend.down()

    assert wait_gone(pids, groups=True) == []


def test_running_restores_the_signal_handlers_it_replaced(make_backend):
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))

    with running(make_backend()) as statuses:
        assert len(statuses) == len(NAMES)
        assert signal.getsignal(signal.SIGTERM) not in before

    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


class _InterruptedOnceBackend:
    """Its first down() is cut short as by a signal landing just before teardown began."""

    name = "fake"

    def __init__(self) -> None:
        self.downs = 0

    def up(self) -> list[ServiceStatus]:
        return []

    def down(self) -> None:
        self.downs += 1
        if self.downs == 1:
            raise KeyboardInterrupt

    def status(self) -> list[ServiceStatus]:
        return []

    def logs(self, service: str | None, tail: int) -> str:
        return ""

    def api_url(self) -> str | None:
        return None


def test_a_signal_as_teardown_begins_does_not_cost_the_teardown():
    backend = _InterruptedOnceBackend()

    with pytest.raises(KeyboardInterrupt), running(backend):
        pass

    assert backend.downs == 2


# --- choosing a backend ------------------------------------------------------------------------


@pytest.fixture
def fake_compose(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A stand-in for converge._compose_backend whose engine answers as the test says."""

    class ComposeBackend:
        name = "compose"

        def __init__(self, config: TwinsConfig, say: Callable[[str], None]) -> None:
            self.config = config

    module = types.ModuleType("converge._compose_backend")
    state = types.SimpleNamespace(available=False, ComposeBackend=ComposeBackend)
    module.engine_available = lambda: state.available  # type: ignore[attr-defined]
    module.ComposeBackend = ComposeBackend  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "converge._compose_backend", module)
    return state


def test_auto_falls_back_to_processes_when_no_engine_answers(tmp_path, fake_compose, messages):
    backend = select_backend(standin_config(tmp_path, backend="auto"), messages.append)

    assert isinstance(backend, ProcessBackend)
    assert messages == ["twins: process backend (no Docker engine with Compose v2 answered)"]


def test_auto_chooses_compose_when_an_engine_answers(tmp_path, fake_compose, messages):
    fake_compose.available = True

    backend = select_backend(standin_config(tmp_path, backend="auto"), messages.append)

    assert isinstance(backend, fake_compose.ComposeBackend)
    assert messages == ["twins: compose backend (a Docker engine with Compose v2 answered)"]


def test_auto_finds_a_running_process_stack_even_when_an_engine_answers(
    make_backend, fake_compose, messages
):
    # Twins left up by `--keep` before an engine was there must still be found by `twins.down`.
    running = make_backend()
    running.up()
    fake_compose.available = True
    messages.clear()

    backend = select_backend(replace(running._config, backend="auto"), messages.append)

    assert isinstance(backend, ProcessBackend)
    assert backend.api_url() == running.api_url()
    assert messages == ["twins: process backend (its twins are already running)"]
    backend.down()
    assert not ProcessBackend(running._config).has_stack()


def test_a_forced_backend_is_used_without_asking_the_engine(tmp_path, fake_compose, messages):
    fake_compose.available = True

    backend = select_backend(standin_config(tmp_path, backend="process"), messages.append)

    assert isinstance(backend, ProcessBackend)
    assert messages == ["twins: process backend (set by configuration)"]


def test_an_unknown_backend_name_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match="twins_backend must be one of auto, compose, process"):
        TwinsConfig(backend="kubernetes")  # type: ignore[arg-type]


def test_secrets_stay_out_of_the_config_repr():
    config = TwinsConfig(jwt_secret="a-very-secret-value", webhook_secret="whsec_secret_value")

    assert "a-very-secret-value" not in repr(config)
    assert "whsec_secret_value" not in repr(config)


def test_health_check_is_false_when_nothing_listens():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        assert health_check(f"http://127.0.0.1:{port}/health", timeout=1) is False


# --- the real reference stack ------------------------------------------------------------------


@pytest.mark.slow
def test_the_reference_stack_comes_up_healthy(reference_stack: ReferenceStack) -> None:
    assert [status.name for status in reference_stack.statuses] == NAMES
    assert all(status.healthy for status in reference_stack.backend.status())
    assert health_check(reference_stack.api_url + "/health")
    assert reference_stack.url(API_SERVICE) == reference_stack.api_url
