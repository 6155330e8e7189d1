"""mock-supabase's GoTrue for the people who sign in, through the official supabase client.

Every answer these tests cause is checked against GoTrue's OpenAPI by the ``supabase_twin``
fixture (tests/support/supabase.py); raw HTTP is used where the client hides what is pinned
(status codes, headers, the exact body).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from tests.support.supabase import ANON, SECRET, SERVICE

pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)
PASSWORD = "secret123"
VERSIONED = {"X-Supabase-Api-Version": "2024-01-01"}


def client(url: str, key: str = ANON, flow: str = "implicit") -> Client:
    return create_client(url, key, ClientOptions(flow_type=flow, auto_refresh_token=False))


def auth_post(url: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/auth/v1{path}", json=body, headers={"apikey": ANON, **headers})


def configure(url: str, **auth: Any) -> None:
    response = httpx.patch(f"{url}/_twin/supabase/project", json={"auth": auth})
    assert response.status_code == 200, response.text


def mail(url: str, **query: str) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/_twin/supabase/messages", params=query).json()["messages"]


def advance(url: str, seconds: float) -> None:
    assert httpx.post(f"{url}/_twin/clock", json={"advance": seconds}).status_code == 200


def sign_up(url: str, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = auth_post(url, "/signup", {"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


# sign-up ----------------------------------------------------------------------------------


def test_sign_up_returns_a_session_with_supabase_claims(supabase_url):
    response = client(supabase_url).auth.sign_up({"email": "Ada@Example.com", "password": PASSWORD})
    assert response.user is not None and response.session is not None
    assert response.user.email == "ada@example.com"
    assert response.user.email_confirmed_at is not None
    claims = jwt.decode(
        response.session.access_token, SECRET, algorithms=["HS256"], audience="authenticated"
    )
    assert claims["sub"] == response.user.id
    assert claims["role"] == "authenticated"
    assert claims["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert claims["user_metadata"]["email_verified"] is True
    assert claims["amr"][0]["method"] == "password"
    assert claims["exp"] - claims["iat"] == 3600


def test_sign_up_data_lands_in_user_metadata_only(supabase_url):
    response = client(supabase_url).auth.sign_up(
        {"email": "pro@example.com", "password": PASSWORD, "options": {"data": {"plan": "pro"}}}
    )
    assert response.user is not None
    assert response.user.user_metadata["plan"] == "pro"
    assert "plan" not in response.user.app_metadata


def test_confirmation_flow_when_autoconfirm_is_off(supabase_url):
    configure(supabase_url, mailer_autoconfirm=False)
    auth = client(supabase_url).auth
    response = auth.sign_up({"email": "new@example.com", "password": PASSWORD})
    assert response.session is None
    assert response.user is not None and response.user.email_confirmed_at is None
    assert response.user.confirmation_sent_at is not None
    with pytest.raises(AuthApiError) as unconfirmed:
        auth.sign_in_with_password({"email": "new@example.com", "password": PASSWORD})
    assert (unconfirmed.value.status, unconfirmed.value.code) == (400, "email_not_confirmed")
    (message,) = mail(supabase_url, to="new@example.com", type="signup")
    assert message["subject"] == "Confirm Your Signup"
    verified = auth.verify_otp(
        {"email": "new@example.com", "token": message["otp"], "type": "email"}
    )
    assert verified.session is not None and verified.user is not None
    assert verified.user.email_confirmed_at is not None
    assert auth.sign_in_with_password({"email": "new@example.com", "password": PASSWORD}).session


def test_repeated_sign_up_is_refused_with_autoconfirm_and_obfuscated_without(supabase_url):
    sign_up(supabase_url, "dup@example.com")
    with pytest.raises(AuthApiError) as refused:
        client(supabase_url).auth.sign_up({"email": "dup@example.com", "password": PASSWORD})
    assert (refused.value.status, refused.value.code) == (422, "user_already_exists")
    configure(supabase_url, mailer_autoconfirm=False)
    first = sign_up(supabase_url, "dup@example.com")  # confirmed before: the answer must not say so
    again = sign_up(supabase_url, "dup@example.com")
    assert first["id"] != again["id"]
    assert "email_confirmed_at" not in again and again["identities"] == []


def test_weak_passwords_name_their_reasons(supabase_url):
    with pytest.raises(AuthWeakPasswordError) as short:
        client(supabase_url).auth.sign_up({"email": "weak@example.com", "password": "123"})
    assert short.value.reasons == ["length"]
    assert short.value.status == 422
    configure(supabase_url, password_required_characters=["0123456789"])
    with pytest.raises(AuthWeakPasswordError) as plain:
        client(supabase_url).auth.sign_up({"email": "weak@example.com", "password": "abcdefgh"})
    assert plain.value.reasons == ["characters"]


def test_sign_in_with_a_password_the_policy_no_longer_allows_warns(supabase_url):
    sign_up(supabase_url, "old@example.com", "abcdefgh")
    configure(supabase_url, password_min_length=10)
    answer = auth_post(
        supabase_url,
        "/token?grant_type=password",
        {"email": "old@example.com", "password": "abcdefgh"},
    ).json()
    assert answer["access_token"]
    assert answer["weak_password"]["reasons"] == ["length"]


def test_sign_up_without_password_and_disabled_sign_ups(supabase_url):
    response = auth_post(supabase_url, "/signup", {"email": "x@example.com"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "validation_failed"
    configure(supabase_url, disable_signup=True)
    with pytest.raises(AuthApiError) as disabled:
        client(supabase_url).auth.sign_up({"email": "x@example.com", "password": PASSWORD})
    assert (disabled.value.status, disabled.value.code) == (422, "signup_disabled")


def test_anonymous_sign_ins_need_the_setting_and_become_permanent(supabase_url):
    auth = client(supabase_url).auth
    with pytest.raises(AuthApiError) as disabled:
        auth.sign_in_anonymously()
    assert disabled.value.code == "anonymous_provider_disabled"
    configure(supabase_url, external_anonymous_users_enabled=True)
    session = auth.sign_in_anonymously()
    assert session.user is not None and session.user.is_anonymous is True
    assert session.user.email == "" and session.user.identities == []
    updated = auth.update_user({"email": "kept@example.com"})
    assert updated.user.is_anonymous is False
    assert updated.user.email == "kept@example.com"


# sign-in and the error format --------------------------------------------------------------


def test_wrong_password_is_invalid_credentials(supabase_url):
    sign_up(supabase_url, "cy@example.com")
    with pytest.raises(AuthApiError) as caught:
        client(supabase_url).auth.sign_in_with_password(
            {"email": "cy@example.com", "password": "nope-nope"}
        )
    assert (caught.value.status, caught.value.code) == (400, "invalid_credentials")
    assert caught.value.message == "Invalid login credentials"


def test_errors_name_their_code_in_a_header_in_both_shapes(supabase_url):
    legacy = auth_post(
        supabase_url, "/token?grant_type=password", {"email": "no@example.com", "password": "x"}
    )
    assert legacy.status_code == 400
    assert legacy.headers["x-sb-error-code"] == "invalid_credentials"
    assert "x-supabase-api-version" not in legacy.headers
    assert legacy.json() == {
        "code": 400,
        "error_code": "invalid_credentials",
        "msg": "Invalid login credentials",
    }
    current = auth_post(
        supabase_url,
        "/token?grant_type=password",
        {"email": "no@example.com", "password": "x"},
        **VERSIONED,
    )
    assert current.headers["x-sb-error-code"] == "invalid_credentials"
    assert current.headers["x-supabase-api-version"] == "2024-01-01"
    assert current.json() == {"code": "invalid_credentials", "message": "Invalid login credentials"}
    later = auth_post(
        supabase_url,
        "/token?grant_type=password",
        {"email": "no@example.com", "password": "x"},
        **{"X-Supabase-Api-Version": "2031-06-01"},
    )
    assert later.headers["x-supabase-api-version"] == "2024-01-01"


def test_bad_json_and_unknown_grant(supabase_url):
    bad = httpx.post(
        f"{supabase_url}/auth/v1/signup",
        content=b"{nope",
        headers={"apikey": ANON, "Content-Type": "application/json"},
    )
    assert (bad.status_code, bad.json()["error_code"]) == (400, "bad_json")
    grant = auth_post(supabase_url, "/token?grant_type=magic", {})
    assert (grant.status_code, grant.json()["error_code"]) == (400, "validation_failed")


def test_bearer_token_problems(supabase_url):
    missing = httpx.get(f"{supabase_url}/auth/v1/user", headers={"apikey": ANON})
    assert (missing.status_code, missing.json()["error_code"]) == (401, "no_authorization")
    forged = jwt.encode({"sub": "x", "role": "authenticated"}, "another-secret-" * 3)
    bad = httpx.get(
        f"{supabase_url}/auth/v1/user",
        headers={"apikey": ANON, "Authorization": f"Bearer {forged}"},
    )
    assert (bad.status_code, bad.json()["error_code"]) == (403, "bad_jwt")
    assert bad.json()["msg"].startswith("invalid JWT: unable to parse or verify signature")


def test_advancing_the_clock_expires_issued_tokens(supabase_url):
    session = sign_up(supabase_url, "c@example.com")
    bearer = {"apikey": ANON, "Authorization": f"Bearer {session['access_token']}"}
    assert httpx.get(f"{supabase_url}/auth/v1/user", headers=bearer).status_code == 200
    advance(supabase_url, 7200)
    expired = httpx.get(f"{supabase_url}/auth/v1/user", headers=bearer)
    assert (expired.status_code, expired.json()["error_code"]) == (403, "bad_jwt")
    assert "token is expired" in expired.json()["msg"]


# refresh tokens and sessions ----------------------------------------------------------------


def test_refresh_tokens_rotate_and_a_reused_one_ends_the_session(supabase_url):
    session = sign_up(supabase_url, "r@example.com")
    first = session["refresh_token"]
    refreshed = auth_post(supabase_url, "/token?grant_type=refresh_token", {"refresh_token": first})
    assert refreshed.status_code == 200
    second = refreshed.json()["refresh_token"]
    assert second != first
    # Within the reuse interval (10 s) the used token answers with the current one.
    again = auth_post(supabase_url, "/token?grant_type=refresh_token", {"refresh_token": first})
    assert again.status_code == 200 and again.json()["refresh_token"] == second
    advance(supabase_url, 11)
    reused = auth_post(supabase_url, "/token?grant_type=refresh_token", {"refresh_token": first})
    assert (reused.status_code, reused.json()["error_code"]) == (400, "refresh_token_already_used")
    # Reuse past the interval revokes the whole family: the current token is spent too.
    current = auth_post(supabase_url, "/token?grant_type=refresh_token", {"refresh_token": second})
    assert current.json()["error_code"] == "refresh_token_already_used"
    unknown = auth_post(supabase_url, "/token?grant_type=refresh_token", {"refresh_token": "zz"})
    assert unknown.json()["error_code"] == "refresh_token_not_found"


def test_sdk_refresh_session(supabase_url):
    auth = client(supabase_url).auth
    auth.sign_up({"email": "sdk@example.com", "password": PASSWORD})
    before = auth.get_session()
    refreshed = auth.refresh_session()
    assert before is not None and refreshed.session is not None
    assert refreshed.session.refresh_token != before.refresh_token


def sessions_for(url: str, email: str, count: int) -> list[dict[str, str]]:
    sign_up(url, email)
    tokens = []
    for _ in range(count):
        answer = auth_post(
            url, "/token?grant_type=password", {"email": email, "password": PASSWORD}
        )
        tokens.append({"apikey": ANON, "Authorization": f"Bearer {answer.json()['access_token']}"})
    return tokens


def alive(url: str, bearer: dict[str, str]) -> bool:
    return httpx.get(f"{url}/auth/v1/user", headers=bearer).status_code == 200


@pytest.mark.parametrize(
    ("scope", "survivors"),
    [
        ("local", [False, True, True]),
        ("others", [True, False, False]),
        ("global", [False, False, False]),
        (None, [False, False, False]),
    ],
)
def test_logout_scopes(supabase_url, scope, survivors):
    bearers = sessions_for(supabase_url, "l@example.com", 3)
    query = f"?scope={scope}" if scope else ""
    ended = httpx.post(f"{supabase_url}/auth/v1/logout{query}", headers=bearers[0])
    assert ended.status_code == 204
    assert [alive(supabase_url, bearer) for bearer in bearers] == survivors
    if not survivors[0]:
        after = httpx.get(f"{supabase_url}/auth/v1/user", headers=bearers[0])
        assert (after.status_code, after.json()["error_code"]) == (403, "session_not_found")


def test_unknown_logout_scope_is_400(supabase_url):
    (bearer,) = sessions_for(supabase_url, "s@example.com", 1)
    response = httpx.post(f"{supabase_url}/auth/v1/logout?scope=everywhere", headers=bearer)
    assert response.status_code == 400
    assert response.headers["x-sb-error-code"] == "validation_failed"
    assert response.json()["msg"] == 'Unsupported logout scope "everywhere"'
    assert alive(supabase_url, bearer)


def test_sdk_sign_out_with_scope(supabase_url):
    auth = client(supabase_url).auth
    auth.sign_up({"email": "out@example.com", "password": PASSWORD})
    token = auth.get_session().access_token
    auth.sign_out({"scope": "local"})
    assert auth.get_session() is None
    assert not alive(supabase_url, {"apikey": ANON, "Authorization": f"Bearer {token}"})


# one-time codes ---------------------------------------------------------------------------


def test_password_recovery_by_code(supabase_url):
    sign_up(supabase_url, "forgot@example.com")
    auth = client(supabase_url).auth
    auth.reset_password_for_email("forgot@example.com")
    auth.reset_password_for_email("nobody@example.com")  # the same {} answer: nothing leaks
    (message,) = mail(supabase_url, type="recovery")
    assert message["to"] == "forgot@example.com"
    session = auth.verify_otp(
        {"email": "forgot@example.com", "token": message["otp"], "type": "recovery"}
    )
    assert session.session is not None
    auth.update_user({"password": "brand-new-pass"})
    fresh = client(supabase_url).auth.sign_in_with_password(
        {"email": "forgot@example.com", "password": "brand-new-pass"}
    )
    assert fresh.session is not None


def test_codes_are_sent_at_most_once_a_minute(supabase_url):
    sign_up(supabase_url, "often@example.com")
    assert auth_post(supabase_url, "/recover", {"email": "often@example.com"}).json() == {}
    again = auth_post(supabase_url, "/recover", {"email": "often@example.com"})
    assert again.status_code == 429
    assert again.json()["error_code"] == "over_email_send_rate_limit"
    assert again.json()["msg"].startswith("For security purposes, you can only request this after")
    advance(supabase_url, 61)
    assert auth_post(supabase_url, "/recover", {"email": "often@example.com"}).status_code == 200
    assert len(mail(supabase_url, type="recovery")) == 2


def test_a_used_or_old_code_is_otp_expired(supabase_url):
    sign_up(supabase_url, "once@example.com")
    auth = client(supabase_url).auth
    auth.sign_in_with_otp({"email": "once@example.com"})
    (message,) = mail(supabase_url, type="magiclink")
    params = {"email": "once@example.com", "token": message["otp"], "type": "email"}
    assert auth.verify_otp(params).session is not None
    with pytest.raises(AuthApiError) as used:
        auth.verify_otp(params)
    assert (used.value.status, used.value.code) == (403, "otp_expired")
    advance(supabase_url, 61)
    auth.sign_in_with_otp({"email": "once@example.com"})
    advance(supabase_url, 3601)
    late = mail(supabase_url, type="magiclink")[-1]
    with pytest.raises(AuthApiError) as expired:
        auth.verify_otp({"email": "once@example.com", "token": late["otp"], "type": "magiclink"})
    assert expired.value.code == "otp_expired"


def test_otp_signs_up_unknown_addresses_unless_told_not_to(supabase_url):
    auth = client(supabase_url).auth
    with pytest.raises(AuthApiError) as refused:
        auth.sign_in_with_otp(
            {"email": "stranger@example.com", "options": {"should_create_user": False}}
        )
    assert (refused.value.status, refused.value.code) == (422, "otp_disabled")
    auth.sign_in_with_otp({"email": "stranger@example.com", "options": {"data": {"a": 1}}})
    (message,) = mail(supabase_url, to="stranger@example.com")
    assert message["type"] == "signup"  # an unconfirmed address gets its confirmation
    session = auth.verify_otp(
        {"email": "stranger@example.com", "token": message["otp"], "type": "email"}
    )
    assert session.user is not None and session.user.user_metadata["a"] == 1


def test_token_hash_verification(supabase_url):
    sign_up(supabase_url, "hash@example.com")
    auth_post(supabase_url, "/otp", {"email": "hash@example.com"})
    (message,) = mail(supabase_url)
    assert (
        message["token_hash"]
        == hashlib.sha224(f"hash@example.com{message['otp']}".encode()).hexdigest()
    )
    response = auth_post(
        supabase_url, "/verify", {"type": "magiclink", "token_hash": message["token_hash"]}
    )
    assert response.status_code == 200 and response.json()["access_token"]


def test_verify_link_redirects_with_the_session_in_the_fragment(supabase_url):
    configure(supabase_url, uri_allow_list=["https://app.example.com/*"])
    sign_up(supabase_url, "link@example.com")
    auth_post(
        supabase_url,
        "/otp?redirect_to=https://app.example.com/welcome",
        {"email": "link@example.com"},
    )
    (message,) = mail(supabase_url)
    # A link from an e-mail is clicked in a browser: no apikey header.
    followed = httpx.get(message["link"])
    assert followed.status_code == 303
    location = urlparse(followed.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "https://app.example.com/welcome"
    )
    fragment = parse_qs(location.fragment)
    assert fragment["type"] == ["magiclink"] and fragment["token_type"] == ["bearer"]
    assert (
        jwt.decode(
            fragment["access_token"][0], SECRET, algorithms=["HS256"], audience="authenticated"
        )["email"]
        == "link@example.com"
    )
    again = httpx.get(message["link"])
    failure = parse_qs(urlparse(again.headers["location"]).fragment)
    assert failure["error_code"] == ["otp_expired"]
    assert failure["error_description"] == ["Email link is invalid or has expired"]


def test_redirects_outside_the_allow_list_go_to_the_site_url(supabase_url):
    sign_up(supabase_url, "site@example.com")
    auth_post(
        supabase_url, "/otp?redirect_to=https://evil.example.net/", {"email": "site@example.com"}
    )
    (message,) = mail(supabase_url)
    assert message["redirect_to"] == "http://localhost:3000"


def test_pkce_recovery_ends_in_a_code_exchange(supabase_url):
    sign_up(supabase_url, "pkce@example.com")
    auth = client(supabase_url, flow="pkce").auth
    auth.reset_password_for_email("pkce@example.com")
    (message,) = mail(supabase_url, type="recovery")
    assert "token=pkce_" in message["link"]
    followed = httpx.get(message["link"])
    code = parse_qs(urlparse(followed.headers["location"]).query)["code"][0]
    session = auth.exchange_code_for_session({"auth_code": code})
    assert session.session is not None and session.user is not None
    assert session.user.email == "pkce@example.com"


def test_pkce_exchange_checks_the_verifier(supabase_url):
    verifier = "a-verifier-of-at-least-forty-three-characters-long-xyz"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    sign_up(supabase_url, "v@example.com")
    auth_post(
        supabase_url,
        "/recover",
        {
            "email": "v@example.com",
            "code_challenge": challenge.rstrip("="),
            "code_challenge_method": "s256",
        },
    )
    (message,) = mail(supabase_url)
    code = parse_qs(urlparse(httpx.get(message["link"]).headers["location"]).query)["code"][0]
    wrong = auth_post(
        supabase_url, "/token?grant_type=pkce", {"auth_code": code, "code_verifier": "nope"}
    )
    assert (wrong.status_code, wrong.json()["error_code"]) == (400, "bad_code_verifier")
    right = auth_post(
        supabase_url, "/token?grant_type=pkce", {"auth_code": code, "code_verifier": verifier}
    )
    assert right.status_code == 200
    spent = auth_post(
        supabase_url, "/token?grant_type=pkce", {"auth_code": code, "code_verifier": verifier}
    )
    assert (spent.status_code, spent.json()["error_code"]) == (404, "flow_state_not_found")


def test_resend_a_confirmation(supabase_url):
    configure(supabase_url, mailer_autoconfirm=False)
    client(supabase_url).auth.sign_up({"email": "again@example.com", "password": PASSWORD})
    advance(supabase_url, 61)
    client(supabase_url).auth.resend({"type": "signup", "email": "again@example.com"})
    assert [m["type"] for m in mail(supabase_url, to="again@example.com")] == ["signup", "signup"]


# the signed-in user -------------------------------------------------------------------------


def test_get_and_update_the_user(supabase_url):
    auth = client(supabase_url).auth
    auth.sign_up({"email": "me@example.com", "password": PASSWORD, "options": {"data": {"a": 1}}})
    updated = auth.update_user({"data": {"b": 2, "a": None}})
    assert updated.user.user_metadata["b"] == 2
    assert "a" not in updated.user.user_metadata
    fetched = auth.get_user()
    assert fetched is not None and fetched.user.user_metadata["b"] == 2


def test_the_same_password_again_is_refused(supabase_url):
    auth = client(supabase_url).auth
    auth.sign_up({"email": "same@example.com", "password": PASSWORD})
    with pytest.raises(AuthApiError) as same:
        auth.update_user({"password": PASSWORD})
    assert (same.value.status, same.value.code) == (422, "same_password")


def test_a_new_password_ends_the_other_sessions(supabase_url):
    bearers = sessions_for(supabase_url, "pw@example.com", 2)
    changed = httpx.put(
        f"{supabase_url}/auth/v1/user", json={"password": "another-pass"}, headers=bearers[0]
    )
    assert changed.status_code == 200
    assert [alive(supabase_url, b) for b in bearers] == [True, False]


def test_secure_email_change_needs_both_links(supabase_url):
    configure(supabase_url, mailer_autoconfirm=False)
    configure(supabase_url, mailer_autoconfirm=True)
    sign_up(supabase_url, "from@example.com")
    configure(supabase_url, mailer_autoconfirm=False)
    auth = client(supabase_url).auth
    auth.sign_in_with_password({"email": "from@example.com", "password": PASSWORD})
    pending = auth.update_user({"email": "to@example.com"})
    assert pending.user.email == "from@example.com"
    assert pending.user.new_email == "to@example.com"
    current = mail(supabase_url, type="email_change_current")[0]
    new = mail(supabase_url, type="email_change_new")[0]
    first = auth_post(
        supabase_url,
        "/verify",
        {"type": "email_change", "email": "from@example.com", "token": current["otp"]},
    )
    assert first.json()["msg"].startswith("Confirmation link accepted")
    second = auth.verify_otp(
        {"type": "email_change", "email": "to@example.com", "token": new["otp"]}
    )
    assert second.user is not None and second.user.email == "to@example.com"


def test_email_change_is_immediate_with_autoconfirm(supabase_url):
    auth = client(supabase_url).auth
    auth.sign_up({"email": "quick@example.com", "password": PASSWORD})
    assert auth.update_user({"email": "moved@example.com"}).user.email == "moved@example.com"
    sign_up(supabase_url, "taken@example.com")
    with pytest.raises(AuthApiError) as taken:
        auth.update_user({"email": "taken@example.com"})
    assert (taken.value.status, taken.value.code) == (422, "email_exists")


def test_password_change_with_reauthentication(supabase_url):
    configure(supabase_url, security_update_password_require_reauthentication=True)
    auth = client(supabase_url).auth
    auth.sign_up({"email": "re@example.com", "password": PASSWORD})
    with pytest.raises(AuthApiError) as needed:
        auth.update_user({"password": "another-pass"})
    assert needed.value.code == "reauthentication_needed"
    auth.reauthenticate()
    (message,) = mail(supabase_url, type="reauthentication")
    assert message["link"] is None
    done = auth.update_user({"password": "another-pass", "nonce": message["otp"]})
    assert done.user is not None


def test_banned_users_cannot_sign_in(supabase_url):
    user = sign_up(supabase_url, "ban@example.com")["user"]
    admin = client(supabase_url, SERVICE).auth.admin
    admin.update_user_by_id(user["id"], {"ban_duration": "24h"})
    with pytest.raises(AuthApiError) as banned:
        client(supabase_url).auth.sign_in_with_password(
            {"email": "ban@example.com", "password": PASSWORD}
        )
    assert banned.value.code == "user_banned"
    admin.update_user_by_id(user["id"], {"ban_duration": "none"})
    assert (
        client(supabase_url)
        .auth.sign_in_with_password({"email": "ban@example.com", "password": PASSWORD})
        .session
    )


# phone -------------------------------------------------------------------------------------


def test_phone_needs_the_provider_and_confirms_by_sms(supabase_url):
    with pytest.raises(AuthApiError) as disabled:
        client(supabase_url).auth.sign_up({"phone": "+1 555 0100 200", "password": PASSWORD})
    assert disabled.value.code == "phone_provider_disabled"
    configure(supabase_url, external_phone_enabled=True)
    auth = client(supabase_url).auth
    signed = auth.sign_up({"phone": "+1 555 0100 200", "password": PASSWORD})
    assert signed.session is None and signed.user is not None
    assert signed.user.phone == "15550100200"
    (sms,) = mail(supabase_url, to="15550100200")
    assert sms["channel"] == "sms" and sms["link"] is None
    verified = auth.verify_otp({"phone": "+15550100200", "token": sms["otp"], "type": "sms"})
    assert verified.user is not None and verified.user.phone_confirmed_at is not None


# the project --------------------------------------------------------------------------------


def test_settings_and_health(supabase_url):
    settings = httpx.get(f"{supabase_url}/auth/v1/settings", headers={"apikey": ANON}).json()
    assert settings["external"]["email"] is True
    assert settings["external"]["phone"] is False
    assert settings["mailer_autoconfirm"] is True
    configure(supabase_url, disable_signup=True)
    assert (
        httpx.get(f"{supabase_url}/auth/v1/settings", headers={"apikey": ANON}).json()[
            "disable_signup"
        ]
        is True
    )
    health = httpx.get(f"{supabase_url}/auth/v1/health", headers={"apikey": ANON}).json()
    assert health["name"] == "GoTrue"


def test_grants_the_twin_lacks_answer_501_naming_themselves(supabase_url):
    with pytest.raises(AuthApiError) as lacking:
        client(supabase_url).auth.sign_in_with_id_token({"provider": "google", "token": "x.y.z"})
    assert (lacking.value.status, lacking.value.code) == (501, "not_implemented")
    assert "grant_type=id_token" in lacking.value.message


# features a new project has off ------------------------------------------------------------


def test_single_sign_on_is_off_as_in_a_new_project(supabase_url):
    with pytest.raises(AuthApiError) as off:
        client(supabase_url).auth.sign_in_with_sso({"domain": "example.com"})
    assert (off.value.status, off.value.code, off.value.message) == (
        404,
        "saml_provider_disabled",
        "SAML 2.0 is disabled",
    )
    metadata = httpx.get(f"{supabase_url}/auth/v1/saml/metadata", headers={"apikey": ANON})
    assert metadata.headers["x-sb-error-code"] == "saml_provider_disabled"


def test_admin_endpoints_of_features_that_are_off_authenticate_first(supabase_url):
    admin = {"apikey": SERVICE, "Authorization": f"Bearer {SERVICE}"}
    for path, code in [
        ("/admin/sso/providers", "saml_provider_disabled"),
        ("/admin/oauth/clients", "feature_disabled"),
        ("/admin/custom-providers", "feature_disabled"),
    ]:
        response = httpx.get(f"{supabase_url}/auth/v1{path}", headers=admin)
        assert (response.status_code, response.json()["error_code"]) == (404, code), path
        anonymous = httpx.get(f"{supabase_url}/auth/v1{path}", headers={"apikey": ANON})
        assert anonymous.status_code == 401, path
    servers = httpx.post(f"{supabase_url}/auth/v1/oauth/token", headers={"apikey": ANON})
    assert servers.json()["msg"] == "OAuth server is disabled"


def test_linking_an_identity_is_off_as_in_a_new_project(supabase_url):
    auth = client(supabase_url).auth
    auth.sign_up({"email": "link@example.com", "password": PASSWORD})
    with pytest.raises(AuthApiError) as off:
        auth.link_identity({"provider": "github"})
    assert (off.value.status, off.value.code) == (404, "manual_linking_disabled")


def test_oauth_providers_are_off_and_their_redirects_need_no_key(supabase_url):
    started = client(supabase_url).auth.sign_in_with_oauth({"provider": "github"})
    response = httpx.get(started.url)
    assert (response.status_code, response.json()["msg"]) == (
        400,
        "Unsupported provider: provider is not enabled",
    )
    callback = httpx.get(f"{supabase_url}/auth/v1/callback?code=x")
    assert callback.status_code == 302
    assert "error_code=bad_oauth_callback" in callback.headers["location"]
