"""GoTrue's one-time codes: ``/otp``, ``/magiclink``, ``/recover``, ``/resend``, ``/verify``.

Codes go to the twin's mailbox, at most one per address and kind every ``smtp_max_frequency``
seconds (429 ``over_email_send_rate_limit``); they last ``mailer_otp_exp`` seconds and are used
once (403 ``otp_expired``). ``POST /verify`` takes the code with its address or the code's hash;
``GET /verify`` is the link in the message and answers with a 303 redirect carrying the session
in the fragment, an error in it, or a PKCE ``code`` in the query for ``/token?grant_type=pkce``.
Unknown addresses get the same ``{}`` as known ones, so nothing leaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from converge_twins.mock_supabase.accounts import (
    CONFIRMATION,
    EMAIL_CHANGE_CURRENT,
    EMAIL_CHANGE_NEW,
    PHONE_CHANGE,
    RECOVERY,
    User,
    token_hash,
)
from converge_twins.mock_supabase.auth import (
    PKCE_PREFIX,
    VERIFY_KINDS,
    Endpoint,
    GoTrue,
    bad_request,
)
from converge_twins.mock_supabase.auth_errors import AuthError


class OneTimeCodes:
    def __init__(self, auth: GoTrue) -> None:
        self.auth = auth

    async def otp(self, request: Request) -> Response:
        data = await self.auth.body(request)
        email, phone = self.auth.text(data, "email"), self.auth.text(data, "phone")
        create = data.get("create_user", True)
        metadata = self.auth.mapping(data, "data") or {}
        if email and phone:
            raise bad_request("Only an email address or phone number should be provided")
        if not email and not phone:
            raise bad_request("An email address or phone number is required")
        redirect_to = request.query_params.get("redirect_to")
        if phone:
            if not self.auth.settings.external_phone_enabled:
                raise bad_request("Unsupported phone provider", "phone_provider_disabled")
            phone = self.auth.valid_phone(phone)
            user = self.auth.accounts.by_phone(phone)
            if user is None:
                user = self.signup_for_otp(create, phone=phone, data=metadata)
            self.auth.check_frequency(user.confirmation_sent_at)
            token, _ = self.auth.send_code(
                request,
                user,
                kind=CONFIRMATION,
                message_type="sms",
                address=phone,
                channel="sms",
            )
            user.confirmation_sent_at = token.sent_at
            return JSONResponse({"message_id": f"SM{token.hash[:32]}"})
        if not self.auth.settings.external_email_enabled:
            raise bad_request("Email logins are disabled", "email_provider_disabled")
        email = self.auth.valid_email(email)
        user = self.auth.accounts.by_email(email)
        if user is None:
            user = self.signup_for_otp(create, email=email, data=metadata)
        self.send_magic(request, user, data, redirect_to)
        return JSONResponse({})

    def signup_for_otp(self, create: Any, **fields: Any) -> User:
        if create is False or self.auth.settings.disable_signup:
            raise AuthError(422, "otp_disabled", "Signups not allowed for otp")
        provider = "email" if fields.get("email") else "phone"
        user = self.auth.new_user(provider=provider, **fields)
        self.auth.audit(user, "user_signedup", "team", provider=provider)
        return user

    def send_magic(
        self, request: Request, user: User, data: Mapping[str, Any], redirect_to: str | None
    ) -> None:
        """A magic link (confirmation e-mail while the address is unconfirmed), as /otp does."""
        if user.email_confirmed_at is None:
            pkce = self.auth.start_flow(data, user, "email/signup")
            self.auth.check_frequency(user.confirmation_sent_at)
            token, _ = self.auth.send_code(
                request,
                user,
                kind=CONFIRMATION,
                message_type="signup",
                address=user.email,
                redirect_to=redirect_to,
                pkce=pkce,
            )
            user.confirmation_sent_at = token.sent_at
            return
        pkce = self.auth.start_flow(data, user, "magiclink")
        self.auth.check_frequency(user.recovery_sent_at)
        token, _ = self.auth.send_code(
            request,
            user,
            kind=RECOVERY,
            message_type="magiclink",
            address=user.email,
            redirect_to=redirect_to,
            pkce=pkce,
        )
        user.recovery_sent_at = token.sent_at

    async def magiclink(self, request: Request) -> Response:
        data = await self.auth.body(request)
        email = self.auth.valid_email(self.auth.text(data, "email"))
        user = self.auth.accounts.by_email(email)
        if user is None:
            user = self.signup_for_otp(
                True, email=email, data=self.auth.mapping(data, "data") or {}
            )
        self.send_magic(request, user, data, request.query_params.get("redirect_to"))
        return JSONResponse({})

    async def recover(self, request: Request) -> Response:
        data = await self.auth.body(request)
        email = self.auth.text(data, "email")
        if not email:
            raise bad_request("Password recovery requires an email")
        user = self.auth.accounts.by_email(self.auth.valid_email(email))
        if user is not None:  # an unknown address gets the same {}: nothing leaks
            pkce = self.auth.start_flow(data, user, "recovery")
            self.auth.check_frequency(user.recovery_sent_at)
            token, _ = self.auth.send_code(
                request,
                user,
                kind=RECOVERY,
                message_type="recovery",
                address=user.email,
                redirect_to=request.query_params.get("redirect_to"),
                pkce=pkce,
            )
            user.recovery_sent_at = token.sent_at
            self.auth.audit(user, "user_recovery_requested", "user")
        return JSONResponse({})

    async def resend(self, request: Request) -> Response:
        data = await self.auth.body(request)
        kind = self.auth.text(data, "type")
        email, phone = self.auth.text(data, "email"), self.auth.text(data, "phone")
        if kind not in ("signup", "email_change", "sms", "phone_change"):
            raise bad_request("Missing one of these types: signup, email_change, sms, phone_change")
        if kind in ("signup", "email_change") and not email:
            raise bad_request("Type provided requires an email address")
        if kind in ("sms", "phone_change") and not phone:
            raise bad_request("Type provided requires a phone number")
        redirect_to = request.query_params.get("redirect_to")
        if email:
            email = self.auth.valid_email(email)
            user = self.auth.accounts.by_email(email)
            if kind == "email_change":
                user = next(
                    (u for u in self.auth.accounts.users.values() if u.new_email == email), user
                )
            if user is None:
                return JSONResponse({})
            if kind == "signup":
                if user.email_confirmed_at is not None:
                    raise AuthError(422, "email_exists", "Email address already confirmed")
                self.auth.check_frequency(user.confirmation_sent_at)
                token, _ = self.auth.send_code(
                    request,
                    user,
                    kind=CONFIRMATION,
                    message_type="signup",
                    address=user.email,
                    redirect_to=redirect_to,
                )
                user.confirmation_sent_at = token.sent_at
            elif user.new_email:
                self.auth.check_frequency(user.email_change_sent_at)
                self.auth.send_email_change(request, user, redirect_to)
            return JSONResponse({})
        phone = self.auth.valid_phone(phone)
        user = self.auth.accounts.by_phone(phone)
        if kind == "phone_change":
            user = next(
                (u for u in self.auth.accounts.users.values() if u.new_phone == phone), user
            )
        if user is None:
            return JSONResponse({})
        if kind == "sms":
            if user.phone_confirmed_at is not None:
                raise AuthError(422, "phone_exists", "Phone number already confirmed")
            self.auth.check_frequency(user.confirmation_sent_at)
            token, _ = self.auth.send_code(
                request,
                user,
                kind=CONFIRMATION,
                message_type="sms",
                address=phone,
                channel="sms",
            )
            user.confirmation_sent_at = token.sent_at
        else:
            self.auth.check_frequency(user.phone_change_sent_at)
            token, _ = self.auth.send_code(
                request,
                user,
                kind=PHONE_CHANGE,
                message_type="phone_change",
                address=user.new_phone,
                channel="sms",
            )
            user.phone_change_sent_at = token.sent_at
        return JSONResponse({"message_id": f"SM{token.hash[:32]}"})

    async def verify(self, request: Request) -> Response:
        if request.method == "GET":
            return self.verify_link(request)
        data = await self.auth.body(request)
        kind = self.auth.text(data, "type")
        token, hashed = self.auth.text(data, "token"), self.auth.text(data, "token_hash")
        email, phone = self.auth.text(data, "email"), self.auth.text(data, "phone")
        if not kind:
            raise bad_request("Verify requires a verification type")
        if bool(token) == bool(hashed):
            raise bad_request("Verify requires either a token or a token hash")
        if token:
            if phone and not email:
                hashed = token_hash(self.auth.valid_phone(phone), token)
            elif email and not phone:
                try:
                    hashed = token_hash(self.auth.valid_email(email), token)
                except AuthError as exc:
                    raise AuthError(422, "validation_failed", "Invalid email format") from exc
            else:
                raise bad_request(
                    "Only an email address or phone number should be provided on verify"
                )
        elif email or phone or self.auth.text(data, "redirect_to"):
            raise bad_request("Only the token_hash and type should be provided")
        user = self.redeem(kind, hashed, link=not token)
        if user is None:
            return JSONResponse(
                {
                    "msg": "Confirmation link accepted. Please proceed to "
                    "confirm link sent to the other email",
                    "code": "200",
                }
            )
        self.auth.audit(user, "login", "account", provider="otp")
        return JSONResponse(self.auth.grant(request, user, "otp"))

    def verify_link(self, request: Request) -> Response:
        """``GET /verify``: a link from a message; the answer is a redirect, as in a browser."""
        kind = request.query_params.get("type", "")
        value = request.query_params.get("token", "")
        redirect = self.auth.settings.allowed_redirect(request.query_params.get("redirect_to"))
        if not kind:
            raise bad_request("Verify requires a verification type")
        if not value:
            raise bad_request("Verify requires a token or a token hash")
        pkce = value.startswith(PKCE_PREFIX)
        try:
            user = self.redeem(kind, value.removeprefix(PKCE_PREFIX), link=True)
        except AuthError as exc:
            fragment = urlencode(
                {
                    "error": {400: "invalid_request", 401: "unauthorized_client"}.get(
                        exc.status, "access_denied"
                    ),
                    "error_code": exc.error_code,
                    "error_description": exc.message,
                }
            )
            query = f"?{fragment}" if pkce else ""
            return RedirectResponse(f"{redirect}{query}#{fragment}", status_code=303)
        if user is None:
            message = urlencode(
                {
                    "message": "Confirmation link accepted. Please proceed to "
                    "confirm link sent to the other email"
                }
            )
            return RedirectResponse(f"{redirect}#{message}", status_code=303)
        if pkce:
            flow = next(
                (f for f in reversed(self.auth.accounts.flows.values()) if f.user_id == user.id),
                None,
            )
            if flow is None:
                raise bad_request("No associated flow state found.", "flow_state_not_found")
            flow.auth_code = self.auth.uuid()
            separator = "&" if "?" in redirect else "?"
            return RedirectResponse(f"{redirect}{separator}code={flow.auth_code}", status_code=303)
        session = self.auth.grant(request, user, "otp")
        fragment = urlencode(
            {
                "access_token": session["access_token"],
                "expires_at": session["expires_at"],
                "expires_in": session["expires_in"],
                "refresh_token": session["refresh_token"],
                "token_type": "bearer",
                "type": kind,
            }
        )
        return RedirectResponse(f"{redirect}#{fragment}", status_code=303)

    def redeem(self, kind: str, hashed: str, *, link: bool) -> User | None:
        """Use up a one-time token; None as the user while a secure e-mail change waits."""
        kinds = VERIFY_KINDS.get(kind)
        if kinds is None:
            raise bad_request(
                "Unsupported verification type" if not link else "Invalid email verification type"
            )
        found = self.auth.accounts.by_token(kinds, hashed)
        invalid = (
            "Email link is invalid or has expired" if link else "Token has expired or is invalid"
        )
        if found is None:
            raise AuthError(403, "otp_expired", invalid)
        user, token = found
        if user.banned(self.auth.now()):
            raise AuthError(403, "user_banned", "User is banned")
        lifetime = (
            self.auth.settings.sms_otp_exp
            if kind in ("sms", "phone_change")
            else self.auth.settings.mailer_otp_exp
        )
        if self.auth.now() > token.sent_at + timedelta(seconds=lifetime):
            raise AuthError(403, "otp_expired", invalid)
        del user.tokens[token.kind]
        if token.kind == CONFIRMATION:
            if kind == "sms":
                self.auth.confirm_phone(user)
            else:
                self.auth.confirm_email(user)
        elif token.kind == RECOVERY:
            if user.email_confirmed_at is None:
                self.auth.confirm_email(user)
        elif token.kind in (EMAIL_CHANGE_CURRENT, EMAIL_CHANGE_NEW):
            user.email_change_confirmed += 1
            waiting = EMAIL_CHANGE_CURRENT in user.tokens or EMAIL_CHANGE_NEW in user.tokens
            if waiting and not self.auth.settings.mailer_autoconfirm:
                return None
            self.auth.apply_email_change(user)
        elif token.kind == PHONE_CHANGE:
            self.auth.apply_phone_change(user)
        self.auth.refresh_providers(user)
        return user

    def endpoints(self) -> list[Endpoint]:
        return [
            ("/verify", self.verify, ["GET", "POST"]),
            ("/otp", self.otp, ["POST"]),
            ("/magiclink", self.magiclink, ["POST"]),
            ("/recover", self.recover, ["POST"]),
            ("/resend", self.resend, ["POST"]),
        ]
