"""GoTrue's multi-factor authentication with TOTP: enroll, challenge, verify, unenroll.

An authenticator app's six-digit codes (RFC 6238: HMAC-SHA1 of the 30-second step of the
twin's clock, one step of skew either way) verify a challenge, which raises the session to
``aal2`` and adds ``totp`` to its ``amr``, as GoTrue's mfa.go does. Phone and WebAuthn factors
are not enabled on the twin's project (422, as on a project that has them off). Administrators
list, rename and remove a user's factors.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from datetime import datetime, timedelta
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from converge_twins.mock_supabase.accounts import Challenge, Factor, Session, User
from converge_twins.mock_supabase.auth import UUID, Endpoint, GoTrue, bad_request
from converge_twins.mock_supabase.auth_admin import GoTrueAdmin
from converge_twins.mock_supabase.auth_errors import AuthError

STEP = 30
DIGITS = 6
CHALLENGE_EXPIRY = 300  # GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION's default
MAX_FACTORS = 10


def totp(secret: str, moment: datetime, offset: int = 0) -> str:
    """The code an authenticator shows for ``secret`` (base32) at ``moment``."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int(moment.timestamp()) // STEP + offset
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    start = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[start : start + 4])[0] & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


def _svg(uri: str) -> str:
    """A stand-in for the QR code GoTrue draws: an SVG that carries the URI it encodes."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="200">'
        f'<desc>{quote(uri)}</desc><rect width="200" height="200" fill="white"/></svg>'
    )


class MultiFactor:
    def __init__(self, auth: GoTrue) -> None:
        self.auth = auth

    def factor(self, user: User, request: Request) -> Factor:
        factor_id = request.path_params["factor_id"]
        if not UUID.match(factor_id):
            raise AuthError(404, "validation_failed", "factor_id must be an UUID")
        found = next((f for f in user.factors if f.id == factor_id.lower()), None)
        if found is None:
            raise AuthError(404, "mfa_factor_not_found", "Factor not found")
        return found

    def signed_in(self, request: Request) -> tuple[User, Session]:
        user, _, session = self.auth.current(request)
        if user.is_anonymous:
            raise AuthError(
                403, "no_authorization", "Anonymous user not allowed to perform these actions"
            )
        if session is None:
            raise AuthError(
                403, "session_not_found", "Session from session_id claim in JWT does not exist"
            )
        return user, session

    async def enroll(self, request: Request) -> Response:
        user, _ = self.signed_in(request)
        auth = self.auth
        data = await auth.body(request)
        kind = auth.text(data, "factor_type")
        if kind == "phone":
            raise AuthError(422, "mfa_phone_enroll_not_enabled", "MFA enroll is disabled for Phone")
        if kind == "webauthn":
            raise AuthError(
                422, "mfa_webauthn_enroll_not_enabled", "MFA enroll is disabled for WebAuthn"
            )
        if kind != "totp":
            raise bad_request("factor_type needs to be totp, phone or webauthn")
        name = auth.text(data, "friendly_name")
        if name and any(f.friendly_name == name for f in user.factors):
            raise AuthError(
                422,
                "mfa_factor_name_conflict",
                f'A factor with the friendly name "{name}" for this user already exists',
            )
        if len(user.factors) >= MAX_FACTORS:
            raise AuthError(
                422,
                "too_many_enrolled_mfa_factors",
                "Maximum number of verified factors reached, unenroll to continue",
            )
        now = auth.now()
        secret = base64.b32encode(bytes.fromhex(auth.twin.ids.hex(40))).decode()
        factor = Factor(auth.uuid(), name, secret, now, now)
        user.factors.append(factor)
        issuer = auth.text(data, "issuer") or auth.settings.site_url.split("//")[-1]
        account = user.email or user.phone or user.id
        uri = (
            f"otpauth://totp/{quote(issuer)}:{quote(account)}?secret={factor.secret}"
            f"&issuer={quote(issuer)}"
        )
        auth.audit(user, "factor_in_progress", "factor", factor_id=factor.id)
        return JSONResponse(
            {
                "id": factor.id,
                "type": "totp",
                "friendly_name": name,
                "totp": {"qr_code": _svg(uri), "secret": factor.secret, "uri": uri},
            }
        )

    async def challenge(self, request: Request) -> Response:
        user, _ = self.signed_in(request)
        factor = self.factor(user, request)
        now = self.auth.now()
        challenge = Challenge(self.auth.uuid(), factor.id, now)
        self.auth.accounts.challenges[challenge.id] = challenge
        factor.last_challenged_at = now
        self.auth.audit(user, "challenge_created", "factor", factor_id=factor.id)
        expires = int((now + timedelta(seconds=CHALLENGE_EXPIRY)).timestamp())
        return JSONResponse({"id": challenge.id, "type": "totp", "expires_at": expires})

    async def verify(self, request: Request) -> Response:
        user, session = self.signed_in(request)
        auth = self.auth
        factor = self.factor(user, request)
        data = await auth.body(request)
        challenge = auth.accounts.challenges.get(auth.text(data, "challenge_id"))
        if challenge is None or challenge.factor_id != factor.id:
            raise AuthError(
                404,
                "mfa_challenge_not_found",
                "MFA factor with the provided challenge ID not found",
            )
        now = auth.now()
        if now > challenge.created_at + timedelta(seconds=CHALLENGE_EXPIRY):
            raise AuthError(
                422,
                "mfa_challenge_expired",
                f"MFA challenge {challenge.id} has expired, verify against another challenge "
                "or create a new challenge.",
            )
        code = auth.text(data, "code")
        if code not in {totp(factor.secret, now, step) for step in (-1, 0, 1)}:
            raise AuthError(422, "mfa_verification_failed", "Invalid TOTP code entered")
        del auth.accounts.challenges[challenge.id]
        factor.status, factor.updated_at = "verified", now
        session.aal = "aal2"
        session.amr = [{"method": "totp", "timestamp": int(now.timestamp())}, *session.amr]
        auth.audit(user, "verification_attempted", "factor", factor_id=factor.id)
        # The current refresh token is swapped for a new one of the same, now aal2, session.
        current = next(
            (
                t
                for t in auth.accounts.refresh_tokens.values()
                if t.session_id == session.id and t.revoked_at is None
            ),
            None,
        )
        if current is not None:
            current.revoked_at = now
        refresh = auth.new_refresh_token(user, session, parent=current.token if current else None)
        return JSONResponse(auth.token_response(request, user, session, refresh))

    async def unenroll(self, request: Request) -> Response:
        user, session = self.signed_in(request)
        factor = self.factor(user, request)
        if factor.status == "verified" and session.aal != "aal2":
            raise AuthError(403, "insufficient_aal", "AAL2 required to unenroll verified factor")
        user.factors.remove(factor)
        self.auth.audit(user, "factor_unenrolled", "factor", factor_id=factor.id)
        return JSONResponse({"id": factor.id})

    # administrators -----------------------------------------------------------------------

    async def admin_factor(self, request: Request) -> Response:
        admin = GoTrueAdmin(self.auth)
        admin.require_admin(request)
        user = admin.load_user(request)
        factor = self.factor(user, request)
        if request.method == "DELETE":
            user.factors.remove(factor)
            self.auth.audit(None, "factor_deleted", "factor", factor_id=factor.id)
        else:
            data = await self.auth.body(request)
            name = self.auth.text(data, "friendly_name")
            if name:
                factor.friendly_name = name
            factor.updated_at = self.auth.now()
            self.auth.audit(None, "factor_updated", "factor", factor_id=factor.id)
        return JSONResponse(factor.view())

    def endpoints(self) -> list[Endpoint]:
        return [
            ("/factors", self.enroll, ["POST"]),
            ("/factors/{factor_id}", self.unenroll, ["DELETE"]),
            ("/factors/{factor_id}/challenge", self.challenge, ["POST"]),
            ("/factors/{factor_id}/verify", self.verify, ["POST"]),
            ("/admin/users/{user_id}/factors/{factor_id}", self.admin_factor, ["PUT", "DELETE"]),
        ]
