"""The one place a call to a dependency can fail, and how that failure reaches the client.

Rule: a dependency that cannot be reached (refused, reset, timed out) makes the API answer 503;
one that answers with an error or a body the API cannot use makes it answer 502. Either way the
client gets a JSON error naming the service, never a crash or a hang.
"""

from __future__ import annotations

from typing import Any

import httpx

from converge_gravix.errors import UpstreamError
from converge_gravix.propagation import outgoing_headers


async def send(
    client: httpx.AsyncClient,
    service: str,
    method: str,
    url: str,
    *,
    expect: tuple[int, ...] = (200, 201),
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; return the response when its status is one of ``expect``."""
    propagated = outgoing_headers()
    if propagated:
        kwargs["headers"] = {**propagated, **(kwargs.get("headers") or {})}
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise UpstreamError(
            service, f"{service} did not answer in time", unavailable=True
        ) from None
    except httpx.TransportError as exc:
        raise UpstreamError(
            service, f"{service} could not be reached ({type(exc).__name__})", unavailable=True
        ) from None
    if response.status_code not in expect:
        raise UpstreamError(
            service,
            f"{service} answered {response.status_code} to {method} {response.url.path}"
            f"{_detail(response)}",
            unavailable=False,
        )
    return response


def json_body(response: httpx.Response, service: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise UpstreamError(
            service, f"{service} answered with a body that is not JSON", unavailable=False
        ) from None


def _detail(response: httpx.Response) -> str:
    """The upstream's own error message when it gave one (each service nests it differently)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else body.get("message")
    return f": {message}" if isinstance(message, str) and message else ""
