"""mock-supabase's PostgREST filters, each through supabase-py (raw HTTP where it has no method).

The rows live in a table the project declares, so every filter compares by the column's type.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import Client, create_client

from tests.support.supabase import SERVICE

pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)

PROJECT = """
tables:
  items:
    columns:
      id: int8
      name: text
      qty: int4
      price: numeric
      active: boolean
      tags: text[]
      data: jsonb
      body: text
      span: int4range
      seen_at: timestamptz
"""

ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "Apple pie",
        "qty": 5,
        "price": 2.5,
        "active": True,
        "tags": ["food", "sweet"],
        "data": {"color": "red", "size": 3, "labels": ["a"]},
        "body": "The fat cats ate the rats",
        "span": "[1,5)",
        "seen_at": "2025-01-01T10:00:00Z",
    },
    {
        "id": 2,
        "name": "banana",
        "qty": 12,
        "price": 0.25,
        "active": False,
        "tags": ["food"],
        "data": {"color": "yellow", "size": 10},
        "body": "A quick brown fox jumping over dogs",
        "span": "[5,10)",
        "seen_at": "2025-03-01T10:00:00Z",
    },
    {
        "id": 3,
        "name": "Cherry, dark",
        "qty": None,
        "price": 7,
        "active": None,
        "tags": [],
        "data": {"color": "red", "size": 1, "labels": ["a", "b"]},
        "body": "Rats and cats in a hat",
        "span": "[20,30)",
        "seen_at": None,
    },
]


@pytest.fixture
def url(supabase_twin, tmp_path) -> str:
    project = tmp_path / "project.yaml"
    project.write_text(PROJECT)
    base = supabase_twin(TWIN_SUPABASE_PROJECT=str(project))
    create_client(base, SERVICE).table("items").insert(ROWS).execute()
    return base


@pytest.fixture
def db(url: str) -> Client:
    return create_client(url, SERVICE)


def ids(response: Any) -> list[int]:
    return sorted(row["id"] for row in response.data)


def raw(url: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{url}/rest/v1/items",
        params={"select": "id", **params},
        headers={"apikey": SERVICE, "Authorization": f"Bearer {SERVICE}"},
    )


def raw_ids(url: str, **params: str) -> list[int]:
    response = raw(url, **params)
    assert response.status_code == 200, response.text
    return sorted(row["id"] for row in response.json())


# comparisons ----------------------------------------------------------------------------------


def test_eq_neq_and_the_orderings(db):
    items = db.table("items").select("id")
    assert ids(items.eq("qty", 5).execute()) == [1]
    assert ids(db.table("items").select("id").neq("qty", 5).execute()) == [2]  # NULL is unknown
    assert ids(db.table("items").select("id").gt("qty", 5).execute()) == [2]
    assert ids(db.table("items").select("id").gte("qty", 5).execute()) == [1, 2]
    assert ids(db.table("items").select("id").lt("price", 2.5).execute()) == [2]
    assert ids(db.table("items").select("id").lte("price", "2.5").execute()) == [1, 2]


def test_timestamps_compare_as_times_not_text(db):
    later = db.table("items").select("id").gt("seen_at", "2025-02-01T00:00:00+01:00").execute()
    assert ids(later) == [2]


def test_a_value_the_column_type_cannot_read_is_22p02(db):
    with pytest.raises(APIError) as caught:
        db.table("items").select("id").eq("qty", "many").execute()
    assert caught.value.code == "22P02"
    assert caught.value.message == 'invalid input syntax for type integer: "many"'


def test_like_ilike_with_both_wildcards(db):
    assert ids(db.table("items").select("id").like("name", "%pie").execute()) == [1]
    assert ids(db.table("items").select("id").like("name", "apple*").execute()) == []
    assert ids(db.table("items").select("id").ilike("name", "apple*").execute()) == [1]
    assert ids(db.table("items").select("id").ilike("name", "_anana").execute()) == [2]


def test_like_any_and_all_of(db):
    assert ids(db.table("items").select("id").like_any_of("name", "*pie,ban*").execute()) == [1, 2]
    assert ids(db.table("items").select("id").ilike_all_of("name", "a*,*e").execute()) == [1]


def test_match_and_imatch_are_regular_expressions(url):
    assert raw_ids(url, name="match.^[A-Z]") == [1, 3]
    assert raw_ids(url, name="imatch.^b") == [2]
    assert raw_ids(url, name="not.imatch.^b") == [1, 3]


def test_in_with_quoted_values(db):
    assert ids(
        db.table("items").select("id").in_("name", ["banana", "Cherry, dark"]).execute()
    ) == [2, 3]
    assert ids(db.table("items").select("id").in_("id", [1, 3, 99]).execute()) == [1, 3]


def test_is_null_true_false_unknown_and_not_null(db, url):
    assert ids(db.table("items").select("id").is_("qty", None).execute()) == [3]
    assert ids(db.table("items").select("id").not_.is_("qty", None).execute()) == [1, 2]
    assert ids(db.table("items").select("id").is_("active", True).execute()) == [1]
    assert ids(db.table("items").select("id").is_("active", False).execute()) == [2]
    assert raw_ids(url, active="is.unknown") == [3]
    assert raw_ids(url, qty="is.not_null") == [1, 2]


def test_isdistinct_treats_null_as_a_value(url):
    assert raw_ids(url, qty="isdistinct.5") == [2, 3]
    assert raw_ids(url, qty="not.isdistinct.5") == [1]


def test_negation_keeps_sqls_unknown(url):
    # qty is NULL in row 3: neither qty=5 nor NOT qty=5 holds there
    assert raw_ids(url, qty="not.eq.5") == [2]


# full-text search ---------------------------------------------------------------------------------


def test_fts_family(db):
    def search(query: str, kind: str | None = None, config: str | None = None) -> list[int]:
        options = {k: v for k, v in (("type", kind), ("config", config)) if v}
        return ids(db.table("items").select("id").text_search("body", query, options).execute())

    assert search("cat & rat") == [1, 3]
    assert search("fox | hat") == [2, 3]
    assert search("cat & !fat") == [3]
    assert search("jump:*") == [2]
    assert search("fat cats", "plain") == [1]
    assert search("fat cats", "phrase") == [1]
    assert search("cats fat", "phrase") == []
    assert search('"brown fox" or hat', "web_search") == [2, 3]
    assert search("cats -fat", "web_search") == [3]
    assert search("the", "plain") == []  # a stop word alone matches nothing
    assert search("the", "plain", "simple") == [1]


# arrays, JSON and ranges --------------------------------------------------------------------------


def test_contains_contained_by_and_overlaps_on_arrays(db):
    assert ids(db.table("items").select("id").contains("tags", ["food"]).execute()) == [1, 2]
    assert ids(db.table("items").select("id").contained_by("tags", ["food"]).execute()) == [2, 3]
    assert ids(db.table("items").select("id").overlaps("tags", ["sweet", "x"]).execute()) == [1]


def test_contains_and_contained_by_on_json(db):
    assert ids(db.table("items").select("id").contains("data", {"color": "red"}).execute()) == [
        1,
        3,
    ]
    contained = (
        db.table("items")
        .select("id")
        .contained_by("data", {"color": "yellow", "size": 10, "extra": True})
    )
    assert ids(contained.execute()) == [2]
    assert ids(db.table("items").select("id").contains("data", {"labels": ["b"]}).execute()) == [3]


def test_range_operators(db):
    assert ids(db.table("items").select("id").range_lt("span", (5, 8)).execute()) == [1]
    assert ids(db.table("items").select("id").range_gt("span", (10, 15)).execute()) == [3]
    assert ids(db.table("items").select("id").range_lte("span", (0, 10)).execute()) == [1, 2]
    assert ids(db.table("items").select("id").range_gte("span", (4, 40)).execute()) == [2, 3]
    assert ids(db.table("items").select("id").range_adjacent("span", (10, 20)).execute()) == [3]
    assert ids(db.table("items").select("id").overlaps("span", "[4,6)").execute()) == [1, 2]
    assert ids(db.table("items").select("id").contains("span", "[2,3]").execute()) == [1]


# combinations -------------------------------------------------------------------------------------


def test_or_and_nested_logic(db, url):
    assert ids(db.table("items").select("id").or_("qty.lt.6,price.gt.5").execute()) == [1, 3]
    assert raw_ids(url, **{"or": "(id.eq.1,and(active.is.false,qty.gt.10))"}) == [1, 2]
    assert raw_ids(url, **{"not.or": "(id.eq.1,id.eq.2)"}) == [3]
    assert raw_ids(url, **{"and": "(name.ilike.*a*,or(qty.is.null,qty.eq.12))"}) == [2, 3]
    assert raw_ids(url, **{"or": '(name.eq."Cherry, dark",id.in.(1,2))'}) == [1, 2, 3]


def test_quantified_operators(url):
    assert raw_ids(url, qty="eq(any).{5,12}") == [1, 2]
    assert raw_ids(url, name="like(all).{*a*,*n*}") == [2]


def test_match_builds_eq_filters(db):
    assert ids(db.table("items").select("id").match({"qty": 5, "active": True}).execute()) == [1]


def test_json_paths_filter_select_and_order(db, url):
    assert raw_ids(url, **{"data->>color": "eq.red"}) == [1, 3]
    assert raw_ids(url, **{"data->size": "gt.2"}) == [1, 2]
    assert raw_ids(url, **{"data->labels->>0": "eq.a"}) == [1, 3]
    picked = (
        db.table("items")
        .select("id,data->color,shade:data->>color,data->labels->0")
        .order("data->size", desc=True)
        .execute()
    )
    assert picked.data == [
        {"id": 2, "color": "yellow", "shade": "yellow", "labels": None},
        {"id": 1, "color": "red", "shade": "red", "labels": "a"},
        {"id": 3, "color": "red", "shade": "red", "labels": "a"},
    ]


def test_a_filter_the_grammar_refuses_is_pgrst100(url):
    response = raw(url, qty="equals.5")
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST100"
    assert response.json()["message"] == '"failed to parse filter (equals.5)" (line 1, column 1)'
    assert raw(url, **{"or": "id.eq.1"}).json()["code"] == "PGRST100"
    assert raw(url, order="id.upwards").json()["code"] == "PGRST100"
