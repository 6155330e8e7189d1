"""The caller's own account (``/v1/me``) and the administrators' view of any user's usage."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from converge_gravix import profiles
from converge_gravix.auth import User, authenticate, require_admin
from converge_gravix.context import context
from converge_gravix.usage import usage_of


async def me(request: Request) -> Response:
    user = await authenticate(request)
    ctx = context(request)
    usage = await usage_of(ctx.db, user, ctx.settings)
    return JSONResponse(
        {
            "id": user.id,
            "email": user.email,
            "role": user.role,
            "is_admin": user.is_admin,
            "tier": user.tier,
            "usage": usage.to_json(),
        }
    )


async def user_usage(request: Request) -> Response:
    require_admin(await authenticate(request))
    ctx = context(request)
    user_id = request.path_params["user_id"]
    profile = await profiles.load(ctx.db, user_id)
    # The admin cannot see the user's token, so only a tier recorded by an upgrade is known.
    stored = profiles.stored_tier(profile)
    subject = User(id=user_id, email=None, role="authenticated", tier=stored or "free")
    usage = await usage_of(ctx.db, subject, ctx.settings)
    return JSONResponse(
        {
            "user_id": user_id,
            "recorded_tier": stored,
            "stripe_customer_id": profile.get("stripe_customer_id") if profile else None,
            "usage": usage.to_json(),
        }
    )


routes = [
    Route("/v1/me", me, methods=["GET"]),
    Route("/v1/admin/users/{user_id}/usage", user_usage, methods=["GET"]),
]
