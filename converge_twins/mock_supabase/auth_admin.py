"""GoTrue's administration endpoints: users, invitations, generated links, the audit log.

They take a service-role JWT as the bearer (403 ``not_admin`` otherwise) and answer as GoTrue's
admin.go does: a user id that is not a UUID is 404 ``validation_failed``, an unknown one 404
``user_not_found``; a user created here is confirmed only with ``email_confirm``/
``phone_confirm`` and has not signed in (no ``last_sign_in_at``); deleting answers ``{}``;
the listing is newest first, paginated with ``X-Total-Count`` and a ``Link`` header.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from converge_twins.mock_supabase.accounts import (
    CONFIRMATION,
    EMAIL_CHANGE_CURRENT,
    EMAIL_CHANGE_NEW,
    RECOVERY,
    Identity,
    User,
)
from converge_twins.mock_supabase.auth import UUID, Endpoint, GoTrue, bad_request
from converge_twins.mock_supabase.auth_errors import AuthError
from converge_twins.mock_supabase.auth_user import merge

ADMIN_ROLES = frozenset({"service_role", "supabase_admin"})
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> timedelta:
    """A Go ``time.ParseDuration`` string ("24h", "1h30m", "876000h"), as ``ban_duration`` is."""
    if text == "0":
        return timedelta()
    position, seconds = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise bad_request(f'invalid format for ban duration: time: invalid duration "{text}"')
    return timedelta(seconds=seconds)


class GoTrueAdmin:
    def __init__(self, auth: GoTrue) -> None:
        self.auth = auth

    def require_admin(self, request: Request) -> None:
        claims = self.auth.bearer_claims(request)
        if claims.get("role") not in ADMIN_ROLES:
            raise AuthError(403, "not_admin", "User not allowed")

    def load_user(self, request: Request) -> User:
        user_id = request.path_params["user_id"]
        if not UUID.match(user_id):
            raise AuthError(404, "validation_failed", "user_id must be an UUID")
        user = self.auth.accounts.users.get(user_id.lower())
        if user is None:
            raise AuthError(404, "user_not_found", "User not found")
        return user

    # users ----------------------------------------------------------------------------------

    async def users(self, request: Request) -> Response:
        self.require_admin(request)
        if request.method == "POST":
            return JSONResponse(self.create(await self.auth.body(request)).view())
        query = request.query_params
        try:
            page = int(query.get("page") or 1)
            per_page = int(query.get("per_page") or 50)
            if page < 1 or per_page < 1:
                raise ValueError("page and per_page must be positive")
        except ValueError as exc:
            raise bad_request(f"Bad Pagination Parameters: {exc}") from exc
        wanted = (query.get("filter") or "").lower()
        everyone = sorted(
            (u for u in self.auth.accounts.users.values() if wanted in u.email),
            key=lambda u: u.created_at,
            reverse=True,
        )
        chunk = everyone[(page - 1) * per_page : page * per_page]
        return JSONResponse(
            {"users": [user.view() for user in chunk], "aud": "authenticated"},
            headers=self.pagination(request, page, per_page, len(everyone)),
        )

    @staticmethod
    def pagination(request: Request, page: int, per_page: int, total: int) -> dict[str, str]:
        last = max(1, -(-total // per_page))
        path = request.url.path

        def link(number: int, rel: str) -> str:
            return f'<{path}?{urlencode({"page": number, "per_page": per_page})}>; rel="{rel}"'

        links = [link(page + 1, "next")] if page < last else []
        links.append(link(last, "last"))
        return {"X-Total-Count": str(total), "Link": ", ".join(links)}

    def create(self, data: dict[str, Any]) -> User:
        auth = self.auth
        email, phone = auth.text(data, "email"), auth.text(data, "phone")
        if not email and not phone:
            raise bad_request("Cannot create a user without either an email or phone")
        if email:
            email = auth.valid_email(email)
            if auth.accounts.by_email(email) is not None:
                raise AuthError(
                    422,
                    "email_exists",
                    "A user with this email address has already been registered",
                )
        if phone:
            phone = auth.valid_phone(phone)
            if auth.accounts.by_phone(phone) is not None:
                raise AuthError(
                    422, "phone_exists", "Phone number already registered by another user"
                )
        password = data.get("password")
        if password is not None and not isinstance(password, str):
            raise bad_request("Could not parse request body as JSON: password", "bad_json")
        user_id = auth.text(data, "id")
        if user_id and not UUID.match(user_id):
            raise bad_request("ID must conform to the uuid v4 format")
        ban = self.ban(data)
        user = auth.new_user(
            email=email,
            phone=phone,
            password=password or None,
            data=auth.mapping(data, "user_metadata"),
            provider="email" if email else "phone",
            user_id=user_id.lower() or None,
        )
        if email and phone:
            user.app_metadata["providers"] = ["email", "phone"]
        self.apply_common(user, data, ban)
        auth.audit(None, "user_signedup", "team", user_id=user.id, user_email=user.email)
        return user

    def ban(self, data: dict[str, Any]) -> timedelta | None:
        text = self.auth.text(data, "ban_duration")
        if not text:
            return None
        return timedelta() if text == "none" else parse_duration(text)

    def apply_common(self, user: User, data: dict[str, Any], ban: timedelta | None) -> None:
        """What create and update share: role, metadata, confirmations and bans."""
        auth = self.auth
        role = auth.text(data, "role")
        if role:
            user.role = role
        app_metadata = auth.mapping(data, "app_metadata")
        if app_metadata is not None:
            merge(user.app_metadata, app_metadata)
        if data.get("email_confirm") is True and user.email:
            auth.confirm_email(user)
        if data.get("phone_confirm") is True and user.phone:
            auth.confirm_phone(user)
        if ban is not None:
            now = auth.now()
            user.banned_until = now + ban if ban > timedelta() else None
        user.updated_at = auth.now()

    async def user(self, request: Request) -> Response:
        self.require_admin(request)
        user = self.load_user(request)
        if request.method == "PUT":
            self.update(user, await self.auth.body(request))
        elif request.method == "DELETE":
            data = await self.auth.body(request)
            self.delete(user, soft=data.get("should_soft_delete") is True)
            return JSONResponse({})
        return JSONResponse(user.view())

    def update(self, user: User, data: dict[str, Any]) -> None:
        auth = self.auth
        email, phone = auth.text(data, "email"), auth.text(data, "phone")
        if email:
            email = auth.valid_email(email)
            owner = auth.accounts.by_email(email)
            if owner is not None and owner.id != user.id:
                raise AuthError(
                    422,
                    "email_exists",
                    "A user with this email address has already been registered",
                )
        if phone:
            phone = auth.valid_phone(phone)
        ban = self.ban(data)
        password = data.get("password")
        if password is not None:
            if not isinstance(password, str):
                raise bad_request("Could not parse request body as JSON: password", "bad_json")
            auth.check_password(password)
            user.set_password(password)
            auth.accounts.end_sessions(auth.accounts.sessions_of(user.id))
        now = auth.now()
        if email and email != user.email:
            user.email = email
            identity = user.identity("email")
            if identity is None:
                identity = Identity(user.id, auth.uuid(), "email", {"sub": user.id}, now, now)
                user.identities.append(identity)
            identity.identity_data.update(
                {"email": email, "email_verified": data.get("email_confirm") is True}
            )
        if phone and phone != user.phone:
            user.phone = phone
        metadata = auth.mapping(data, "user_metadata")
        if metadata is not None:
            merge(user.user_metadata, metadata)
        self.apply_common(user, data, ban)
        auth.refresh_providers(user)
        auth.audit(None, "user_modified", "user", user_id=user.id, user_email=user.email)

    def delete(self, user: User, *, soft: bool) -> None:
        auth = self.auth
        auth.accounts.end_sessions(auth.accounts.sessions_of(user.id))
        auth.audit(None, "user_deleted", "team", user_id=user.id, user_email=user.email)
        if soft:
            # GoTrue keeps the row, frees the address and marks it deleted.
            user.deleted_at = user.deleted_at or auth.now()
            user.email, user.phone = "", ""
            user.identities.clear()
            return
        del auth.accounts.users[user.id]

    async def factors(self, request: Request) -> Response:
        self.require_admin(request)
        user = self.load_user(request)
        return JSONResponse([factor.view() for factor in user.factors])

    # invitations and links ------------------------------------------------------------------

    async def invite(self, request: Request) -> Response:
        self.require_admin(request)
        auth = self.auth
        data = await auth.body(request)
        email = auth.valid_email(auth.text(data, "email"))
        user = auth.accounts.by_email(email)
        if user is not None and user.email_confirmed_at is not None:
            raise AuthError(
                422, "email_exists", "A user with this email address has already been registered"
            )
        if user is None:
            user = auth.new_user(email=email, data=auth.mapping(data, "data"), provider="email")
        user.invited_at = auth.now()
        token, _ = auth.send_code(
            request,
            user,
            kind=CONFIRMATION,
            message_type="invite",
            address=email,
            redirect_to=request.query_params.get("redirect_to") or auth.text(data, "redirect_to"),
        )
        user.confirmation_sent_at = token.sent_at
        auth.audit(None, "user_invited", "team", user_id=user.id, user_email=email)
        return JSONResponse(user.view())

    async def generate_link(self, request: Request) -> Response:
        """``POST /admin/generate_link``: the link and code, with nothing sent to anyone."""
        self.require_admin(request)
        auth = self.auth
        data = await auth.body(request)
        kind = auth.text(data, "type")
        email = auth.valid_email(auth.text(data, "email"))
        redirect_to = auth.text(data, "redirect_to") or request.query_params.get("redirect_to")
        user = auth.accounts.by_email(email)
        if user is None and kind == "magiclink":
            # GoTrue signs an unknown address up with a random password: a signup link.
            kind = "signup"
            data = {**data, "password": auth.twin.ids.token(64)}
        if user is None and kind in ("recovery", "email_change_current", "email_change_new"):
            raise AuthError(404, "user_not_found", "User with this email not found")
        taken = AuthError(
            422, "email_exists", "A user with this email address has already been registered"
        )
        if kind in ("signup", "invite"):
            if user is not None and user.email_confirmed_at is not None:
                raise taken
            token_kind, message_type = CONFIRMATION, kind
            if kind == "signup" and user is None:
                password = data.get("password")
                if not isinstance(password, str) or not password:
                    raise bad_request("Signup requires a valid password")
                auth.check_password(password)
                user = auth.new_user(
                    email=email,
                    password=password,
                    data=auth.mapping(data, "data"),
                    provider="email",
                )
            elif user is None:
                user = auth.new_user(email=email, data=auth.mapping(data, "data"), provider="email")
            elif kind == "signup":
                merge(user.user_metadata, auth.mapping(data, "data") or {})
            if kind == "invite":
                user.invited_at = auth.now()
        elif kind in ("magiclink", "recovery"):
            token_kind, message_type = RECOVERY, kind
        elif kind in ("email_change_current", "email_change_new"):
            assert user is not None
            new_email = auth.valid_email(auth.text(data, "new_email"))
            owner = auth.accounts.by_email(new_email)
            if owner is not None and owner.id != user.id:
                raise taken
            user.new_email = new_email
            token_kind = (
                EMAIL_CHANGE_CURRENT if kind == "email_change_current" else EMAIL_CHANGE_NEW
            )
            message_type = kind
            email = user.email if kind == "email_change_current" else new_email
        else:
            raise bad_request(f"Invalid email action link type requested: {kind}")
        assert user is not None
        token, message = auth.send_code(
            request,
            user,
            kind=token_kind,
            message_type=message_type,
            address=email,
            redirect_to=redirect_to,
            deliver=False,
        )
        self.stamp_sent(user, token_kind, token.sent_at)
        return JSONResponse(
            {
                **user.view(),
                "action_link": message.link,
                "email_otp": message.otp,
                "hashed_token": token.hash,
                "verification_type": kind,
                "redirect_to": message.redirect_to,
            }
        )

    @staticmethod
    def stamp_sent(user: User, kind: str, moment: datetime) -> None:
        if kind == CONFIRMATION:
            user.confirmation_sent_at = moment
        elif kind == RECOVERY:
            user.recovery_sent_at = moment
        else:
            user.email_change_sent_at = moment

    async def audit(self, request: Request) -> Response:
        self.require_admin(request)
        query = request.query_params
        try:
            page = max(1, int(query.get("page") or 1))
            per_page = max(1, int(query.get("per_page") or 50))
        except ValueError as exc:
            raise bad_request(f"Bad Pagination Parameters: {exc}") from exc
        entries = list(reversed(self.auth.accounts.audit))
        chunk = entries[(page - 1) * per_page : page * per_page]
        return JSONResponse(
            [entry.view() for entry in chunk],
            headers=self.pagination(request, page, per_page, len(entries)),
        )

    def endpoints(self) -> list[Endpoint]:
        return [
            ("/admin/users", self.users, ["GET", "POST"]),
            ("/admin/users/{user_id}", self.user, ["GET", "PUT", "DELETE"]),
            ("/admin/users/{user_id}/factors", self.factors, ["GET"]),
            ("/invite", self.invite, ["POST"]),
            ("/admin/generate_link", self.generate_link, ["POST"]),
            ("/admin/audit", self.audit, ["GET"]),
        ]
