"""A transport for httpx-style clients that hands every finished exchange to a :class:`Recorder`.

The official SDKs read their responses through an httpx (or httpx2) client; wrapping its
transport sees every exchange exactly as the SDK saw it, streamed bodies included, without
changing what the SDK does. The body is recorded when the SDK closes the response, with the
bytes it read by then.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from typing import Any

from converge_twins.conformance.suite import Exchange, Recorder


class _Tee:
    """A response stream that keeps a copy of what passes through and reports it on close.

    Mixed into the client library's own ``SyncByteStream`` (:func:`_tee_for`), which the
    clients check the stream against.
    """

    def __init__(self, inner: Any, done: Callable[[bytes], None]) -> None:
        self._inner = inner
        self._done = done
        self._chunks: list[bytes] = []
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._chunks.append(chunk)
            yield chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._inner.close()
        finally:
            self._done(b"".join(self._chunks))


@functools.cache
def _tee_for(library: str) -> type[_Tee]:
    base = importlib.import_module(library).SyncByteStream
    return type(f"{library}_Tee", (_Tee, base), {})


class RecordingTransport:
    """Wraps a transport (``httpx.HTTPTransport()`` or ``httpx2.HTTPTransport()``)."""

    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def handle_request(self, request: Any) -> Any:
        response = self._inner.handle_request(request)
        method, url = str(request.method), str(request.url)
        status = int(response.status_code)
        headers = {str(k).lower(): str(v) for k, v in response.headers.items()}

        def done(body: bytes) -> None:
            self._recorder.record(Exchange(method, url, status, headers, body))

        library = type(response).__module__.split(".", 1)[0]
        response.stream = _tee_for(library)(response.stream, done)
        return response

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> RecordingTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
