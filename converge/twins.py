"""Lifecycle of the digital twins and the API under test: one interface, two backends.

The stack is four uvicorn app factories (three twins and the reference gravix-api), configured
only through environment variables. :data:`SERVICES` says how each one is started and how its
environment is built from the other services' URLs and the shared secrets; both backends (local
processes in :mod:`converge._process_backend`, Docker Compose in
:mod:`converge._compose_backend`) implement :class:`Backend` on top of it.

Callers pick a backend with :func:`select_backend` and, for a run that must never leave anything
behind, wrap it in :func:`running`, which tears the stack down in ``finally`` and on
SIGINT/SIGTERM.
"""

from __future__ import annotations

import http.client
import importlib
import importlib.util
import json
import os
import re
import signal
import sys
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, Literal, Protocol, cast, get_args

from converge.errors import ConfigError, TwinsError
from converge.interrupt import handlers as signal_handlers

__all__ = [
    "API_SERVICE",
    "DEFAULT_JWT_SECRET",
    "DEFAULT_WEBHOOK_SECRET",
    "HOST",
    "SERVICES",
    "Backend",
    "BackendChoice",
    "Service",
    "ServiceStatus",
    "TwinsConfig",
    "health_check",
    "require_twins_extra",
    "reset_seed",
    "running",
    "select_backend",
    "service_env",
]

BackendChoice = Literal["auto", "compose", "process"]

# The same defaults as converge.tokens and the compose file: the stack and the tokens converge
# mints must agree on the secret, or every authenticated scenario fails with 401.
DEFAULT_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
DEFAULT_WEBHOOK_SECRET = "whsec_converge_test_secret"
DEFAULT_TWIN_SEED = "converge"

HOST = "127.0.0.1"  # never any other address: the twins are test doubles, not services
API_SERVICE = "gravix-api"
WEBHOOK_PATH = "/v1/billing/webhook"

# The twins' server stack is an extra (setup.cfg `twins`), so that running scenarios against an
# API of one's own does not install it. What the services run on, and what the compose backend
# drives Docker with:
TWINS_EXTRA = "twins"
STACK_MODULES = ("starlette", "uvicorn", "httpx")
COMPOSE_MODULES = ("python_on_whales",)


# --- the services ------------------------------------------------------------------------------

EnvBuilder = Callable[[Mapping[str, str], "TwinsConfig"], dict[str, str]]
"""``(urls by service name, config) -> env``: the URLs are as this service must reach the others
(``http://127.0.0.1:<port>`` for processes, ``http://<service>:<port>`` inside compose)."""


@dataclass(frozen=True)
class Service:
    name: str
    factory: str  # "module:function" for `uvicorn --factory`
    health_path: str
    env: EnvBuilder


def _twin_env(urls: Mapping[str, str], config: TwinsConfig) -> dict[str, str]:
    return {"TWIN_SEED": config.twin_seed}


def _anthropic_env(urls: Mapping[str, str], config: TwinsConfig) -> dict[str, str]:
    return {**_twin_env(urls, config), "TWIN_ANTHROPIC_VARIABILITY": str(config.variability)}


def _supabase_env(urls: Mapping[str, str], config: TwinsConfig) -> dict[str, str]:
    return {
        **_twin_env(urls, config),
        "JWT_SECRET": config.jwt_secret,
        # The reference API's tables, so the twin answers as its Supabase project would.
        "TWIN_SUPABASE_PROJECT": "converge_gravix:supabase_project.yaml",
    }


def _stripe_env(urls: Mapping[str, str], config: TwinsConfig) -> dict[str, str]:
    return {
        **_twin_env(urls, config),
        "STRIPE_WEBHOOK_URL": urls[API_SERVICE].rstrip("/") + WEBHOOK_PATH,
        "STRIPE_WEBHOOK_SECRET": config.webhook_secret,
    }


def _api_env(urls: Mapping[str, str], config: TwinsConfig) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": urls["mock-anthropic"],
        "ANTHROPIC_API_KEY": "sk-ant-converge-test",
        "SUPABASE_URL": urls["mock-supabase"],
        "JWT_SECRET": config.jwt_secret,
        "STRIPE_API_BASE": urls["mock-stripe"],
        "STRIPE_SECRET_KEY": "sk_test_converge",
        "STRIPE_WEBHOOK_SECRET": config.webhook_secret,
        "FREE_MONTHLY_QUOTA": "3",
    }


_TWIN_HEALTH = "/_twin/health"


def _twin_factory(service: str) -> str:
    return f"converge_twins.mock_{service}.app:create_app"


SERVICES: tuple[Service, ...] = (
    Service("mock-anthropic", _twin_factory("anthropic"), _TWIN_HEALTH, _anthropic_env),
    Service("mock-supabase", _twin_factory("supabase"), _TWIN_HEALTH, _supabase_env),
    Service("mock-stripe", _twin_factory("stripe"), _TWIN_HEALTH, _stripe_env),
    Service(API_SERVICE, "converge_gravix.app:create_app", "/health", _api_env),
)


def service_env(service: Service, urls: Mapping[str, str], config: TwinsConfig) -> dict[str, str]:
    """The variables one service is started with: its own wiring, then ``config.env`` on top."""
    return {**service.env(urls, config), **config.env}


# --- configuration and status ------------------------------------------------------------------


def _env_or(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclass(frozen=True)
class TwinsConfig:
    """Everything a backend needs; built by converge.config from setup.cfg + environment."""

    backend: BackendChoice = "auto"
    compose_file: Path = Path("compose/docker-compose.yml")
    compose_project: str = "converge"
    state_dir: Path = Path(".converge")  # process state, logs; relative to the working directory
    jwt_secret: str = field(
        default_factory=lambda: _env_or("CONVERGE_JWT_SECRET", DEFAULT_JWT_SECRET), repr=False
    )
    webhook_secret: str = field(
        default_factory=lambda: _env_or("STRIPE_WEBHOOK_SECRET", DEFAULT_WEBHOOK_SECRET),
        repr=False,
    )
    twin_seed: str = DEFAULT_TWIN_SEED
    variability: float = 0.0  # mock-anthropic's TWIN_ANTHROPIC_VARIABILITY, from 0 to 1
    startup_timeout: float = 60.0  # seconds for the whole stack to answer its health checks
    python: str = sys.executable  # the interpreter the process backend starts uvicorn with
    # Process backend only: fixed ports by service name (default: a free port each).
    ports: Mapping[str, int] = field(default_factory=dict)
    # Added to every service's environment last (e.g. TWIN_CLOCK to freeze the twins' clocks).
    env: Mapping[str, str] = field(default_factory=dict)
    services: tuple[Service, ...] = SERVICES  # tests swap in stand-in apps

    def __post_init__(self) -> None:
        if self.backend not in get_args(BackendChoice):
            raise ConfigError(
                f"twins_backend must be one of auto, compose, process (got {self.backend!r})"
            )
        if self.startup_timeout <= 0:
            raise ConfigError(
                f"twins startup timeout must be positive (got {self.startup_timeout})"
            )
        names = [s.name for s in self.services]
        unknown = sorted(set(self.ports) - set(names))
        if unknown:
            raise ConfigError(f"twins ports name unknown services: {', '.join(unknown)}")

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        known = ", ".join(s.name for s in self.services)
        raise TwinsError(f"no service named {name!r} (the services are: {known})")


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    url: str | None  # None when the service is not running
    healthy: bool

    def as_dict(self) -> dict[str, Any]:
        """The shape of ``invoke twins.status --json``: ``{"name", "url", "healthy"}``."""
        return {"name": self.name, "url": self.url, "healthy": self.healthy}


# --- the interface both backends implement -----------------------------------------------------


class Backend(Protocol):
    """A way to run the stack. Constructed as ``Cls(config, say)``.

    ``say`` receives one-line progress messages for the user. State lives outside the object
    (a state file, the Docker engine), so ``up`` in one command and ``status``/``logs``/``down``
    from a fresh instance in a later command see the same stack.
    """

    @property
    def name(self) -> str:
        """``"process"`` or ``"compose"``."""
        ...

    def up(self) -> list[ServiceStatus]:
        """Start every service and wait until all are healthy, or raise TwinsError having stopped
        whatever this call started. Already up and healthy: a no-op that says so."""
        ...

    def down(self) -> None:
        """Stop everything and verify it is gone; a no-op when nothing runs."""
        ...

    def status(self) -> list[ServiceStatus]:
        """One status per service, in table order, whether or not the stack runs."""
        ...

    def logs(self, service: str | None, tail: int, health_checks: bool = True) -> str:
        """The last ``tail`` lines of one service's log, or of every service (with headers);
        without ``health_checks``, the lines of the health-check requests are left out first."""
        ...

    def api_url(self) -> str | None:
        """The running gravix-api's base URL, None when it is not running."""
        ...


def select_backend(config: TwinsConfig, say: Callable[[str], None]) -> Backend:
    """The backend to use: forced by ``config.backend``, or for ``auto`` compose when a Docker
    engine with Compose v2 answers, else local processes. Says which one and why.

    Under ``auto`` a process stack that is already recorded wins: twins left up by
    ``--keep`` or ``twins.up`` on a machine without an engine must still be found by the next
    ``twins.down`` or ``converge --no-twins``, even once an engine answers.
    """
    from converge._process_backend import ProcessBackend

    if config.backend == "auto" and ProcessBackend(config).has_stack():
        say("twins: process backend (its twins are already running)")
        return ProcessBackend(config, say)

    if config.backend == "process":
        say("twins: process backend (set by configuration)")
        return ProcessBackend(config, say)
    if config.backend == "compose":
        say("twins: compose backend (set by configuration)")
        return _compose_backend_class()(config, say)
    try:
        compose = _compose_module()
    except TwinsError as error:
        say(f"twins: process backend ({error})")
        return ProcessBackend(config, say)
    if compose.engine_available():
        say("twins: compose backend (a Docker engine with Compose v2 answered)")
        return cast(Backend, compose.ComposeBackend(config, say))
    say("twins: process backend (no Docker engine with Compose v2 answered)")
    return ProcessBackend(config, say)


def require_twins_extra(modules: tuple[str, ...], purpose: str) -> None:
    """Raise a TwinsError naming the ``twins`` extra when one of ``modules`` is not installed.

    Checked before anything starts, so a missing extra is one line saying what to install, not a
    uvicorn that dies in its log or an ImportError from deep inside a backend.
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise TwinsError(
            f"{purpose} needs converge's `{TWINS_EXTRA}` extra ({', '.join(missing)} {verb} not "
            f"installed): pip install 'converge[{TWINS_EXTRA}]' "
            f"(in a checkout: pip install -e '.[{TWINS_EXTRA}]')"
        )


def _compose_backend_class() -> Callable[[TwinsConfig, Callable[[str], None]], Backend]:
    return cast(
        Callable[[TwinsConfig, Callable[[str], None]], Backend],
        _compose_module().ComposeBackend,
    )


def _compose_module() -> ModuleType:
    # Through sys.modules (not `from converge import ...`) so that there is one way in, and the
    # compose backend's heavier imports (python-on-whales) are only paid when it is asked for.
    require_twins_extra(COMPOSE_MODULES, "the compose backend")
    try:
        return importlib.import_module("converge._compose_backend")
    except ImportError as error:
        raise TwinsError(f"the compose backend cannot be loaded: {error}") from error


_REQUEST_LINE = re.compile(r'"(?:GET|HEAD) ([^ "?]+)[^ "]* HTTP/[0-9.]+"')


def not_a_health_check(services: Iterable[Service]) -> Callable[[str], bool]:
    """A log-line filter: False for the access-log line of a health-check request (the
    backends' pollers and Docker's healthcheck ask every second or two, which buries the lines a
    person reads the log for)."""
    paths = {service.health_path for service in services}

    def keep(line: str) -> bool:
        match = _REQUEST_LINE.search(line)
        return match is None or match.group(1) not in paths

    return keep


def health_check(url: str, timeout: float = 2.0) -> bool:
    """True when ``GET url`` answers 2xx within ``timeout`` seconds.

    http.client rather than requests: no proxy variables apply (a proxy must never see a request
    meant for 127.0.0.1), and no connection pool outlives the check.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request("GET", target, headers={"Connection": "close"})
        return 200 <= connection.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def reset_seed(url: str, seed: int, timeout: float = 2.0) -> str | None:
    """Reset what one twin keeps for one run seed (``POST /_twin/reset {"seed": ...}``).

    Scoped, so runs going on in parallel keep their state (see ``converge_twins.control``).
    Returns None when the twin confirmed, else why not, in a user's words.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http:// URL"
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    body = json.dumps({"seed": str(seed)}).encode()
    try:
        connection.request(
            "POST",
            parts.path.rstrip("/") + "/_twin/reset",
            body=body,
            headers={"Content-Type": "application/json", "Connection": "close"},
        )
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as error:
        return f"{url}: {type(error).__name__}: {error}"
    finally:
        connection.close()
    return None if 200 <= status < 300 else f"{url}/_twin/reset answered {status}"


# --- guaranteed teardown -----------------------------------------------------------------------


def _raise_for_signal(signum: int, frame: FrameType | None) -> None:
    # SIGINT keeps its usual meaning (KeyboardInterrupt, exit 130 through errors.guard); SIGTERM
    # becomes SystemExit(143) so that every finally block between here and the top runs.
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


@contextmanager
def running(backend: Backend, keep: bool = False) -> Iterator[list[ServiceStatus]]:
    """Bring the stack up for the length of a ``with`` block and always take it down after.

    SIGINT and SIGTERM become exceptions while the block runs, so an interrupted run unwinds
    through here; teardown itself ignores both, because a half-finished teardown is exactly what
    leaves orphans. With ``keep`` the stack stays up on success (``invoke converge --keep``) and
    on failure alike, tracked by the backend's state for a later ``down``; ``up`` failing midway
    still stops what it started.
    """
    with signal_handlers(_raise_for_signal):
        try:
            yield backend.up()
        finally:
            if not keep:
                _down_whatever_arrives(backend)


def _down_whatever_arrives(backend: Backend) -> None:
    # A signal can still land in the few instructions before SIG_IGN is in place; it must not cost
    # the teardown, so it is noted, the teardown runs again, and the signal is honoured after.
    interrupted: BaseException | None = None
    for _attempt in range(3):  # bounded: a backend that itself raises these must not loop
        try:
            with signal_handlers(signal.SIG_IGN):
                backend.down()
            break
        except (KeyboardInterrupt, SystemExit) as error:
            interrupted = error
    if interrupted is not None:
        raise interrupted
