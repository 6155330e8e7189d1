"""Settings from environment variables, read once when the app is created.

The same variables configure the service under compose and as a local process; nothing else
(no files, no flags) so that both twin backends start it identically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import jwt

DEFAULT_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
DEFAULT_WEBHOOK_SECRET = "whsec_converge_test_secret"
ANTHROPIC_VERSION = "2023-06-01"


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    anthropic_base_url: str = "http://127.0.0.1:8101"
    anthropic_api_key: str = "sk-ant-converge-test"
    anthropic_model: str = "claude-sonnet-4-20250514"
    supabase_url: str = "http://127.0.0.1:8102"
    # None: minted from jwt_secret, as Supabase's own service-role key is a JWT signed with it.
    supabase_service_role_key: str | None = None
    jwt_secret: str = DEFAULT_JWT_SECRET
    stripe_api_base: str = "http://127.0.0.1:8103"
    stripe_secret_key: str = "sk_test_converge"
    stripe_webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    # Stripe's own libraries reject signatures older than five minutes (replay protection).
    stripe_webhook_tolerance: int = 300
    free_monthly_quota: int = 3
    upstream_timeout: float = 10.0
    # Where Stripe's hosted checkout sends the user back to (the product's web front end).
    app_url: str = "http://127.0.0.1:3000"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()

        def text(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value or default

        return cls(
            anthropic_base_url=text("ANTHROPIC_BASE_URL", defaults.anthropic_base_url),
            anthropic_api_key=text("ANTHROPIC_API_KEY", defaults.anthropic_api_key),
            anthropic_model=text("ANTHROPIC_MODEL", defaults.anthropic_model),
            supabase_url=text("SUPABASE_URL", defaults.supabase_url),
            supabase_service_role_key=env.get("SUPABASE_SERVICE_ROLE_KEY", "").strip() or None,
            jwt_secret=text("JWT_SECRET", defaults.jwt_secret),
            stripe_api_base=text("STRIPE_API_BASE", defaults.stripe_api_base),
            stripe_secret_key=text("STRIPE_SECRET_KEY", defaults.stripe_secret_key),
            stripe_webhook_secret=text("STRIPE_WEBHOOK_SECRET", defaults.stripe_webhook_secret),
            stripe_webhook_tolerance=_integer(
                env, "STRIPE_WEBHOOK_TOLERANCE", defaults.stripe_webhook_tolerance, minimum=0
            ),
            free_monthly_quota=_integer(
                env, "FREE_MONTHLY_QUOTA", defaults.free_monthly_quota, minimum=0
            ),
            upstream_timeout=_number(env, "UPSTREAM_TIMEOUT", defaults.upstream_timeout),
            app_url=text("APP_URL", defaults.app_url),
        )

    def service_role_key(self) -> str:
        if self.supabase_service_role_key:
            return self.supabase_service_role_key
        now = int(time.time())
        claims = {
            "iss": "supabase",
            "role": "service_role",
            "iat": now,
            "exp": now + 10 * 365 * 86400,
        }
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")


def _integer(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value
