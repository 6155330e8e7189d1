"""What every endpoint needs besides its request: the settings and the three clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.requests import Request

from gravix_api.anthropic_client import AnthropicClient
from gravix_api.config import Settings
from gravix_api.stripe_client import StripeClient
from gravix_api.supabase_client import SupabaseClient


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    anthropic: AnthropicClient
    db: SupabaseClient
    stripe: StripeClient


def context(request: Request) -> AppContext:
    return cast(AppContext, request.app.state.context)
