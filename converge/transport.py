"""Send one HTTP request under one deadline, from connecting to the last byte of the body.

A socket timeout only bounds each read: a server that trickles its headers or its body a few
bytes at a time never lets one expire, and would hold a step (and the merge gate) for as long
as it likes. So every exchange has one deadline, and a watchdog thread shuts the exchange's
socket down when it passes; the blocked read then returns at once and the step fails as timed
out. The same watchdog abandons every exchange in flight when the run is stopped (a signal).

:class:`Transport` is what the runner holds for a run: one connection pool per worker thread
(a connection is only ever reused by the thread that made it, so the watchdog can never shut
down a socket that another exchange has taken over), and no cookie jar of its own: the caller
passes the jar of the scenario run the request belongs to, so cookies never travel between
scenarios or between runs of the same one.

``send`` takes a :class:`requests.Request` (method, URL, headers, body, query, auth as
requests builds them) and returns an :class:`Answer` (status, headers, body) or raises
:class:`TransportError` with the reason in a user's words. Nothing here knows about scenarios.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar, extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import default_headers, get_encoding_from_headers, get_environ_proxies

MAX_BODY_BYTES = 64 * 2**20  # far beyond any API answer a scenario checks; far below the RAM
TICK = 0.05  # seconds between the watchdog's looks at the exchanges in flight
_CHUNK_BYTES = 64 * 2**10


@dataclass(frozen=True)
class Answer:
    """What came back: the status, the headers and the whole (decoded) body."""

    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes
    encoding: str | None  # from Content-Type, when it names one

    @property
    def text(self) -> str:
        # requests' `.text` guesses the charset of unlabelled bodies with a detector that is
        # slow on large bodies; UTF-8 is the right guess for JSON APIs, and "replace" never
        # raises.
        try:
            return self.body.decode(self.encoding or "utf-8", errors="replace")
        except (LookupError, ValueError):
            # A charset that is no text codec Python knows to decode with "replace" (idna,
            # punycode, a name holding NUL; UnicodeError is a ValueError): read as UTF-8.
            return self.body.decode("utf-8", errors="replace")


class TransportError(Exception):
    """No usable answer: refused, reset, timed out, too big, or stopped. ``status`` is set when
    the status line came but the body could not be read whole."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Stopped(TransportError):
    """The run was stopped (SIGINT, SIGTERM) while this exchange was in flight."""


class Transport:
    """Sends requests for one run; close it (or use ``with``) when the run is over."""

    def __init__(
        self,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        stop: threading.Event | None = None,
        trust_env: bool = False,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self.stop = stop if stop is not None else threading.Event()
        # Off by default: requests go straight to the API under test (see _environment).
        self.trust_env = trust_env
        self._watchdog = _Watchdog(self.stop)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._adapters: list[HTTPAdapter] = []

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._watchdog.close()
        with self._lock:
            for adapter in self._adapters:
                adapter.close()
            self._adapters.clear()

    def send(
        self,
        request: requests.Request,
        *,
        timeout: float,
        cookies: CookieJar | None = None,
        max_body_bytes: int | None = None,
    ) -> Answer:
        """One exchange, done within ``timeout`` seconds of this call, or TransportError.

        ``cookies`` is the jar of the scenario run: its cookies go out with the request and the
        cookies the answer sets go into it. Redirects are never followed. ValueError (a header
        value http.client cannot encode) is left to the caller: the request was not sent.
        """
        if self.stop.is_set():
            raise Stopped("not sent: the run was stopped")
        limit = self.max_body_bytes if max_body_bytes is None else max_body_bytes
        jar = cookies if cookies is not None else RequestsCookieJar()
        prepared = _prepare(request, jar)
        exchange = _Exchange(time.monotonic() + timeout)
        adapter = self._adapter()
        self._watchdog.enter(exchange)
        try:
            try:
                # An adapter never follows redirects: the scenario sees the 3xx itself.
                proxies, verify = _environment(prepared.url or "", self.trust_env)
                response = adapter.send(
                    prepared,
                    stream=True,
                    timeout=(timeout, timeout),
                    proxies=proxies,
                    verify=verify,
                )
            except requests.RequestException as error:
                raise self._failure(exchange, error, timeout, None) from None
            try:
                # What sets no cookie needs no look from cookielib (Set-Cookie2 is RFC 2965's,
                # which the jar's default policy ignores but reads all the same).
                sets = response.raw.headers
                if "set-cookie" in sets or "set-cookie2" in sets:
                    extract_cookies_to_jar(jar, prepared, response.raw)  # type: ignore[no-untyped-call]
                body = self._read(response, exchange, timeout, limit)
            finally:
                response.close()
            if exchange.expired:  # the last byte came just as the deadline passed
                raise self._failure(exchange, None, timeout, response.status_code)
            return Answer(
                status=response.status_code,
                headers=response.headers,
                body=body,
                encoding=get_encoding_from_headers(response.headers),
            )
        finally:
            self._watchdog.leave(exchange)

    def _read(
        self, response: requests.Response, exchange: _Exchange, timeout: float, limit: int
    ) -> bytes:
        """The whole decoded body, bounded in size (a huge or decompression-bomb answer cannot
        exhaust the machine) and, through the watchdog, in time."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(_CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise TransportError(
                        f"the response body is larger than {_size_text(limit)}: not read",
                        response.status_code,
                    )
                chunks.append(chunk)
        except requests.RequestException as error:
            raise self._failure(exchange, error, timeout, response.status_code) from None
        return b"".join(chunks)

    def _failure(
        self,
        exchange: _Exchange,
        error: BaseException | None,
        timeout: float,
        status: int | None,
    ) -> TransportError:
        if exchange.stopped:
            return Stopped("abandoned: the run was stopped", status)
        if exchange.expired or (error is not None and _is_timeout(error)):
            if status is None:
                return TransportError(f"timed out: no answer within {timeout:g}s")
            return TransportError(
                f"timed out: the body was still arriving after {timeout:g}s", status
            )
        assert error is not None
        return TransportError(transport_reason(error, timeout), status)

    def _adapter(self) -> HTTPAdapter:
        adapter: HTTPAdapter | None = getattr(self._local, "adapter", None)
        if adapter is None:
            adapter = _WatchedAdapter(self._watchdog)
            self._local.adapter = adapter
            with self._lock:
                self._adapters.append(adapter)
        return adapter


def transport_reason(error: BaseException, timeout: float) -> str:
    """A transport failure in a user's words: refused, reset, timed out, or the library's text."""
    if _is_timeout(error):
        return f"timed out: no answer within {timeout:g}s"
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, ConnectionResetError):
            return "connection reset by the server"
        seen = seen.__cause__ or seen.__context__ or _first_arg_exception(seen)
    text = str(error)
    if "RemoteDisconnected" in text or "closed connection without response" in text:
        return "the server closed the connection without a response"
    if "Connection refused" in text:
        return "connection refused"
    if "reset" in text.lower():
        return "connection reset by the server"
    return f"{type(error).__name__}: {text}"


def _is_timeout(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        # Not urllib3's TimeoutError as a whole: its NewConnectionError (refused) is one.
        if isinstance(seen, requests.Timeout | TimeoutError | urllib3.exceptions.ReadTimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__ or _first_arg_exception(seen)
    return False


def _first_arg_exception(error: BaseException) -> BaseException | None:
    # requests and urllib3 wrap the socket error as an argument, not as __cause__.
    for arg in error.args:
        if isinstance(arg, BaseException) and arg is not error:
            return arg
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, BaseException) and reason is not error else None


def _size_text(size: int) -> str:
    return f"{size // 2**20} MiB" if size >= 2**20 else f"{size} bytes"


def _environment(url: str, trust_env: bool) -> tuple[dict[str, str], bool | str]:
    """The proxies and the CA bundle for ``url``: none and the system's by default, so that no
    proxy sees a request (or its token) and no stray variable changes a verdict. With
    ``trust_env`` (``--trust-env``, for a preview behind a corporate proxy or served with a
    private CA's certificate), what requests itself would take: ``HTTP(S)_PROXY``, ``ALL_PROXY``
    and ``NO_PROXY``, and ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE``. Never ``.netrc``: it
    holds credentials, and a scenario says its own."""
    if not trust_env:
        return {}, True
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return get_environ_proxies(url), bundle or True


# What requests.Session sends unless a request says otherwise (User-Agent, Accept-Encoding,
# Accept, Connection: keep-alive). No proxies, .netrc or CA bundles come from the environment
# unless asked (see _environment): requests go to the API under test only.
_DEFAULT_HEADERS = default_headers()


def _headers(given: Mapping[str, str | None] | None) -> CaseInsensitiveDict[str]:
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(_DEFAULT_HEADERS)
    for name, value in (given or {}).items():
        if value is None:  # as requests.Session: None takes a default header away
            headers.pop(name, None)
        else:
            headers[name] = value
    return headers


def _prepare(request: requests.Request, jar: CookieJar) -> requests.PreparedRequest:
    """``PreparedRequest.prepare``, step by step, without the steps that would do nothing.

    An empty jar adds no Cookie header; no hook is ever registered; and a URL under the API's
    origin carries no credentials (:class:`~converge.runner.ApiOrigin` refuses them), so
    without ``auth`` there is none to take from it. A request costs a millisecond or less:
    each of those is several percent of it.
    """
    prepared = requests.PreparedRequest()
    prepared.prepare_method(request.method)
    # requests.Request holds {} and [] for what was not given; None is the same to requests,
    # and skips its checks of each against its protocols.
    prepared.prepare_url(request.url, request.params or None)
    prepared.prepare_headers(_headers(request.headers))
    if len(jar):
        prepared.prepare_cookies(jar)
    prepared.prepare_body(request.data or None, request.files or None, request.json)
    if request.auth is not None:
        prepared.prepare_auth(request.auth, request.url)
    if any(request.hooks.values()):
        prepared.prepare_hooks(request.hooks)
    return prepared


# --- the deadline ----------------------------------------------------------------------------


class _Exchange:
    """One request in flight: its deadline and, once connected, its socket."""

    __slots__ = ("deadline", "expired", "socket", "stopped")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.socket: socket.socket | None = None
        self.expired = False  # the watchdog shut it down at the deadline
        self.stopped = False  # ... or because the run was stopped


class _Watchdog:
    """Shuts down the socket of every exchange whose deadline has passed, or of every exchange
    when the run is stopped. One thread per transport, started on first use."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._lock = threading.Lock()
        self._active: dict[int, _Exchange] = {}
        self._current = threading.local()  # the exchange this thread is sending, if any
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def enter(self, exchange: _Exchange) -> None:
        with self._lock:
            self._active[id(exchange)] = exchange
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(
                    target=self._loop, name="converge-deadlines", daemon=True
                )
                self._thread.start()
        self._current.exchange = exchange

    def leave(self, exchange: _Exchange) -> None:
        self._current.exchange = None
        with self._lock:
            self._active.pop(id(exchange), None)

    def watch(self, sock: socket.socket) -> None:
        """The socket the current thread's exchange is about to use (new or reused)."""
        exchange: _Exchange | None = getattr(self._current, "exchange", None)
        if exchange is None:
            return
        with self._lock:
            exchange.socket = sock
            if exchange.expired:  # the deadline passed while connecting
                _shutdown(sock)

    def close(self) -> None:
        self._closed.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._closed.wait(TICK):
            stopping = self.stop.is_set()
            now = time.monotonic()
            with self._lock:
                for exchange in self._active.values():
                    if exchange.expired or not (stopping or now >= exchange.deadline):
                        continue
                    exchange.expired = True
                    exchange.stopped = stopping
                    if exchange.socket is not None:
                        _shutdown(exchange.socket)


def _shutdown(sock: socket.socket) -> None:
    # The plain socket's shutdown, on the file descriptor: for a TLS socket too (its own
    # shutdown would tear down its SSL object under the reading thread). A blocked recv then
    # returns at once; the connection is discarded, never pooled again.
    with contextlib.suppress(OSError):  # already closed: nothing is waiting on it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter, with connections that tell the watchdog which socket they use."""

    def __init__(self, watchdog: _Watchdog) -> None:
        self._watchdog = watchdog
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        watchdog = self._watchdog

        class HTTPConnection(_Watched, urllib3.connection.HTTPConnection):
            _watchdog = watchdog

        class HTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
            _watchdog = watchdog

        class HTTPPool(urllib3.HTTPConnectionPool):
            ConnectionCls = HTTPConnection

        class HTTPSPool(urllib3.HTTPSConnectionPool):
            ConnectionCls = HTTPSConnection

        self._pool_classes = {"http": HTTPPool, "https": HTTPSPool}
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # Through a proxy too (--trust-env), the connections tell the watchdog their sockets.
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = self._pool_classes
        return manager


class _Watched:
    """Mixed into urllib3's connections: registers the socket before anything is sent on it.

    A new connection registers its TCP socket as soon as it is connected (before a TLS
    handshake, which a server could trickle too); a pooled one when it sends its next request.
    """

    _watchdog: _Watchdog
    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        self._watchdog.watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            self._watchdog.watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]
