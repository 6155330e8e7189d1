"""GoTrue's sign-up and token endpoints: ``/signup`` and ``/token`` with its grants.

Sign-up answers a session when e-mail confirmation is off (``mailer_autoconfirm``, the twin's
default) and otherwise the unconfirmed user, after "sending" the confirmation to the mailbox; a
repeated sign-up is 422 ``user_already_exists`` with confirmation off and, with it on, an
obfuscated user that tells nothing (GoTrue's sanitizeUser). With no address it is an anonymous
sign-in. Refresh tokens rotate; within ``security_refresh_token_reuse_interval`` a used token
still answers with the current one, after it the reuse revokes the session's tokens.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from converge_twins.mock_supabase.accounts import (
    CONFIRMATION,
    RefreshToken,
    User,
)
from converge_twins.mock_supabase.auth import (
    Endpoint,
    GoTrue,
    bad_request,
)
from converge_twins.mock_supabase.auth_errors import AuthError, not_implemented


class SignIn:
    def __init__(self, auth: GoTrue) -> None:
        self.auth = auth

    async def signup(self, request: Request) -> Response:
        settings = self.auth.settings
        if settings.disable_signup:
            raise AuthError(422, "signup_disabled", "Signups not allowed for this instance")
        data = await self.auth.body(request)
        email, phone = self.auth.text(data, "email"), self.auth.text(data, "phone")
        metadata = self.auth.mapping(data, "data") or {}
        if not email and not phone:
            return await self.anonymous(request, metadata)
        password = data.get("password")
        if not isinstance(password, str) or not password:
            raise bad_request("Signup requires a valid password")
        self.auth.check_password(password)
        if email and phone:
            raise bad_request("Only an email address or phone number should be provided on signup.")
        if email:
            if not settings.external_email_enabled:
                raise bad_request("Email signups are disabled", "email_provider_disabled")
            email = self.auth.valid_email(email)
            existing = self.auth.accounts.by_email(email)
            confirmed = existing is not None and existing.email_confirmed_at is not None
        else:
            if not settings.external_phone_enabled:
                raise bad_request("Phone signups are disabled", "phone_provider_disabled")
            phone = self.auth.valid_phone(phone)
            existing = self.auth.accounts.by_phone(phone)
            confirmed = existing is not None and existing.phone_confirmed_at is not None
        if confirmed and existing is not None:
            self.auth.audit(existing, "user_repeated_signup", "user")
            if settings.mailer_autoconfirm or settings.sms_autoconfirm:
                raise AuthError(422, "user_already_exists", "User already registered")
            return JSONResponse(self.obfuscated(existing, email, phone, metadata))
        user = existing or self.auth.new_user(
            email=email,
            phone=phone,
            password=password,
            data=metadata,
            provider="email" if email else "phone",
        )
        redirect_to = request.query_params.get("redirect_to")
        if email:
            if settings.mailer_autoconfirm:
                self.auth.confirm_email(user)
            else:
                pkce = self.auth.start_flow(data, user, "email/signup")
                self.auth.check_frequency(user.confirmation_sent_at)
                token, _ = self.auth.send_code(
                    request,
                    user,
                    kind=CONFIRMATION,
                    message_type="signup",
                    address=email,
                    redirect_to=redirect_to,
                    pkce=pkce,
                )
                user.confirmation_sent_at = token.sent_at
        elif settings.sms_autoconfirm:
            self.auth.confirm_phone(user)
        else:
            token, _ = self.auth.send_code(
                request,
                user,
                kind=CONFIRMATION,
                message_type="sms",
                address=phone,
                channel="sms",
            )
            user.confirmation_sent_at = token.sent_at
        self.auth.audit(user, "user_signedup", "team", provider="email" if email else "phone")
        if user.email_confirmed_at is not None or user.phone_confirmed_at is not None:
            self.auth.audit(user, "login", "account")
            return JSONResponse(self.auth.grant(request, user, "password"))
        return JSONResponse(user.view())

    def obfuscated(
        self, user: User, email: str, phone: str, metadata: Mapping[str, Any]
    ) -> dict[str, Any]:
        """GoTrue's sanitizeUser: a repeated sign-up must not tell whether the address exists."""
        now = self.auth.now()
        provider = "email" if email else "phone"
        fake = User(
            id=self.auth.uuid(),
            created_at=now,
            updated_at=now,
            email=email,
            phone=phone,
            role="",
            confirmation_sent_at=now,
            app_metadata={"provider": provider, "providers": [provider]},
            user_metadata=dict(metadata),
        )
        return fake.view()

    async def anonymous(self, request: Request, metadata: Mapping[str, Any]) -> Response:
        if not self.auth.settings.external_anonymous_users_enabled:
            raise AuthError(422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled")
        user = self.auth.new_user(data=metadata, anonymous=True)
        self.auth.audit(user, "user_signedup", "team", provider="anonymous")
        return JSONResponse(self.auth.grant(request, user, "anonymous"))

    async def token(self, request: Request) -> Response:
        grant = request.query_params.get("grant_type", "")
        data = await self.auth.body(request)
        if grant == "password":
            return JSONResponse(self.password_grant(request, data))
        if grant == "refresh_token":
            return JSONResponse(self.refresh_grant(request, data))
        if grant == "pkce":
            return JSONResponse(self.pkce_grant(request, data))
        if grant in ("id_token", "web3"):
            raise not_implemented("POST", f"/token?grant_type={grant}", "sign-in with a provider")
        raise bad_request("unsupported_grant_type")

    def password_grant(self, request: Request, data: Mapping[str, Any]) -> dict[str, Any]:
        email, phone = self.auth.text(data, "email"), self.auth.text(data, "phone")
        password = data.get("password")
        if email and phone:
            raise bad_request("Only an email address or phone number should be provided on login.")
        if email:
            if not self.auth.settings.external_email_enabled:
                raise AuthError(422, "email_provider_disabled", "Email logins are disabled")
            user = self.auth.accounts.by_email(email)
        elif phone:
            if not self.auth.settings.external_phone_enabled:
                raise AuthError(422, "phone_provider_disabled", "Phone logins are disabled")
            user = self.auth.accounts.by_phone(re.sub(r"[\s+\-()]", "", phone))
        else:
            raise bad_request("Invalid login credentials", "invalid_credentials")
        if user is None or not isinstance(password, str) or not user.check_password(password):
            raise bad_request("Invalid login credentials", "invalid_credentials")
        if user.banned(self.auth.now()):
            raise bad_request("User is banned", "user_banned")
        if email and user.email_confirmed_at is None:
            raise bad_request("Email not confirmed", "email_not_confirmed")
        if phone and user.phone_confirmed_at is None:
            raise bad_request("Phone not confirmed", "phone_not_confirmed")
        self.auth.audit(user, "login", "account", provider="email" if email else "phone")
        answer = self.auth.grant(request, user, "password")
        problem = self.auth.password_problem(password)
        if problem is not None:
            # Signed in, but told the password no longer meets the project's policy.
            answer["weak_password"] = {"message": problem[0], "reasons": problem[1]}
        return answer

    def refresh_grant(self, request: Request, data: Mapping[str, Any]) -> dict[str, Any]:
        value = self.auth.text(data, "refresh_token")
        if not value:
            raise bad_request("refresh_token required")
        token = self.auth.accounts.refresh_tokens.get(value)
        session = self.auth.accounts.sessions.get(token.session_id) if token else None
        user = self.auth.accounts.users.get(token.user_id) if token else None
        if token is None or session is None or user is None:
            raise bad_request(
                "Invalid Refresh Token: Refresh Token Not Found", "refresh_token_not_found"
            )
        if user.banned(self.auth.now()):
            raise bad_request("Invalid Refresh Token: User Banned", "user_banned")
        if token.revoked_at is not None:
            interval = timedelta(seconds=self.auth.settings.security_refresh_token_reuse_interval)
            active = self.active_token(session.id)
            if active is not None and self.auth.now() <= token.revoked_at + interval:
                # Within the reuse interval a used token still answers, with the current one.
                return self.auth.token_response(request, user, session, active)
            for sibling in self.auth.accounts.refresh_tokens.values():
                if sibling.session_id == session.id and sibling.revoked_at is None:
                    sibling.revoked_at = self.auth.now()
            self.auth.audit(user, "token_revoked", "token")
            raise bad_request("Invalid Refresh Token: Already Used", "refresh_token_already_used")
        if not self.auth.settings.security_refresh_token_rotation_enabled:
            return self.auth.token_response(request, user, session, token)
        token.revoked_at = self.auth.now()
        child = self.auth.new_refresh_token(user, session, parent=token.token)
        self.auth.audit(user, "token_refreshed", "token")
        return self.auth.token_response(request, user, session, child)

    def active_token(self, session_id: str) -> RefreshToken | None:
        live = [
            t
            for t in self.auth.accounts.refresh_tokens.values()
            if t.session_id == session_id and t.revoked_at is None
        ]
        return live[-1] if live else None

    def pkce_grant(self, request: Request, data: Mapping[str, Any]) -> dict[str, Any]:
        code, verifier = self.auth.text(data, "auth_code"), self.auth.text(data, "code_verifier")
        if not code or not verifier:
            raise bad_request(
                "invalid request: both auth code and code verifier should be non-empty"
            )
        flow = next((f for f in self.auth.accounts.flows.values() if f.auth_code == code), None)
        user = self.auth.accounts.users.get(flow.user_id) if flow else None
        if flow is None or user is None:
            raise AuthError(
                404, "flow_state_not_found", "invalid flow state, no valid flow state found"
            )
        if self.auth.now() > flow.created_at + timedelta(
            seconds=self.auth.settings.flow_state_expiry
        ):
            raise AuthError(422, "flow_state_expired", "invalid flow state, flow state has expired")
        if flow.method == "s256":
            digest = hashlib.sha256(verifier.encode()).digest()
            expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        else:
            expected = verifier
        if expected != flow.challenge:
            raise bad_request(
                "code challenge does not match previously saved code verifier", "bad_code_verifier"
            )
        del self.auth.accounts.flows[flow.id]
        self.auth.audit(user, "login", "account", provider_type=flow.kind)
        return self.auth.grant(request, user, flow.kind)

    def endpoints(self) -> list[Endpoint]:
        return [
            ("/signup", self.signup, ["POST"]),
            ("/token", self.token, ["POST"]),
        ]
