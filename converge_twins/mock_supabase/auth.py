"""GoTrue (``/auth/v1``): the state and the rules every auth endpoint shares.

The twin follows GoTrue's source (internal/api): users, identities, sessions, rotating refresh
tokens and one-time codes live in :class:`~converge_twins.mock_supabase.accounts.Accounts`;
messages a real project would e-mail or text land in the twin's mailbox. The endpoints are
grouped as GoTrue's reference is: sign-up and tokens (:mod:`.auth_signin`), one-time codes
and links (:mod:`.auth_codes`), the signed-in user (:mod:`.auth_user`) and administration
(:mod:`.auth_admin`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from converge_twins.control import Twin
from converge_twins.mock_supabase.accounts import (
    CONFIRMATION,
    EMAIL_CHANGE_CURRENT,
    EMAIL_CHANGE_NEW,
    PHONE_CHANGE,
    RECOVERY,
    Accounts,
    AuditEntry,
    FlowState,
    Identity,
    OneTimeToken,
    RefreshToken,
    Session,
    User,
    token_hash,
)
from converge_twins.mock_supabase.auth_errors import AuthError, weak_password
from converge_twins.mock_supabase.auth_settings import AuthSettings
from converge_twins.mock_supabase.mailbox import SUBJECTS, Mailbox, Message
from converge_twins.mock_supabase.tokens import BadToken, TokenIssuer

Handler = Callable[[Request], Awaitable[Response]]
Endpoint = tuple[str, Handler, list[str]]
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^[1-9]\d{1,14}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PKCE_PREFIX = "pkce_"
TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
LOGOUT_SCOPES = ("global", "local", "others")

# What each verification type may redeem, and the authentication method it signs in with.
VERIFY_KINDS: dict[str, tuple[str, ...]] = {
    "signup": (CONFIRMATION,),
    "invite": (CONFIRMATION,),
    "email": (CONFIRMATION, RECOVERY),
    "magiclink": (RECOVERY,),
    "recovery": (RECOVERY,),
    "email_change": (EMAIL_CHANGE_CURRENT, EMAIL_CHANGE_NEW),
    "sms": (CONFIRMATION,),
    "phone_change": (PHONE_CHANGE,),
}


def bad_request(message: str, code: str = "validation_failed") -> AuthError:
    return AuthError(400, code, message)


class GoTrue:
    """State and shared rules of the auth twin."""

    """State and shared rules of the auth twin, and the endpoints a signed-in user calls."""

    def __init__(
        self, twin: Twin, issuer: TokenIssuer, settings: AuthSettings, mailbox: Mailbox
    ) -> None:
        self.twin = twin
        self.issuer = issuer
        self.settings = settings
        self.mailbox = mailbox
        self.accounts = Accounts()
        twin.on_reset(self.accounts.clear)

    def now(self) -> datetime:
        return self.twin.clock.now()

    def uuid(self) -> str:
        return self.twin.ids.uuid()

    async def body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise bad_request(f"Could not parse request body as JSON: {exc}", "bad_json") from exc
        if not isinstance(data, dict):
            raise bad_request(
                "Could not parse request body as JSON: expected a JSON object", "bad_json"
            )
        return data

    @staticmethod
    def text(data: Mapping[str, Any], name: str) -> str:
        value = data.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise bad_request(
                f"Could not parse request body as JSON: {name} must be a string", "bad_json"
            )
        return value.strip()

    @staticmethod
    def mapping(data: Mapping[str, Any], name: str) -> dict[str, Any] | None:
        value = data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise bad_request(
                f"Could not parse request body as JSON: {name} must be an object", "bad_json"
            )
        return dict(value)

    def auth_url(self, request: Request) -> str:
        return f"{str(request.base_url).rstrip('/')}/auth/v1"

    @staticmethod
    def valid_email(email: str) -> str:
        if not email:
            raise bad_request("An email address is required")
        if len(email) > 255:
            raise bad_request("An email address is too long")
        if not EMAIL.match(email):
            raise bad_request("Unable to validate email address: invalid format")
        return email.lower()

    @staticmethod
    def valid_phone(phone: str) -> str:
        digits = re.sub(r"[\s+\-()]", "", phone)
        if not PHONE.match(digits):
            raise bad_request("Invalid phone number format (E.164 required)")
        return digits

    def check_password(self, password: str) -> None:
        """GoTrue's checkPasswordStrength: 422 ``weak_password`` with the reasons."""
        problem = self.password_problem(password)
        if problem is not None:
            raise weak_password(*problem)

    def password_problem(self, password: str) -> tuple[str, list[str]] | None:
        messages: list[str] = []
        reasons: list[str] = []
        minimum = self.settings.password_min_length
        if len(password) < minimum:
            messages.append(f"Password should be at least {minimum} characters.")
            reasons.append("length")
        required = self.settings.password_required_characters
        if any(chars and not any(c in password for c in chars) for chars in required):
            messages.append(
                f"Password should contain at least one character of each: {', '.join(required)}."
            )
            reasons.append("characters")
        return (" ".join(messages), reasons) if reasons else None

    def check_frequency(self, sent_at: datetime | None) -> None:
        window = self.settings.smtp_max_frequency
        if sent_at is None or window <= 0:
            return
        left = (sent_at + timedelta(seconds=window) - self.now()).total_seconds()
        if left > 0:
            raise AuthError(
                429,
                "over_email_send_rate_limit",
                f"For security purposes, you can only request this after {int(left)} seconds.",
            )

    def new_user(
        self,
        *,
        email: str = "",
        phone: str = "",
        password: str | None = None,
        data: Mapping[str, Any] | None = None,
        provider: str | None = None,
        anonymous: bool = False,
        user_id: str | None = None,
    ) -> User:
        now = self.now()
        user = User(
            id=user_id or self.uuid(),
            created_at=now,
            updated_at=now,
            email=email,
            phone=phone,
            is_anonymous=anonymous,
        )
        if password:
            user.set_password(password)
        user.user_metadata = dict(data or {})
        if provider is not None:
            claims: dict[str, Any] = {"sub": user.id}
            if email:
                claims["email"] = email
            if phone:
                claims["phone"] = phone
            claims.update({"email_verified": False, "phone_verified": False})
            identity_data = {**claims, **{k: v for k, v in (data or {}).items() if k not in claims}}
            user.identities.append(
                Identity(
                    id=user.id,
                    identity_id=self.uuid(),
                    provider=provider,
                    identity_data=identity_data,
                    created_at=now,
                    updated_at=now,
                )
            )
            user.user_metadata = {**identity_data, **user.user_metadata}
            user.app_metadata = {"provider": provider, "providers": [provider]}
        self.accounts.users[user.id] = user
        return user

    def confirm_email(self, user: User) -> None:
        now = self.now()
        user.email_confirmed_at = user.email_confirmed_at or now
        user.tokens.pop(CONFIRMATION, None)
        user.user_metadata["email_verified"] = True
        identity = user.identity("email")
        if identity is not None and identity.identity_data.get("email") == user.email:
            identity.identity_data["email_verified"] = True
            identity.updated_at = now
        user.updated_at = now

    def confirm_phone(self, user: User) -> None:
        now = self.now()
        user.phone_confirmed_at = user.phone_confirmed_at or now
        user.tokens.pop(CONFIRMATION, None)
        user.user_metadata["phone_verified"] = True
        identity = user.identity("phone")
        if identity is not None:
            identity.identity_data["phone_verified"] = True
            identity.updated_at = now
        user.updated_at = now

    def refresh_providers(self, user: User) -> None:
        providers = user.providers()
        if providers:
            user.app_metadata["provider"] = providers[0]
            user.app_metadata["providers"] = providers

    def apply_email_change(self, user: User) -> None:
        now = self.now()
        user.tokens.pop(EMAIL_CHANGE_CURRENT, None)
        user.tokens.pop(EMAIL_CHANGE_NEW, None)
        user.email, user.new_email = user.new_email, ""
        user.email_change_sent_at, user.email_change_confirmed = None, 0
        user.email_confirmed_at = user.email_confirmed_at or now
        identity = user.identity("email")
        if identity is None:
            identity = Identity(
                user.id,
                self.uuid(),
                "email",
                {
                    "sub": user.id,
                    "email": user.email,
                    "email_verified": True,
                    "phone_verified": False,
                },
                now,
                now,
            )
            user.identities.append(identity)
        identity.identity_data.update({"email": user.email, "email_verified": True})
        identity.updated_at = now
        user.user_metadata.update({"email": user.email, "email_verified": True})
        user.is_anonymous = False
        user.updated_at = now

    def apply_phone_change(self, user: User) -> None:
        now = self.now()
        user.phone, user.new_phone = user.new_phone, ""
        user.phone_change_sent_at = None
        user.phone_confirmed_at = now
        identity = user.identity("phone")
        if identity is None:
            identity = Identity(
                user.id,
                self.uuid(),
                "phone",
                {
                    "sub": user.id,
                    "phone": user.phone,
                    "email_verified": False,
                    "phone_verified": True,
                },
                now,
                now,
            )
            user.identities.append(identity)
        identity.identity_data.update({"phone": user.phone, "phone_verified": True})
        user.is_anonymous = False
        user.updated_at = now

    def audit(self, user: User | None, action: str, log_type: str, **traits: Any) -> None:
        actor = user.id if user is not None else "00000000-0000-0000-0000-000000000000"
        name = (user.email or user.phone) if user is not None else "service_role"
        self.accounts.audit.append(
            AuditEntry(self.uuid(), self.now(), action, actor, name, log_type, traits)
        )

    def send_code(
        self,
        request: Request,
        user: User,
        *,
        kind: str,
        message_type: str,
        address: str,
        redirect_to: str | None = None,
        pkce: bool = False,
        channel: str = "email",
        deliver: bool = True,
    ) -> tuple[OneTimeToken, Message]:
        """Store a fresh one-time token for ``user`` and (when ``deliver``) mail its message."""
        length = (
            self.settings.mailer_otp_length if channel == "email" else self.settings.sms_otp_length
        )
        otp = self.twin.ids.token(length, "0123456789")
        token = OneTimeToken(kind, token_hash(address, otp), address, self.now(), pkce)
        user.tokens[kind] = token
        link = None
        redirect = self.settings.allowed_redirect(redirect_to)
        if channel == "email" and message_type != "reauthentication":
            link_type = "email_change" if message_type.startswith("email_change") else message_type
            query = {
                "token": (PKCE_PREFIX if pkce else "") + token.hash,
                "type": link_type,
                "redirect_to": redirect,
            }
            link = f"{self.auth_url(request)}/verify?{urlencode(query)}"
        message = Message(
            id=self.uuid(),
            channel=channel,
            to=address,
            type=message_type,
            subject=SUBJECTS.get(message_type, "Your code"),
            otp=otp,
            token_hash=token.hash,
            link=link,
            redirect_to=redirect if link else None,
            sent_at=self.now().isoformat(),
        )
        if deliver:
            self.mailbox.send(message)
            # The journal shows that a message left, never its code.
            self.twin.note("auth_message", channel=channel, to=address, type=message_type)
        return token, message

    def send_email_change(self, request: Request, user: User, redirect_to: str | None) -> None:
        token, _ = self.send_code(
            request,
            user,
            kind=EMAIL_CHANGE_NEW,
            message_type="email_change_new",
            address=user.new_email,
            redirect_to=redirect_to,
        )
        if self.settings.mailer_secure_email_change_enabled and user.email:
            self.send_code(
                request,
                user,
                kind=EMAIL_CHANGE_CURRENT,
                message_type="email_change_current",
                address=user.email,
                redirect_to=redirect_to,
            )
        user.email_change_sent_at = token.sent_at
        user.email_change_confirmed = 0

    def start_flow(self, data: Mapping[str, Any], user: User, kind: str) -> bool:
        """Record a PKCE flow when the request carries a code challenge; True when it does."""
        challenge = self.text(data, "code_challenge")
        method = self.text(data, "code_challenge_method").lower()
        if not challenge and not method:
            return False
        if not challenge or method not in ("s256", "plain"):
            raise bad_request(
                "PKCE flow requires code_challenge_method and code_challenge"
                if not challenge or not method
                else "code challenge method not supported"
            )
        flow = FlowState(self.uuid(), user.id, challenge, method, kind, self.now())
        self.accounts.flows[flow.id] = flow
        return True

    def grant(
        self, request: Request, user: User, method: str, session: Session | None = None
    ) -> dict[str, Any]:
        """A new session (or a new access token for ``session``) as GoTrue's token response."""
        now = self.now()
        if session is None:
            session = Session(
                self.uuid(), user.id, now, [{"method": method, "timestamp": int(now.timestamp())}]
            )
            self.accounts.sessions[session.id] = session
            user.last_sign_in_at = now
            for identity in user.identities:
                identity.last_sign_in_at = now
        refresh = self.new_refresh_token(user, session)
        return self.token_response(request, user, session, refresh)

    def new_refresh_token(
        self, user: User, session: Session, parent: str | None = None
    ) -> RefreshToken:
        token = RefreshToken(
            self.twin.ids.token(12, TOKEN_ALPHABET), user.id, session.id, self.now(), parent
        )
        self.accounts.refresh_tokens[token.token] = token
        return token

    def token_response(
        self, request: Request, user: User, session: Session, refresh: RefreshToken
    ) -> dict[str, Any]:
        now = int(self.now().timestamp())
        expiry = self.settings.jwt_exp
        claims = {
            "iss": self.auth_url(request),
            "sub": user.id,
            "aud": user.aud,
            "exp": now + expiry,
            "iat": now,
            "email": user.email,
            "phone": user.phone,
            "app_metadata": user.app_metadata,
            "user_metadata": user.user_metadata,
            "role": user.role,
            "aal": session.aal,
            "amr": session.amr,
            "session_id": session.id,
            "is_anonymous": user.is_anonymous,
        }
        return {
            "access_token": self.issuer.sign(claims),
            "token_type": "bearer",
            "expires_in": expiry,
            "expires_at": now + expiry,
            "refresh_token": refresh.token,
            "user": user.view(),
        }

    def bearer_claims(self, request: Request) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        match = re.match(r"^\s*bearer\s+(\S+)\s*$", header, re.IGNORECASE)
        if match is None:
            raise AuthError(401, "no_authorization", "This endpoint requires a Bearer token")
        try:
            return self.issuer.verify(match.group(1))
        except BadToken as exc:
            raise AuthError(403, "bad_jwt", exc.reason) from exc

    def current(self, request: Request) -> tuple[User, dict[str, Any], Session | None]:
        claims = self.bearer_claims(request)
        subject = claims.get("sub")
        if not subject:
            raise AuthError(403, "bad_jwt", "invalid claim: missing sub claim")
        if not isinstance(subject, str) or not UUID.match(subject):
            raise AuthError(400, "bad_jwt", "invalid claim: sub claim must be a UUID")
        user = self.accounts.users.get(subject)
        if user is None:
            raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
        session = None
        session_id = claims.get("session_id")
        if session_id:
            session = self.accounts.sessions.get(str(session_id))
            if session is None:
                raise AuthError(
                    403,
                    "session_not_found",
                    "Session from session_id claim in JWT does not exist",
                )
        return user, claims, session
