"""Run scenarios against the API: steps in order, scenarios in parallel workers.

Each scenario run is an independent unit: its own freshly minted built-in tokens (so runs never
share users), its own variables, its own seed (:mod:`converge.seeds`, sent in the ``baggage``
header), its own cookie jar (cookies set by one step go out with the later steps of the same
run, never with another scenario or another run), and no state shared with other runs.
Connections are pooled per worker thread by :class:`~converge.transport.Transport`, which also
holds every exchange to one deadline. A ``before_run`` hook runs before each run with its seed:
the engine resets the twins' state for that seed there (see :func:`converge.twins.reset_seed`).

Every request goes through :meth:`ApiOrigin.url_for`, the one place that decides which URLs may
be requested: the configured API's origin, nothing else (scenario files are input from elsewhere).

A run can be stopped (``stop``, set on SIGINT/SIGTERM): no new step is sent, the exchanges in
flight are abandoned, and the runs that did not finish are left out of the results.
"""

from __future__ import annotations

import functools
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

from converge import model, request, seeds, tokens
from converge.checks import Response, evaluate, fail_all, undecodable
from converge.config import DEFAULT_WORKERS
from converge.errors import ApiUnreachableError, ConfigError
from converge.model import RunResult, Scenario, Step, StepResult
from converge.redact import looks_secret, secrets_of_captures, secrets_of_header, texts_of
from converge.template import UndefinedVariable, find_variables, is_whole_template, text_of
from converge.transport import MAX_BODY_BYTES, Stopped, Transport, TransportError

DEFAULT_TIMEOUT = model.DEFAULT_TIMEOUT
PREFLIGHT_TIMEOUT = 10.0

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
        try:
            parts = urlsplit(api_url.strip())
            parts.port  # noqa: B018 (raises for a port that is not a number in range)
        except ValueError as error:
            raise ConfigError(f"API URL {api_url!r} is not a valid URL: {error}") from None
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
    workers: int = DEFAULT_WORKERS
    runs: int = 1
    jwt_secret: str = tokens.DEFAULT_JWT_SECRET
    max_body_bytes: int = MAX_BODY_BYTES  # a bigger answer fails its step unread
    # User variables (--var, --vars-file, CONVERGE_VAR_*): every run starts with them.
    variables: Mapping[str, Any] = field(default_factory=dict)
    # The user variables given on the command line (--var): written out already, not secrets.
    public_variables: frozenset[str] = frozenset()
    seed: int = field(default_factory=seeds.new_base_seed)  # each run's seed derives from it
    trust_env: bool = False  # proxies and CA bundle from the environment (--trust-env)


def preflight(
    origin: ApiOrigin,
    timeout: float = PREFLIGHT_TIMEOUT,
    stop: threading.Event | None = None,
    trust_env: bool = False,
) -> None:
    """One request to the base URL; any HTTP answer, even 404, means the API is there.

    Only the status line matters, so no body is read (an API whose ``/`` streams forever
    answers as quickly as any other), and the whole exchange is bounded by ``timeout``.
    """
    with Transport(max_body_bytes=0, stop=stop, trust_env=trust_env) as transport:
        try:
            transport.send(requests.Request("GET", origin.base_url + "/"), timeout=timeout)
        except TransportError as error:
            if error.status is None:
                raise ApiUnreachableError(
                    f"the API at {origin.base_url} does not answer: {error.reason}"
                    + (_LOCAL_HINT if origin.is_local else "")
                ) from None


def run_all(
    scenarios: Iterable[Scenario],
    config: RunnerConfig,
    on_run: RunCallback | None = None,
    *,
    before_run: BeforeRun | None = None,
    seed_of: SeedOf | None = None,
    stop: threading.Event | None = None,
) -> list[tuple[RunResult, ...]]:
    """Every scenario ``config.runs`` times; the result lists line up with ``scenarios``.

    Runs are spread over ``config.workers`` threads; within a run the steps go in order. Each
    run's seed is ``seed_of(scenario, run)``, by default derived from ``config.seed``. The
    calling thread only takes the scenarios and waits, so a signal handler can set ``stop``
    while the workers run; then the result lists hold the runs that finished (possibly none),
    for the scenarios taken until then.

    ``scenarios`` may be an iterator that is still reading them (:func:`converge.scenario.
    streamed`): each one's runs start as it comes. Whatever iterating raises stops the runs in
    flight and is raised again.
    """

    def derived(scenario: Scenario, run: int) -> int:
        return seeds.run_seed(config.seed, scenario.file, run)

    seed_for = seed_of or derived
    origin = ApiOrigin(config.api_url)
    taken: list[Scenario] = []
    results: list[list[RunResult | None]] = []

    with Transport(
        max_body_bytes=config.max_body_bytes, stop=stop, trust_env=config.trust_env
    ) as transport:

        def work(index: int, run: int) -> None:
            if transport.stop.is_set():
                return
            scenario = taken[index]
            seed = seed_for(scenario, run + 1)
            if before_run is not None:
                before_run(scenario, seed)
            try:
                result = run_scenario(scenario, transport, origin, config, seed=seed)
            except Stopped:
                return  # an unfinished run says nothing about the change
            results[index][run] = result  # each slot is written by exactly one unit
            if on_run is not None:
                on_run(scenario, result)

        # The pool starts a thread only when no started one is idle, so a few scenarios get
        # as few threads.
        with ThreadPoolExecutor(
            max_workers=max(1, config.workers), thread_name_prefix="converge"
        ) as pool:
            futures: list[Future[None]] = []
            try:
                for scenario in scenarios:
                    taken.append(scenario)  # every scenario taken has its place in the results
                    results.append([None] * config.runs)
                    futures.extend(
                        pool.submit(work, len(taken) - 1, run) for run in range(config.runs)
                    )
                    if transport.stop.is_set():
                        break
            except Exception:
                if not transport.stop.is_set():
                    transport.stop.set()  # abandon the runs in flight: their results are moot
                    raise
                # Stopped by a signal first: what reading went on to raise after it (its workers
                # ended by the same Ctrl-C) changes nothing; the stop is what is reported.
            except BaseException:
                transport.stop.set()
                raise
            for future in futures:
                future.result()  # a bug in a worker surfaces here, with its traceback
    return [tuple(r for r in runs if r is not None) for runs in results]


def run_scenario(
    scenario: Scenario,
    transport: Transport,
    origin: ApiOrigin,
    config: RunnerConfig,
    *,
    seed: int | None = None,
) -> RunResult:
    """One pass through a scenario's steps, with freshly minted built-in tokens and a cookie
    jar of its own. Raises :class:`~converge.transport.Stopped` when the run is stopped."""
    run_id = uuid.uuid4().hex[:12]
    # The run's seed rides on every step (a scenario's own baggage header replaces it).
    run_headers = {} if seed is None else {seeds.BAGGAGE_HEADER: seeds.baggage(seed)}
    used = frozenset().union(*(step.variables for step in scenario.steps))
    if scenario.parameters is not None:
        used |= scenario.parameters.variables
    builtins = tokens.builtin_variables(config.jwt_secret, origin.base_url, run_id, names=used)
    variables: dict[str, Any] = {**builtins, **config.variables}
    if scenario.parameters is not None:
        # Rendered afresh for each run: "{{pro_user_token}}" is this run's token.
        variables.update(scenario.parameters.render(variables))
    secrets: set[str] = {v for k, v in builtins.items() if k in tokens.TOKEN_VARIABLES}
    captured_names: set[str] = set()
    written = config.public_variables | _literal_parameters(scenario)
    cookies = RequestsCookieJar()
    started = time.perf_counter()
    steps = []
    for step in scenario.steps:
        if transport.stop.is_set():
            raise Stopped("not sent: the run was stopped")
        # A captured value sent in a query string (a session id, a one-time token) ends up in
        # URLs, access logs and the report's paths: it is treated as a secret.
        for name in _query_variables(step) & captured_names:
            if name in variables:
                secrets.update(texts_of(variables[name]))
        result, captured = run_step_with_retry(
            step,
            transport,
            origin,
            variables,
            default_timeout=config.timeout,
            secrets=secrets,
            cookies=cookies,
            run_headers=run_headers,
            written=written,
        )
        for spec in step.checks:
            # A capture that failed this time leaves no value behind, not even an earlier one:
            # a later step must not be sent with a stale id (and pass on the wrong resource).
            if spec.kind == "capture" and spec.target not in captured:
                variables.pop(spec.target, None)
        variables.update(captured)
        captured_names.update(captured)
        secrets.update(secrets_of_captures(captured, _capture_sources(step)))
        # The API's cookies (a session id) go out in every later step's Cookie header, which is
        # a credential like any other: what it may echo of them is masked.
        secrets.update(cookie.value for cookie in cookies if cookie.value)
        steps.append(result)
    return RunResult(
        steps=tuple(steps),
        duration_ms=_ms_since(started),
        secrets=frozenset(secrets),
        seed=seed,
    )


def run_step_with_retry(
    step: Step,
    transport: Transport,
    origin: ApiOrigin,
    variables: Mapping[str, Any],
    **options: Any,
) -> tuple[StepResult, dict[str, Any]]:
    """:func:`run_step`, sent again while a check fails, as the step's ``retry`` allows.

    Each attempt renders the templates afresh; the last attempt is the result (scored and
    captured from), with the number of attempts. A step that could not be sent is not retried:
    its variables will not change.
    """
    attempts = step.retry.attempts if step.retry is not None else 1
    for attempt in range(1, attempts + 1):
        result, captured = run_step(step, transport, origin, variables, **options)
        done = result.checks_passed == len(result.checks)
        not_sent = result.error is not None and result.error.startswith("not sent")
        if done or not_sent or attempt == attempts:
            break
        assert step.retry is not None
        if transport.stop.wait(step.retry.interval_ms / 1000):
            raise Stopped("not sent: the run was stopped")
    return (result if attempt == 1 else replace(result, attempts=attempt)), captured


def run_step(
    step: Step,
    transport: Transport,
    origin: ApiOrigin,
    variables: Mapping[str, Any],
    *,
    default_timeout: float,
    secrets: set[str],
    cookies: RequestsCookieJar | None = None,
    run_headers: Mapping[str, str] | None = None,
    written: frozenset[str] = frozenset(),
) -> tuple[StepResult, dict[str, Any]]:
    """Send one step and check its response; never raises for what the API or files can do
    (only :class:`~converge.transport.Stopped`, when the run is stopped). ``written`` names the
    variables whose values are written out (literal parameters, ``--var``): not secrets."""
    missing = sorted(name for name in step.variables if name not in variables)
    if missing:
        names = ", ".join(repr(name) for name in missing)
        plural = "s" if len(missing) > 1 else ""
        return _not_sent(step, f"not sent: variable{plural} {names} has no value "
                               "(its capture in an earlier step failed)"), {}
    try:
        outgoing = request.build(step, variables, origin.base_url)
        path = outgoing.path
        url = origin.url_for(path)
    except UndefinedVariable as error:  # validation should have caught it; stay safe anyway
        return _not_sent(step, f"not sent: {error}"), {}
    except (OriginError, request.NotSent) as error:
        return _not_sent(step, f"not sent: {error}"), {}
    except UnicodeEncodeError:
        # A value captured from an answer may hold a lone surrogate ("\ud800" in the API's
        # JSON), which no URL, query or form can carry. Never the value: it may be a credential.
        return _not_sent(step, "not sent: a value of the request holds a lone surrogate "
                               "(\\uD800-\\uDFFF, as an API's JSON may send), which is not "
                               "text that can be sent"), {}
    secrets.update(outgoing.secrets)
    secrets.update(_header_secrets(step, outgoing.headers, written))
    if is_whole_template(step.path.source):
        # A link taken from an answer as the whole path (an OAuth callback, a next page) may
        # carry a code or token in its query string: its values are secrets, as any captured
        # value sent in a query is.
        secrets.update(value for _name, value in parse_qsl(urlsplit(path).query))
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(run_headers or {})
    headers.update(outgoing.headers)  # the step's own headers win, whatever their case
    unsendable = _unsendable_header(headers)
    if unsendable is not None:
        return _not_sent(step, f"not sent: {unsendable}"), {}

    timeout = step.timeout if step.timeout is not None else default_timeout
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    try:
        # A redirect could lead anywhere; the transport never follows one: the scenario sees
        # the 3xx itself.
        answer = transport.send(
            requests.Request(
                step.method, url, headers=headers, json=outgoing.json, data=outgoing.data
            ),
            timeout=timeout,
            cookies=cookies,
        )
    except Stopped:
        raise
    except TransportError as error:
        return StepResult(
            name=step.name,
            method=step.method,
            path=path,
            status_code=error.status,
            duration_ms=_ms_since(started),
            error=error.reason,
            checks=fail_all(step.checks, error.reason),
            line=step.line,
        ), {}
    except (ValueError, requests.exceptions.InvalidJSONError) as error:
        # Never the library's message: it may quote the value (a token) being refused. (A JSON
        # body holding NaN or an infinity is requests' InvalidJSONError, not a ValueError.)
        what = type(error).__name__
        return _not_sent(step, f"not sent: the request cannot be encoded ({what})"), {}
    duration = _ms_since(started)
    response = Response(
        answer.status,
        answer.text,
        deadline=deadline,
        headers=answer.headers,
        duration_ms=duration,
        body_problem=undecodable(answer.headers),
    )
    checks, captured = evaluate(step.checks, response, variables)
    return StepResult(
        name=step.name,
        method=step.method,
        path=path,
        status_code=answer.status,
        duration_ms=duration,
        error=None,
        checks=checks,
        line=step.line,
    ), captured


def _header_secrets(
    step: Step, headers: Mapping[str, str], written: frozenset[str]
) -> Iterator[str]:
    """The secrets among the headers a step sends: every value (but harmless headers') except
    one written out in the scenario or on the command line under a name that does not say
    credential (``X-Tier: "{{tier}}"`` with a literal parameter ``tier``)."""
    sources = step.headers.source if isinstance(step.headers.source, dict) else {}
    for name, value in headers.items():
        source = sources.get(name)
        if isinstance(source, str) and not looks_secret(name) and _variables_in(source) <= written:
            continue
        yield from secrets_of_header(name, value)


@functools.lru_cache(maxsize=4096)
def _variables_in(source: str) -> frozenset[str]:
    return frozenset(find_variables(source))


def _literal_parameters(scenario: Scenario) -> frozenset[str]:
    """The parameters of a scenario instance that its file writes out, with no template."""
    entry = scenario.parameters.source if scenario.parameters is not None else None
    if not isinstance(entry, dict):
        return frozenset()
    return frozenset(
        str(name) for name, value in entry.items()
        if not isinstance(value, str) or not _variables_in(value)
    )


def _query_variables(step: Step) -> set[str]:
    """The variables a step writes into its query string (``query``, or after ``?`` in its
    path)."""
    names = set(step.query.variables) if step.query is not None else set()
    source = step.path.source
    if isinstance(source, str) and "?" in source:
        names |= find_variables(source.partition("?")[2])
    return names


def _capture_sources(step: Step) -> dict[str, str]:
    """Where each of a step's captures reads from: its field path, or ``header.NAME``."""
    return {
        spec.target: (
            f"header.{spec.header}" if spec.header is not None
            else spec.path.text if spec.path is not None else ""
        )
        for spec in step.checks
        if spec.kind == "capture"
    }


def _unsendable_header(headers: Mapping[str, str]) -> str | None:
    """Why a header cannot go out, naming the header and never its value (a value is often a
    credential): http.client sends Latin-1 text only, and CR/LF would split the header."""
    for name, value in headers.items():
        if _CONTROL.search(value.replace("\t", "")):
            return f"the value of header {name!r} contains control characters"
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            return f"the value of header {name!r} is not Latin-1 text"
    return None


def _not_sent(step: Step, reason: str) -> StepResult:
    return StepResult(
        name=step.name,
        method=step.method,
        path=text_of(step.path.source),
        status_code=None,
        duration_ms=0.0,
        error=reason,
        checks=fail_all(step.checks, reason),
        line=step.line,
    )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
