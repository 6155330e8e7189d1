"""mock-anthropic: ``POST /v1/messages`` (plain and SSE), ``count_tokens`` and ``GET /v1/models``.

Wire format as the official SDK expects it: the key in ``x-api-key`` or as a bearer token (any
key starting ``sk-ant-``, or exactly ``TWIN_ANTHROPIC_API_KEY`` when set), the
``anthropic-version`` header, errors as
``{"type": "error", "error": {"type", "message"}, "request_id"}`` with a ``request-id`` header,
the Message object, and the streaming event sequence ``message_start``, ``content_block_start``,
``ping``, ``content_block_delta``…, ``content_block_stop``, ``message_delta``, ``message_stop``.

Replies come from :mod:`converge_twins.mock_anthropic.replies`. Rules from
``TWIN_ANTHROPIC_RULES`` (a JSON list) always apply; rules posted to ``/_twin/rules`` are tried
before them and are cleared by ``DELETE /_twin/rules`` and by reset. Token counts are estimated
as one token per four characters, which is enough for ``max_tokens`` truncation and usage
numbers to behave.

Answers vary by run seed and by the ``TWIN_ANTHROPIC_VARIABILITY`` setting (``GET|POST
/_twin/variability``), as :mod:`converge_twins.mock_anthropic.variation` describes; a reset with
``{"seed": ...}`` restarts that run's stream, a full reset also restores the configured level.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from converge_twins._bodies import loads
from converge_twins._determinism import SeedStreams, request_seed
from converge_twins.control import CONTROL_PREFIX, Twin, build_app, environment
from converge_twins.mock_anthropic.models import Catalogue
from converge_twins.mock_anthropic.replies import (
    Rule,
    RuleError,
    analysis_subject,
    choose_rule,
    default_reply,
    parse_rules,
)
from converge_twins.mock_anthropic.variation import (
    VARIABILITY_ENV,
    Variation,
    parse_variability,
    variability_from,
)

# The SDKs pin newer dated versions over time; any date from the first public one on is accepted.
VERSION_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}")
OLDEST_VERSION = "2023-01-01"
MESSAGE_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "metadata",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
    }
)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
# The id of the request being answered, shared by the header and an error body's request_id.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
DEFAULT_MESSAGES = {
    "authentication_error": "invalid x-api-key",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "overloaded_error": "Overloaded",
    "api_error": "Internal server error",
}


class InvalidRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def block_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, dict) and block.get("type") == "tool_result":
            parts.append(block_text(block.get("content", "")))
    return "\n".join(parts)


def validate(body: Any) -> None:
    """Reject what the real API rejects, with its ``field: problem`` messages."""
    if not isinstance(body, dict):
        raise InvalidRequest("Input should be a valid dictionary")
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            raise InvalidRequest(f"{field}: Field required")
    extra = sorted(set(body) - MESSAGE_FIELDS)
    if extra:
        raise InvalidRequest(f"{extra[0]}: Extra inputs are not permitted")
    if not isinstance(body["model"], str) or not body["model"]:
        raise InvalidRequest("model: Input should be a valid string")
    max_tokens = body["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise InvalidRequest("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise InvalidRequest("max_tokens: Input should be greater than or equal to 1")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise InvalidRequest("messages: Input should be a valid list")
    if not messages:
        raise InvalidRequest("messages: at least one message is required")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"messages.{index}: Input should be a valid dictionary")
        if message.get("role") not in ("user", "assistant"):
            raise InvalidRequest(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if content is None:
            raise InvalidRequest(f"messages.{index}.content: Field required")
        if not isinstance(content, str | list):
            raise InvalidRequest(f"messages.{index}.content: Input should be a valid list")
        if not content:
            raise InvalidRequest(f"messages.{index}: all messages must have non-empty content")
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise InvalidRequest("system: Input should be a valid string")
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops)
    ):
        raise InvalidRequest("stop_sequences: Input should be a valid list of strings")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise InvalidRequest("stream: Input should be a valid boolean")


class AnthropicTwin:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.twin = Twin("mock-anthropic", env, self.error_response)
        self.api_key = env.get("TWIN_ANTHROPIC_API_KEY") or None
        self.catalogue = Catalogue(env)
        raw_rules = env.get("TWIN_ANTHROPIC_RULES") or "[]"
        try:
            self.env_rules = parse_rules(json.loads(raw_rules))
        except (ValueError, RuleError) as exc:
            raise SystemExit(f"mock-anthropic: TWIN_ANTHROPIC_RULES is not usable: {exc}") from exc
        self.posted_rules: list[Rule] = []
        self.twin.on_reset(self.posted_rules.clear)
        try:
            self.configured_variability = variability_from(env)
        except ValueError as exc:
            raise SystemExit(f"mock-anthropic: {VARIABILITY_ENV}: {exc}") from exc
        self.variability = self.configured_variability
        self.seed_streams = SeedStreams(self.twin.seed)
        self.unseeded = SeedStreams(self.twin.seed, capacity=1)  # one stream: no run seed
        self.twin.on_reset(self.reset_variation)
        self.twin.on_seed_reset(self.seed_streams.forget)

    def reset_variation(self) -> None:
        self.variability = self.configured_variability
        self.seed_streams.clear()
        self.unseeded.clear()

    def variation(self, seed: str | None) -> Variation | None:
        """The draws for one answer: the run seed's stream, the twin's own, or none at all."""
        if seed is not None:
            return Variation(self.seed_streams.stream(seed), self.variability)
        if self.variability > 0:
            return Variation(self.unseeded.stream(""), self.variability)
        return None

    # errors ------------------------------------------------------------------------------

    def request_id(self) -> str:
        """This request's id (the same in the header and an error's body)."""
        current = REQUEST_ID.get()
        if current is None:
            current = self.twin.ids.prefixed("req_011C", 20)
            REQUEST_ID.set(current)
        return current

    def error_response(self, status: int, path: str, message: str | None) -> Response:
        kind = ERROR_TYPES.get(status, "api_error")
        request_id = self.request_id()
        body = {
            "type": "error",
            "error": {"type": kind, "message": message or DEFAULT_MESSAGES.get(kind, kind)},
            "request_id": request_id,
        }
        return JSONResponse(body, status_code=status, headers={"request-id": request_id})

    def check_headers(self, request: Request) -> Response | None:
        # Newer SDKs send the key as a bearer token; the API takes either header.
        bearer = request.headers.get("authorization", "")
        key = request.headers.get("x-api-key") or bearer.removeprefix("Bearer ").strip()
        if not key:
            return self.error_response(401, request.url.path, "x-api-key header is required")
        valid = key == self.api_key if self.api_key else key.startswith("sk-ant-")
        if not valid:
            return self.error_response(401, request.url.path, "invalid x-api-key")
        version = request.headers.get("anthropic-version")
        if not version:
            return self.error_response(
                400, request.url.path, "anthropic-version: header is required"
            )
        if not VERSION_FORMAT.fullmatch(version) or version < OLDEST_VERSION:
            return self.error_response(
                400, request.url.path, f"anthropic-version: invalid version {version!r}"
            )
        return None

    async def read_request(self, request: Request) -> dict[str, Any]:
        try:
            body = loads(await request.body())
        except ValueError as exc:
            raise InvalidRequest(
                "There was an error parsing the body of your request, no JSON object found"
            ) from exc
        validate(body)
        model = body["model"]
        if self.catalogue.get(model) is None:
            raise InvalidRequest(f"model: {model}", 404)
        return dict(body)

    # the Messages API --------------------------------------------------------------------

    def compose(self, body: dict[str, Any], seed: str | None = None) -> dict[str, Any]:
        """The finished Message for a request (the stream splits its one content block)."""
        system = block_text(body.get("system") or "")
        texts = [block_text(message["content"]) for message in body["messages"]]
        prompt = "\n".join([system, *texts]) if system else "\n".join(texts)
        last_user = next(
            (
                block_text(message["content"])
                for message in reversed(body["messages"])
                if message["role"] == "user"
            ),
            texts[-1],
        )
        tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict)]
        raw_choice = body.get("tool_choice")
        choice: dict[str, Any] = raw_choice if isinstance(raw_choice, dict) else {}
        offers_tools = bool(tools) and choice.get("type") != "none"
        rule = choose_rule([*self.posted_rules, *self.env_rules], prompt, offers_tools)
        if rule is not None and rule.tool_input is not None:
            forced = choice.get("name") if choice.get("type") == "tool" else None
            name = rule.tool or forced or str(tools[0].get("name", "tool"))
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": self.twin.ids.prefixed("toolu_01", 22),
                "name": name,
                "input": rule.tool_input,
            }
            output_tokens = estimate_tokens(json.dumps(rule.tool_input))
            stop_reason, stop_sequence = "tool_use", None
        else:
            text = rule.reply if rule is not None and rule.reply is not None else None
            if text is None:
                text = default_reply(analysis_subject(last_user), self.variation(seed))
            stop_reason, stop_sequence = "end_turn", None
            for stop in body.get("stop_sequences") or []:
                cut = text.find(stop)
                if cut >= 0:
                    text, stop_reason, stop_sequence = text[:cut], "stop_sequence", stop
                    break
            if estimate_tokens(text) > body["max_tokens"]:
                text, stop_reason = text[: body["max_tokens"] * 4], "max_tokens"
                stop_sequence = None
            block = {"type": "text", "text": text}
            output_tokens = estimate_tokens(text) if text else 0
        return {
            "id": self.twin.ids.prefixed("msg_01", 22),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [block],
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": {
                "input_tokens": estimate_tokens(prompt),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": output_tokens,
                "service_tier": "standard",
            },
        }

    async def messages(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            body = await self.read_request(request)
        except InvalidRequest as exc:
            return self.error_response(exc.status, request.url.path, exc.message)
        message = self.compose(body, request_seed(request.headers.items()))
        request_id = self.request_id()
        if not body.get("stream"):
            return JSONResponse(message, headers={"request-id": request_id})
        return StreamingResponse(
            self.events(message),
            media_type="text/event-stream; charset=utf-8",
            headers={"request-id": request_id, "cache-control": "no-cache"},
        )

    async def events(self, message: dict[str, Any]) -> AsyncIterator[bytes]:
        def event(name: str, data: dict[str, Any]) -> bytes:
            return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

        usage = message["usage"]
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 1},
        }
        yield event("message_start", {"type": "message_start", "message": start})
        block = message["content"][0]
        # A tool call starts with an empty input and streams its JSON in pieces, as the API does.
        if block["type"] == "tool_use":
            opening, whole = {**block, "input": {}}, json.dumps(block["input"])
            delta_type, delta_field = "input_json_delta", "partial_json"
        else:
            opening, whole = {"type": "text", "text": ""}, block["text"]
            delta_type, delta_field = "text_delta", "text"
        yield event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": opening},
        )
        yield event("ping", {"type": "ping"})
        for piece in chunks(whole):
            yield event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": delta_type, delta_field: piece},
                },
            )
        yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": message["stop_reason"],
                    "stop_sequence": message["stop_sequence"],
                },
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
        yield event("message_stop", {"type": "message_stop"})

    async def count_tokens(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            body = loads(await request.body())
            if not isinstance(body, dict) or "messages" not in body or "model" not in body:
                raise InvalidRequest("messages: Field required")
            validate({**body, "max_tokens": 1})
        except ValueError:
            return self.error_response(400, request.url.path, "Invalid JSON body")
        except InvalidRequest as exc:
            return self.error_response(exc.status, request.url.path, exc.message)
        texts = [block_text(m["content"]) for m in body["messages"]]
        system = block_text(body.get("system") or "")
        prompt = "\n".join([system, *texts]) if system else "\n".join(texts)
        return JSONResponse({"input_tokens": estimate_tokens(prompt)})

    # models ------------------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        query = request.query_params
        models = [model.info() for model in self.catalogue.models]
        ids = [model["id"] for model in models]
        if query.get("after_id") in ids:
            models = models[ids.index(query["after_id"]) + 1 :]
        elif query.get("before_id") in ids:
            models = models[: ids.index(query["before_id"])]
        limit_text = query.get("limit", "20")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            return self.error_response(400, request.url.path, "limit: must be from 1 to 1000")
        page = models[: int(limit_text)]
        return JSONResponse(
            {
                "data": page,
                "has_more": len(models) > len(page),
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
            }
        )

    async def get_model(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        wanted = request.path_params["model_id"]
        model = self.catalogue.get(wanted)
        if model is None:
            return self.error_response(404, request.url.path, f"model: {wanted}")
        return JSONResponse(model.info())

    # control -----------------------------------------------------------------------------

    async def rules(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.posted_rules.extend(parse_rules(loads(await request.body())))
            except (ValueError, RuleError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        elif request.method == "DELETE":
            self.posted_rules.clear()
        return JSONResponse(
            {
                "posted": [rule.describe() for rule in self.posted_rules],
                "configured": [rule.describe() for rule in self.env_rules],
            },
            status_code=201 if request.method == "POST" else 200,
        )

    async def variability_level(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                spec = json.loads(await request.body() or b"{}")
                if not isinstance(spec, dict) or set(spec) != {"level"}:
                    raise ValueError('send {"level": a number from 0 to 1}')
                self.variability = parse_variability(spec["level"])
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"level": self.variability, "configured": self.configured_variability})

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/models/{model_id}", self.get_model, methods=["GET"]),
        ]


def chunks(text: str, size: int = 24) -> list[str]:
    """Stream pieces cut after whitespace near ``size`` characters, as a tokenizer roughly would."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        space = text.rfind(" ", start + 1, end)
        if end < len(text) and space > start:
            end = space + 1
        pieces.append(text[start:end])
        start = end
    return pieces


class ResponseHeaders:
    """Every answer of the API (not of the control plane) carries its ``request-id``."""

    def __init__(self, app: ASGIApp, twin: AnthropicTwin) -> None:
        self.app = app
        self.twin = twin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        token = REQUEST_ID.set(None)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "request-id" not in headers:
                    headers["request-id"] = self.twin.request_id()
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        finally:
            REQUEST_ID.reset(token)


def create_app(env: Mapping[str, str] | None = None) -> ASGIApp:
    twin = AnthropicTwin(environment(env))
    return build_app(
        twin.twin,
        twin.routes(),
        [
            Route("/rules", twin.rules, methods=["GET", "POST", "DELETE"]),
            Route("/variability", twin.variability_level, methods=["GET", "POST"]),
        ],
        lambda app: ResponseHeaders(app, twin),
    )
