"""mock-supabase: GoTrue under ``/auth/v1`` and PostgREST under ``/rest/v1``, behind a gateway.

As on a real project, every request needs the ``apikey`` header (or ``?apikey=``): an HS256 JWT
signed with ``JWT_SECRET`` whose role is ``anon`` or ``service_role``. A missing or wrong key is
the gateway's 401 ``{"message", "hint"}``. PostgREST also checks the ``Authorization`` bearer
token when there is one (401 ``PGRST301`` for a bad signature, ``PGRST303`` when expired).

Environment: ``JWT_SECRET`` (default: the converge default secret), ``TWIN_SUPABASE_TABLES``
(comma-separated table names: only these exist; unset: tables appear on first use),
``TWIN_SUPABASE_JWT_EXPIRY`` (seconds, default 3600), plus the shared ``TWIN_*`` variables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from converge_twins.control import Twin, build_app, environment
from converge_twins.mock_supabase.auth import AuthError, GoTrue, auth_error_response
from converge_twins.mock_supabase.rest import PostgREST
from converge_twins.mock_supabase.tables import PostgrestError, Store
from converge_twins.mock_supabase.tokens import DEFAULT_JWT_SECRET, BadToken, TokenIssuer

Handler = Callable[[Request], Awaitable[Response]]
KEY_ROLES = frozenset({"anon", "service_role"})


def gateway_error(status: int, message: str, hint: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message}
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status)


def error_response(status: int, path: str, message: str | None) -> Response:
    """The body the failing layer would send: GoTrue's, PostgREST's, or the gateway's."""
    if path.startswith("/auth/v1"):
        codes = {429: "over_request_rate_limit", 404: "not_found", 401: "no_authorization"}
        return JSONResponse(
            {
                "code": status,
                "error_code": codes.get(status, "unexpected_failure"),
                "msg": message
                or "Unexpected failure, please check server logs for more information",
            },
            status_code=status,
        )
    if path.startswith("/rest/v1") and status != 429:
        codes = {503: "PGRST001", 401: "PGRST301", 404: "PGRST205", 406: "PGRST116"}
        text = {
            503: "Database client error. Retrying the connection.",
            500: "internal error",
        }.get(status, "request failed")
        return JSONResponse(
            PostgrestError(status, codes.get(status, "XX000"), message or text).body(),
            status_code=status,
        )
    defaults = {
        404: "no Route matched with those values",
        429: "API rate limit exceeded",
        405: "Method Not Allowed",
    }
    return gateway_error(status, message or defaults.get(status, "An unexpected error occurred"))


class SupabaseTwin:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.twin = Twin("mock-supabase", env, error_response)
        self.issuer = TokenIssuer(env.get("JWT_SECRET") or DEFAULT_JWT_SECRET, self.twin.clock)
        tables = env.get("TWIN_SUPABASE_TABLES")
        declared = [name.strip() for name in tables.split(",") if name.strip()] if tables else None
        self.store = Store(declared, self.twin.clock.iso)
        self.twin.on_reset(self.store.reset)
        self.auth = GoTrue(self.twin, self.issuer, int(env.get("TWIN_SUPABASE_JWT_EXPIRY") or 3600))
        self.rest = PostgREST(self.store)

    def key_problem(self, request: Request) -> Response | None:
        key = request.headers.get("apikey") or request.query_params.get("apikey")
        if not key:
            return gateway_error(
                401,
                "No API key found in request",
                "No `apikey` request header or url param was found.",
            )
        try:
            claims = self.issuer.verify(key)
        except BadToken:
            claims = {}
        if claims.get("role") not in KEY_ROLES:
            return gateway_error(
                401,
                "Invalid API key",
                "Double check your Supabase `anon` or `service_role` API key.",
            )
        return None

    def gated(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            refused = self.key_problem(request)
            if refused is not None:
                return refused
            try:
                return await handler(request)
            except AuthError as exc:
                return auth_error_response(request, exc)
            except PostgrestError as exc:
                return JSONResponse(exc.body(), status_code=exc.status)

        return endpoint

    async def rest_endpoint(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if header:
            token = header.removeprefix("Bearer ").removeprefix("bearer ").strip()
            try:
                self.issuer.verify(token)
            except BadToken as exc:
                if exc.expired:
                    raise PostgrestError(401, "PGRST303", "JWT expired") from exc
                raise PostgrestError(401, "PGRST301", "JWSError JWSInvalidSignature") from exc
        return await self.rest.dispatch(request)

    def routes(self) -> list[BaseRoute]:
        auth_routes: list[BaseRoute] = [
            Route(path, self.gated(handler), methods=methods)
            for path, handler, methods in self.auth.endpoints()
        ]
        return [
            Mount("/auth/v1", routes=auth_routes),
            Route(
                "/rest/v1/{table}",
                self.gated(self.rest_endpoint),
                methods=["GET", "HEAD", "POST", "PATCH", "DELETE"],
            ),
        ]


def create_app(env: Mapping[str, str] | None = None) -> ASGIApp:
    twin = SupabaseTwin(environment(env))
    return build_app(twin.twin, twin.routes())
