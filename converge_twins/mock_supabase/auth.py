"""GoTrue (``/auth/v1``): signup, password and refresh-token grants, the user, logout, admin.

Sign-up confirms at once (like a project with e-mail confirmation off) and returns a session.
Access tokens carry Supabase's claims, with the tier in ``app_metadata.tier`` ("free" unless the
sign-up's ``data.tier`` or an admin update says otherwise: a twin convenience, real GoTrue puts
``data`` only in ``user_metadata``). Logout ends the session, after which ``/user`` with its
access token is 403 ``session_not_found`` and its refresh tokens no longer work, as in GoTrue.

Errors follow the caller's ``X-Supabase-Api-Version``: from ``2024-01-01`` on the body is
``{"code": error_code, "message"}``, before it ``{"code": status, "error_code", "msg"}``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from converge_twins.control import Twin
from converge_twins.mock_supabase.tokens import BadToken, TokenIssuer

API_VERSION_HEADER = "X-Supabase-Api-Version"
NEW_ERRORS_FROM = "2024-01-01"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 6
Handler = Callable[[Request], Awaitable[Response]]


class AuthError(Exception):
    def __init__(self, status: int, error_code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.extra = extra


def auth_error_response(request: Request, error: AuthError) -> Response:
    version = request.headers.get(API_VERSION_HEADER, "")
    headers = {}
    if version >= NEW_ERRORS_FROM:
        body: dict[str, Any] = {"code": error.error_code, "message": error.message}
        headers[API_VERSION_HEADER] = NEW_ERRORS_FROM
    else:
        body = {"code": error.status, "error_code": error.error_code, "msg": error.message}
    return JSONResponse({**body, **error.extra}, status_code=error.status, headers=headers)


def _hash(password: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


@dataclass
class Account:
    id: str
    email: str
    password_hash: str
    created_at: str
    app_metadata: dict[str, Any]
    user_metadata: dict[str, Any]
    updated_at: str
    last_sign_in_at: str | None = None
    sessions: set[str] = field(default_factory=set)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "aud": "authenticated",
            "role": "authenticated",
            "email": self.email,
            "email_confirmed_at": self.created_at,
            "phone": "",
            "confirmed_at": self.created_at,
            "last_sign_in_at": self.last_sign_in_at,
            "app_metadata": self.app_metadata,
            "user_metadata": self.user_metadata,
            "identities": [
                {
                    "identity_id": self.id,
                    "id": self.id,
                    "user_id": self.id,
                    "identity_data": {"email": self.email, "sub": self.id},
                    "provider": "email",
                    "last_sign_in_at": self.created_at,
                    "created_at": self.created_at,
                    "updated_at": self.created_at,
                    "email": self.email,
                }
            ],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "is_anonymous": False,
        }


class GoTrue:
    def __init__(self, twin: Twin, issuer: TokenIssuer, expiry: int) -> None:
        self.twin = twin
        self.issuer = issuer
        self.expiry = expiry
        self.accounts: dict[str, Account] = {}
        self.by_email: dict[str, str] = {}
        self.refresh_tokens: dict[str, tuple[str, str, bool]] = {}  # token -> user, session, used
        self.sessions: dict[str, str] = {}  # session id -> user id
        twin.on_reset(self.reset)

    def reset(self) -> None:
        self.accounts.clear()
        self.by_email.clear()
        self.refresh_tokens.clear()
        self.sessions.clear()

    # helpers -----------------------------------------------------------------------------

    async def body(self, request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise AuthError(400, "bad_json", "Could not parse request body as JSON") from exc
        if not isinstance(data, dict):
            raise AuthError(400, "bad_json", "Could not parse request body as JSON")
        return data

    def create_account(
        self,
        email: Any,
        password: Any,
        user_metadata: Any,
        app_metadata: Mapping[str, Any] | None = None,
    ) -> Account:
        if not isinstance(email, str) or not EMAIL.match(email):
            raise AuthError(
                400, "validation_failed", "Unable to validate email address: invalid format"
            )
        if not isinstance(password, str) or not password:
            raise AuthError(422, "validation_failed", "Signup requires a valid password")
        if len(password) < MIN_PASSWORD:
            raise AuthError(
                422,
                "weak_password",
                f"Password should be at least {MIN_PASSWORD} characters.",
                weak_password={"reasons": ["length"]},
            )
        email = email.lower()
        if email in self.by_email:
            raise AuthError(422, "user_already_exists", "User already registered")
        metadata = dict(user_metadata) if isinstance(user_metadata, dict) else {}
        tier = metadata.get("tier")
        app = {
            "provider": "email",
            "providers": ["email"],
            "tier": tier if isinstance(tier, str) and tier else "free",
            **(app_metadata or {}),
        }
        now = self.twin.clock.iso()
        user_id = self.twin.ids.uuid()
        account = Account(
            id=user_id,
            email=email,
            password_hash=_hash(password, user_id),
            created_at=now,
            updated_at=now,
            app_metadata=app,
            user_metadata=metadata,
        )
        self.accounts[user_id] = account
        self.by_email[email] = user_id
        return account

    def session(
        self, request: Request, account: Account, session_id: str | None = None
    ) -> dict[str, Any]:
        now = self.twin.clock.timestamp()
        if session_id is None:
            session_id = self.twin.ids.uuid()
            self.sessions[session_id] = account.id
            account.last_sign_in_at = self.twin.clock.iso()
        claims = {
            "iss": f"{str(request.base_url).rstrip('/')}/auth/v1",
            "sub": account.id,
            "aud": "authenticated",
            "exp": now + self.expiry,
            "iat": now,
            "email": account.email,
            "phone": "",
            "app_metadata": account.app_metadata,
            "user_metadata": account.user_metadata,
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": now}],
            "session_id": session_id,
            "is_anonymous": False,
        }
        refresh = self.twin.ids.token(12, "abcdefghijklmnopqrstuvwxyz0123456789")
        self.refresh_tokens[refresh] = (account.id, session_id, False)
        return {
            "access_token": self.issuer.sign(claims),
            "token_type": "bearer",
            "expires_in": self.expiry,
            "expires_at": now + self.expiry,
            "refresh_token": refresh,
            "user": account.view(),
        }

    def bearer_claims(self, request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or not header[7:].strip():
            raise AuthError(401, "no_authorization", "This endpoint requires a Bearer token")
        try:
            return self.issuer.verify(header[7:].strip())
        except BadToken as exc:
            raise AuthError(403, "bad_jwt", exc.reason) from exc

    def current_account(self, request: Request) -> tuple[Account, dict[str, Any]]:
        claims = self.bearer_claims(request)
        account = self.accounts.get(str(claims.get("sub")))
        if account is None:
            raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
        session_id = claims.get("session_id")
        if session_id is not None and session_id not in self.sessions:
            raise AuthError(
                403, "session_not_found", "Session from session_id claim in JWT does not exist"
            )
        return account, claims

    def require_admin(self, request: Request) -> None:
        claims = self.bearer_claims(request)
        if claims.get("role") != "service_role":
            raise AuthError(403, "not_admin", "User not allowed")

    def apply_update(self, account: Account, data: Mapping[str, Any], *, admin: bool) -> None:
        email = data.get("email")
        if email is not None:
            if not isinstance(email, str) or not EMAIL.match(email):
                raise AuthError(
                    400, "validation_failed", "Unable to validate email address: invalid format"
                )
            owner = self.by_email.get(email.lower())
            if owner is not None and owner != account.id:
                raise AuthError(
                    422,
                    "email_exists",
                    "A user with this email address has already been registered",
                )
            self.by_email.pop(account.email, None)
            account.email = email.lower()
            self.by_email[account.email] = account.id
        password = data.get("password")
        if password is not None:
            if not isinstance(password, str) or len(password) < MIN_PASSWORD:
                raise AuthError(
                    422,
                    "weak_password",
                    f"Password should be at least {MIN_PASSWORD} characters.",
                    weak_password={"reasons": ["length"]},
                )
            account.password_hash = _hash(password, account.id)
        user_key = "user_metadata" if admin else "data"
        user_metadata = data.get(user_key)
        if isinstance(user_metadata, dict):
            account.user_metadata = {**account.user_metadata, **user_metadata}
        app_metadata = data.get("app_metadata") if admin else None
        if isinstance(app_metadata, dict):
            account.app_metadata = {**account.app_metadata, **app_metadata}
        account.updated_at = self.twin.clock.iso()

    # endpoints ---------------------------------------------------------------------------

    async def signup(self, request: Request) -> Response:
        data = await self.body(request)
        account = self.create_account(data.get("email"), data.get("password"), data.get("data"))
        return JSONResponse(self.session(request, account))

    async def token(self, request: Request) -> Response:
        grant = request.query_params.get("grant_type")
        data = await self.body(request)
        if grant == "password":
            email = data.get("email")
            user_id = self.by_email.get(email.lower()) if isinstance(email, str) else None
            account = self.accounts.get(user_id) if user_id else None
            password = data.get("password")
            if (
                account is None
                or not isinstance(password, str)
                or _hash(password, account.id) != account.password_hash
            ):
                raise AuthError(400, "invalid_credentials", "Invalid login credentials")
            return JSONResponse(self.session(request, account))
        if grant == "refresh_token":
            token = data.get("refresh_token")
            found = self.refresh_tokens.get(token) if isinstance(token, str) else None
            if found is None or found[1] not in self.sessions:
                raise AuthError(
                    400,
                    "refresh_token_not_found",
                    "Invalid Refresh Token: Refresh Token Not Found",
                )
            user_id, session_id, used = found
            if used:
                raise AuthError(
                    400,
                    "refresh_token_already_used",
                    "Invalid Refresh Token: Already Used",
                )
            self.refresh_tokens[str(token)] = (user_id, session_id, True)
            return JSONResponse(self.session(request, self.accounts[user_id], session_id))
        raise AuthError(400, "validation_failed", "unsupported_grant_type")

    async def user(self, request: Request) -> Response:
        account, _ = self.current_account(request)
        if request.method == "PUT":
            self.apply_update(account, await self.body(request), admin=False)
        return JSONResponse(account.view())

    async def logout(self, request: Request) -> Response:
        account, claims = self.current_account(request)
        scope = request.query_params.get("scope", "global")
        current = claims.get("session_id")
        for session_id, owner in list(self.sessions.items()):
            if owner != account.id:
                continue
            if (
                scope == "global"
                or (scope == "local" and session_id == current)
                or (scope == "others" and session_id != current)
            ):
                del self.sessions[session_id]
        return Response(status_code=204)

    async def admin_users(self, request: Request) -> Response:
        self.require_admin(request)
        if request.method == "POST":
            data = await self.body(request)
            app_metadata = data.get("app_metadata")
            account = self.create_account(
                data.get("email"),
                data.get("password"),
                data.get("user_metadata"),
                app_metadata if isinstance(app_metadata, dict) else None,
            )
            return JSONResponse(account.view())
        try:
            page = max(1, int(request.query_params.get("page") or 1))
            per_page = max(1, int(request.query_params.get("per_page") or 50))
        except ValueError as exc:
            raise AuthError(400, "validation_failed", "page and per_page must be numbers") from exc
        accounts = list(self.accounts.values())
        chunk = accounts[(page - 1) * per_page : page * per_page]
        return JSONResponse(
            {"users": [account.view() for account in chunk], "aud": "authenticated"},
            headers={"x-total-count": str(len(accounts))},
        )

    async def admin_user(self, request: Request) -> Response:
        self.require_admin(request)
        account = self.accounts.get(request.path_params["user_id"])
        if account is None:
            raise AuthError(404, "user_not_found", "User not found")
        if request.method == "PUT":
            self.apply_update(account, await self.body(request), admin=True)
        elif request.method == "DELETE":
            del self.accounts[account.id]
            self.by_email.pop(account.email, None)
            for session_id, owner in list(self.sessions.items()):
                if owner == account.id:
                    del self.sessions[session_id]
        return JSONResponse(account.view())

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {"version": "mock", "name": "GoTrue", "description": "mock-supabase's auth twin"}
        )

    def endpoints(self) -> list[tuple[str, Handler, list[str]]]:
        return [
            ("/signup", self.signup, ["POST"]),
            ("/token", self.token, ["POST"]),
            ("/user", self.user, ["GET", "PUT"]),
            ("/logout", self.logout, ["POST"]),
            ("/admin/users", self.admin_users, ["GET", "POST"]),
            ("/admin/users/{user_id}", self.admin_user, ["GET", "PUT", "DELETE"]),
            ("/health", self.health, ["GET"]),
        ]
