"""mock-anthropic: the Messages API (plain and streamed), token counting, models, message
batches and files, as the official SDK expects them.

Wire format: the key in ``x-api-key`` or as a bearer token (any key starting ``sk-ant-``, or
exactly ``TWIN_ANTHROPIC_API_KEY`` when set), the ``anthropic-version`` header, errors as
``{"type": "error", "error": {"type", "message"}, "request_id"}``, and on every answer the
``request-id`` and ``anthropic-organization-id`` headers; the Messages API's answers also carry
the ``anthropic-ratelimit-*`` headers (:mod:`.ratelimits`).

Requests are checked as the API checks them (:mod:`.validation`), answered as its contract
says (:mod:`.compose`: forced tool calls valid against their schema, structured output valid
against its schema, thinking, prefill, stop sequences, ``max_tokens``), counted and cached as it
counts and caches (:mod:`.prompt`). Batches (:mod:`.batches`) and files (:mod:`.files`) keep
their state until a reset; the models are a catalogue (:mod:`.models`).

Replies come from :mod:`.replies`: rules from ``TWIN_ANTHROPIC_RULES`` (a JSON list) always
apply; rules posted to ``/_twin/rules`` are tried before them and are cleared by ``DELETE
/_twin/rules`` and by reset. Answers vary by run seed and by ``TWIN_ANTHROPIC_VARIABILITY``
(``GET|POST /_twin/variability``), as :mod:`.variation` describes; a reset with ``{"seed":
...}`` restarts that run's stream, a full reset also restores the configured level.

Control routes of its own: ``/_twin/rules``, ``/_twin/variability``, ``GET|POST
/_twin/ratelimits`` (the limits in effect; ``{"requests_per_minute": 2}`` changes them until a
reset) and ``POST /_twin/files`` (``{"filename", "content", "mime_type"}``: a downloadable file,
as a tool would have made).
"""

from __future__ import annotations

import json
import math
import re
import uuid
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
from converge_twins.mock_anthropic.batches import Batches, parse_requests
from converge_twins.mock_anthropic.compose import Context, compose, events
from converge_twins.mock_anthropic.files import Files, upload_fields
from converge_twins.mock_anthropic.models import Catalogue, Model
from converge_twins.mock_anthropic.prompt import PromptCache, input_tokens
from converge_twins.mock_anthropic.ratelimits import RateLimits
from converge_twins.mock_anthropic.replies import Rule, RuleError, parse_rules
from converge_twins.mock_anthropic.validation import InvalidRequest, validate
from converge_twins.mock_anthropic.variation import (
    VARIABILITY_ENV,
    Variation,
    parse_variability,
    variability_from,
)

# The SDKs pin newer dated versions over time; any date from the first public one on is accepted.
VERSION_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}")
OLDEST_VERSION = "2023-01-01"
FILES_BETA = "files-api-2025-04-14"
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
DEFAULT_MESSAGES = {
    "authentication_error": "invalid x-api-key",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "overloaded_error": "Overloaded",
    "api_error": "Internal server error",
}
# The id of the request being answered, shared by the header and an error body's request_id.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


class AnthropicTwin:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.twin = Twin("mock-anthropic", env, self.error_response)
        self.api_key = env.get("TWIN_ANTHROPIC_API_KEY") or None
        self.catalogue = Catalogue(env)
        self.organization = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mock-anthropic:{self.twin.seed}"))
        raw_rules = env.get("TWIN_ANTHROPIC_RULES") or "[]"
        try:
            self.env_rules = parse_rules(json.loads(raw_rules))
        except (ValueError, RuleError) as exc:
            raise SystemExit(f"mock-anthropic: TWIN_ANTHROPIC_RULES is not usable: {exc}") from exc
        self.posted_rules: list[Rule] = []
        try:
            self.configured_variability = variability_from(env)
            batch_seconds = float(env.get("TWIN_ANTHROPIC_BATCH_SECONDS") or 0)
            self.limits = RateLimits(env)
        except ValueError as exc:
            raise SystemExit(f"mock-anthropic: {VARIABILITY_ENV} or a limit: {exc}") from exc
        self.variability = self.configured_variability
        self.seed_streams = SeedStreams(self.twin.seed)
        self.unseeded = SeedStreams(self.twin.seed, capacity=1)  # one stream: no run seed
        self.cache = PromptCache()
        self.batches = Batches(batch_seconds)
        self.files = Files()
        self.twin.on_reset(self.reset)
        self.twin.on_seed_reset(self.seed_streams.forget)

    def reset(self) -> None:
        self.posted_rules.clear()
        self.variability = self.configured_variability
        self.seed_streams.clear()
        self.unseeded.clear()
        self.cache.clear()
        self.batches.clear()
        self.files.clear()
        self.limits.reset(self.now())

    def now(self) -> float:
        return self.twin.clock.now().timestamp()

    def variation(self, seed: str | None) -> Variation | None:
        """The draws for one answer: the run seed's stream, the twin's own, or none at all."""
        if seed is not None:
            return Variation(self.seed_streams.stream(seed), self.variability)
        if self.variability > 0:
            return Variation(self.unseeded.stream(""), self.variability)
        return None

    # errors and headers --------------------------------------------------------------------

    def request_id(self) -> str:
        """This request's id (the same in the header and an error's body)."""
        current = REQUEST_ID.get()
        if current is None:
            current = self.twin.ids.prefixed("req_011C", 20)
            REQUEST_ID.set(current)
        return current

    def error_body(
        self, status: int, message: str | None, code: str | None = None
    ) -> dict[str, Any]:
        kind = ERROR_TYPES.get(status, "api_error")
        error: dict[str, Any] = {
            "type": kind,
            "message": message or DEFAULT_MESSAGES.get(kind, kind),
        }
        if code is not None:
            error["details"] = {"error_code": code}
        return {"type": "error", "error": error, "request_id": self.request_id()}

    def error_response(self, status: int, path: str, message: str | None) -> Response:
        headers = {"request-id": self.request_id()}
        if status == 429:
            headers.update(self.limits.headers(self.now()))
            headers["retry-after"] = "1"
        return JSONResponse(self.error_body(status, message), status_code=status, headers=headers)

    def refusal(self, exc: InvalidRequest) -> Response:
        body = self.error_body(exc.status, exc.message, exc.code)
        return JSONResponse(body, status_code=exc.status, headers={"request-id": self.request_id()})

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

    async def json_body(self, request: Request) -> Any:
        try:
            return loads(await request.body())
        except ValueError as exc:
            raise InvalidRequest(
                "There was an error parsing the body of your request, no JSON object found"
            ) from exc

    def model_of(self, body: Any) -> Model | None:
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return None
        return self.catalogue.get(body["model"])

    def checked(self, body: Any, *, counting: bool = False) -> tuple[dict[str, Any], Model]:
        """The body of a Messages (or counting) request, validated; InvalidRequest if not."""
        model = self.model_of(body)
        validate(body, model, counting=counting)
        if model is None:
            raise InvalidRequest(f"model: {body['model']}", 404)
        self.files_exist(body)
        return dict(body), model

    def files_exist(self, body: dict[str, Any]) -> None:
        for index, message in enumerate(body.get("messages") or []):
            for number, block in enumerate(
                message.get("content") if isinstance(message.get("content"), list) else []
            ):
                source = block.get("source") if isinstance(block, dict) else None
                if (
                    isinstance(source, dict)
                    and source.get("type") == "file"
                    and self.files.get(str(source.get("file_id")), self.twin.clock.now()) is None
                ):
                    raise InvalidRequest(
                        f"messages.{index}.content.{number}.source.file_id: file "
                        f"{source.get('file_id')!r} not found",
                        404,
                    )

    # the Messages API ----------------------------------------------------------------------

    def answer(self, body: dict[str, Any], model: Model, seed: str | None) -> dict[str, Any]:
        context = Context(
            [*self.posted_rules, *self.env_rules],
            self.variation(seed),
            self.twin.ids.prefixed,
            self.twin.seed,
        )
        use = self.cache.use(model.id, body, self.now(), model.min_cacheable_tokens)
        message = compose(body, context, use)
        self.limits.spend_output(message["usage"]["output_tokens"])
        return message

    def admitted(self, body: dict[str, Any]) -> Response | None:
        wait = self.limits.admit(input_tokens(body), self.now())
        if not wait:
            return None
        response = self.error_response(429, "/v1/messages", None)
        response.headers["retry-after"] = str(max(1, math.ceil(wait)))
        return response

    async def messages(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            body, model = self.checked(await self.json_body(request))
            limited = self.admitted(body)
            if limited is not None:
                return limited
            message = self.answer(body, model, request_seed(request.headers.items()))
        except InvalidRequest as exc:
            return self.refusal(exc)
        headers = {"request-id": self.request_id()}
        if not body.get("stream"):
            return JSONResponse(message, headers=headers)

        async def stream() -> AsyncIterator[bytes]:
            for event in events(message):
                yield event

        return StreamingResponse(
            stream(),
            media_type="text/event-stream; charset=utf-8",
            headers={**headers, "cache-control": "no-cache"},
        )

    async def count_tokens(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            body, _ = self.checked(await self.json_body(request), counting=True)
            limited = self.admitted({**body, "messages": []})
            if limited is not None:
                return limited
            return JSONResponse({"input_tokens": input_tokens(body)})
        except InvalidRequest as exc:
            return self.refusal(exc)

    # models --------------------------------------------------------------------------------

    async def list_models(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            page = self.page([m.info() for m in self.catalogue.models], request)
        except InvalidRequest as exc:
            return self.refusal(exc)
        return JSONResponse(page)

    def page(self, items: list[dict[str, Any]], request: Request) -> dict[str, Any]:
        """A page of ``items`` by ``limit``, ``after_id`` and ``before_id`` (newest first)."""
        query = request.query_params
        ids = [item["id"] for item in items]
        limit_text = query.get("limit", "20")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            raise InvalidRequest(
                "limit: Input should be greater than or equal to 1 and less than or equal to 1000"
            )
        limit = int(limit_text)
        if query.get("after_id") in ids:
            items = items[ids.index(query["after_id"]) + 1 :]
            page = items[:limit]
            more = len(items) > limit
        elif query.get("before_id") in ids:
            items = items[: ids.index(query["before_id"])]
            page = items[-limit:]
            more = len(items) > limit
        else:
            page = items[:limit]
            more = len(items) > limit
        return {
            "data": page,
            "has_more": more,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }

    async def get_model(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        wanted = request.path_params["model_id"]
        model = self.catalogue.get(wanted)
        if model is None:
            return self.error_response(404, request.url.path, f"model: {wanted}")
        return JSONResponse(model.info())

    # message batches -----------------------------------------------------------------------

    def settle(self, request: Request) -> None:
        base = str(request.base_url).rstrip("/")
        now = self.twin.clock.now()
        for batch in list(self.batches.batches.values()):
            self.batches.settle(batch, now, self.batch_answer, self.batch_error, base)

    def batch_answer(self, params: dict[str, Any]) -> dict[str, Any]:
        body, model = self.checked(params)
        message = self.answer(body, model, None)
        message["usage"]["service_tier"] = "batch"
        return message

    def batch_error(self, exc: InvalidRequest) -> dict[str, Any]:
        return self.error_body(exc.status, exc.message, exc.code)

    def batch_or_404(self, request: Request) -> Any:
        batch = self.batches.get(request.path_params["batch_id"])
        if batch is None:
            raise InvalidRequest(
                f"message_batch_id: no batch {request.path_params['batch_id']!r}", 404
            )
        return batch

    async def batches_root(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            if request.method == "POST":
                requests = parse_requests(await self.json_body(request))
                batch = self.batches.create(
                    self.twin.ids.prefixed("msgbatch_01", 22), self.twin.clock.now(), requests
                )
                return JSONResponse(batch.describe())
            self.settle(request)
            items = [batch.describe() for batch in self.batches.newest_first()]
            return JSONResponse(self.page(items, request))
        except InvalidRequest as exc:
            return self.refusal(exc)

    async def batch(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            batch = self.batch_or_404(request)
            if request.method == "DELETE":
                if batch.status != "ended":
                    raise InvalidRequest(
                        f"Batch {batch.id} cannot be deleted while it is in progress: cancel "
                        "it first."
                    )
                del self.batches.batches[batch.id]
                return JSONResponse({"id": batch.id, "type": "message_batch_deleted"})
            self.settle(request)
            return JSONResponse(batch.describe())
        except InvalidRequest as exc:
            return self.refusal(exc)

    async def cancel_batch(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            batch = self.batch_or_404(request)
            # Cancelling an ended batch changes nothing (its results stand).
            if batch.status == "in_progress":
                batch.status = "canceling"
                batch.cancel_initiated_at = self.twin.clock.now()
            return JSONResponse(batch.describe())
        except InvalidRequest as exc:
            return self.refusal(exc)

    async def batch_results(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            batch = self.batch_or_404(request)
            self.settle(request)
            if batch.status != "ended":
                raise InvalidRequest(f"Batch {batch.id} has not ended: no results yet.", 404)
        except InvalidRequest as exc:
            return self.refusal(exc)
        return Response(
            self.batches.jsonl(batch),
            media_type="application/x-jsonl",
            headers={"request-id": self.request_id()},
        )

    # files ---------------------------------------------------------------------------------

    def file_or_404(self, request: Request) -> Any:
        file_id = request.path_params["file_id"]
        found = self.files.get(file_id, self.twin.clock.now())
        if found is None:
            raise InvalidRequest(f"File not found: {file_id}", 404)
        return found

    async def files_root(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            if request.method == "POST":
                filename, mime, content, expiry = upload_fields(
                    await request.body(), request.headers.get("content-type", "")
                )
                stored = self.files.add(
                    self.twin.ids.prefixed("file_011C", 22),
                    filename,
                    mime,
                    content,
                    self.twin.clock.now(),
                    expires_in=expiry,
                )
                return JSONResponse(stored.describe())
            return JSONResponse(self.files_page(request))
        except InvalidRequest as exc:
            return self.refusal(exc)

    def files_page(self, request: Request) -> dict[str, Any]:
        files = [f.describe() for f in self.files.live(self.twin.clock.now())]
        wanted = request.query_params.getlist("ids")
        if wanted:
            files = [f for f in files if f["id"] in wanted]
        if FILES_BETA in request.headers.get("anthropic-beta", ""):
            return self.page(files, request)
        limit_text = request.query_params.get("limit", "20")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            raise InvalidRequest(
                "limit: Input should be greater than or equal to 1 and less than or equal to 1000"
            )
        cursor = request.query_params.get("page")
        ids = [f["id"] for f in files]
        if cursor:
            if cursor not in ids:
                raise InvalidRequest(f"page: unknown page cursor {cursor!r}")
            files = files[ids.index(cursor) + 1 :]
        limit = int(limit_text)
        page = files[:limit]
        return {"data": page, "next_page": page[-1]["id"] if len(files) > limit else None}

    async def file(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            stored = self.file_or_404(request)
            if request.method == "DELETE":
                del self.files.files[stored.id]
                return JSONResponse({"id": stored.id, "type": "file_deleted"})
            return JSONResponse(stored.describe())
        except InvalidRequest as exc:
            return self.refusal(exc)

    async def file_content(self, request: Request) -> Response:
        refused = self.check_headers(request)
        if refused is not None:
            return refused
        try:
            stored = self.file_or_404(request)
            if not stored.downloadable:
                raise InvalidRequest(
                    f"File {stored.id} is not downloadable: only files created by a tool can "
                    "be downloaded.",
                    400,
                    "file_not_downloadable",
                )
        except InvalidRequest as exc:
            return self.refusal(exc)
        return Response(
            stored.content, media_type=stored.mime_type, headers={"request-id": self.request_id()}
        )

    # control -------------------------------------------------------------------------------

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

    async def ratelimits(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                changed = RateLimits.parse(loads(await request.body() or b"{}"))
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            self.limits.set({**self.limits.limits, **changed}, self.now())
        return JSONResponse({"limits": self.limits.limits, "configured": self.limits.configured})

    async def make_file(self, request: Request) -> Response:
        try:
            spec = loads(await request.body() or b"{}")
            if not isinstance(spec, dict) or not isinstance(spec.get("content"), str):
                raise ValueError('send {"filename", "content" (text), "mime_type"?}')
            filename = str(spec.get("filename") or "output.txt")
            mime = str(spec.get("mime_type") or "text/plain")
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        stored = self.files.add(
            self.twin.ids.prefixed("file_011C", 22),
            filename,
            mime,
            spec["content"].encode(),
            self.twin.clock.now(),
            downloadable=True,
        )
        return JSONResponse(stored.describe(), status_code=201)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
            Route("/v1/messages/batches", self.batches_root, methods=["GET", "POST"]),
            Route("/v1/messages/batches/{batch_id}", self.batch, methods=["GET", "DELETE"]),
            Route("/v1/messages/batches/{batch_id}/cancel", self.cancel_batch, methods=["POST"]),
            Route("/v1/messages/batches/{batch_id}/results", self.batch_results, methods=["GET"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/models/{model_id}", self.get_model, methods=["GET"]),
            Route("/v1/files", self.files_root, methods=["GET", "POST"]),
            Route("/v1/files/{file_id}", self.file, methods=["GET", "DELETE"]),
            Route("/v1/files/{file_id}/content", self.file_content, methods=["GET"]),
        ]

    def control(self) -> list[BaseRoute]:
        return [
            Route("/rules", self.rules, methods=["GET", "POST", "DELETE"]),
            Route("/variability", self.variability_level, methods=["GET", "POST"]),
            Route("/ratelimits", self.ratelimits, methods=["GET", "POST"]),
            Route("/files", self.make_file, methods=["POST"]),
        ]


class ResponseHeaders:
    """Every answer of the API carries its ``request-id`` and the organization's id; the
    Messages API's also carry the rate limits in effect."""

    def __init__(self, app: ASGIApp, twin: AnthropicTwin) -> None:
        self.app = app
        self.twin = twin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        token = REQUEST_ID.set(None)
        limited = scope["path"].startswith("/v1/messages")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "request-id" not in headers:
                    headers["request-id"] = self.twin.request_id()
                headers["anthropic-organization-id"] = self.twin.organization
                if limited and "anthropic-ratelimit-requests-limit" not in headers:
                    for name, value in self.twin.limits.headers(self.twin.now()).items():
                        headers[name] = value
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
        twin.control(),
        lambda app: ResponseHeaders(app, twin),
        state=twin,
    )
