"""What every endpoint needs besides its request: the settings and the three clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from starlette.requests import Request

from converge_gravix.anthropic_client import AnthropicClient
from converge_gravix.config import Settings
from converge_gravix.stripe_client import StripeClient
from converge_gravix.supabase_client import SupabaseClient


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    anthropic: AnthropicClient
    db: SupabaseClient
    stripe: StripeClient


def context(request: Request) -> AppContext:
    return cast(AppContext, request.app.state.context)
