"""The built-in scenario variables: one signed JWT per tier, plus the API's base URL.

The tokens are shaped like the access tokens Supabase issues (HS256, ``aud``/``role``
"authenticated", the tier in ``app_metadata``), so the API under test verifies them exactly as it
would verify a real user's. They are minted per scenario run with a fresh ``sub`` and e-mail, so
that no two scenarios (or two runs of one scenario, or two workers) ever share a user and its quota
state. The ``sub`` is derived from the run id rather than drawn at random, so a run id always names
the same users: a failing run can be looked up in the API's logs by its id.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Collection

DEFAULT_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
JWT_SECRET_ENV = "CONVERGE_JWT_SECRET"
TOKEN_TTL = 3600 * 6  # seconds; long enough for the slowest run, and at least the 1 h promised

# variable name -> (app_metadata.tier, role, the user's label in its e-mail address)
TOKEN_USERS: dict[str, tuple[str, str, str]] = {
    "free_user_token": ("free", "authenticated", "free"),
    "pro_user_token": ("pro", "authenticated", "pro"),
    "quality_user_token": ("quality", "authenticated", "quality"),
    "enterprise_user_token": ("enterprise", "authenticated", "enterprise"),
    "admin_token": ("enterprise", "service_role", "admin"),
}
TOKEN_VARIABLES: frozenset[str] = frozenset(TOKEN_USERS)
BUILTIN_VARIABLES: frozenset[str] = TOKEN_VARIABLES | {"api_url"}

# A fixed namespace: uuid5(namespace, run id + user) is stable across processes and machines.
_SUB_NAMESPACE = uuid.UUID("6f1c2a52-6d0e-4a8e-9a57-1f3c0c4b7e21")
_EMAIL_UNSAFE = re.compile(r"[^a-z0-9-]+")


def jwt_secret_from_env(env_name: str = JWT_SECRET_ENV) -> str:
    """The secret that signs the tokens: ``$CONVERGE_JWT_SECRET`` when set and non-empty."""
    return os.environ.get(env_name) or DEFAULT_JWT_SECRET


def mint_token(
    secret: str,
    *,
    tier: str,
    role: str,
    sub: str,
    email: str,
    now: int,
    ttl: int = TOKEN_TTL,
) -> str:
    """One HS256 access token with Supabase's claim shape, valid from ``now`` for ``ttl`` s."""
    claims = {
        "sub": sub,
        "email": email,
        "aud": "authenticated",
        "role": role,
        "app_metadata": {"tier": tier, "provider": "email"},
        "user_metadata": {},
        "iat": now,
        "exp": now + ttl,
    }
    import jwt  # here: PyJWT and its cryptography cost start-up a run that signs no token

    return jwt.encode(claims, secret, algorithm="HS256")


def user_sub(run_id: str, label: str) -> str:
    """The ``sub`` of the user ``label`` (free, pro, ..., admin) in the run ``run_id``."""
    return str(uuid.uuid5(_SUB_NAMESPACE, f"{run_id}/{label}"))


def builtin_variables(
    secret: str,
    api_url: str,
    run_id: str,
    now: int | None = None,
    names: Collection[str] | None = None,
) -> dict[str, str]:
    """The built-in variables for one scenario run (tokens minted fresh for ``run_id``).

    ``names`` limits the tokens to those a scenario uses: signing is most of the runner's own
    cost per scenario run, and a token that is never sent needs no signature.
    """
    issued_at = int(time.time()) if now is None else now
    # The run id goes into an e-mail address: keep it to characters every validator accepts.
    local_id = _EMAIL_UNSAFE.sub("-", run_id.lower()).strip("-") or "run"
    variables = {
        name: mint_token(
            secret,
            tier=tier,
            role=role,
            sub=user_sub(run_id, label),
            email=f"{label}-{local_id}@converge.test",
            now=issued_at,
        )
        for name, (tier, role, label) in TOKEN_USERS.items()
        if names is None or name in names
    }
    variables["api_url"] = api_url
    return variables
