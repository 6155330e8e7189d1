"""mock-supabase against the official supabase client (GoTrue and PostgREST) and raw HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
from postgrest.exceptions import APIError
from supabase import create_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from converge_twins.mock_supabase.app import create_app
from converge_twins.mock_supabase.tokens import DEFAULT_JWT_SECRET
from tests.support.asgi import serve_asgi

# supabase-py passes its own deprecated options to its sub-clients; nothing a test can change.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)
SECRET = "a-test-secret-that-is-at-least-32-characters"


def key(role: str, secret: str = SECRET) -> str:
    now = int(time.time())
    # Like real project keys: valid for years, so moving the twin clock does not expire them.
    claims = {"iss": "supabase-demo", "role": role, "iat": now, "exp": now + 10 * 365 * 86400}
    return jwt.encode(claims, secret, algorithm="HS256")


ANON = key("anon")
SERVICE = key("service_role")


@pytest.fixture
def url() -> Iterator[str]:
    with serve_asgi(create_app({"JWT_SECRET": SECRET, "TWIN_SEED": "supabase-tests"})) as base:
        yield base


@pytest.fixture
def supabase(url: str):
    return create_client(url, ANON)


def rest(url: str, table: str, role_key: str = SERVICE, **headers: str) -> tuple[str, dict]:
    return (
        f"{url}/rest/v1/{table}",
        {"apikey": role_key, "Authorization": f"Bearer {role_key}", **headers},
    )


# GoTrue ------------------------------------------------------------------------------------


def test_sdk_sign_up_returns_a_session_with_supabase_claims(supabase):
    response = supabase.auth.sign_up({"email": "Ada@Example.com", "password": "secret123"})
    assert response.user is not None and response.session is not None
    assert response.user.email == "ada@example.com"
    claims = jwt.decode(
        response.session.access_token, SECRET, algorithms=["HS256"], audience="authenticated"
    )
    assert claims["sub"] == response.user.id
    assert claims["role"] == "authenticated"
    assert claims["app_metadata"]["tier"] == "free"
    assert claims["app_metadata"]["provider"] == "email"
    assert claims["exp"] - claims["iat"] == 3600


def test_sign_up_data_tier_lands_in_app_metadata(supabase):
    response = supabase.auth.sign_up(
        {"email": "pro@example.com", "password": "secret123", "options": {"data": {"tier": "pro"}}}
    )
    assert response.session is not None
    claims = jwt.decode(response.session.access_token, options={"verify_signature": False})
    assert claims["app_metadata"]["tier"] == "pro"


def test_sdk_password_sign_in_and_get_user(supabase):
    supabase.auth.sign_up({"email": "bo@example.com", "password": "secret123"})
    signed_in = supabase.auth.sign_in_with_password(
        {"email": "bo@example.com", "password": "secret123"}
    )
    assert signed_in.session is not None
    fetched = supabase.auth.get_user(signed_in.session.access_token)
    assert fetched is not None and fetched.user.email == "bo@example.com"


def test_sdk_wrong_password_is_invalid_credentials(supabase):
    supabase.auth.sign_up({"email": "cy@example.com", "password": "secret123"})
    with pytest.raises(AuthApiError) as caught:
        supabase.auth.sign_in_with_password({"email": "cy@example.com", "password": "nope-nope"})
    assert caught.value.status == 400
    assert caught.value.code == "invalid_credentials"
    assert caught.value.message == "Invalid login credentials"


def test_legacy_error_shape_without_api_version_header(url):
    response = httpx.post(
        f"{url}/auth/v1/token?grant_type=password",
        json={"email": "none@example.com", "password": "whatever"},
        headers={"apikey": ANON},
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "error_code": "invalid_credentials",
        "msg": "Invalid login credentials",
    }


def test_duplicate_sign_up_and_weak_password_are_refused(supabase):
    supabase.auth.sign_up({"email": "dup@example.com", "password": "secret123"})
    with pytest.raises(AuthApiError) as duplicate:
        supabase.auth.sign_up({"email": "dup@example.com", "password": "secret123"})
    assert duplicate.value.code == "user_already_exists"
    with pytest.raises(AuthWeakPasswordError) as weak:
        supabase.auth.sign_up({"email": "weak@example.com", "password": "123"})
    assert weak.value.reasons == ["length"]


def test_refresh_token_grant_rotates_the_token(url):
    headers = {"apikey": ANON}
    session = httpx.post(
        f"{url}/auth/v1/signup",
        json={"email": "r@example.com", "password": "secret123"},
        headers=headers,
    ).json()
    refreshed = httpx.post(
        f"{url}/auth/v1/token?grant_type=refresh_token",
        json={"refresh_token": session["refresh_token"]},
        headers=headers,
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["refresh_token"] != session["refresh_token"]
    reused = httpx.post(
        f"{url}/auth/v1/token?grant_type=refresh_token",
        json={"refresh_token": session["refresh_token"]},
        headers=headers,
    )
    assert reused.status_code == 400
    assert reused.json()["error_code"] == "refresh_token_already_used"


def test_logout_ends_the_session(url):
    headers = {"apikey": ANON}
    session = httpx.post(
        f"{url}/auth/v1/signup",
        json={"email": "l@example.com", "password": "secret123"},
        headers=headers,
    ).json()
    bearer = {**headers, "Authorization": f"Bearer {session['access_token']}"}
    assert httpx.get(f"{url}/auth/v1/user", headers=bearer).status_code == 200
    assert httpx.post(f"{url}/auth/v1/logout", headers=bearer).status_code == 204
    after = httpx.get(f"{url}/auth/v1/user", headers=bearer)
    assert after.status_code == 403
    assert after.json()["error_code"] == "session_not_found"


def test_user_without_token_is_401(url):
    response = httpx.get(f"{url}/auth/v1/user", headers={"apikey": ANON})
    assert response.status_code == 401
    assert response.json()["error_code"] == "no_authorization"


def test_admin_update_raises_the_tier_for_the_next_token(url):
    session = create_client(url, ANON).auth.sign_up(
        {"email": "up@example.com", "password": "secret123"}
    )
    assert session.user is not None
    admin = create_client(url, SERVICE).auth.admin
    updated = admin.update_user_by_id(session.user.id, {"app_metadata": {"tier": "quality"}})
    assert updated.user.app_metadata["tier"] == "quality"
    assert updated.user.app_metadata["provider"] == "email"
    fresh = create_client(url, ANON).auth.sign_in_with_password(
        {"email": "up@example.com", "password": "secret123"}
    )
    assert fresh.session is not None
    claims = jwt.decode(fresh.session.access_token, options={"verify_signature": False})
    assert claims["app_metadata"]["tier"] == "quality"


def test_admin_endpoints_refuse_a_user_token(url):
    session = httpx.post(
        f"{url}/auth/v1/signup",
        json={"email": "u@example.com", "password": "secret123"},
        headers={"apikey": ANON},
    ).json()
    response = httpx.put(
        f"{url}/auth/v1/admin/users/{session['user']['id']}",
        json={"app_metadata": {"tier": "enterprise"}},
        headers={"apikey": ANON, "Authorization": f"Bearer {session['access_token']}"},
    )
    assert response.status_code == 403
    assert response.json()["error_code"] == "not_admin"


def test_same_seed_gives_the_same_user_ids(url):
    def sign_up() -> str:
        return httpx.post(
            f"{url}/auth/v1/signup",
            json={"email": "s@example.com", "password": "secret123"},
            headers={"apikey": ANON},
        ).json()["user"]["id"]

    first = sign_up()
    httpx.post(f"{url}/_twin/reset")
    assert sign_up() == first


# the gateway's apikey ----------------------------------------------------------------------


def test_missing_apikey_is_the_gateway_401(url):
    response = httpx.get(f"{url}/rest/v1/items")
    assert response.status_code == 401
    assert response.json() == {
        "message": "No API key found in request",
        "hint": "No `apikey` request header or url param was found.",
    }


@pytest.mark.parametrize(
    "bad_key",
    [key("anon", "another-secret-another-secret-another"), key("authenticated"), "not-a-jwt"],
)
def test_wrong_apikey_is_invalid(url, bad_key):
    response = httpx.get(f"{url}/auth/v1/user", headers={"apikey": bad_key})
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API key"


def test_default_secret_applies_without_jwt_secret():
    with serve_asgi(create_app({})) as base:
        good = httpx.get(f"{base}/rest/v1/t", headers={"apikey": key("anon", DEFAULT_JWT_SECRET)})
        assert good.status_code == 200


# PostgREST -----------------------------------------------------------------------------------


def test_sdk_insert_returns_rows_with_id_and_created_at(supabase):
    inserted = supabase.table("notes").insert({"body": "hello"}).execute()
    assert inserted.data[0]["id"] == 1
    assert inserted.data[0]["body"] == "hello"
    assert inserted.data[0]["created_at"]
    batch = supabase.table("notes").insert([{"body": "a"}, {"body": "b"}]).execute()
    assert [row["id"] for row in batch.data] == [2, 3]


def test_sdk_select_with_filters_order_and_limit(supabase):
    supabase.table("scores").insert(
        [
            {"user_id": "u1", "score": 0.2, "label": "low"},
            {"user_id": "u1", "score": 0.9, "label": "high"},
            {"user_id": "u2", "score": 0.5, "label": "mid"},
        ]
    ).execute()
    rows = (
        supabase.table("scores")
        .select("label,score")
        .eq("user_id", "u1")
        .gte("score", 0.1)
        .order("score", desc=True)
        .limit(1)
        .execute()
    )
    assert rows.data == [{"label": "high", "score": 0.9}]
    many = (
        supabase.table("scores")
        .select("label")
        .in_("label", ["low", "mid"])
        .order("label")
        .execute()
    )
    assert [row["label"] for row in many.data] == ["low", "mid"]
    none = supabase.table("scores").select("*").neq("user_id", "u1").lt("score", 0.5).execute()
    assert none.data == []


def test_sdk_count_exact_and_range(supabase):
    supabase.table("items").insert([{"n": n} for n in range(5)]).execute()
    page = supabase.table("items").select("n", count="exact").order("n").range(1, 2).execute()
    assert page.count == 5
    assert [row["n"] for row in page.data] == [1, 2]


def test_content_range_header(url):
    endpoint, headers = rest(url, "items")
    httpx.post(endpoint, json=[{"n": 1}, {"n": 2}, {"n": 3}], headers=headers)
    response = httpx.get(
        endpoint, params={"select": "n", "limit": "2"}, headers={**headers, "Prefer": "count=exact"}
    )
    assert response.headers["content-range"] == "0-1/3"
    assert response.status_code == 206


def test_sdk_update_and_delete_with_filters(supabase):
    supabase.table("tasks").insert(
        [{"title": "a", "done": False}, {"title": "b", "done": False}]
    ).execute()
    updated = supabase.table("tasks").update({"done": True}).eq("title", "a").execute()
    assert updated.data[0]["done"] is True
    assert [
        r["title"]
        for r in supabase.table("tasks").select("title").is_("done", "true").execute().data
    ] == ["a"]
    deleted = supabase.table("tasks").delete().eq("done", "false").execute()
    assert [row["title"] for row in deleted.data] == ["b"]
    assert len(supabase.table("tasks").select("*").execute().data) == 1


def test_sdk_single_raises_for_no_rows(supabase):
    supabase.table("profiles").insert({"user_id": "x"}).execute()
    assert (
        supabase.table("profiles").select("*").eq("user_id", "x").single().execute().data["user_id"]
        == "x"
    )
    with pytest.raises(APIError) as caught:
        supabase.table("profiles").select("*").eq("user_id", "missing").single().execute()
    assert caught.value.code == "PGRST116"


def test_sdk_upsert_merges_on_conflict(supabase):
    supabase.table("usage").insert({"user_id": "u", "month": "2025-01", "count": 1}).execute()
    merged = (
        supabase.table("usage")
        .upsert({"user_id": "u", "month": "2025-01", "count": 2}, on_conflict="user_id,month")
        .execute()
    )
    assert merged.data[0]["count"] == 2
    assert len(supabase.table("usage").select("*").execute().data) == 1


def test_patch_with_representation_returns_200_and_minimal_204(url):
    endpoint, headers = rest(url, "t")
    httpx.post(endpoint, json={"v": 1}, headers=headers)
    minimal = httpx.patch(endpoint, params={"v": "eq.1"}, json={"v": 2}, headers=headers)
    assert minimal.status_code == 204
    full = httpx.patch(
        endpoint,
        params={"v": "eq.2"},
        json={"v": 3},
        headers={**headers, "Prefer": "return=representation"},
    )
    assert full.status_code == 200
    assert full.json()[0]["v"] == 3


def test_insert_default_is_201_without_body(url):
    endpoint, headers = rest(url, "t")
    response = httpx.post(endpoint, json={"v": 1}, headers=headers)
    assert response.status_code == 201
    assert response.content == b""


def test_update_without_filter_is_refused(url):
    endpoint, headers = rest(url, "t")
    response = httpx.patch(endpoint, json={"v": 1}, headers=headers)
    assert response.status_code == 400
    assert response.json() == {
        "code": "21000",
        "details": None,
        "hint": None,
        "message": "UPDATE requires a WHERE clause",
    }


def test_duplicate_id_is_a_unique_violation(url):
    endpoint, headers = rest(url, "t")
    httpx.post(endpoint, json={"id": 7}, headers=headers)
    response = httpx.post(endpoint, json=[{"id": 8}, {"id": 7}], headers=headers)
    assert response.status_code == 409
    assert response.json()["code"] == "23505"
    assert len(httpx.get(endpoint, headers=headers).json()) == 1


def test_unknown_column_and_bad_filter_are_postgrest_errors(url):
    endpoint, headers = rest(url, "t")
    httpx.post(endpoint, json={"v": 1}, headers=headers)
    unknown = httpx.get(endpoint, params={"nope": "eq.1"}, headers=headers)
    assert unknown.status_code == 400
    assert unknown.json()["code"] == "42703"
    bad = httpx.get(endpoint, params={"v": "equals.1"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["code"] == "PGRST100"


def test_invalid_json_body(url):
    endpoint, headers = rest(url, "t")
    response = httpx.post(
        endpoint, content=b"{nope", headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"


def test_declared_tables_make_others_unknown():
    with serve_asgi(create_app({"JWT_SECRET": SECRET, "TWIN_SUPABASE_TABLES": "known"})) as base:
        endpoint, headers = rest(base, "other")
        response = httpx.get(endpoint, headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "PGRST205"
        assert httpx.get(rest(base, "known")[0], headers=headers).status_code == 200


def test_bad_bearer_token_is_pgrst301_and_expired_is_pgrst303(url):
    endpoint, _ = rest(url, "t")
    bad = httpx.get(endpoint, headers={"apikey": ANON, "Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "PGRST301"
    old = jwt.encode(
        {"role": "authenticated", "exp": int(time.time()) - 10}, SECRET, algorithm="HS256"
    )
    expired = httpx.get(endpoint, headers={"apikey": ANON, "Authorization": f"Bearer {old}"})
    assert expired.status_code == 401
    assert expired.json()["code"] == "PGRST303"


def test_advancing_the_clock_expires_issued_tokens(url):
    session = httpx.post(
        f"{url}/auth/v1/signup",
        json={"email": "c@example.com", "password": "secret123"},
        headers={"apikey": ANON},
    ).json()
    bearer = {"apikey": ANON, "Authorization": f"Bearer {session['access_token']}"}
    assert httpx.get(f"{url}/auth/v1/user", headers=bearer).status_code == 200
    httpx.post(f"{url}/_twin/clock", json={"advance": 7200})
    response = httpx.get(f"{url}/auth/v1/user", headers=bearer)
    assert response.status_code == 403
    assert response.json()["error_code"] == "bad_jwt"


def test_reset_empties_tables_and_users(url, supabase):
    supabase.table("t").insert({"v": 1}).execute()
    httpx.post(f"{url}/_twin/reset")
    assert supabase.table("t").select("*").execute().data == []
    assert supabase.table("t").insert({"v": 2}).execute().data[0]["id"] == 1


def test_fault_on_rest_answers_a_postgrest_body(url):
    httpx.post(f"{url}/_twin/faults", json={"path": "/rest/v1/", "status": 503})
    endpoint, headers = rest(url, "t")
    response = httpx.get(endpoint, headers=headers)
    assert response.status_code == 503
    assert set(response.json()) == {"code", "details", "hint", "message"}
