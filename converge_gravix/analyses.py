"""Analyses: a failure description in, Claude's structured diagnosis out, kept per user.

The model is asked for one JSON object; its reply is parsed here and stored as ``result``. A
reply that is not a JSON object is the dependency's failure (502), never the client's.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from converge_gravix import payload
from converge_gravix.anthropic_client import AnthropicClient
from converge_gravix.auth import User, authenticate, require_tier
from converge_gravix.context import context
from converge_gravix.errors import ApiError, UpstreamError
from converge_gravix.supabase_client import Row, SupabaseClient
from converge_gravix.tiers import BATCH_LIMIT
from converge_gravix.usage import ANALYSES, current_month, ensure_room, usage_of

MAX_TEXT = 20_000
LIST_LIMIT = 50

SYSTEM_PROMPT = (
    "You are Gravix's analysis engine. Analyse the text the user gives between <text> tags. "
    "Reply with exactly one JSON object and nothing else, shaped as "
    '{"summary": string, "sentiment": "positive" | "neutral" | "negative", '
    '"score": number from 0 (negative) to 1 (positive), "keywords": [string], '
    '"categories": [string]}.'
)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


async def create_analysis(request: Request) -> Response:
    user = await authenticate(request)
    body = await payload.json_object(request)
    text = payload.required_text(body, "text", max_length=MAX_TEXT)
    ctx = context(request)
    usage = await usage_of(ctx.db, user, ctx.settings)
    ensure_room(usage)
    row = await _analyse(ctx.anthropic, ctx.db, user, text)
    return JSONResponse(
        {**_view(row), "tier": user.tier, "usage": usage.counting(1).to_json()}, status_code=201
    )


async def create_batch(request: Request) -> Response:
    user = await authenticate(request)
    require_tier(user, "quality")
    body = await payload.json_object(request)
    texts = body.get("texts")
    if not isinstance(texts, list) or not 1 <= len(texts) <= BATCH_LIMIT:
        raise payload.invalid(f"texts must be a list of 1 to {BATCH_LIMIT} strings", "texts")
    checked = [payload.required_text({"text": t}, "text", max_length=MAX_TEXT) for t in texts]
    ctx = context(request)
    rows = [await _analyse(ctx.anthropic, ctx.db, user, text) for text in checked]
    return JSONResponse(
        {"tier": user.tier, "count": len(rows), "items": [_view(row) for row in rows]},
        status_code=201,
    )


async def list_analyses(request: Request) -> Response:
    user = await authenticate(request)
    rows = await context(request).db.select(
        ANALYSES, {"user_id": f"eq.{user.id}"}, order="created_at.desc", limit=LIST_LIMIT
    )
    return JSONResponse({"count": len(rows), "items": [_view(row) for row in rows]})


async def get_analysis(request: Request) -> Response:
    user = await authenticate(request)
    row = await find_owned(context(request).db, user, request.path_params["analysis_id"])
    return JSONResponse(_view(row))


async def find_owned(db: SupabaseClient, user: User, analysis_id: str) -> Row:
    """The analysis if the caller may see it; 404 otherwise, so ids of others do not leak."""
    if _is_uuid(analysis_id):
        filters = {"id": f"eq.{analysis_id}"}
        if not user.is_admin:
            filters["user_id"] = f"eq.{user.id}"
        rows = await db.select(ANALYSES, filters, limit=1)
        if rows:
            return rows[0]
    raise ApiError(404, "analysis_not_found", f"no analysis {analysis_id} for this user")


async def _analyse(anthropic: AnthropicClient, db: SupabaseClient, user: User, text: str) -> Row:
    # The tags keep the user's text apart from the instructions (a basic prompt-injection fence).
    completion = await anthropic.complete(SYSTEM_PROMPT, f"<text>{text}</text>")
    now = datetime.now(UTC)
    row = {
        "id": str(uuid.uuid4()),
        "user_id": user.id,
        "text": text,
        "result": parse_result(completion.text),
        "model": completion.model,
        "input_tokens": completion.input_tokens,
        "output_tokens": completion.output_tokens,
        "month": current_month(now),
        "created_at": now.isoformat(),
    }
    return await db.insert(ANALYSES, row)


def parse_result(reply: str) -> dict[str, Any]:
    """The JSON object in the model's reply, tolerating a Markdown fence around it."""
    candidate = _FENCE.sub("", reply.strip())
    try:
        parsed = json.loads(candidate)
    except ValueError:
        start, end = candidate.find("{"), candidate.rfind("}")
        try:
            parsed = json.loads(candidate[start : end + 1]) if 0 <= start < end else None
        except ValueError:
            parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamError(
            "anthropic", "anthropic's reply held no JSON analysis", unavailable=False
        )
    return parsed


def _view(row: Row) -> dict[str, Any]:
    return {key: row.get(key) for key in ("id", "user_id", "text", "result", "model", "created_at")}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


routes = [
    Route("/v1/analyses", create_analysis, methods=["POST"]),
    Route("/v1/analyses", list_analyses, methods=["GET"]),
    Route("/v1/analyses/batch", create_batch, methods=["POST"]),
    Route("/v1/analyses/{analysis_id}", get_analysis, methods=["GET"]),
]
