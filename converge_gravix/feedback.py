"""Feedback on an analysis: a 1-5 rating and an optional comment, by the analysis's owner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from converge_gravix import payload
from converge_gravix.analyses import find_owned
from converge_gravix.auth import authenticate
from converge_gravix.context import context
from converge_gravix.supabase_client import Row

TABLE = "feedback"
MAX_COMMENT = 2_000


async def create_feedback(request: Request) -> Response:
    user = await authenticate(request)
    ctx = context(request)
    analysis = await find_owned(ctx.db, user, request.path_params["analysis_id"])
    body = await payload.json_object(request)
    rating = payload.integer(body, "rating", minimum=1, maximum=5)
    comment = payload.text(body, "comment", max_length=MAX_COMMENT, required=False)
    row = await ctx.db.insert(
        TABLE,
        {
            "id": str(uuid.uuid4()),
            "analysis_id": analysis["id"],
            "user_id": user.id,
            "rating": rating,
            "comment": comment,
            "created_at": datetime.now(UTC).isoformat(),
        },
    )
    return JSONResponse(_view(row), status_code=201)


async def list_feedback(request: Request) -> Response:
    user = await authenticate(request)
    ctx = context(request)
    analysis = await find_owned(ctx.db, user, request.path_params["analysis_id"])
    rows = await ctx.db.select(
        TABLE, {"analysis_id": f"eq.{analysis['id']}"}, order="created_at.asc"
    )
    ratings = [row["rating"] for row in rows if isinstance(row.get("rating"), int)]
    average = round(sum(ratings) / len(ratings), 2) if ratings else None
    return JSONResponse(
        {
            "analysis_id": analysis["id"],
            "count": len(rows),
            "average_rating": average,
            "items": [_view(row) for row in rows],
        }
    )


def _view(row: Row) -> dict[str, Any]:
    return {key: row.get(key) for key in ("id", "analysis_id", "rating", "comment", "created_at")}


routes = [
    Route("/v1/analyses/{analysis_id}/feedback", create_feedback, methods=["POST"]),
    Route("/v1/analyses/{analysis_id}/feedback", list_feedback, methods=["GET"]),
]
