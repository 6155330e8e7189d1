"""The auth twin's records: users with their identities, sessions, refresh and one-time tokens.

A user renders as GoTrue's ``models.User`` does: optional timestamps (``last_sign_in_at``,
``email_confirmed_at``, ``invited_at``, ...) are left out while unset rather than sent as
``null``, ``email`` and ``phone`` are ``""`` when absent, times are RFC 3339 in UTC with
microseconds. One-time tokens are stored as GoTrue stores them: the SHA-224 of the address and
the code, so a link's ``token_hash`` and a typed six-digit code find the same token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The kinds of one-time token a user can hold, as GoTrue's one_time_tokens table names them.
CONFIRMATION = "confirmation_token"
RECOVERY = "recovery_token"
EMAIL_CHANGE_CURRENT = "email_change_token_current"
EMAIL_CHANGE_NEW = "email_change_token_new"
PHONE_CHANGE = "phone_change_token"
REAUTHENTICATION = "reauthentication_token"


def stamp(moment: datetime) -> str:
    """A Go ``time.Time`` in JSON: RFC 3339 with microseconds, UTC as ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def token_hash(address: str, otp: str) -> str:
    return hashlib.sha224(f"{address}{otp}".encode()).hexdigest()


def password_hash(password: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{password}".encode()).hexdigest()


@dataclass
class Identity:
    id: str  # the provider's id for the user: the user id for email and phone
    identity_id: str
    provider: str
    identity_data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    last_sign_in_at: datetime | None = None

    def view(self, user_id: str) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "identity_id": self.identity_id,
            "id": self.id,
            "user_id": user_id,
            "identity_data": dict(self.identity_data),
            "provider": self.provider,
        }
        if self.last_sign_in_at is not None:
            shown["last_sign_in_at"] = stamp(self.last_sign_in_at)
        shown["created_at"] = stamp(self.created_at)
        shown["updated_at"] = stamp(self.updated_at)
        email = self.identity_data.get("email")
        if isinstance(email, str) and email:
            shown["email"] = email
        return shown


@dataclass
class Factor:
    """A multi-factor authentication factor (TOTP) of a user."""

    id: str
    friendly_name: str
    secret: str  # base32, as an authenticator app is given it
    created_at: datetime
    updated_at: datetime
    status: str = "unverified"
    last_challenged_at: datetime | None = None

    def view(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.friendly_name:
            shown["friendly_name"] = self.friendly_name
        shown.update(
            {
                "factor_type": "totp",
                "created_at": stamp(self.created_at),
                "updated_at": stamp(self.updated_at),
                "phone": None,
                "last_challenged_at": stamp(self.last_challenged_at)
                if self.last_challenged_at
                else None,
            }
        )
        return shown


@dataclass
class Challenge:
    id: str
    factor_id: str
    created_at: datetime


@dataclass
class OneTimeToken:
    kind: str
    hash: str
    address: str
    sent_at: datetime
    pkce: bool = False


@dataclass
class User:
    id: str
    created_at: datetime
    updated_at: datetime
    email: str = ""
    phone: str = ""
    password: str | None = None  # the hash; None for passwordless users
    role: str = "authenticated"
    aud: str = "authenticated"
    email_confirmed_at: datetime | None = None
    phone_confirmed_at: datetime | None = None
    invited_at: datetime | None = None
    confirmation_sent_at: datetime | None = None
    recovery_sent_at: datetime | None = None
    new_email: str = ""
    email_change_sent_at: datetime | None = None
    email_change_confirmed: int = 0  # how many of the two secure-change links were used
    new_phone: str = ""
    phone_change_sent_at: datetime | None = None
    reauthentication_sent_at: datetime | None = None
    last_sign_in_at: datetime | None = None
    banned_until: datetime | None = None
    deleted_at: datetime | None = None
    is_anonymous: bool = False
    app_metadata: dict[str, Any] = field(default_factory=dict)
    user_metadata: dict[str, Any] = field(default_factory=dict)
    identities: list[Identity] = field(default_factory=list)
    factors: list[Factor] = field(default_factory=list)
    tokens: dict[str, OneTimeToken] = field(default_factory=dict)

    def check_password(self, password: str) -> bool:
        return self.password is not None and password_hash(password, self.id) == self.password

    def set_password(self, password: str) -> None:
        self.password = password_hash(password, self.id)

    def banned(self, now: datetime) -> bool:
        return self.banned_until is not None and self.banned_until > now

    def identity(self, provider: str) -> Identity | None:
        return next((i for i in self.identities if i.provider == provider), None)

    def providers(self) -> list[str]:
        seen: list[str] = []
        for identity in self.identities:
            if identity.provider not in seen:
                seen.append(identity.provider)
        return seen

    def view(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id,
            "aud": self.aud,
            "role": self.role,
            "email": self.email,
        }

        def optional(name: str, moment: datetime | None) -> None:
            if moment is not None:
                shown[name] = stamp(moment)

        optional("email_confirmed_at", self.email_confirmed_at)
        optional("invited_at", self.invited_at)
        shown["phone"] = self.phone
        optional("phone_confirmed_at", self.phone_confirmed_at)
        optional("confirmation_sent_at", self.confirmation_sent_at)
        confirmed = [m for m in (self.email_confirmed_at, self.phone_confirmed_at) if m]
        optional("confirmed_at", min(confirmed) if confirmed else None)
        optional("recovery_sent_at", self.recovery_sent_at)
        if self.new_email:
            shown["new_email"] = self.new_email
        optional("email_change_sent_at", self.email_change_sent_at)
        if self.new_phone:
            shown["new_phone"] = self.new_phone
        optional("phone_change_sent_at", self.phone_change_sent_at)
        optional("reauthentication_sent_at", self.reauthentication_sent_at)
        optional("last_sign_in_at", self.last_sign_in_at)
        shown["app_metadata"] = dict(self.app_metadata)
        shown["user_metadata"] = dict(self.user_metadata)
        if self.factors:
            shown["factors"] = [factor.view() for factor in self.factors]
        shown["identities"] = [identity.view(self.id) for identity in self.identities]
        shown["created_at"] = stamp(self.created_at)
        shown["updated_at"] = stamp(self.updated_at)
        optional("banned_until", self.banned_until)
        optional("deleted_at", self.deleted_at)
        shown["is_anonymous"] = self.is_anonymous
        return shown


@dataclass
class Session:
    id: str
    user_id: str
    created_at: datetime
    amr: list[dict[str, Any]]
    aal: str = "aal1"


@dataclass
class RefreshToken:
    token: str
    user_id: str
    session_id: str
    created_at: datetime
    parent: str | None = None
    revoked_at: datetime | None = None


@dataclass
class FlowState:
    """A PKCE flow: the challenge a sign-in started with, and the code it ended with."""

    id: str
    user_id: str
    challenge: str
    method: str  # "s256" or "plain"
    kind: str  # the authentication method the code stands for (signup, recovery, ...)
    created_at: datetime
    auth_code: str | None = None


@dataclass
class AuditEntry:
    id: str
    created_at: datetime
    action: str
    actor_id: str
    actor_username: str
    log_type: str
    traits: dict[str, Any]

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "payload": {
                "actor_id": self.actor_id,
                "actor_via_sso": False,
                "actor_username": self.actor_username,
                "action": self.action,
                "log_type": self.log_type,
                "traits": self.traits,
            },
            "created_at": stamp(self.created_at),
            "ip_address": "127.0.0.1",
        }


@dataclass
class Accounts:
    """Every record of the auth twin, held together so a reset or a snapshot takes them all."""

    users: dict[str, User] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    flows: dict[str, FlowState] = field(default_factory=dict)
    challenges: dict[str, Challenge] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)

    def clear(self) -> None:
        self.users.clear()
        self.sessions.clear()
        self.refresh_tokens.clear()
        self.flows.clear()
        self.challenges.clear()
        self.audit.clear()

    def by_email(self, email: str) -> User | None:
        wanted = email.lower()
        return next((u for u in self.users.values() if u.email and u.email == wanted), None)

    def by_phone(self, phone: str) -> User | None:
        return next((u for u in self.users.values() if u.phone and u.phone == phone), None)

    def by_token(self, kinds: tuple[str, ...], hashed: str) -> tuple[User, OneTimeToken] | None:
        for user in self.users.values():
            for kind in kinds:
                token = user.tokens.get(kind)
                if token is not None and token.hash == hashed:
                    return user, token
        return None

    def end_sessions(self, session_ids: list[str]) -> None:
        for session_id in session_ids:
            self.sessions.pop(session_id, None)
        gone = set(session_ids)
        for token in [t for t in self.refresh_tokens.values() if t.session_id in gone]:
            del self.refresh_tokens[token.token]

    def sessions_of(self, user_id: str) -> list[str]:
        return [s.id for s in self.sessions.values() if s.user_id == user_id]
