"""mock-supabase's multi-factor authentication (TOTP), through supabase-py's ``auth.mfa``."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import jwt
import pytest
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from converge_twins.mock_supabase.auth_mfa import totp
from tests.support.supabase import ANON, SECRET, SERVICE

pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)
PASSWORD = "secret123"


def signed_in(url: str, email: str = "mfa@example.com") -> Client:
    client = create_client(url, ANON, ClientOptions(auto_refresh_token=False))
    client.auth.sign_up({"email": email, "password": PASSWORD})
    return client


def now(url: str) -> datetime:
    return datetime.fromisoformat(httpx.get(f"{url}/_twin/clock").json()["now"]).astimezone(UTC)


def claims(client: Client) -> dict:
    session = client.auth.get_session()
    assert session is not None
    return jwt.decode(session.access_token, SECRET, algorithms=["HS256"], audience="authenticated")


def test_the_rfc_6238_reference_code():
    # RFC 6238's SHA-1 test vector: the secret "12345678901234567890" at 59 seconds.
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp(secret, datetime.fromtimestamp(59, UTC)) == "287082"


def test_enroll_challenge_verify_raises_the_session_to_aal2(supabase_url):
    client = signed_in(supabase_url)
    enrolled = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "phone app"})
    assert enrolled.totp is not None and enrolled.totp.uri.startswith("otpauth://totp/")
    assert f"secret={enrolled.totp.secret}" in enrolled.totp.uri
    assert claims(client)["aal"] == "aal1"
    challenge = client.auth.mfa.challenge({"factor_id": enrolled.id})
    code = totp(enrolled.totp.secret, now(supabase_url))
    verified = client.auth.mfa.verify(
        {"factor_id": enrolled.id, "challenge_id": challenge.id, "code": code}
    )
    assert verified.access_token
    after = claims(client)
    assert after["aal"] == "aal2"
    assert [entry["method"] for entry in after["amr"]] == ["totp", "password"]
    factors = client.auth.mfa.list_factors()
    assert [f.status for f in factors.totp] == ["verified"]
    level = client.auth.mfa.get_authenticator_assurance_level()
    assert (level.current_level, level.next_level) == ("aal2", "aal2")


def test_a_wrong_or_late_code_is_refused(supabase_url):
    client = signed_in(supabase_url)
    enrolled = client.auth.mfa.enroll({"factor_type": "totp"})
    challenge = client.auth.mfa.challenge({"factor_id": enrolled.id})
    with pytest.raises(AuthApiError) as wrong:
        client.auth.mfa.verify(
            {"factor_id": enrolled.id, "challenge_id": challenge.id, "code": "000000"}
        )
    assert (wrong.value.status, wrong.value.code) == (422, "mfa_verification_failed")
    httpx.post(f"{supabase_url}/_twin/clock", json={"advance": 301})
    code = totp(enrolled.totp.secret, now(supabase_url))
    with pytest.raises(AuthApiError) as late:
        client.auth.mfa.verify(
            {"factor_id": enrolled.id, "challenge_id": challenge.id, "code": code}
        )
    assert late.value.code == "mfa_challenge_expired"


def test_unenrolling_a_verified_factor_needs_aal2(supabase_url):
    client = signed_in(supabase_url)
    enrolled = client.auth.mfa.enroll({"factor_type": "totp"})
    client.auth.mfa.challenge_and_verify(
        {"factor_id": enrolled.id, "code": totp(enrolled.totp.secret, now(supabase_url))}
    )
    second = create_client(supabase_url, ANON, ClientOptions(auto_refresh_token=False))
    second.auth.sign_in_with_password({"email": "mfa@example.com", "password": PASSWORD})
    with pytest.raises(AuthApiError) as refused:
        second.auth.mfa.unenroll({"factor_id": enrolled.id})
    assert (refused.value.status, refused.value.code) == (403, "insufficient_aal")
    assert client.auth.mfa.unenroll({"factor_id": enrolled.id}).id == enrolled.id


def test_factor_names_must_differ_and_other_factor_types_are_off(supabase_url):
    client = signed_in(supabase_url)
    client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "app"})
    with pytest.raises(AuthApiError) as again:
        client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "app"})
    assert again.value.code == "mfa_factor_name_conflict"
    with pytest.raises(AuthApiError) as phone:
        client.auth.mfa.enroll({"factor_type": "phone", "phone": "+15550100"})
    assert phone.value.code == "mfa_phone_enroll_not_enabled"


def test_unknown_factor(supabase_url):
    client = signed_in(supabase_url)
    with pytest.raises(AuthApiError) as missing:
        client.auth.mfa.challenge({"factor_id": "00000000-0000-4000-8000-000000000000"})
    assert (missing.value.status, missing.value.code) == (404, "mfa_factor_not_found")


def test_administrators_list_rename_and_remove_factors(supabase_url):
    client = signed_in(supabase_url)
    user = client.auth.get_user().user
    enrolled = client.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "old"})
    admin = {"apikey": SERVICE, "Authorization": f"Bearer {SERVICE}"}
    base = f"{supabase_url}/auth/v1/admin/users/{user.id}/factors"
    listed = httpx.get(base, headers=admin).json()
    assert [(f["id"], f["status"], f["factor_type"]) for f in listed] == [
        (enrolled.id, "unverified", "totp")
    ]
    renamed = httpx.put(f"{base}/{enrolled.id}", json={"friendly_name": "new"}, headers=admin)
    assert renamed.json()["friendly_name"] == "new"
    removed = httpx.delete(f"{base}/{enrolled.id}", headers=admin)
    assert removed.json()["id"] == enrolled.id
    assert httpx.get(base, headers=admin).json() == []
