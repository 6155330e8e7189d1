"""Run scenarios against the API: steps in order, scenarios in parallel workers.

Each scenario run is an independent unit: its own freshly minted built-in tokens (so runs never
share users), its own variables, its own seed (:mod:`converge.seeds`, sent in the ``baggage``
header), and no state shared with other runs. Each worker thread keeps one
:class:`requests.Session`, so connections are pooled across the scenarios it runs. A
``before_run`` hook runs before each run with its seed: the engine resets the twins' state for
that seed there (see :func:`converge.twins.reset_seed`).

Every request goes through :meth:`ApiOrigin.url_for`, the one place that decides which URLs may
be requested: the configured API's origin, nothing else (scenario files are input from elsewhere).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from converge import seeds, tokens
from converge.checks import Response, evaluate, fail_all
from converge.errors import ApiUnreachableError, ConfigError
from converge.model import RunResult, Scenario, Step, StepResult
from converge.redact import secrets_of_header
from converge.template import UndefinedVariable, text_of

DEFAULT_TIMEOUT = 10.0
PREFLIGHT_TIMEOUT = 10.0
MAX_BODY_BYTES = 64 * 2**20  # far beyond any API answer a scenario checks; far below the RAM
_CHUNK_BYTES = 64 * 2**10

RunCallback = Callable[[Scenario, RunResult], None]
BeforeRun = Callable[[Scenario, int], None]  # (scenario, the run's seed)
SeedOf = Callable[[Scenario, int], int]  # (scenario, run number from 1) -> the run's seed

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Twins left running by `invoke twins.up` or `--keep` listen on ports chosen at start.
_LOCAL_HINT = (
    "; `invoke twins.status` shows the running twins and their gravix-api URL "
    "(`invoke twins.up` starts them)"
)


class OriginError(ValueError):
    """A rendered path would take a request away from the API under test."""


class ApiOrigin:
    """The API's base URL, and the check that every request stays under it."""

    def __init__(self, api_url: str) -> None:
        parts = urlsplit(api_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"API URL {api_url!r} is not an http:// or https:// URL")
        if parts.username or parts.password:
            raise ConfigError("API URL must not carry credentials (user:password@)")
        if parts.query or parts.fragment:
            raise ConfigError(f"API URL {api_url!r} must not have a query or fragment")
        self.scheme = parts.scheme
        self.netloc = parts.netloc.lower()
        self.base_url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"

    def url_for(self, path: str) -> str:
        """The URL for a scenario path: the path appended to the base URL, the origin unchanged."""
        if not path.startswith("/"):
            raise OriginError(f"path {path!r} does not start with '/'")
        if _CONTROL.search(path):
            raise OriginError(f"path {path!r} contains control characters")
        url = self.base_url + path
        parts = urlsplit(url)
        if parts.scheme != self.scheme or parts.netloc.lower() != self.netloc:
            raise OriginError(f"path {path!r} would leave the API origin {self.origin}")
        return url

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def is_local(self) -> bool:
        host = (urlsplit(self.base_url).hostname or "").lower()
        return host in {"localhost", "::1"} or host.startswith("127.")


@dataclass(frozen=True)
class RunnerConfig:
    api_url: str
    timeout: float = DEFAULT_TIMEOUT  # per step, unless the step says otherwise
    workers: int = 4
    runs: int = 1
    jwt_secret: str = tokens.DEFAULT_JWT_SECRET
    max_body_bytes: int = MAX_BODY_BYTES  # a bigger answer fails its step unread
    seed: int = field(default_factory=seeds.new_base_seed)  # each run's seed derives from it


class _Unread(Exception):
    """The answer came, but its body could not be read whole (too big, or too slow)."""


def new_session() -> requests.Session:
    session = requests.Session()
    # No proxies, .netrc or CA bundles from the environment: requests go to the API under test
    # only, and skipping the per-request environment lookups is most of requests' overhead.
    session.trust_env = False
    return session


def preflight(origin: ApiOrigin, timeout: float = PREFLIGHT_TIMEOUT) -> None:
    """One request to the base URL; any HTTP answer, even 404, means the API is there."""
    with new_session() as session:
        try:
            session.get(origin.base_url + "/", timeout=timeout, allow_redirects=False)
        except requests.RequestException as error:
            raise ApiUnreachableError(
                f"the API at {origin.base_url} does not answer: {transport_reason(error, timeout)}"
                + (_LOCAL_HINT if origin.is_local else "")
            ) from None


def run_all(
    scenarios: Sequence[Scenario],
    config: RunnerConfig,
    on_run: RunCallback | None = None,
    *,
    before_run: BeforeRun | None = None,
    seed_of: SeedOf | None = None,
) -> list[tuple[RunResult, ...]]:
    """Every scenario ``config.runs`` times; the result lists line up with ``scenarios``.

    Runs are spread over ``config.workers`` threads; within a run the steps go in order. Each
    run's seed is ``seed_of(scenario, run)``, by default derived from ``config.seed``.
    """

    def derived(scenario: Scenario, run: int) -> int:
        return seeds.run_seed(config.seed, scenario.file, run)

    seed_for = seed_of or derived
    origin = ApiOrigin(config.api_url)
    units = [(index, run) for index in range(len(scenarios)) for run in range(config.runs)]
    results: list[list[RunResult | None]] = [[None] * config.runs for _ in scenarios]
    sessions = _Sessions()

    def work(unit: tuple[int, int]) -> None:
        index, run = unit
        scenario = scenarios[index]
        seed = seed_for(scenario, run + 1)
        if before_run is not None:
            before_run(scenario, seed)
        result = run_scenario(scenario, sessions.get(), origin, config, seed=seed)
        results[index][run] = result  # each slot is written by exactly one unit
        if on_run is not None:
            on_run(scenario, result)

    try:
        if config.workers <= 1 or len(units) <= 1:
            for unit in units:
                work(unit)
        else:
            with ThreadPoolExecutor(
                max_workers=min(config.workers, len(units)), thread_name_prefix="converge"
            ) as pool:
                for future in [pool.submit(work, unit) for unit in units]:
                    future.result()  # a bug in a worker surfaces here, with its traceback
    finally:
        sessions.close_all()
    return [tuple(r for r in runs if r is not None) for runs in results]


def run_scenario(
    scenario: Scenario,
    session: requests.Session,
    origin: ApiOrigin,
    config: RunnerConfig,
    *,
    seed: int | None = None,
) -> RunResult:
    """One pass through a scenario's steps, with freshly minted built-in tokens."""
    run_id = uuid.uuid4().hex[:12]
    # The session belongs to this thread and the run holds the thread until it ends, so the
    # run's seed rides on it for every step (a scenario's own baggage header replaces it).
    if seed is None:
        session.headers.pop(seeds.BAGGAGE_HEADER, None)
    else:
        session.headers[seeds.BAGGAGE_HEADER] = seeds.baggage(seed)
    used = frozenset().union(*(step.variables for step in scenario.steps))
    builtins = tokens.builtin_variables(config.jwt_secret, origin.base_url, run_id, names=used)
    variables: dict[str, Any] = dict(builtins)
    secrets: set[str] = {v for k, v in builtins.items() if k in tokens.TOKEN_VARIABLES}
    started = time.perf_counter()
    steps = []
    for step in scenario.steps:
        result, captured = run_step(
            step,
            session,
            origin,
            variables,
            default_timeout=config.timeout,
            secrets=secrets,
            max_body_bytes=config.max_body_bytes,
        )
        for spec in step.checks:
            # A capture that failed this time leaves no value behind, not even an earlier one:
            # a later step must not be sent with a stale id (and pass on the wrong resource).
            if spec.kind == "capture" and spec.target not in captured:
                variables.pop(spec.target, None)
        variables.update(captured)
        steps.append(result)
    return RunResult(
        steps=tuple(steps),
        duration_ms=_ms_since(started),
        secrets=frozenset(secrets),
        seed=seed,
    )


def run_step(
    step: Step,
    session: requests.Session,
    origin: ApiOrigin,
    variables: Mapping[str, Any],
    *,
    default_timeout: float,
    secrets: set[str],
    max_body_bytes: int = MAX_BODY_BYTES,
) -> tuple[StepResult, dict[str, Any]]:
    """Send one step and check its response; never raises for what the API or files can do."""
    missing = sorted(name for name in step.variables if name not in variables)
    if missing:
        names = ", ".join(repr(name) for name in missing)
        plural = "s" if len(missing) > 1 else ""
        return _not_sent(step, f"not sent: variable{plural} {names} has no value "
                               "(its capture in an earlier step failed)"), {}
    try:
        path = text_of(step.path.render(variables))
        url = origin.url_for(path)
        headers = {
            str(name): text_of(value)
            for name, value in (step.headers.render(variables) or {}).items()
            if value is not None
        }
        body = step.body.render(variables) if step.body is not None else None
    except UndefinedVariable as error:  # validation should have caught it; stay safe anyway
        return _not_sent(step, f"not sent: {error}"), {}
    except OriginError as error:
        return _not_sent(step, f"not sent: {error}"), {}
    for name, value in headers.items():
        secrets.update(secrets_of_header(name, value))

    timeout = step.timeout if step.timeout is not None else default_timeout
    started = time.perf_counter()
    try:
        # What session.request does, minus merge_environment_settings where it is a no-op: with
        # trust_env off (new_session) it re-merges the session's own settings, which send()
        # takes from the session anyway, at a few isinstance-against-Protocol checks each time.
        prepared = session.prepare_request(
            requests.Request(step.method, url, headers=headers, json=body, data={}, params={})
        )
        settings: dict[str, Any] = {}
        if session.trust_env:
            settings.update(session.merge_environment_settings(prepared.url, {}, None, None, None))
        # A redirect could lead anywhere; the scenario sees the 3xx itself.
        answer = session.send(
            prepared, timeout=timeout, allow_redirects=False, stream=True, **settings
        )
        try:
            body = _read_body(answer, started + timeout, timeout, max_body_bytes)
        except _Unread as error:
            reason = str(error)
            return StepResult(
                name=step.name,
                method=step.method,
                path=path,
                status_code=answer.status_code,
                duration_ms=_ms_since(started),
                error=reason,
                checks=fail_all(step.checks, reason),
            ), {}
        finally:
            answer.close()
        text = _decode(body, answer.encoding)
    except requests.RequestException as error:
        reason = transport_reason(error, timeout)
        return StepResult(
            name=step.name,
            method=step.method,
            path=path,
            status_code=None,
            duration_ms=_ms_since(started),
            error=reason,
            checks=fail_all(step.checks, reason),
        ), {}
    except ValueError as error:
        # http.client sends header values as Latin-1 only: a captured "✓" cannot go out.
        return _not_sent(step, f"not sent: the request cannot be encoded: {error}"), {}
    duration = _ms_since(started)
    checks, captured = evaluate(step.checks, Response(answer.status_code, text), variables)
    return StepResult(
        name=step.name,
        method=step.method,
        path=path,
        status_code=answer.status_code,
        duration_ms=duration,
        error=None,
        checks=checks,
    ), captured


def transport_reason(error: BaseException, timeout: float) -> str:
    """A transport failure in a user's words: refused, reset, timed out, or the library's text."""
    if isinstance(error, requests.Timeout):
        return f"timed out: no answer within {timeout:g}s"
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(seen, TimeoutError):
            return f"timed out: no answer within {timeout:g}s"
        seen = seen.__cause__ or seen.__context__ or _first_arg_exception(seen)
    text = str(error)
    if "RemoteDisconnected" in text or "closed connection without response" in text:
        return "the server closed the connection without a response"
    if "Connection refused" in text:
        return "connection refused"
    if "reset" in text.lower():
        return "connection reset by the server"
    return f"{type(error).__name__}: {text}"


def _first_arg_exception(error: BaseException) -> BaseException | None:
    # requests and urllib3 wrap the socket error as an argument, not as __cause__.
    for arg in error.args:
        if isinstance(arg, BaseException):
            return arg
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, BaseException) else None


def _read_body(
    answer: requests.Response, deadline: float, timeout: float, limit: int
) -> bytes:
    """The whole (decoded) body, or :class:`_Unread`.

    Bounded in size, so a huge or decompression-bomb answer cannot exhaust the CI machine, and
    in time: the socket timeout only bounds each read, so a server trickling a byte at a time
    would otherwise hold the step (and the merge) forever.
    """
    chunks: list[bytes] = []
    size = 0
    for chunk in answer.iter_content(_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise _Unread(f"the response body is larger than {_size_text(limit)}: not read")
        if time.perf_counter() > deadline:
            raise _Unread(f"timed out: the body was still arriving after {timeout:g}s")
        chunks.append(chunk)
    return b"".join(chunks)


def _size_text(size: int) -> str:
    return f"{size // 2**20} MiB" if size >= 2**20 else f"{size} bytes"


def _decode(body: bytes, encoding: str | None) -> str:
    # requests' `.text` guesses the charset of unlabelled bodies with a detector that is slow on
    # large bodies; UTF-8 is the right guess for JSON APIs and never raises with "replace".
    try:
        return body.decode(encoding or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def _not_sent(step: Step, reason: str) -> StepResult:
    return StepResult(
        name=step.name,
        method=step.method,
        path=text_of(step.path.source),
        status_code=None,
        duration_ms=0.0,
        error=reason,
        checks=fail_all(step.checks, reason),
    )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class _Sessions:
    """One Session per worker thread, all closed at the end of the run."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[requests.Session] = []

    def get(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = new_session()
            self._local.session = session
            with self._lock:
                self._all.append(session)
        return session

    def close_all(self) -> None:
        with self._lock:
            for session in self._all:
                session.close()
            self._all.clear()
