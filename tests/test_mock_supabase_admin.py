"""mock-supabase's GoTrue administration endpoints, through supabase-py's admin client.

Every answer is checked against GoTrue's OpenAPI by the ``supabase_twin`` fixture.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from supabase import ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from tests.support.supabase import ANON, SERVICE

pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)
ADMIN = {"apikey": SERVICE, "Authorization": f"Bearer {SERVICE}"}
PASSWORD = "secret123"


@pytest.fixture
def admin(supabase_url):
    return create_client(supabase_url, SERVICE).auth.admin


def raw(url: str, method: str, path: str, body: Any = None, **headers: str) -> httpx.Response:
    return httpx.request(method, f"{url}/auth/v1{path}", json=body, headers={**ADMIN, **headers})


def mail(url: str, **query: str) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/_twin/supabase/messages", params=query).json()["messages"]


def test_created_users_are_unconfirmed_and_have_never_signed_in(supabase_url):
    created = raw(supabase_url, "POST", "/admin/users", {"email": "new@example.com"})
    assert created.status_code == 200
    user = created.json()
    assert "last_sign_in_at" not in user
    assert "email_confirmed_at" not in user and "confirmed_at" not in user
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["identities"][0]["provider"] == "email"


def test_create_with_confirmation_metadata_and_password(admin, supabase_url):
    created = admin.create_user(
        {
            "email": "Ok@Example.com",
            "password": PASSWORD,
            "email_confirm": True,
            "user_metadata": {"name": "Ok"},
            "app_metadata": {"tier": "pro"},
        }
    )
    assert created.user.email == "ok@example.com"
    assert created.user.email_confirmed_at is not None
    assert created.user.last_sign_in_at is None
    assert created.user.app_metadata == {"provider": "email", "providers": ["email"], "tier": "pro"}
    assert created.user.user_metadata["name"] == "Ok"
    session = create_client(supabase_url, ANON).auth.sign_in_with_password(
        {"email": "ok@example.com", "password": PASSWORD}
    )
    assert session.session is not None


def test_create_refuses_duplicates_and_missing_addresses(admin):
    admin.create_user({"email": "dup@example.com"})
    with pytest.raises(AuthApiError) as duplicate:
        admin.create_user({"email": "dup@example.com"})
    assert (duplicate.value.status, duplicate.value.code) == (422, "email_exists")
    with pytest.raises(AuthApiError) as nothing:
        admin.create_user({"user_metadata": {"a": 1}})
    assert (nothing.value.status, nothing.value.code) == (400, "validation_failed")


def test_get_by_id_and_the_two_404s(admin, supabase_url):
    created = admin.create_user({"email": "get@example.com"})
    assert admin.get_user_by_id(created.user.id).user.email == "get@example.com"
    not_uuid = raw(supabase_url, "GET", "/admin/users/not-a-uuid")
    assert not_uuid.status_code == 404
    assert not_uuid.headers["x-sb-error-code"] == "validation_failed"
    assert not_uuid.json()["msg"] == "user_id must be an UUID"
    missing = raw(supabase_url, "GET", "/admin/users/00000000-0000-4000-8000-000000000000")
    assert (missing.status_code, missing.json()["error_code"]) == (404, "user_not_found")
    with pytest.raises(AuthApiError) as sdk:
        admin.get_user_by_id("00000000-0000-4000-8000-000000000000")
    assert sdk.value.code == "user_not_found"


def test_update_merges_metadata_and_null_removes_a_key(admin):
    created = admin.create_user({"email": "up@example.com", "app_metadata": {"tier": "free"}})
    updated = admin.update_user_by_id(
        created.user.id,
        {"app_metadata": {"tier": "quality", "trial": True}, "user_metadata": {"n": 1}},
    )
    assert updated.user.app_metadata["tier"] == "quality"
    assert updated.user.app_metadata["provider"] == "email"
    cleared = admin.update_user_by_id(created.user.id, {"app_metadata": {"trial": None}})
    assert "trial" not in cleared.user.app_metadata


def test_update_raises_the_tier_for_the_next_token(admin, supabase_url):
    auth = create_client(supabase_url, ANON).auth
    signed = auth.sign_up({"email": "tier@example.com", "password": PASSWORD})
    assert signed.user is not None
    admin.update_user_by_id(signed.user.id, {"app_metadata": {"tier": "enterprise"}})
    import jwt

    fresh = auth.sign_in_with_password({"email": "tier@example.com", "password": PASSWORD})
    assert fresh.session is not None
    claims = jwt.decode(fresh.session.access_token, options={"verify_signature": False})
    assert claims["app_metadata"]["tier"] == "enterprise"


def test_ban_durations_follow_go_syntax(admin, supabase_url):
    created = admin.create_user({"email": "ban@example.com"})
    banned = admin.update_user_by_id(created.user.id, {"ban_duration": "1h30m"})
    assert banned.user.banned_until is not None
    bad = raw(supabase_url, "PUT", f"/admin/users/{created.user.id}", {"ban_duration": "soon"})
    assert (bad.status_code, bad.json()["error_code"]) == (400, "validation_failed")
    assert bad.json()["msg"].startswith("invalid format for ban duration")


def test_delete_answers_an_empty_object(admin, supabase_url):
    created = admin.create_user({"email": "gone@example.com"})
    deleted = raw(supabase_url, "DELETE", f"/admin/users/{created.user.id}")
    assert (deleted.status_code, deleted.json()) == (200, {})
    again = raw(supabase_url, "DELETE", f"/admin/users/{created.user.id}")
    assert again.status_code == 404
    second = admin.create_user({"email": "gone@example.com"})  # the address is free again
    admin.delete_user(second.user.id)


def test_soft_delete_keeps_the_user_and_frees_the_address(admin):
    created = admin.create_user({"email": "soft@example.com"})
    admin.delete_user(created.user.id, should_soft_delete=True)
    kept = admin.get_user_by_id(created.user.id).user
    assert kept.deleted_at is not None and kept.email == ""
    assert admin.create_user({"email": "soft@example.com"}).user.id != created.user.id


def test_listing_is_newest_first_and_paginated(admin, supabase_url):
    for n in range(5):
        admin.create_user({"email": f"u{n}@example.com"})
        httpx.post(f"{supabase_url}/_twin/clock", json={"advance": 1})
    page = admin.list_users(page=1, per_page=2)
    assert [u.email for u in page] == ["u4@example.com", "u3@example.com"]
    response = raw(supabase_url, "GET", "/admin/users?page=2&per_page=2")
    assert response.headers["x-total-count"] == "5"
    assert response.headers["link"] == (
        '</auth/v1/admin/users?page=3&per_page=2>; rel="next", '
        '</auth/v1/admin/users?page=3&per_page=2>; rel="last"'
    )
    assert response.json()["aud"] == "authenticated"
    assert [u["email"] for u in response.json()["users"]] == ["u2@example.com", "u1@example.com"]
    bad = raw(supabase_url, "GET", "/admin/users?page=zero")
    assert (bad.status_code, bad.json()["error_code"]) == (400, "validation_failed")


def test_a_user_token_is_not_admin(supabase_url):
    session = httpx.post(
        f"{supabase_url}/auth/v1/signup",
        json={"email": "u@example.com", "password": PASSWORD},
        headers={"apikey": ANON},
    ).json()
    response = raw(
        supabase_url,
        "GET",
        "/admin/users",
        apikey=ANON,
        Authorization=f"Bearer {session['access_token']}",
    )
    assert (response.status_code, response.json()["error_code"]) == (403, "not_admin")
    missing = httpx.get(f"{supabase_url}/auth/v1/admin/users", headers={"apikey": SERVICE})
    assert (missing.status_code, missing.json()["error_code"]) == (401, "no_authorization")


def test_invite_sends_a_link_that_signs_the_user_in(admin, supabase_url):
    invited = admin.invite_user_by_email("guest@example.com", {"data": {"team": "a"}})
    assert invited.user.invited_at is not None
    assert invited.user.email_confirmed_at is None
    (message,) = mail(supabase_url, type="invite")
    session = create_client(supabase_url, ANON).auth.verify_otp(
        {"email": "guest@example.com", "token": message["otp"], "type": "invite"}
    )
    assert session.user is not None and session.user.email_confirmed_at is not None
    with pytest.raises(AuthApiError) as again:
        admin.invite_user_by_email("guest@example.com")
    assert again.value.code == "email_exists"


@pytest.mark.parametrize("kind", ["signup", "magiclink", "recovery", "invite"])
def test_generate_link_sends_nothing_and_the_link_works(admin, supabase_url, kind):
    if kind in ("magiclink", "recovery"):
        admin.create_user({"email": "link@example.com", "email_confirm": True})
    params: dict[str, Any] = {"type": kind, "email": "link@example.com"}
    if kind == "signup":
        params["password"] = PASSWORD
    generated = admin.generate_link(params)
    properties = generated.properties
    assert properties.verification_type == kind
    assert properties.action_link.startswith(f"{supabase_url}/auth/v1/verify?token=")
    assert len(properties.email_otp) == 6
    assert generated.user.email == "link@example.com"
    assert mail(supabase_url) == []
    followed = httpx.get(properties.action_link)
    assert followed.status_code == 303
    assert "access_token=" in followed.headers["location"]


def test_a_magic_link_for_an_unknown_address_signs_it_up(admin):
    generated = admin.generate_link({"type": "magiclink", "email": "new@example.com"})
    assert generated.properties.verification_type == "signup"
    assert generated.user.email == "new@example.com"
    assert generated.user.email_confirmed_at is None


def test_generate_link_for_an_unknown_user(supabase_url):
    response = raw(
        supabase_url, "POST", "/admin/generate_link", {"type": "recovery", "email": "no@x.io"}
    )
    assert (response.status_code, response.json()["error_code"]) == (404, "user_not_found")
    unknown = raw(supabase_url, "POST", "/admin/generate_link", {"type": "x", "email": "a@x.io"})
    assert (unknown.status_code, unknown.json()["msg"]) == (
        400,
        "Invalid email action link type requested: x",
    )


def test_a_signup_link_for_an_unconfirmed_user_merges_the_metadata(admin):
    admin.generate_link(
        {
            "type": "signup",
            "email": "again@example.com",
            "password": PASSWORD,
            "options": {"data": {"plan": "free"}},
        }
    )
    again = admin.generate_link(
        {
            "type": "signup",
            "email": "again@example.com",
            "password": PASSWORD,
            "options": {"data": {"team": "blue"}},
        }
    )
    metadata = again.user.user_metadata
    assert (metadata["plan"], metadata["team"], metadata["email_verified"]) == (
        "free",
        "blue",
        False,
    )


@pytest.mark.parametrize("kind", ["email_change_current", "email_change_new"])
def test_email_change_links_name_their_own_type(admin, kind):
    admin.create_user({"email": "old@example.com", "email_confirm": True})
    generated = admin.generate_link(
        {"type": kind, "email": "old@example.com", "new_email": "new@example.com"}
    )
    assert generated.properties.verification_type == kind
    assert generated.user.new_email == "new@example.com"


def test_admin_sign_out_ends_the_user_sessions(admin, supabase_url):
    auth = create_client(supabase_url, ANON, ClientOptions(auto_refresh_token=False)).auth
    auth.sign_up({"email": "kick@example.com", "password": PASSWORD})
    token = auth.get_session().access_token
    admin.sign_out(token, "global")
    response = httpx.get(
        f"{supabase_url}/auth/v1/user", headers={"apikey": ANON, "Authorization": f"Bearer {token}"}
    )
    assert (response.status_code, response.json()["error_code"]) == (403, "session_not_found")


def test_audit_log_and_factors(admin, supabase_url):
    created = admin.create_user({"email": "aud@example.com"})
    log = raw(supabase_url, "GET", "/admin/audit").json()
    assert [entry["payload"]["action"] for entry in log][:1] == ["user_signedup"]
    factors = raw(supabase_url, "GET", f"/admin/users/{created.user.id}/factors")
    assert (factors.status_code, factors.json()) == (200, [])
