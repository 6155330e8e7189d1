"""GoTrue for the signed-in user, and the project's public facts: ``/user``, ``/logout``, ...

``PUT /user`` changes metadata at once, a password (ending every other session, refusing the
same one with 422 ``same_password``, asking for a reauthentication code when the project
requires it), the e-mail address (at once with ``mailer_autoconfirm``, else after the links
sent to the new and, with secure change, the current address) and the phone (after an SMS
code). ``/logout`` ends the ``local`` session, the ``others`` or all of them (``global``, the
default); any other scope is 400 ``validation_failed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from converge_twins.mock_supabase.accounts import (
    PHONE_CHANGE,
    REAUTHENTICATION,
    Session,
    User,
    token_hash,
)
from converge_twins.mock_supabase.auth import (
    LOGOUT_SCOPES,
    Endpoint,
    GoTrue,
    bad_request,
)
from converge_twins.mock_supabase.auth_errors import AuthError


def merge(metadata: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """GoTrue's metadata update: keys are set, and a null value removes its key."""
    for key, value in changes.items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value


class UserEndpoints:
    def __init__(self, auth: GoTrue) -> None:
        self.auth = auth

    async def user(self, request: Request) -> Response:
        user, _, session = self.auth.current(request)
        if request.method == "PUT":
            await self.update_user(request, user, session)
        return JSONResponse(user.view())

    async def update_user(self, request: Request, user: User, session: Session | None) -> None:
        auth = self.auth
        data = await auth.body(request)
        password = data.get("password")
        if password is not None:
            self.change_password(user, session, password, auth.text(data, "nonce"))
        metadata = auth.mapping(data, "data")
        if metadata is not None:
            merge(user.user_metadata, metadata)
        email = auth.text(data, "email")
        if email and email.lower() != user.email:
            self.change_email(request, user, auth.valid_email(email))
        phone = auth.text(data, "phone")
        if phone and auth.valid_phone(phone) != user.phone:
            self.change_phone(request, user, auth.valid_phone(phone))
        auth.refresh_providers(user)
        user.updated_at = auth.now()
        auth.audit(user, "user_modified", "user")

    def change_password(
        self, user: User, session: Session | None, password: Any, nonce: str
    ) -> None:
        auth = self.auth
        if not isinstance(password, str):
            raise bad_request("Could not parse request body as JSON: password", "bad_json")
        auth.check_password(password)
        if user.check_password(password):
            raise AuthError(
                422, "same_password", "New password should be different from the old password."
            )
        if auth.settings.security_update_password_require_reauthentication:
            if not nonce:
                raise bad_request(
                    "Password update requires reauthentication", "reauthentication_needed"
                )
            token = user.tokens.get(REAUTHENTICATION)
            if token is None or token.hash != token_hash(user.email or user.phone, nonce):
                raise bad_request(
                    "Requested reauthentication is not valid", "reauthentication_not_valid"
                )
            del user.tokens[REAUTHENTICATION]
        user.set_password(password)
        # A new password ends every other session, as GoTrue's UpdatePassword does.
        current = session.id if session is not None else None
        auth.accounts.end_sessions([s for s in auth.accounts.sessions_of(user.id) if s != current])
        auth.audit(user, "user_updated_password", "user")

    def change_email(self, request: Request, user: User, email: str) -> None:
        auth = self.auth
        owner = auth.accounts.by_email(email)
        if owner is not None and owner.id != user.id:
            raise AuthError(
                422, "email_exists", "A user with this email address has already been registered"
            )
        user.new_email = email
        if auth.settings.mailer_autoconfirm:
            auth.apply_email_change(user)
        else:
            auth.check_frequency(user.email_change_sent_at)
            auth.send_email_change(request, user, request.query_params.get("redirect_to"))

    def change_phone(self, request: Request, user: User, phone: str) -> None:
        auth = self.auth
        owner = auth.accounts.by_phone(phone)
        if owner is not None and owner.id != user.id:
            raise AuthError(
                422, "phone_exists", "A user with this phone number has already been registered"
            )
        user.new_phone = phone
        if auth.settings.sms_autoconfirm:
            auth.apply_phone_change(user)
            return
        auth.check_frequency(user.phone_change_sent_at)
        token, _ = auth.send_code(
            request,
            user,
            kind=PHONE_CHANGE,
            message_type="phone_change",
            address=phone,
            channel="sms",
        )
        user.phone_change_sent_at = token.sent_at

    async def reauthenticate(self, request: Request) -> Response:
        user, _, _ = self.auth.current(request)
        if not user.email and not user.phone:
            raise bad_request(
                "Reauthentication requires the user to have an email or a phone number"
            )
        self.auth.check_frequency(user.reauthentication_sent_at)
        channel = "email" if user.email else "sms"
        token, _ = self.auth.send_code(
            request,
            user,
            kind=REAUTHENTICATION,
            message_type="reauthentication",
            address=user.email or user.phone,
            channel=channel,
        )
        user.reauthentication_sent_at = token.sent_at
        self.auth.audit(user, "user_reauthenticate_requested", "user")
        return JSONResponse({})

    async def logout(self, request: Request) -> Response:
        scope = request.query_params.get("scope", "") or "global"
        if scope not in LOGOUT_SCOPES:
            raise bad_request(f'Unsupported logout scope "{request.query_params["scope"]}"')
        user, _, session = self.auth.current(request)
        mine = self.auth.accounts.sessions_of(user.id)
        if session is None or scope == "global":
            ended = mine
        elif scope == "local":
            ended = [session.id]
        else:
            ended = [s for s in mine if s != session.id]
        self.auth.accounts.end_sessions(ended)
        self.auth.audit(user, "logout", "account")
        return Response(status_code=204)

    async def settings_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.auth.settings.public())

    async def health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "version": "v2.x-mock",
                "name": "GoTrue",
                "description": "GoTrue is a user registration and authentication API",
            }
        )

    async def jwks(self, request: Request) -> Response:
        # The project signs with a shared HS256 secret, which is never published.
        return JSONResponse({"keys": []})

    def endpoints(self) -> list[Endpoint]:
        return [
            ("/user", self.user, ["GET", "PUT"]),
            ("/reauthenticate", self.reauthenticate, ["GET", "POST"]),
            ("/logout", self.logout, ["POST"]),
            ("/settings", self.settings_endpoint, ["GET"]),
            ("/health", self.health, ["GET"]),
            ("/.well-known/jwks.json", self.jwks, ["GET"]),
        ]
