"""Who is calling: the Supabase JWT verified, the effective tier, and the gates on both.

401 means "we do not know who you are" (no token, a token we did not sign, an expired one);
403 means "we know, and you may not" (a tier below the endpoint's, or not an admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from starlette.requests import Request

from converge_gravix import profiles
from converge_gravix.context import context
from converge_gravix.errors import ApiError
from converge_gravix.tiers import Tier, highest, parse_tier, rank

AUDIENCE = "authenticated"
ADMIN_ROLE = "service_role"


@dataclass(frozen=True)
class User:
    id: str
    email: str | None
    role: str
    tier: Tier  # effective: the token's tier, or a higher one bought since

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE


def verify_token(token: str, secret: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            options={"require": ["exp", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token_expired", "the access token has expired") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("invalid_token", "the access token is not valid") from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _unauthorized("invalid_token", "the access token names no user")
    return claims


async def authenticate(request: Request) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("missing_token", "an Authorization: Bearer <token> header is required")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("invalid_token", "the Authorization header must be 'Bearer <token>'")
    ctx = context(request)
    claims = verify_token(token.strip(), ctx.settings.jwt_secret)
    metadata = claims.get("app_metadata")
    claimed = parse_tier(metadata.get("tier")) if isinstance(metadata, dict) else None
    role = str(claims.get("role", ""))
    stored = None
    if role != ADMIN_ROLE:
        stored = profiles.stored_tier(await profiles.load(ctx.db, claims["sub"]))
    email = claims.get("email")
    return User(
        id=claims["sub"],
        email=email if isinstance(email, str) else None,
        role=role,
        tier=highest(claimed, stored),
    )


def require_tier(user: User, minimum: Tier) -> None:
    if not user.is_admin and rank(user.tier) < rank(minimum):
        raise ApiError(
            403,
            "tier_required",
            f"this endpoint needs the {minimum} tier or higher; your tier is {user.tier}",
            required_tier=minimum,
            tier=user.tier,
        )


def require_admin(user: User) -> None:
    if not user.is_admin:
        raise ApiError(403, "admin_required", "this endpoint is for administrators only")


def _unauthorized(code: str, message: str) -> ApiError:
    error = ApiError(401, code, message)
    error.headers["WWW-Authenticate"] = 'Bearer realm="gravix"'
    return error
