"""The Starlette application: routes, error handlers, and the HTTP clients' lifetime.

``create_app`` is the uvicorn factory (``uvicorn --factory converge_gravix.app:create_app``); it
reads its settings from the environment unless a test hands them in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from converge_gravix import account, analyses, billing, feedback, products
from converge_gravix.anthropic_client import AnthropicClient
from converge_gravix.config import Settings
from converge_gravix.context import AppContext
from converge_gravix.errors import (
    ApiError,
    handle_api_error,
    handle_http_exception,
    handle_unexpected,
)
from converge_gravix.propagation import BaggageMiddleware
from converge_gravix.stripe_client import StripeClient
from converge_gravix.supabase_client import SupabaseClient
from converge_twins.access_log import hide_query_values


async def health(request: Request) -> Response:
    # Cheap on purpose: it is polled while the stack starts, before the twins need to answer.
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    hide_query_values()  # tokens sent in query strings stay out of uvicorn's access log

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
        middleware=[Middleware(BaggageMiddleware)],
        lifespan=lifespan,
        exception_handlers={
            ApiError: handle_api_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )
