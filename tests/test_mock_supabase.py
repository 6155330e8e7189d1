"""mock-supabase's gateway, control plane and PostgREST, through supabase-py and raw HTTP.

GoTrue's endpoints are in test_mock_supabase_auth.py and test_mock_supabase_admin.py.
"""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from postgrest.exceptions import APIError
from supabase import create_client

from converge_twins.mock_supabase.app import create_app
from converge_twins.mock_supabase.tokens import DEFAULT_JWT_SECRET
from tests.support.asgi import serve_asgi
from tests.support.openapi import Violation
from tests.support.supabase import ANON, AUTH_SPEC, SECRET, SERVICE, key

# supabase-py passes its own deprecated options to its sub-clients; nothing a test can change.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)


@pytest.fixture
def url(supabase_url: str) -> str:
    return supabase_url


@pytest.fixture
def supabase(url: str):
    return create_client(url, ANON)


def rest(url: str, table: str, role_key: str = SERVICE, **headers: str) -> tuple[str, dict]:
    return (
        f"{url}/rest/v1/{table}",
        {"apikey": role_key, "Authorization": f"Bearer {role_key}", **headers},
    )


# the spec check itself -----------------------------------------------------------------------


def test_the_spec_check_catches_what_the_real_server_would_not_send():
    """The hook that validates every auth answer must be able to fail."""
    user = {"id": "6a4b3c2d-1e0f-4a5b-8c7d-6e5f4a3b2c1d", "last_sign_in_at": None}
    found = AUTH_SPEC.check(
        method="GET",
        path="/auth/v1/user",
        status=200,
        body=b'{"id": 1}',
        content_type="application/json",
    )
    assert found and "is not of type 'string'" in found[0].problem
    nulls = AUTH_SPEC.check(
        method="GET",
        path="/auth/v1/user",
        status=200,
        body=__import__("json").dumps(user).encode(),
        content_type="application/json",
    )
    assert [v.problem for v in nulls] == ["last_sign_in_at: None is not of type 'string'"]
    legacy_error = AUTH_SPEC.check(
        method="POST",
        path="/auth/v1/logout",
        status=400,
        body=b'{"code": "bad"}',
        content_type="application/json",
    )
    assert legacy_error == [
        Violation("POST", "/auth/v1/logout", 400, "code: 'bad' is not of type 'integer'")
    ]
    versioned = AUTH_SPEC.check(
        method="POST",
        path="/auth/v1/logout",
        status=400,
        body=b'{"code": "bad"}',
        content_type="application/json",
        request_headers={"x-supabase-api-version": "2024-01-01"},
    )
    assert [v.problem for v in versioned] == [": 'message' is a required property"]
    undocumented = AUTH_SPEC.check(
        method="GET",
        path="/auth/v1/settings",
        status=201,
        body=b"{}",
        content_type="application/json",
    )
    assert "status 201 is not documented" in undocumented[0].problem


# the project and the mailbox -------------------------------------------------------------------


def test_project_settings_change_and_reset_restores_them(url):
    changed = httpx.patch(f"{url}/_twin/supabase/project", json={"auth": {"disable_signup": True}})
    assert changed.status_code == 200
    assert changed.json()["auth"]["disable_signup"] is True
    bad = httpx.patch(f"{url}/_twin/supabase/project", json={"auth": {"disable_sigup": True}})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("auth.disable_sigup: unknown setting")
    wrong_type = httpx.patch(f"{url}/_twin/supabase/project", json={"auth": {"jwt_exp": "1h"}})
    assert wrong_type.json()["error"] == "auth.jwt_exp: expected a non-negative integer"
    httpx.post(f"{url}/_twin/reset")
    assert httpx.get(f"{url}/_twin/supabase/project").json()["auth"]["disable_signup"] is False


def test_project_file_from_the_environment(tmp_path):
    project = tmp_path / "project.yaml"
    project.write_text("auth:\n  mailer_autoconfirm: false\n  site_url: https://app.example\n")
    with serve_asgi(
        create_app({"JWT_SECRET": SECRET, "TWIN_SUPABASE_PROJECT": str(project)})
    ) as base:
        settings = httpx.get(f"{base}/_twin/supabase/project").json()["auth"]
        assert settings["mailer_autoconfirm"] is False
        assert settings["site_url"] == "https://app.example"


def test_a_bad_project_file_stops_the_twin_with_one_line(tmp_path):
    project = tmp_path / "project.yaml"
    project.write_text("auth:\n  mailer_autoconfirm: maybe\n")
    with pytest.raises(SystemExit) as stopped:
        create_app({"TWIN_SUPABASE_PROJECT": str(project)})
    assert str(stopped.value) == (
        "mock-supabase: TWIN_SUPABASE_PROJECT: auth.mailer_autoconfirm: expected true or false"
    )
    with pytest.raises(SystemExit) as missing:
        create_app({"TWIN_SUPABASE_PROJECT": str(tmp_path / "nope.yaml")})
    assert "no such project file" in str(missing.value)


def test_mailbox_lists_filters_clears_and_resets(url):
    httpx.patch(f"{url}/_twin/supabase/project", json={"auth": {"mailer_autoconfirm": False}})
    for email in ("a@example.com", "b@example.com"):
        httpx.post(
            f"{url}/auth/v1/signup",
            json={"email": email, "password": "secret123"},
            headers={"apikey": ANON},
        )
    everything = httpx.get(f"{url}/_twin/supabase/messages").json()["messages"]
    assert [m["to"] for m in everything] == ["a@example.com", "b@example.com"]
    only_b = httpx.get(f"{url}/_twin/supabase/messages", params={"to": "B@example.com"}).json()
    assert [m["to"] for m in only_b["messages"]] == ["b@example.com"]
    journal = httpx.get(f"{url}/_twin/journal", params={"kind": "auth_message"}).json()
    assert len(journal["entries"]) == 2
    assert everything[0]["otp"] not in str(journal)  # the journal shows the message, not its code
    assert httpx.delete(f"{url}/_twin/supabase/messages").status_code == 204
    assert httpx.get(f"{url}/_twin/supabase/messages").json()["messages"] == []


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


def test_reset_empties_tables_and_users(url, supabase):
    supabase.table("t").insert({"v": 1}).execute()
    httpx.post(f"{url}/_twin/reset")
    assert supabase.table("t").select("*").execute().data == []
    assert supabase.table("t").insert({"v": 2}).execute().data[0]["id"] == 1


def test_a_snapshot_restores_rows_users_mail_and_settings_in_place(url, supabase):
    supabase.table("t").insert({"v": 1}).execute()
    httpx.patch(f"{url}/_twin/supabase/project", json={"auth": {"mailer_autoconfirm": False}})
    httpx.post(
        f"{url}/auth/v1/signup",
        json={"email": "kept@example.com", "password": "secret123"},
        headers={"apikey": ANON},
    )
    taken = httpx.post(f"{url}/_twin/snapshots", json={"name": "seeded"})
    assert taken.status_code == 201
    supabase.table("t").insert({"v": 2}).execute()
    httpx.post(
        f"{url}/auth/v1/signup",
        json={"email": "later@example.com", "password": "secret123"},
        headers={"apikey": ANON},
    )
    httpx.patch(f"{url}/_twin/supabase/project", json={"auth": {"disable_signup": True}})
    restored = httpx.post(f"{url}/_twin/snapshots/seeded/restore")
    assert restored.json()["restored"] is True
    assert [row["v"] for row in supabase.table("t").select("v").execute().data] == [1]
    assert supabase.table("t").insert({"v": 3}).execute().data[0]["id"] == 2
    admin = {"apikey": SERVICE, "Authorization": f"Bearer {SERVICE}"}
    users = httpx.get(f"{url}/auth/v1/admin/users", headers=admin).json()["users"]
    assert [user["email"] for user in users] == ["kept@example.com"]
    mail = httpx.get(f"{url}/_twin/supabase/messages").json()["messages"]
    assert [message["to"] for message in mail] == ["kept@example.com"]
    auth = httpx.get(f"{url}/_twin/supabase/project").json()["auth"]
    assert (auth["mailer_autoconfirm"], auth["disable_signup"]) == (False, False)


def test_fault_on_rest_answers_a_postgrest_body(url):
    httpx.post(f"{url}/_twin/faults", json={"path": "/rest/v1/", "status": 503})
    endpoint, headers = rest(url, "t")
    response = httpx.get(endpoint, headers=headers)
    assert response.status_code == 503
    assert set(response.json()) == {"code", "details", "hint", "message"}


def test_the_readme_project_example_is_a_valid_project():
    """The README's example project parses, up to the Python function it only names."""
    import re
    from pathlib import Path

    import yaml

    from converge_twins.mock_supabase.auth_settings import SettingsError
    from converge_twins.mock_supabase.project import Project

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("**The project.**") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    document = yaml.safe_load(example.group(1))
    with pytest.raises(SettingsError) as python:
        Project.from_document(document, allow_python=True)
    assert "functions.increment_usage.python: cannot load my_project.twin_functions" in str(
        python.value
    )
    del document["functions"]["increment_usage"]
    project = Project.from_document(document)
    assert set(project.tables) == {"authors", "books"}
    assert project.tables["books"].foreign_keys[0].target_columns == ("id",)
    assert set(project.functions) == {"books_by", "limits", "refuse"}
