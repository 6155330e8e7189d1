"""The Starlette application: routes, error handlers, and the HTTP clients' lifetime.

``create_app`` is the uvicorn factory (``uvicorn --factory gravix_api.app:create_app``); it reads
its settings from the environment unless a test hands them in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gravix_api import account, analyses, billing, feedback, products
from gravix_api.anthropic_client import AnthropicClient
from gravix_api.config import Settings
from gravix_api.context import AppContext
from gravix_api.errors import ApiError, handle_api_error, handle_http_exception, handle_unexpected
from gravix_api.stripe_client import StripeClient
from gravix_api.supabase_client import SupabaseClient


async def health(request: Request) -> Response:
    # Cheap on purpose: it is polled while the stack starts, before the twins need to answer.
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        timeout = httpx.Timeout(
            settings.upstream_timeout, connect=min(settings.upstream_timeout, 5)
        )
        async with httpx.AsyncClient(timeout=timeout) as http:
            app.state.context = AppContext(
                settings=settings,
                anthropic=AnthropicClient(http, settings),
                db=SupabaseClient(http, settings),
                stripe=StripeClient(http, settings),
            )
            yield

    routes = [
        Route("/health", health, methods=["GET"]),
        *account.routes,
        *analyses.routes,
        *feedback.routes,
        *products.routes,
        *billing.routes,
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
