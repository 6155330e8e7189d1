"""mock-supabase's ``/rest/v1/rpc``: the functions a project declares, through supabase-py."""

from __future__ import annotations

import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import Client, create_client

from converge_twins.mock_supabase.app import create_app
from tests.support.supabase import SERVICE

pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)
HEADERS = {"apikey": SERVICE, "Authorization": f"Bearer {SERVICE}"}

PROJECT = """
tables:
  usage:
    columns: {user_id: text, month: text, count: int4}
    primary_key: [user_id, month]
functions:
  usage_of:
    args: [user_id]
    query: {table: usage, filters: {user_id: "eq.{{user_id}}"}}
  latest_usage:
    args: [user_id]
    query: {table: usage, filters: {user_id: "eq.{{user_id}}"}, single: true}
  plan_limits:
    args: {tier: {default: free}, monthly: {default: 3}}
    result: {tier: "{{tier}}", monthly: "{{monthly}}", label: "{{tier}} plan"}
  answer:
    result: 42
  refuse:
    args: [reason]
    raise: {code: P0001, message: "refused: {{reason}}", hint: "try tomorrow"}
  increment_usage:
    args: [user_id, month]
    python: tests.support.supabase_functions:increment_usage
  reset_usage:
    args: [user_id]
    python: tests.support.supabase_functions:reset_usage
    returns: void
  quota_left:
    args: {user_id: text, quota: {default: 3}}
    python: tests.support.supabase_functions:quota_left
  count_then_refuse:
    args: [user_id]
    python: tests.support.supabase_functions:count_then_refuse
"""


@pytest.fixture
def url(supabase_twin, tmp_path) -> str:
    project = tmp_path / "project.yaml"
    project.write_text(PROJECT)
    return supabase_twin(TWIN_SUPABASE_PROJECT=str(project))


@pytest.fixture
def db(url: str) -> Client:
    return create_client(url, SERVICE)


def test_a_python_function_writes_through_the_tables(db):
    assert db.rpc("increment_usage", {"user_id": "u", "month": "2025-01"}).execute().data == 1
    assert db.rpc("increment_usage", {"user_id": "u", "month": "2025-01"}).execute().data == 2
    assert db.table("usage").select("count").execute().data == [{"count": 2}]


def test_set_returning_functions_take_filters_select_order_and_count(db):
    for month in ("2025-01", "2025-02", "2025-03"):
        db.rpc("increment_usage", {"user_id": "u", "month": month}).execute()
    db.rpc("increment_usage", {"user_id": "v", "month": "2025-01"}).execute()
    rows = (
        db.rpc("usage_of", {"user_id": "u"}, count="exact")
        .select("month")
        .gte("month", "2025-02")
        .order("month", desc=True)
        .execute()
    )
    assert rows.data == [{"month": "2025-03"}, {"month": "2025-02"}]
    assert rows.count == 2
    one = db.rpc("latest_usage", {"user_id": "v"}).execute()
    assert one.data == {"user_id": "v", "month": "2025-01", "count": 1}


def test_results_keep_argument_types_and_defaults(db):
    assert db.rpc("plan_limits", {"tier": "pro", "monthly": 100}).execute().data == {
        "tier": "pro",
        "monthly": 100,
        "label": "pro plan",
    }
    assert db.rpc("plan_limits", {}).execute().data == {
        "tier": "free",
        "monthly": 3,
        "label": "free plan",
    }
    assert db.rpc("answer", {}).execute().data == 42


def test_get_calls_read_only_with_arguments_in_the_query(db, url):
    db.rpc("increment_usage", {"user_id": "u", "month": "2025-01"}).execute()
    read = db.rpc("usage_of", {"user_id": "u"}, get=True).execute()
    assert read.data == [{"user_id": "u", "month": "2025-01", "count": 1}]
    filtered = httpx.get(
        f"{url}/rest/v1/rpc/usage_of", params={"user_id": "u", "month": "eq.none"}, headers=HEADERS
    )
    assert filtered.json() == []  # an operator makes it a filter, not an argument
    writing = httpx.get(
        f"{url}/rest/v1/rpc/increment_usage",
        params={"user_id": "u", "month": "m"},
        headers=HEADERS,
    )
    assert writing.status_code == 405
    assert writing.json()["code"] == "25006"
    assert writing.json()["message"] == "cannot execute UPDATE in a read-only transaction" or (
        writing.json()["message"] == "cannot execute INSERT in a read-only transaction"
    )


def test_void_functions_answer_204(db, url):
    db.rpc("increment_usage", {"user_id": "u", "month": "2025-01"}).execute()
    response = httpx.post(f"{url}/rest/v1/rpc/reset_usage", json={"user_id": "u"}, headers=HEADERS)
    assert (response.status_code, response.content) == (204, b"")
    assert db.table("usage").select("*").execute().data == []


def test_raise_maps_its_code_to_a_status(db):
    with pytest.raises(APIError) as refused:
        db.rpc("refuse", {"reason": "closed"}).execute()
    assert refused.value.code == "P0001"
    assert refused.value.message == "refused: closed"
    assert refused.value.hint == "try tomorrow"
    for _ in range(4):
        db.rpc("increment_usage", {"user_id": "w", "month": "2025-01"}).execute()
    with pytest.raises(APIError) as payment:
        db.rpc("quota_left", {"user_id": "w"}).execute()
    assert payment.value.code == "PT402"
    assert payment.value.details == "Quota exceeded"


def test_a_failing_function_changes_nothing(db, url):
    response = httpx.post(
        f"{url}/rest/v1/rpc/count_then_refuse", json={"user_id": "x"}, headers=HEADERS
    )
    assert (response.status_code, response.json()["code"]) == (400, "P0001")
    assert db.table("usage").select("*").execute().data == []


def test_unknown_functions_and_signatures_are_pgrst202(url):
    unknown = httpx.post(f"{url}/rest/v1/rpc/usage_off", json={"user_id": "u"}, headers=HEADERS)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "code": "PGRST202",
        "details": "Searched for the function public.usage_off with parameter user_id or with a "
        "single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
        "hint": "Perhaps you meant to call the function public.usage_of",
        "message": "Could not find the function public.usage_off(user_id) in the schema cache",
    }
    wrong = httpx.post(f"{url}/rest/v1/rpc/usage_of", json={"user": "u"}, headers=HEADERS)
    assert wrong.json()["hint"] == "Perhaps you meant to call the function public.usage_of(user_id)"
    missing = httpx.get(f"{url}/rest/v1/rpc/usage_of", headers=HEADERS)
    assert missing.json()["message"] == (
        "Could not find the function public.usage_of without parameters in the schema cache"
    )


def test_only_get_and_post_reach_functions(url):
    response = httpx.put(f"{url}/rest/v1/rpc/answer", json={}, headers=HEADERS)
    assert response.status_code == 405
    assert response.json()["code"] == "PGRST101"
    assert response.json()["message"] == "Cannot use the PUT method on RPC"


def test_functions_registered_through_the_control_plane(url, db):
    added = httpx.patch(
        f"{url}/_twin/supabase/project",
        json={"functions": {"hello": {"args": ["name"], "result": "hello {{name}}"}}},
    )
    assert added.status_code == 200
    assert db.rpc("hello", {"name": "Ada"}).execute().data == "hello Ada"
    assert db.rpc("answer", {}).execute().data == 42  # the file's functions stay
    python = httpx.patch(
        f"{url}/_twin/supabase/project",
        json={"functions": {"evil": {"python": "os:system"}}},
    )
    assert python.status_code == 400
    assert "Python functions load only from the project file" in python.json()["error"]
    httpx.post(f"{url}/_twin/reset")
    with pytest.raises(APIError):
        db.rpc("hello", {"name": "Ada"}).execute()


def test_bad_function_declarations_name_the_place(tmp_path):
    project = tmp_path / "project.yaml"
    project.write_text("functions:\n  f:\n    result: 1\n    query: {table: t}\n")
    with pytest.raises(SystemExit) as both:
        create_app({"TWIN_SUPABASE_PROJECT": str(project)})
    assert str(both.value).endswith("functions.f: give exactly one of query, result, raise, python")
    project.write_text("functions:\n  f:\n    python: nowhere.at_all:f\n")
    with pytest.raises(SystemExit) as missing:
        create_app({"TWIN_SUPABASE_PROJECT": str(project)})
    assert "functions.f.python: cannot load nowhere.at_all:f" in str(missing.value)
