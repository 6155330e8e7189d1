"""mock-anthropic for tests: a twin on a real uvicorn, and clients whose every answer is checked
against the official SDK's own types (strictly, no unknown field) when the test ends.

``claude`` is the SDK client (retries off), ``claude_http`` a plain httpx client for what the
SDK will not send; both record the twin's answers under ``/v1/``, and a test that received one
the SDK's types refuse fails with the problems listed.

The reference stack's mock-anthropic runs in its own process: ``reference_stack`` starts it
through :func:`create_validating_app`, which checks every ``/v1/`` answer the same way and
appends each problem to the file named by ``ANTHROPIC_SPEC_PROBLEMS``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import httpx
import httpx2
import pytest

from converge_twins.conformance import anthropic_types
from converge_twins.conformance.recording import RecordingTransport
from converge_twins.conformance.suite import Exchange, Recorder
from converge_twins.mock_anthropic.app import create_app
from tests.support.asgi import serve_asgi
from tests.support.openapi import CheckingRecorder
from tests.support.openapi import Exchange as AsgiExchange

KEY = "sk-ant-converge-test"
PROBLEMS_FILE_VARIABLE = "ANTHROPIC_SPEC_PROBLEMS"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}


def problems_of(exchanges: list[Exchange]) -> list[str]:
    found = []
    for exchange in exchanges:
        path = urlsplit(exchange.url).path
        if not path.startswith("/v1/"):
            continue
        for problem in anthropic_types.problems(
            exchange.method, path, exchange.status, exchange.media_type, exchange.body
        ):
            found.append(f"{exchange.method} {path} -> {exchange.status}: {problem}")
    return found


@dataclass
class Claude:
    """A twin and its checked clients."""

    url: str
    recorder: Recorder
    client: anthropic.Anthropic
    http: httpx.Client

    def sdk(self, **options: Any) -> anthropic.Anthropic:
        """Another SDK client on the same twin (say, with retries), checked the same way."""
        transport: Any = RecordingTransport(httpx2.HTTPTransport(), self.recorder)
        settings: dict[str, Any] = {"api_key": KEY, "max_retries": 0, **options}
        return anthropic.Anthropic(
            base_url=self.url, http_client=httpx2.Client(transport=transport), **settings
        )


def checked_twin(env: dict[str, str]) -> Iterator[Claude]:
    recorder = Recorder()
    with serve_asgi(create_app(env)) as url:
        transport: Any = RecordingTransport(httpx2.HTTPTransport(), recorder)
        client = anthropic.Anthropic(
            api_key=KEY, base_url=url, max_retries=0, http_client=httpx2.Client(transport=transport)
        )
        http = httpx.Client(
            base_url=url,
            transport=RecordingTransport(httpx.HTTPTransport(), recorder),  # type: ignore[arg-type]
            timeout=30,
        )
        try:
            yield Claude(url, recorder, client, http)
        finally:
            client.close()
            http.close()
    found = problems_of(recorder.exchanges)
    assert not found, "answers the SDK's types refuse:\n" + "\n".join(found)


@pytest.fixture
def claude() -> Iterator[Claude]:
    yield from checked_twin({"TWIN_SEED": "anthropic-tests"})


def _answer_problems(exchange: AsgiExchange) -> list[str]:
    """What the SDK's types do not allow in one ``/v1/`` answer, each naming the exchange."""
    media_type = exchange.response_headers.get("content-type", "").partition(";")[0]
    found = anthropic_types.problems(
        exchange.method, exchange.path, exchange.status, media_type.strip(), exchange.body
    )
    where = f"{exchange.method} {exchange.path} -> {exchange.status}"
    return [f"{where}: {problem}" for problem in found]


def create_validating_app(env: Mapping[str, str] | None = None) -> Any:
    """mock-anthropic as ``uvicorn --factory`` starts it, with its answers checked."""
    variables = os.environ if env is None else env
    return CheckingRecorder(
        create_app(env), "/v1/", Path(variables[PROBLEMS_FILE_VARIABLE]), _answer_problems
    )
