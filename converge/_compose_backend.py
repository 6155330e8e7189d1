"""The compose backend: the stack as Docker Compose services, driven through python-on-whales.

The compose file (``compose/docker-compose.yml``) is complete on its own; this backend adds what
only it knows at run time, in an override file under the state directory:

- every service's environment, built from :data:`converge.twins.SERVICES` exactly as the process
  backend builds it (so the two backends cannot drift), plus ``TwinsConfig.env``;
- the base image, when ``CONVERGE_BASE_IMAGE`` is unset and only the image that
  ``scripts/setup-docker-engine.sh`` imports is in the engine.

Nothing is pulled from a registry: the image's base must already be in the engine, and the project
and its runtime dependencies are built here as wheels into the build context (``compose/wheels``,
git-ignored), which the Dockerfile installs with ``--no-index``.

Host ports are the compose file's defaults (8000 for gravix-api, 8101-8103 for the twins), moved
with ``CONVERGE_API_PORT``, ``CONVERGE_ANTHROPIC_PORT``, ``CONVERGE_SUPABASE_PORT`` and
``CONVERGE_STRIPE_PORT``, which compose reads from the environment itself.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from python_on_whales import DockerClient, DockerException
from python_on_whales.utils import run as run_docker

from converge.errors import TwinsError
from converge.twins import (
    API_SERVICE,
    ServiceStatus,
    TwinsConfig,
    health_check,
    not_a_health_check,
    service_env,
)

__all__ = [
    "DEFAULT_BASE_IMAGE",
    "IMPORTED_BASE_IMAGE",
    "PORT_VARIABLES",
    "RUNTIME_REQUIREMENTS",
    "ComposeBackend",
    "build_wheels",
    "engine_available",
    "runtime_requirements",
]

DEFAULT_BASE_IMAGE = "python:3.12-slim"  # the Dockerfile's default
IMPORTED_BASE_IMAGE = "converge-base:bookworm"  # what scripts/setup-docker-engine.sh imports
CONTAINER_PORT = 8000  # every service listens here inside its container
# The distributions the services import at run time; their dependencies follow from metadata.
# PyYAML: mock-supabase reads the project document (TWIN_SUPABASE_PROJECT) as YAML.
# jsonschema: mock-anthropic checks forced tool inputs and structured output against their schemas.
# tests/test_packaging.py checks that it covers every import of converge_twins and converge_gravix.
RUNTIME_REQUIREMENTS = ("starlette", "uvicorn", "httpx", "PyJWT", "PyYAML", "jsonschema")
PORT_VARIABLES: dict[str, tuple[str, int]] = {
    "mock-anthropic": ("CONVERGE_ANTHROPIC_PORT", 8101),
    "mock-supabase": ("CONVERGE_SUPABASE_PORT", 8102),
    "mock-stripe": ("CONVERGE_STRIPE_PORT", 8103),
    API_SERVICE: ("CONVERGE_API_PORT", 8000),
}
SERVICE_LABEL = "com.docker.compose.service"
PROJECT_LABEL = "com.docker.compose.project"
PROBE_TIMEOUT = 10.0  # seconds for each engine probe: `docker info` can hang on a dead socket
LOG_TAIL = 20  # log lines quoted in a start-up error
WHEEL_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip file can hold
# Never part of the project wheel; skipped when copying the sources to build it.
_NOT_SOURCES = (
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    ".benchmarks",
    ".holdouts",
    ".converge",
    "reports",
    "wheels",
    "node_modules",
)
STACK_LABEL = "org.converge.stack"  # set by compose/Dockerfile on the stack image

Say = Callable[[str], None]
WheelBuilder = Callable[[Path, Path], None]


# --- is there an engine? -----------------------------------------------------------------------


def _answers(command: Sequence[str]) -> str | None:
    try:
        completed = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def engine_available(client_call: Sequence[str] = ("docker",)) -> bool:
    """True when a Docker engine answers and ``docker compose`` is Compose v2. Never raises."""
    if shutil.which(client_call[0]) is None:
        return False
    server = _answers([*client_call, "version", "--format", "{{.Server.APIVersion}}"])
    if not server:
        return False
    compose = _answers([*client_call, "compose", "version", "--short"])
    return bool(compose and re.match(r"v?2\.", compose))


# --- wheels for the image ----------------------------------------------------------------------


def _installed_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            versions.setdefault(_normalize(name), f"{name}=={distribution.version}")
    return versions


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(names: Iterable[str] = RUNTIME_REQUIREMENTS) -> list[str]:
    """``name==version`` of each runtime distribution as installed here, so the image runs what
    the tests ran."""
    versions = _installed_versions()
    pins = []
    for name in names:
        pin = versions.get(_normalize(name))
        if pin is None:
            raise TwinsError(
                f"cannot build the stack image: {name} is not installed here "
                "(the image runs what is installed here: pip install -e '.[twins]')"
            )
        pins.append(pin)
    return pins


def _pip(arguments: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *arguments],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        # A fixed timestamp makes the project wheel byte-identical for identical sources, so the
        # engine's build cache skips the image rebuild when the code has not changed.
        env={**os.environ, "SOURCE_DATE_EPOCH": WHEEL_EPOCH},
    )


def _pip_or_fail(arguments: Sequence[str]) -> None:
    completed = _pip(arguments)
    if completed.returncode != 0:
        output = completed.stderr or completed.stdout
        raise TwinsError(
            f"building wheels for the stack image failed (pip wheel):\n{_tail(output)}"
        )


def build_wheels(project_dir: Path, wheels_dir: Path) -> None:
    """Build the project's wheel and its runtime dependencies' into ``wheels_dir``.

    pip resolves the dependencies with every distribution held to the version installed here (a
    constraints file), so the image runs what the tests ran; wheels already in the folder are
    used first without asking any package index. The project wheel is rebuilt every time (it is
    the code under test), reproducibly. ``requirements.txt`` is what the Dockerfile installs.
    """
    wheels_dir.mkdir(parents=True, exist_ok=True)
    pins = runtime_requirements()
    with tempfile.TemporaryDirectory(prefix="converge-wheels-") as scratch:
        # Outside the build context: only what the image installs goes in there.
        constraints = Path(scratch) / "constraints.txt"
        constraints.write_text("\n".join(sorted(_installed_versions().values())) + "\n", "utf-8")
        resolve = ["wheel", "--quiet", "--wheel-dir", str(wheels_dir), "-c", str(constraints)]
        offline = _pip([*resolve, "--no-index", "--find-links", str(wheels_dir), *pins])
        if offline.returncode != 0:
            _pip_or_fail([*resolve, "--find-links", str(wheels_dir), *pins])
        for old in wheels_dir.glob("converge-*.whl"):
            old.unlink()
        # From a clean copy: setuptools reuses its build/ folder in the source tree, where a
        # module deleted from the sources would live on (and concurrent builds would collide).
        sources = Path(scratch) / "sources"
        shutil.copytree(project_dir, sources, ignore=shutil.ignore_patterns(*_NOT_SOURCES))
        _pip_or_fail(
            ["wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels_dir), str(sources)]
        )
    (wheels_dir / "requirements.txt").write_text("\n".join(pins) + "\n", encoding="utf-8")


# --- the backend -------------------------------------------------------------------------------


def _host_port(service: str) -> int:
    variable, default = PORT_VARIABLES.get(service, ("", 0))
    value = os.environ.get(variable, "") if variable else ""
    if not value:
        return default
    try:
        return int(value)
    except ValueError as error:
        raise TwinsError(f"{variable} must be a port number (got {value!r})") from error


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _published_url(container: dict[str, Any]) -> str | None:
    ports = (container.get("NetworkSettings") or {}).get("Ports") or {}
    for binding in ports.get(f"{CONTAINER_PORT}/tcp") or []:
        if binding.get("HostPort"):
            return f"http://127.0.0.1:{binding['HostPort']}"
    return None


def _compose_escape(value: str) -> str:
    # Compose interpolates ${...} in every value of every file; $$ is a literal dollar.
    return value.replace("$", "$$")


def _plain(text: object) -> str:
    # compose writes terminal control sequences (erase line) into its logs even without a tty.
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", str(text))


def _tail(text: str, lines: int = LOG_TAIL) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class ComposeBackend:
    """The stack as a Docker Compose project; the engine holds all state between commands."""

    name = "compose"

    def __init__(
        self,
        config: TwinsConfig,
        say: Say,
        *,
        client_call: Sequence[str] = ("docker",),
        wheel_builder: WheelBuilder = build_wheels,
    ) -> None:
        self._config = config
        self._say = say
        self._client_call = list(client_call)
        self._build_wheels = wheel_builder
        self._compose_file = config.compose_file.resolve()
        self._override_file = (
            config.state_dir / "compose" / f"{config.compose_project}.override.yml"
        ).resolve()

    # -- python-on-whales clients ---------------------------------------------------------------

    def _docker(self, with_override: bool = False) -> DockerClient:
        files: list[str | Path] = [self._compose_file]
        if with_override:
            files.append(self._override_file)
        return DockerClient(
            client_call=self._client_call,
            compose_files=files,
            compose_project_name=self._config.compose_project,
        )

    # -- the protocol ---------------------------------------------------------------------------

    def up(self) -> list[ServiceStatus]:
        if not self._compose_file.is_file():
            raise TwinsError(f"compose file not found: {self._config.compose_file}")
        current = self.status()
        if current and all(s.healthy for s in current):
            self._say(f"twins: compose project {self._config.compose_project} already up")
            return current
        if not any(s.url for s in current):
            self._check_ports_free()
        base_image = self._base_image()
        self._say("twins: building wheels for the stack image")
        self._build_wheels(self._project_dir(), self._compose_file.parent / "wheels")
        self._write_override(base_image)
        self._say(
            f"twins: docker compose up (project {self._config.compose_project}, base image "
            f"{base_image}); waiting up to {self._config.startup_timeout:g}s for health"
        )
        started = time.monotonic()
        try:
            self._docker(with_override=True).compose.up(
                detach=True,
                wait=True,
                build=True,
                pull="never",
                remove_orphans=True,
                quiet=True,
                wait_timeout=math.ceil(self._config.startup_timeout),
            )
            statuses = self.status()
            self._check_reachable(statuses)
        except DockerException as error:
            problem = self._explain_failure(error)
            self._down_quietly()
            raise TwinsError(problem) from None
        except TwinsError:
            self._down_quietly()
            raise
        self._say(f"twins: all services healthy after {time.monotonic() - started:.1f}s")
        self._prune_replaced_images()
        return statuses

    def down(self) -> None:
        docker = self._docker()
        try:
            if not self._project_containers(docker) and not self._project_networks(docker):
                self._override_file.unlink(missing_ok=True)
                return
            self._say(f"twins: docker compose down (project {self._config.compose_project})")
            docker.compose.down(remove_orphans=True, volumes=True, timeout=10, quiet=True)
            containers = self._project_containers(docker)
            networks = self._project_networks(docker)
        except DockerException as error:
            raise TwinsError(
                f"docker compose down failed for project {self._config.compose_project}: "
                f"{_tail(error.stderr or error.stdout or str(error))}"
            ) from None
        self._override_file.unlink(missing_ok=True)
        if containers or networks:
            left = [f"container {c}" for c in containers] + [f"network {n}" for n in networks]
            raise TwinsError(
                f"docker compose down left {', '.join(left)} of project "
                f"{self._config.compose_project}"
            )

    def status(self) -> list[ServiceStatus]:
        try:
            containers = self._inspect_project(self._docker())
        except DockerException as error:
            raise TwinsError(
                "cannot read the compose project's state: "
                f"{_tail(error.stderr or error.stdout or str(error))}"
            ) from None
        by_service = {
            ((c.get("Config") or {}).get("Labels") or {}).get(SERVICE_LABEL): c for c in containers
        }
        statuses = []
        for service in self._config.services:
            container = by_service.get(service.name)
            state = (container or {}).get("State") or {}
            if not state.get("Running"):
                statuses.append(ServiceStatus(service.name, None, False))
                continue
            url = _published_url(container or {})
            health = (state.get("Health") or {}).get("Status")
            # Without a healthcheck in the engine (a changed compose file), ask the service.
            healthy = (
                health == "healthy"
                if health
                else url is not None and health_check(url + service.health_path)
            )
            statuses.append(ServiceStatus(service.name, url, healthy))
        return statuses

    def logs(self, service: str | None, tail: int, health_checks: bool = True) -> str:
        names = (
            [self._config.service(service).name]
            if service
            else [s.name for s in self._config.services]
        )
        docker = self._docker()
        keep = not_a_health_check(self._config.services)

        def one(name: str) -> str:
            if health_checks:
                return _plain(docker.compose.logs([name], tail=str(tail), no_log_prefix=True))
            # Filtered here, so the whole log is read: `tail` counts the lines that are shown.
            text = _plain(docker.compose.logs([name], no_log_prefix=True))
            kept = [line for line in text.splitlines() if keep(line)]
            return "\n".join(kept[-tail:]) if tail > 0 else ""

        try:
            if service:
                return one(names[0])
            return "\n".join(f"==> {name} <==\n" + one(name) for name in names)
        except DockerException as error:
            raise TwinsError(
                f"docker compose logs failed: {_tail(error.stderr or error.stdout or str(error))}"
            ) from None

    def api_url(self) -> str | None:
        for status in self.status():
            if status.name == API_SERVICE:
                return status.url
        return None

    # -- helpers --------------------------------------------------------------------------------

    def _project_dir(self) -> Path:
        # The compose file belongs to a checkout of the project; that checkout goes in the image.
        root = self._compose_file.parent.parent
        if not (root / "setup.cfg").is_file() and not (root / "pyproject.toml").is_file():
            raise TwinsError(
                f"cannot build the stack image: {root} (the compose file's parent folder) "
                "is not the project's source tree"
            )
        return root

    def _base_image(self) -> str:
        """The image the Dockerfile starts from; it must already be in the engine."""
        docker = self._docker()
        chosen = os.environ.get("CONVERGE_BASE_IMAGE", "")
        candidates = [chosen] if chosen else [DEFAULT_BASE_IMAGE, IMPORTED_BASE_IMAGE]
        for image in candidates:
            try:
                if docker.image.exists(image):
                    return image
            except DockerException:
                break
        raise TwinsError(
            f"the base image {' or '.join(candidates)} is not in the Docker engine, and "
            "converge pulls nothing from a registry: run scripts/setup-docker-engine.sh "
            "(it imports converge-base:bookworm) or set CONVERGE_BASE_IMAGE to an image you have"
        )

    def _write_override(self, base_image: str) -> None:
        urls = {s.name: f"http://{s.name}:{CONTAINER_PORT}" for s in self._config.services}
        services: dict[str, Any] = {}
        for service in self._config.services:
            env = service_env(service, urls, self._config)
            services[service.name] = {
                "environment": {key: _compose_escape(value) for key, value in env.items()}
            }
        # Only the service that builds takes build args (see the compose file).
        builder = self._config.services[0].name
        services[builder]["build"] = {"args": {"BASE_IMAGE": _compose_escape(base_image)}}
        self._override_file.parent.mkdir(parents=True, exist_ok=True)
        # The file holds the stack's JWT and webhook secrets: readable by this user only.
        descriptor = os.open(self._override_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            # JSON is YAML, and json.dumps quotes every value safely.
            json.dump({"services": services}, handle, indent=2)

    def _check_ports_free(self) -> None:
        for service in self._config.services:
            port = _host_port(service.name)
            if port and not _port_free(port):
                variable = PORT_VARIABLES[service.name][0]
                raise TwinsError(
                    f"port {port} on 127.0.0.1 (for {service.name}) is in use; "
                    f"stop what holds it or set {variable} to another port"
                )

    def _check_reachable(self, statuses: list[ServiceStatus]) -> None:
        if not all(s.healthy and s.url for s in statuses):
            raise TwinsError(self._diagnose())
        for status in statuses:
            path = self._config.service(status.name).health_path
            if not health_check(f"{status.url}{path}"):
                raise TwinsError(
                    f"{status.name} is healthy inside its container but {status.url}{path} "
                    "does not answer from this machine"
                )

    def _explain_failure(self, error: DockerException) -> str:
        output = "\n".join(part for part in (error.stderr, error.stdout) if part)
        port = re.search(r"(?:Bind for|listen tcp\d?) [0-9.:\[\]]*?:(\d+)", output)
        if port or "port is already allocated" in output or "address already in use" in output:
            number = int(port.group(1)) if port else None
            owner = next(
                (s.name for s in self._config.services if _host_port(s.name) == number), None
            )
            where = f"port {number} on 127.0.0.1" if number else "a port"
            variable = f"; set {PORT_VARIABLES[owner][0]} to another port" if owner else ""
            return f"{where}{f' (for {owner})' if owner else ''} is in use{variable}"
        diagnosis = self._diagnose()
        if diagnosis:
            return diagnosis
        # No container got as far as starting: the build or the compose file failed.
        return f"docker compose up failed for project {self._config.compose_project}:\n" + (
            _tail(output) or str(error)
        )

    def _diagnose(self) -> str:
        """Which services kept the stack from becoming healthy, each with its log tail; "" when
        no container of the project ever ran."""
        try:
            containers = self._inspect_project(self._docker())
        except DockerException:
            containers = []
        by_service = {
            ((c.get("Config") or {}).get("Labels") or {}).get(SERVICE_LABEL): c for c in containers
        }
        problems: list[str] = []
        failing: list[str] = []
        not_started: list[str] = []
        for service in self._config.services:
            state = (by_service.get(service.name) or {}).get("State") or {}
            status = state.get("Status")
            health = (state.get("Health") or {}).get("Status")
            if not state or status == "created":
                not_started.append(service.name)
            elif state.get("Running"):
                if health != "healthy":
                    problems.append(
                        f"{service.name} is {health or 'running'} after "
                        f"{self._config.startup_timeout:g}s"
                    )
                    failing.append(service.name)
            else:
                problems.append(f"{service.name} exited with code {state.get('ExitCode')}")
                failing.append(service.name)
        if not failing:
            return ""
        if not_started:
            problems.append(f"not started: {', '.join(not_started)}")
        lines = [
            f"the stack did not become healthy (compose project "
            f"{self._config.compose_project}): {'; '.join(problems)}"
        ]
        for name in failing:
            try:
                text = self.logs(name, LOG_TAIL)
            except TwinsError as problem:
                text = f"(no log: {problem})"
            lines.append(f"--- last log lines of {name} ---\n{_tail(text) or '(empty)'}")
        return "\n".join(lines)

    def _prune_replaced_images(self) -> None:
        """Remove stack images that a rebuild left untagged; never touches any other image."""
        try:
            self._docker().image.prune(filters=[("label", f"{STACK_LABEL}=1")])
        except DockerException as problem:
            self._say(f"twins: could not remove replaced stack images: {_tail(str(problem), 1)}")

    def _down_quietly(self) -> None:
        try:
            self.down()
        except TwinsError as problem:
            self._say(f"twins: cleaning up after the failed start also failed: {problem}")

    def _project_containers(self, docker: DockerClient) -> list[str]:
        return [str(c.id) for c in docker.compose.ps(all=True)]

    def _inspect_project(self, docker: DockerClient) -> list[dict[str, Any]]:
        """The engine's view of every container of the project, in one `docker inspect` call.

        Raw JSON rather than python-on-whales' Container objects: those re-inspect themselves on
        almost every attribute read, which multiplies the docker calls (and makes them depend on
        timing, which the tests of the exact commands cannot allow).
        """
        ids = self._project_containers(docker)
        if not ids:
            return []
        output: str = run_docker([*docker.docker_cmd, "inspect", *ids], return_stderr=False)
        inspected = json.loads(output)
        return [c for c in inspected if isinstance(c, dict)]

    def _project_networks(self, docker: DockerClient) -> list[str]:
        networks = docker.network.list(
            filters=[("label", f"{PROJECT_LABEL}={self._config.compose_project}")]
        )
        return [n.id for n in networks]
