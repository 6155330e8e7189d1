"""HS256 JWTs signed with ``JWT_SECRET``, checked against the twin's clock.

Expiry is checked against the twin's clock rather than the wall clock, so a twin frozen at a past
instant still accepts the tokens it issued, and advancing its clock expires them.
"""

from __future__ import annotations

from typing import Any

import jwt

from converge_twins._determinism import Clock

DEFAULT_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
# GoTrue's words for a token it cannot use (golang-jwt's errors after its own prefix).
PREFIX = "invalid JWT: unable to parse or verify signature, "


class BadToken(Exception):
    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


class TokenIssuer:
    def __init__(self, secret: str, clock: Clock) -> None:
        self.secret = secret
        self.clock = clock

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def verify(self, token: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError as exc:
            raise BadToken(f"{PREFIX}token signature is invalid: signature is invalid") from exc
        except jwt.PyJWTError as exc:
            raise BadToken(f"{PREFIX}token is malformed: {exc}") from exc
        expires = claims.get("exp")
        if isinstance(expires, int | float) and expires <= self.clock.timestamp():
            raise BadToken(f"{PREFIX}token has invalid claims: token is expired", expired=True)
        return dict(claims)
