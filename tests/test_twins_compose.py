"""The compose backend: the exact docker commands it issues, and the real stack on a real engine.

The first half runs everywhere: a fake ``docker`` executable, handed to python-on-whales as its
``client_call``, records its arguments and answers from a small state folder. The second half needs
a Docker engine with Compose v2 (``scripts/setup-docker-engine.sh`` sets one up): it skips without
one, and fails instead when ``CONVERGE_REQUIRE_DOCKER=1`` (CI).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from python_on_whales import DockerClient

from converge import _compose_backend
from converge._compose_backend import PORT_VARIABLES, ComposeBackend, engine_available
from converge.errors import TwinsError
from converge.twins import SERVICES, TwinsConfig, health_check
from tests.support.processes import assert_gone
from tests.support.stack import FIXTURE_AT_100, fixture_scores

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
NAMES = [s.name for s in SERVICES]

# --- a fake docker -------------------------------------------------------------------------------

FAKE_DOCKER = textwrap.dedent(
    """\
    #!{python}
    # Records argv, answers like docker from $FAKE_DOCKER_DIR (see the tests).
    import json, os, pathlib, sys, time
    state = pathlib.Path(os.environ["FAKE_DOCKER_DIR"])
    args = sys.argv[1:]
    with open(state / "calls.jsonl", "a") as log:
        log.write(json.dumps(args) + "\\n")
    def answer(name):
        path = state / name
        return path.read_text() if path.exists() else None
    def fail(message):
        sys.stderr.write(message + "\\n")
        sys.exit(1)
    up = (state / "up").exists()
    if args[:2] == ["version", "--format"]:
        print("1.41")
    elif args[:3] == ["compose", "version", "--short"]:
        print(answer("compose_version") or "2.26.1")
    elif args[0] == "compose":
        command = next(a for a in args[1:] if a in ("up", "down", "ps", "logs"))
        if command == "up":
            failure = answer("up_fails")
            if failure:
                (state / "up").touch()
                fail(failure)
            (state / "up").touch()
        elif command == "down":
            (state / "up").unlink(missing_ok=True)
        elif command == "ps":
            if up:
                print("\\n".join(c["Id"] for c in json.loads(answer("inspect.json"))))
        elif command == "logs":
            print("INFO:     Started server process [7]")
            print("ValueError: JWT_SECRET is too short")
    elif args[0] == "inspect":
        containers = json.loads(answer("inspect.json"))
        print(json.dumps([c for c in containers if c["Id"] in args[1:]]))
    elif args[:2] == ["image", "inspect"]:
        if args[2] in (answer("images") or "").split():
            print(json.dumps([{{"Id": "sha256:" + "0" * 64, "RepoTags": [args[2]]}}]))
        else:
            fail("Error: No such image: " + args[2])
    elif args[:2] in (["network", "ls"], ["image", "prune"]):
        pass
    else:
        fail("fake docker: unexpected arguments " + " ".join(args))
    """
)


class FakeDocker:
    """The fake's folder: what it was asked, and what it will answer."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.executable = directory / "docker"
        self.executable.write_text(FAKE_DOCKER.format(python=sys.executable))
        self.executable.chmod(self.executable.stat().st_mode | stat.S_IXUSR)
        self.set("images", "python:3.12-slim")

    def set(self, name: str, content: str) -> None:
        (self.directory / name).write_text(content)

    def containers(
        self,
        ports: dict[str, int],
        health: dict[str, str] | None = None,
        exited: tuple[str, ...] = (),
    ) -> None:
        health = health or {}
        self.set(
            "inspect.json",
            json.dumps(
                [
                    {
                        "Id": f"id-{name}",
                        "Config": {"Labels": {"com.docker.compose.service": name}},
                        "State": {
                            "Status": "exited" if name in exited else "running",
                            "Running": name not in exited,
                            "ExitCode": 3 if name in exited else 0,
                            "Health": {"Status": health.get(name, "healthy")},
                        },
                        "NetworkSettings": {
                            "Ports": {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
                        },
                    }
                    for name, port in ports.items()
                ]
            ),
        )

    def calls(self) -> list[list[str]]:
        log = self.directory / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def clear(self) -> None:
        (self.directory / "calls.jsonl").unlink(missing_ok=True)


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def answering_port() -> Iterator[int]:
    """A real HTTP server on 127.0.0.1 that answers 200 to everything (the 'published' port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    directory = tmp_path / "fake-docker"
    directory.mkdir()
    monkeypatch.setenv("FAKE_DOCKER_DIR", str(directory))
    monkeypatch.delenv("CONVERGE_BASE_IMAGE", raising=False)
    # Unbound ports for the pre-start check, whatever else runs on this machine.
    for variable, _default in PORT_VARIABLES.values():
        monkeypatch.setenv(variable, str(_free_port()))
    return FakeDocker(directory)


class WheelBuilder:
    def __init__(self) -> None:
        self.calls: list[tuple[Path, Path]] = []

    def __call__(self, project_dir: Path, wheels_dir: Path) -> None:
        self.calls.append((project_dir, wheels_dir))


def _backend(
    fake: FakeDocker, tmp_path: Path, **config: Any
) -> tuple[ComposeBackend, WheelBuilder, list[str]]:
    said: list[str] = []
    builder = WheelBuilder()
    settings: dict[str, Any] = {
        "backend": "compose",
        "compose_file": COMPOSE_FILE,
        "compose_project": "convergeunit",
        "state_dir": tmp_path / "state",
        "startup_timeout": 45,
        "jwt_secret": "unit-secret-with-a-$dollar-and-at-least-32-chars",
    }
    settings.update(config)
    backend = ComposeBackend(
        TwinsConfig(**settings),
        said.append,
        client_call=[str(fake.executable)],
        wheel_builder=builder,
    )
    return backend, builder, said


def _override(tmp_path: Path, project: str = "convergeunit") -> Path:
    return (tmp_path / "state" / "compose" / f"{project}.override.yml").resolve()


def _compose(*args: str, override: Path | None = None, project: str = "convergeunit") -> list[str]:
    files = ["--file", str(COMPOSE_FILE)]
    if override:
        files += ["--file", str(override)]
    return ["compose", *files, "--project-name", project, *args]


INSPECT_ALL = ["inspect", *(f"id-{name}" for name in NAMES)]


# --- engine_available ----------------------------------------------------------------------------


def test_engine_available_when_engine_and_compose_v2_answer(fake: FakeDocker) -> None:
    assert engine_available([str(fake.executable)])
    assert fake.calls() == [
        ["version", "--format", "{{.Server.APIVersion}}"],
        ["compose", "version", "--short"],
    ]


def test_engine_not_available_with_compose_v1(fake: FakeDocker) -> None:
    fake.set("compose_version", "1.29.2")
    assert not engine_available([str(fake.executable)])


def test_engine_not_available_without_a_docker_binary(tmp_path: Path) -> None:
    assert not engine_available([str(tmp_path / "no-such-docker")])


def test_engine_probe_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hanging = tmp_path / "docker"
    pid_file = tmp_path / "pid"
    hanging.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 30\n")
    hanging.chmod(0o755)
    monkeypatch.setattr(_compose_backend, "PROBE_TIMEOUT", 0.5)

    assert not engine_available([str(hanging)])

    assert_gone(int(pid_file.read_text()))  # the probe killed what it started


# --- the exact commands --------------------------------------------------------------------------


def test_up_issues_build_wait_and_no_pull(
    fake: FakeDocker, tmp_path: Path, answering_port: int
) -> None:
    fake.containers(dict.fromkeys(NAMES, answering_port))
    backend, builder, said = _backend(fake, tmp_path)

    statuses = backend.up()

    assert fake.calls() == [
        _compose("ps", "--quiet", "--all"),
        ["image", "inspect", "python:3.12-slim"],
        _compose(
            "up",
            "--build",
            "--detach",
            "--wait",
            "--wait-timeout",
            "45",
            "--remove-orphans",
            "--pull",
            "never",
            override=_override(tmp_path),
        ),
        _compose("ps", "--quiet", "--all"),
        INSPECT_ALL,
        # Only untagged images of the stack (replaced by this build) are removed.
        ["image", "prune", "--force", "--filter", "label=org.converge.stack=1"],
    ]
    assert builder.calls == [(ROOT, ROOT / "compose" / "wheels")]
    assert [(s.name, s.url, s.healthy) for s in statuses] == [
        (name, f"http://127.0.0.1:{answering_port}", True) for name in NAMES
    ]
    assert any("compose up" in line for line in said)


def test_up_when_already_healthy_only_looks(
    fake: FakeDocker, tmp_path: Path, answering_port: int
) -> None:
    fake.containers(dict.fromkeys(NAMES, answering_port))
    fake.set("up", "")
    backend, builder, said = _backend(fake, tmp_path)

    backend.up()

    assert fake.calls() == [_compose("ps", "--quiet", "--all"), INSPECT_ALL]
    assert builder.calls == []
    assert said == ["twins: compose project convergeunit already up"]


def test_override_carries_the_same_environment_as_the_process_backend(
    fake: FakeDocker, tmp_path: Path, answering_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.containers(dict.fromkeys(NAMES, answering_port))
    fake.set("images", "converge-base:bookworm")  # only the image the setup script imports
    backend, _, _ = _backend(fake, tmp_path, env={"TWIN_CLOCK": "2026-01-01T00:00:00Z"})

    backend.up()

    override_file = _override(tmp_path)
    assert stat.S_IMODE(override_file.stat().st_mode) == 0o600  # it holds the secrets
    services = json.loads(override_file.read_text())["services"]
    api = services["gravix-api"]["environment"]
    assert api["ANTHROPIC_BASE_URL"] == "http://mock-anthropic:8000"
    assert api["SUPABASE_URL"] == "http://mock-supabase:8000"
    assert api["STRIPE_API_BASE"] == "http://mock-stripe:8000"
    # Compose interpolates $ in every file: the secret must arrive unchanged.
    assert api["JWT_SECRET"] == "unit-secret-with-a-$$dollar-and-at-least-32-chars"
    assert services["mock-stripe"]["environment"]["STRIPE_WEBHOOK_URL"] == (
        "http://gravix-api:8000/v1/billing/webhook"
    )
    assert all(s["environment"]["TWIN_CLOCK"] == "2026-01-01T00:00:00Z" for s in services.values())
    assert services["mock-anthropic"]["build"]["args"]["BASE_IMAGE"] == "converge-base:bookworm"
    assert ["image", "inspect", "converge-base:bookworm"] in fake.calls()


def test_down_removes_orphans_and_volumes_then_verifies(
    fake: FakeDocker, tmp_path: Path, answering_port: int
) -> None:
    fake.containers(dict.fromkeys(NAMES, answering_port))
    fake.set("up", "")
    backend, _, said = _backend(fake, tmp_path)

    backend.down()

    network_ls = [
        "network",
        "ls",
        "--no-trunc",
        "--quiet",
        "--filter",
        "label=com.docker.compose.project=convergeunit",
    ]
    assert fake.calls() == [
        _compose("ps", "--quiet", "--all"),
        _compose("down", "--remove-orphans", "--timeout", "10", "--volumes"),
        _compose("ps", "--quiet", "--all"),
        network_ls,
    ]
    assert said == ["twins: docker compose down (project convergeunit)"]


def test_down_when_nothing_runs_is_a_no_op(fake: FakeDocker, tmp_path: Path) -> None:
    backend, _, said = _backend(fake, tmp_path)

    backend.down()

    assert [call[0] for call in fake.calls()] == ["compose", "network"]
    assert "down" not in fake.calls()[0]
    assert said == []


def test_status_reads_health_and_published_ports(
    fake: FakeDocker, tmp_path: Path, answering_port: int
) -> None:
    ports = {name: 9000 + i for i, name in enumerate(NAMES)}
    fake.containers(ports, health={"mock-stripe": "starting"})
    fake.set("up", "")
    backend, _, _ = _backend(fake, tmp_path)

    statuses = backend.status()

    assert fake.calls() == [_compose("ps", "--quiet", "--all"), INSPECT_ALL]
    assert [s.as_dict() for s in statuses] == [
        {"name": name, "url": f"http://127.0.0.1:{ports[name]}", "healthy": name != "mock-stripe"}
        for name in NAMES
    ]
    fake.clear()
    assert backend.api_url() == f"http://127.0.0.1:{ports['gravix-api']}"


def test_status_when_down_lists_every_service_stopped(fake: FakeDocker, tmp_path: Path) -> None:
    backend, _, _ = _backend(fake, tmp_path)

    statuses = backend.status()

    assert [s.as_dict() for s in statuses] == [
        {"name": name, "url": None, "healthy": False} for name in NAMES
    ]
    assert fake.calls() == [_compose("ps", "--quiet", "--all")]
    assert backend.api_url() is None


def test_logs_of_one_service_and_of_all(fake: FakeDocker, tmp_path: Path) -> None:
    backend, _, _ = _backend(fake, tmp_path)

    one = backend.logs("gravix-api", 5)
    everything = backend.logs(None, 3)

    assert fake.calls() == [
        _compose("logs", "--no-color", "--tail", "5", "--no-log-prefix", "gravix-api"),
        *(_compose("logs", "--no-color", "--tail", "3", "--no-log-prefix", n) for n in NAMES),
    ]
    assert "Started server process" in one
    assert everything.count("==> ") == 4
    assert everything.startswith("==> mock-anthropic <==\n")


def test_logs_of_an_unknown_service_is_a_twins_error(fake: FakeDocker, tmp_path: Path) -> None:
    backend, _, _ = _backend(fake, tmp_path)
    with pytest.raises(TwinsError, match="no service named 'mock-nothing'"):
        backend.logs("mock-nothing", 5)
    assert fake.calls() == []


# --- start-up failures ---------------------------------------------------------------------------


def test_up_names_an_unhealthy_service_with_its_log_tail_and_cleans_up(
    fake: FakeDocker, tmp_path: Path, answering_port: int
) -> None:
    running = {n: answering_port for n in NAMES if n != "gravix-api"}
    fake.containers(running, health={"mock-supabase": "unhealthy"}, exited=("mock-stripe",))
    fake.set("up_fails", "dependency failed to start: container convergeunit-mock-supabase-1")
    backend, _, _ = _backend(fake, tmp_path)

    with pytest.raises(TwinsError) as raised:
        backend.up()

    first, *rest = str(raised.value).splitlines()
    assert first == (
        "the stack did not become healthy (compose project convergeunit): "
        "mock-supabase is unhealthy after 45s; mock-stripe exited with code 3; "
        "not started: gravix-api"
    )
    assert rest == [
        "--- last log lines of mock-supabase ---",
        "INFO:     Started server process [7]",
        "ValueError: JWT_SECRET is too short",
        "--- last log lines of mock-stripe ---",
        "INFO:     Started server process [7]",
        "ValueError: JWT_SECRET is too short",
    ]
    assert _compose("down", "--remove-orphans", "--timeout", "10", "--volumes") in fake.calls()
    assert not _override(tmp_path).exists()


def test_up_reports_a_failed_build_with_the_compose_output(
    fake: FakeDocker, tmp_path: Path
) -> None:
    fake.containers({})
    fake.set("up_fails", "failed to solve: process did not complete successfully: exit code: 1")
    backend, _, _ = _backend(fake, tmp_path)

    with pytest.raises(TwinsError) as raised:
        backend.up()

    assert str(raised.value) == (
        "docker compose up failed for project convergeunit:\n"
        "failed to solve: process did not complete successfully: exit code: 1"
    )


def test_up_names_a_port_the_engine_could_not_bind(
    fake: FakeDocker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.setenv("CONVERGE_API_PORT", str(port))
    fake.containers({})
    fake.set(
        "up_fails",
        "Error response from daemon: driver failed programming external connectivity on "
        f"endpoint convergeunit-gravix-api-1: Bind for 127.0.0.1:{port} failed: "
        "port is already allocated",
    )
    backend, _, _ = _backend(fake, tmp_path)

    with pytest.raises(TwinsError) as raised:
        backend.up()

    assert str(raised.value) == (
        f"port {port} on 127.0.0.1 (for gravix-api) is in use; "
        "set CONVERGE_API_PORT to another port"
    )


def test_up_refuses_a_port_in_use_before_starting_anything(
    fake: FakeDocker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setenv("CONVERGE_STRIPE_PORT", str(port))
        backend, builder, _ = _backend(fake, tmp_path)

        with pytest.raises(TwinsError, match=f"port {port} on 127.0.0.1 \\(for mock-stripe\\)"):
            backend.up()

    assert all("up" not in call for call in fake.calls())
    assert builder.calls == []


def test_up_without_a_base_image_says_how_to_get_one(fake: FakeDocker, tmp_path: Path) -> None:
    fake.set("images", "")
    backend, builder, _ = _backend(fake, tmp_path)

    with pytest.raises(TwinsError, match=r"scripts/setup-docker-engine\.sh"):
        backend.up()

    assert builder.calls == []


def test_runtime_requirements_are_pinned_to_the_installed_versions() -> None:
    from importlib.metadata import version

    pins = _compose_backend.runtime_requirements()

    assert f"starlette=={version('starlette')}" in pins
    assert f"PyJWT=={version('PyJWT')}" in pins
    with pytest.raises(TwinsError, match="no-such-distribution-here is not installed"):
        _compose_backend.runtime_requirements(["no-such-distribution-here"])


def test_build_wheels_is_reproducible_and_names_what_the_image_installs(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"

    _compose_backend.build_wheels(ROOT, wheels)
    first = (wheels / "converge-0.1.0-py3-none-any.whl").read_bytes()
    _compose_backend.build_wheels(ROOT, wheels)

    # Same sources, same bytes: the engine's build cache then skips the image rebuild.
    assert (wheels / "converge-0.1.0-py3-none-any.whl").read_bytes() == first
    requirements = (wheels / "requirements.txt").read_text().split()
    assert requirements == _compose_backend.runtime_requirements()
    names = {path.name.split("-")[0].lower() for path in wheels.glob("*.whl")}
    assert {"converge", "starlette", "uvicorn", "httpx", "pyjwt", "anyio", "h11"} <= names
    assert sorted(p.name for p in wheels.iterdir() if not p.name.endswith(".whl")) == [
        "requirements.txt"
    ]


# --- the real engine -----------------------------------------------------------------------------

REQUIRE_DOCKER = os.environ.get("CONVERGE_REQUIRE_DOCKER") == "1"


@pytest.fixture(scope="module")
def engine() -> None:
    if engine_available():
        return
    reason = (
        "no Docker engine with Compose v2 answers "
        "(scripts/setup-docker-engine.sh sets one up, as root)"
    )
    if REQUIRE_DOCKER:
        pytest.fail(f"CONVERGE_REQUIRE_DOCKER=1 but {reason}")
    pytest.skip(reason)


def _project_leftovers(project: str) -> list[str]:
    docker = DockerClient()
    label = f"com.docker.compose.project={project}"
    containers = docker.container.list(all=True, filters=[("label", label)])
    networks = docker.network.list(filters=[("label", label)])
    return [f"container {c.name}" for c in containers] + [f"network {n.name}" for n in networks]


@pytest.fixture(scope="module")
def real(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeBackend]:
    """The compose backend on the real engine: its own project name and free ports."""
    project = f"convergetest{uuid.uuid4().hex[:8]}"
    patch = pytest.MonkeyPatch()
    for variable, _default in PORT_VARIABLES.values():
        patch.setenv(variable, str(_free_port()))
    config = TwinsConfig(
        backend="compose",
        compose_file=COMPOSE_FILE,
        compose_project=project,
        state_dir=tmp_path_factory.mktemp("compose-state"),
        startup_timeout=120,
    )
    backend = ComposeBackend(config, print)
    try:
        yield backend
    finally:
        try:
            backend.down()
        finally:
            patch.undo()


@pytest.mark.docker
@pytest.mark.slow
class TestRealEngine:
    """One stack, brought up once: each test reads it, the last one takes it down."""

    def test_up_brings_four_healthy_services(self, real: ComposeBackend) -> None:
        statuses = real.up()
        assert [s.name for s in statuses] == NAMES
        assert all(s.healthy for s in statuses), statuses
        for status in statuses:
            assert status.url is not None
            assert status.url.startswith("http://127.0.0.1:")
            path = real._config.service(status.name).health_path
            assert health_check(status.url + path)

    def test_engine_reports_every_container_healthy(self, real: ComposeBackend) -> None:
        label = f"com.docker.compose.project={real._config.compose_project}"
        containers = DockerClient().container.list(filters=[("label", label)])
        health = {
            c.config.labels["com.docker.compose.service"]: c.state.health.status for c in containers
        }
        assert health == dict.fromkeys(NAMES, "healthy")
        # Published on the loopback address only.
        for container in containers:
            for bindings in (container.network_settings.ports or {}).values():
                assert all(b["HostIp"] == "127.0.0.1" for b in bindings or [])

    def test_status_and_logs_read_the_running_stack(self, real: ComposeBackend) -> None:
        assert all(s.healthy for s in real.status())
        assert real.api_url() == next(s.url for s in real.status() if s.name == "gravix-api")
        assert "Application startup complete" in real.logs("gravix-api", 50)
        assert real.logs(None, 5).count("==> ") == 4

    def test_second_up_is_a_no_op(self, real: ComposeBackend) -> None:
        before = real.status()
        assert real.up() == before

    def test_holdouts_fixture_scores_100_percent(
        self, real: ComposeBackend, tmp_path: Path
    ) -> None:
        api_url = real.api_url()
        assert api_url
        assert fixture_scores(api_url, tmp_path / "report.json") == FIXTURE_AT_100

    def test_down_leaves_no_container_or_network(self, real: ComposeBackend) -> None:
        real.down()
        assert _project_leftovers(real._config.compose_project) == []
        assert [s.healthy for s in real.status()] == [False] * 4
        real.down()  # nothing left: a no-op


@pytest.mark.docker
def test_real_up_refuses_a_port_in_use(engine: None, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        patch = pytest.MonkeyPatch()
        try:
            for variable, _default in PORT_VARIABLES.values():
                patch.setenv(variable, str(_free_port()))
            patch.setenv("CONVERGE_API_PORT", str(port))
            project = f"convergetest{uuid.uuid4().hex[:8]}"
            backend = ComposeBackend(
                TwinsConfig(
                    backend="compose",
                    compose_file=COMPOSE_FILE,
                    compose_project=project,
                    state_dir=tmp_path,
                ),
                lambda _line: None,
            )
            with pytest.raises(TwinsError, match=f"port {port} .*gravix-api.*CONVERGE_API_PORT"):
                backend.up()
        finally:
            patch.undo()
    assert _project_leftovers(project) == []
