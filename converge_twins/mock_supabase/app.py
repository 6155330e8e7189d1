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

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from converge_twins.control import Twin, build_app, environment
from converge_twins.mock_supabase.auth import GoTrue
from converge_twins.mock_supabase.auth_admin import GoTrueAdmin
from converge_twins.mock_supabase.auth_codes import OneTimeCodes
from converge_twins.mock_supabase.auth_errors import AuthError, auth_error_response
from converge_twins.mock_supabase.auth_mfa import MultiFactor
from converge_twins.mock_supabase.auth_off import FeaturesOff
from converge_twins.mock_supabase.auth_settings import AuthSettings, SettingsError
from converge_twins.mock_supabase.auth_signin import SignIn
from converge_twins.mock_supabase.auth_user import UserEndpoints
from converge_twins.mock_supabase.errors import PostgrestError
from converge_twins.mock_supabase.mailbox import Mailbox
from converge_twins.mock_supabase.project import Project, read_document
from converge_twins.mock_supabase.rest import PostgREST
from converge_twins.mock_supabase.schema import schemaless
from converge_twins.mock_supabase.tables import Store
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
    if status == 413:  # the gateway refuses an oversized body before any service sees it
        return gateway_error(status, message or "Request size limit exceeded")
    if path.startswith("/auth/v1"):
        codes = {
            400: "bad_json",
            429: "over_request_rate_limit",
            404: "not_found",
            401: "no_authorization",
        }
        code = codes.get(status, "unexpected_failure")
        return JSONResponse(
            {
                "code": status,
                "error_code": code,
                "msg": message
                or "Unexpected failure, please check server logs for more information",
            },
            status_code=status,
            headers={"x-sb-error-code": code},
        )
    if path.startswith("/rest/v1") and status != 429:
        codes = {
            400: "PGRST102",
            503: "PGRST001",
            401: "PGRST301",
            404: "PGRST125",
            406: "PGRST116",
            405: "PGRST117",
            504: "PGRST003",
        }
        text = {
            503: "Database client error. Retrying the connection.",
            504: "Timed out acquiring connection from connection pool.",
            404: "Invalid path specified in request URL",
            500: "internal error",
        }.get(status, "request failed")
        return PostgrestError(status, codes.get(status, "XX000"), message or text).response()
    defaults = {
        404: "no Route matched with those values",
        429: "API rate limit exceeded",
        405: "Method Not Allowed",
    }
    return gateway_error(status, message or defaults.get(status, "An unexpected error occurred"))


REST_METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "TRACE", "CONNECT"]
# Supabase's gateway lets what a browser follows reach GoTrue without a key: the link in an
# e-mail, the redirect to an OAuth provider and the provider's callback (kong.yml's open routes).
OPEN_AUTH_ROUTES = {"/verify": ("GET",), "/authorize": ("GET",), "/callback": ("GET", "POST")}


class SupabaseTwin:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.twin = Twin("mock-supabase", env, error_response)
        self.issuer = TokenIssuer(env.get("JWT_SECRET") or DEFAULT_JWT_SECRET, self.twin.clock)
        tables = env.get("TWIN_SUPABASE_TABLES") or ""
        self.named_tables = [name.strip() for name in tables.split(",") if name.strip()]
        self.store = Store(self.twin.clock.iso, self.twin.ids.uuid)
        self.twin.on_reset(self.store.reset)
        base = AuthSettings(jwt_exp=int(env.get("TWIN_SUPABASE_JWT_EXPIRY") or 3600))
        location = env.get("TWIN_SUPABASE_PROJECT")
        try:
            document = read_document(location) if location else {}
            self.initial = Project.from_document(document, base, allow_python=True)
        except SettingsError as exc:
            raise SystemExit(f"mock-supabase: TWIN_SUPABASE_PROJECT: {exc}") from None
        self.mailbox = Mailbox()
        self.twin.on_reset(self.mailbox.clear)
        self.auth = GoTrue(self.twin, self.issuer, self.initial.auth, self.mailbox)
        self.rest = PostgREST(self.store)
        self.project = self.initial
        self.apply(self.initial)
        self.twin.on_reset(lambda: self.apply(self.initial))

    def apply(self, project: Project) -> None:
        self.project = project
        self.auth.settings = project.auth
        schemas = {name: schemaless(name) for name in self.named_tables}
        schemas.update(project.tables)
        self.store.configure(schemas, strict=bool(schemas))
        self.rest.functions = project.functions

    # the control plane's Supabase part -------------------------------------------------------

    async def project_endpoint(self, request: Request) -> Response:
        if request.method != "GET":
            try:
                document = json.loads(await request.body() or b"{}")
                if request.method == "PUT":
                    changed = Project.from_document(document)
                else:
                    changed = self.project.merged(document)
            except ValueError as exc:  # JSON errors and ProjectError alike
                return JSONResponse({"error": str(exc)}, status_code=400)
            self.apply(changed)
        return JSONResponse(self.project.describe())

    async def messages_endpoint(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.mailbox.clear()
            return Response(status_code=204)
        query = request.query_params
        return JSONResponse({"messages": self.mailbox.describe(query.get("to"), query.get("type"))})

    def control_routes(self) -> list[BaseRoute]:
        return [
            Route("/supabase/project", self.project_endpoint, methods=["GET", "PUT", "PATCH"]),
            Route("/supabase/messages", self.messages_endpoint, methods=["GET", "DELETE"]),
        ]

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

    def gated(self, handler: Handler, *, open_for: tuple[str, ...] = ()) -> Handler:
        """``handler`` behind the gateway's key check (skipped for the ``open_for`` methods)."""

        async def endpoint(request: Request) -> Response:
            refused = None if request.method in open_for else self.key_problem(request)
            if refused is not None:
                return refused
            try:
                return await handler(request)
            except AuthError as exc:
                return auth_error_response(request, exc)
            except PostgrestError as exc:
                return exc.response(head=request.method == "HEAD")

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
        if "function" in request.path_params:
            return await self.rest.rpc(request)
        return await self.rest.table_endpoint(request)

    def routes(self) -> list[BaseRoute]:
        auth_routes: list[BaseRoute] = [
            Route(
                path,
                self.gated(handler, open_for=OPEN_AUTH_ROUTES.get(path, ())),
                methods=methods,
            )
            for group in (
                SignIn,
                OneTimeCodes,
                UserEndpoints,
                MultiFactor,
                GoTrueAdmin,
                FeaturesOff,
            )
            for path, handler, methods in group(self.auth).endpoints()
        ]
        return [
            Mount("/auth/v1", routes=auth_routes),
            Route("/rest/v1/rpc/{function}", self.gated(self.rest_endpoint), methods=REST_METHODS),
            Route("/rest/v1/{table}", self.gated(self.rest_endpoint), methods=REST_METHODS),
        ]


def create_app(env: Mapping[str, str] | None = None) -> ASGIApp:
    twin = SupabaseTwin(environment(env))
    return build_app(twin.twin, twin.routes(), twin.control_routes(), state=twin)
