"""mock-supabase's PostgREST behaviour: responses, headers, errors, writes and embedding.

Through supabase-py where it reaches, raw HTTP where the status, a header or the exact body is
what is pinned. The project declares its tables the way migrations would.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from postgrest.exceptions import APIError
from supabase import Client, create_client

from tests.support.supabase import ANON, SERVICE

pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)
HEADERS = {"apikey": SERVICE, "Authorization": f"Bearer {SERVICE}"}

PROJECT = """
tables:
  authors:
    columns:
      id: {type: int8, default: identity}
      name: {type: text, nullable: false}
      email: {type: text, unique: true}
  books:
    columns:
      id: {type: uuid, default: gen_random_uuid()}
      title: text
      author_id: int8
      editor_id: int8
      pages: int4
      created_at: {type: timestamptz, default: now()}
    foreign_keys:
      - {columns: [author_id], references: authors(id), on_delete: cascade}
      - {columns: [editor_id], references: authors, name: books_editor_fkey, on_delete: set null}
  profiles:
    columns:
      author_id: int8
      bio: text
    primary_key: [author_id]
    foreign_keys:
      - {columns: [author_id], references: authors(id)}
  usage:
    columns:
      user_id: text
      month: text
      count: {type: int4, default: 0}
    primary_key: [user_id, month]
"""


@pytest.fixture
def url(supabase_twin, tmp_path) -> str:
    project = tmp_path / "project.yaml"
    project.write_text(PROJECT)
    return supabase_twin(TWIN_SUPABASE_PROJECT=str(project))


@pytest.fixture
def db(url: str) -> Client:
    return create_client(url, SERVICE)


def call(url: str, method: str, table: str, *, body: Any = None, **options: Any) -> httpx.Response:
    headers = {**HEADERS, **options.pop("headers", {})}
    return httpx.request(
        method, f"{url}/rest/v1/{table}", json=body, params=options, headers=headers
    )


def seed(db: Client) -> None:
    db.table("authors").insert(
        [
            {"name": "Ada", "email": "ada@x.io"},
            {"name": "Bo", "email": "bo@x.io"},
            {"name": "Cy", "email": None},
        ]
    ).execute()
    db.table("books").insert(
        [
            {"title": "Alpha", "author_id": 1, "editor_id": 2, "pages": 100},
            {"title": "Beta", "author_id": 1, "editor_id": None, "pages": 300},
            {"title": "Gamma", "author_id": 2, "editor_id": 1, "pages": 200},
        ]
    ).execute()


# reading --------------------------------------------------------------------------------------


def test_select_aliases_casts_and_column_order(db):
    seed(db)
    rows = db.table("authors").select("who:name,id::text").order("id").limit(1).execute()
    assert rows.data == [{"who": "Ada", "id": "1"}]
    star = db.table("authors").select("*").eq("id", 3).execute().data
    assert list(star[0]) == ["id", "name", "email"]  # the declared order, nulls included


def test_order_with_nulls_first_and_last(db):
    seed(db)
    first = db.table("authors").select("id").order("email", nullsfirst=True).execute()
    assert [r["id"] for r in first.data] == [3, 1, 2]
    desc = db.table("authors").select("id").order("email", desc=True).execute()
    assert [r["id"] for r in desc.data] == [3, 2, 1]  # descending puts NULLs first by default


def test_count_range_and_content_range(db, url):
    seed(db)
    page = db.table("books").select("title", count="exact").order("pages").range(0, 1).execute()
    assert page.count == 3 and [r["title"] for r in page.data] == ["Alpha", "Gamma"]
    counted = call(
        url,
        "GET",
        "books",
        select="title",
        order="pages",
        offset="1",
        limit="5",
        headers={"Prefer": "count=exact"},
    )
    assert counted.status_code == 206  # two of the three counted rows
    assert counted.headers["content-range"] == "1-2/3"
    partial = call(
        url, "GET", "books", select="title", headers={"Prefer": "count=exact", "Range": "0-1"}
    )
    assert (partial.status_code, partial.headers["content-range"]) == (206, "0-1/3")
    uncounted = call(url, "GET", "books", select="title", headers={"Range": "1-"})
    assert (uncounted.status_code, uncounted.headers["content-range"]) == (200, "1-2/*")
    empty = call(url, "GET", "books", title="eq.none", headers={"Prefer": "count=exact"})
    assert empty.headers["content-range"] == "*/0"
    beyond = call(url, "GET", "books", offset="10", headers={"Prefer": "count=exact"})
    assert (beyond.status_code, beyond.json()["code"]) == (416, "PGRST103")
    assert beyond.json()["details"] == "An offset of 10 was requested, but there are only 3 rows."
    backwards = call(url, "GET", "books", headers={"Range": "5-2"})
    assert (backwards.status_code, backwards.json()["code"]) == (416, "PGRST103")


def test_head_counts_without_a_body(db, url):
    seed(db)
    head = db.table("books").select("*", count="exact", head=True).execute()
    assert head.count == 3
    raw = httpx.head(f"{url}/rest/v1/books", headers={**HEADERS, "Prefer": "count=exact"})
    assert raw.status_code == 200 and raw.content == b""
    assert raw.headers["content-range"] == "0-2/3"


def test_csv_answers(db, url):
    seed(db)
    text = db.table("authors").select("id,name,email").order("id").csv().execute().data
    assert text == "id,name,email\n1,Ada,ada@x.io\n2,Bo,bo@x.io\n3,Cy,"
    quoted = call(
        url, "GET", "books", select="title,pages", title="eq.Alpha", headers={"Accept": "text/csv"}
    )
    assert quoted.headers["content-type"].startswith("text/csv")
    assert quoted.text == "title,pages\nAlpha,100"


def test_single_object_and_the_current_pgrst116(db, url):
    seed(db)
    one = db.table("authors").select("name").eq("id", 1).single().execute()
    assert one.data == {"name": "Ada"}
    with pytest.raises(APIError) as caught:
        db.table("authors").select("name").gt("id", 1).single().execute()
    assert caught.value.code == "PGRST116"
    assert caught.value.message == "Cannot coerce the result to a single JSON object"
    assert caught.value.details == "The result contains 2 rows"
    assert db.table("authors").select("name").eq("id", 99).maybe_single().execute() is None


def test_nulls_stripped(db, url):
    seed(db)
    stripped = call(
        url,
        "GET",
        "authors",
        id="eq.3",
        headers={"Accept": "application/vnd.pgrst.array+json;nulls=stripped"},
    )
    assert stripped.json() == [{"id": 3, "name": "Cy"}]


def test_unacceptable_media_is_pgrst107(url):
    response = call(url, "GET", "authors", headers={"Accept": "application/vnd.pgrst.plan+text"})
    assert (response.status_code, response.json()["code"]) == (406, "PGRST107")


def test_unknown_table_and_path(url):
    response = call(url, "GET", "author")
    assert response.status_code == 404
    assert response.json() == {
        "code": "PGRST205",
        "details": None,
        "hint": "Perhaps you meant the table 'public.authors'",
        "message": "Could not find the table 'public.author' in the schema cache",
    }
    assert response.headers["proxy-status"] == "PostgREST; error=PGRST205"
    nested = httpx.get(f"{url}/rest/v1/authors/1", headers=HEADERS)
    assert (nested.status_code, nested.json()["code"]) == (404, "PGRST125")


def test_unknown_columns(db, url):
    seed(db)
    read = call(url, "GET", "authors", select="nme")
    assert read.status_code == 400
    assert read.json()["code"] == "42703"
    assert read.json()["message"] == "column authors.nme does not exist"
    assert read.json()["hint"] == 'Perhaps you meant to reference the column "authors.name".'
    with pytest.raises(APIError) as write:
        db.table("authors").insert({"name": "X", "nickname": "x"}).execute()
    assert write.value.code == "PGRST204"
    assert (
        write.value.message
        == "Could not find the 'nickname' column of 'authors' in the schema cache"
    )


def test_aggregates_are_disabled(url):
    response = call(url, "GET", "books", select="count()")
    assert (response.status_code, response.json()["code"]) == (400, "PGRST123")


def test_unsupported_method_and_strict_preferences(url):
    options = httpx.request("TRACE", f"{url}/rest/v1/authors", headers=HEADERS)
    assert (options.status_code, options.json()["code"]) == (405, "PGRST117")
    strict = call(url, "GET", "authors", headers={"Prefer": "handling=strict, count=sometimes"})
    assert (strict.status_code, strict.json()["code"]) == (400, "PGRST122")
    assert strict.json()["details"] == "Invalid preferences: count=sometimes"
    lenient = call(url, "GET", "authors", headers={"Prefer": "count=sometimes"})
    assert lenient.status_code == 200


# writing ---------------------------------------------------------------------------------------


def test_insert_returns_nothing_unless_asked_and_content_range_is_star(url):
    minimal = call(url, "POST", "authors", body={"name": "Ada"})
    assert (minimal.status_code, minimal.content) == (201, b"")
    assert minimal.headers["content-range"] == "*/*"
    full = call(
        url,
        "POST",
        "authors",
        body=[{"name": "Bo"}, {"name": "Cy"}],
        headers={"Prefer": "return=representation,count=exact"},
    )
    assert full.status_code == 201
    assert [r["id"] for r in full.json()] == [2, 3]
    assert full.headers["content-range"] == "*/2"
    assert full.headers["preference-applied"] == "return=representation, count=exact"
    located = call(
        url, "POST", "authors", body={"name": "Di"}, headers={"Prefer": "return=headers-only"}
    )
    assert located.headers["location"] == "/authors?id=eq.4"


def test_defaults_types_and_constraints(db):
    book = db.table("books").insert({"title": "T", "pages": "42"}).execute().data[0]
    assert book["pages"] == 42 and len(book["id"]) == 36 and book["created_at"]
    with pytest.raises(APIError) as missing:
        db.table("authors").insert({"email": "x@x.io"}).execute()
    assert missing.value.code == "23502"
    assert missing.value.message == (
        'null value in column "name" of relation "authors" violates not-null constraint'
    )
    db.table("authors").insert({"name": "A", "email": "same@x.io"}).execute()
    with pytest.raises(APIError) as duplicate:
        db.table("authors").insert({"name": "B", "email": "same@x.io"}).execute()
    assert duplicate.value.code == "23505"
    assert duplicate.value.message == (
        'duplicate key value violates unique constraint "authors_email_key"'
    )
    assert duplicate.value.details == "Key (email)=(same@x.io) already exists."
    with pytest.raises(APIError) as foreign:
        db.table("books").insert({"title": "Orphan", "author_id": 99}).execute()
    assert foreign.value.code == "23503"
    assert foreign.value.details == 'Key (author_id)=(99) is not present in table "authors".'
    with pytest.raises(APIError) as typed:
        db.table("books").insert({"title": "Bad", "id": "not-a-uuid"}).execute()
    assert typed.value.code == "22P02"


def test_a_failed_statement_changes_nothing(db):
    db.table("authors").insert({"name": "Keep", "email": "k@x.io"}).execute()
    with pytest.raises(APIError):
        db.table("authors").insert(
            [{"name": "New", "email": "n@x.io"}, {"name": "Dup", "email": "k@x.io"}]
        ).execute()
    assert [r["name"] for r in db.table("authors").select("name").execute().data] == ["Keep"]


def test_bulk_insert_keys_and_the_columns_parameter(url):
    mismatched = call(url, "POST", "authors", body=[{"name": "A"}, {"name": "B", "email": "b"}])
    assert (mismatched.status_code, mismatched.json()["message"]) == (
        400,
        "All object keys must match",
    )
    with_columns = call(
        url,
        "POST",
        "authors",
        columns="name,email",
        body=[{"name": "A"}, {"name": "B", "email": "b@x.io"}],
        headers={"Prefer": "return=representation"},
    )
    assert [r["email"] for r in with_columns.json()] == [None, "b@x.io"]
    invalid = httpx.post(
        f"{url}/rest/v1/authors",
        content=b"{nope",
        headers={**HEADERS, "Content-Type": "application/json"},
    )
    assert (invalid.status_code, invalid.json()["code"]) == (400, "PGRST102")


def test_csv_and_form_bodies(url):
    csv = httpx.post(
        f"{url}/rest/v1/authors",
        content=b"name,email\nAda,a@x.io\nBo,NULL",
        headers={**HEADERS, "Content-Type": "text/csv", "Prefer": "return=representation"},
    )
    assert [r["email"] for r in csv.json()] == ["a@x.io", None]
    form = httpx.post(
        f"{url}/rest/v1/authors",
        content=b"name=Cy",
        headers={
            **HEADERS,
            "Content-Type": "application/x-www-form-urlencoded",
            "Prefer": "return=representation",
        },
    )
    assert form.json()[0]["name"] == "Cy"


def test_upsert_merges_or_ignores_on_a_declared_key(db, url):
    db.table("usage").insert({"user_id": "u", "month": "2025-01", "count": 1}).execute()
    merged = (
        db.table("usage")
        .upsert({"user_id": "u", "month": "2025-01", "count": 2}, on_conflict="user_id,month")
        .execute()
    )
    assert merged.data[0]["count"] == 2
    ignored = call(
        url,
        "POST",
        "usage",
        on_conflict="user_id,month",
        body={"user_id": "u", "month": "2025-01", "count": 9},
        headers={"Prefer": "resolution=ignore-duplicates,return=representation"},
    )
    assert ignored.json() == []
    assert db.table("usage").select("count").execute().data == [{"count": 2}]
    no_key = call(
        url,
        "POST",
        "usage",
        on_conflict="month",
        body={"user_id": "v", "month": "x"},
        headers={"Prefer": "resolution=merge-duplicates"},
    )
    assert (no_key.status_code, no_key.json()["code"]) == (400, "42P10")


def test_update_and_delete_answers(db, url):
    seed(db)
    minimal = call(url, "PATCH", "books", title="eq.Alpha", body={"pages": 101})
    assert (minimal.status_code, minimal.content) == (204, b"")
    assert minimal.headers["content-range"] == "0-0/*"
    full = call(
        url,
        "PATCH",
        "books",
        author_id="eq.1",
        body={"pages": 1},
        headers={"Prefer": "return=representation,count=exact"},
    )
    assert full.status_code == 200 and len(full.json()) == 2
    assert full.headers["content-range"] == "0-1/2"
    unfiltered = call(url, "PATCH", "books", body={"pages": 0})
    assert unfiltered.json() == {
        "code": "21000",
        "details": None,
        "hint": None,
        "message": "UPDATE requires a WHERE clause",
    }
    gone = db.table("books").delete().eq("title", "Gamma").execute()
    assert [r["title"] for r in gone.data] == ["Gamma"]


def test_single_object_writes_roll_back_unless_one_row(db, url):
    seed(db)
    refused = call(
        url,
        "PATCH",
        "books",
        author_id="eq.1",
        body={"pages": 7},
        headers={"Accept": "application/vnd.pgrst.object+json"},
    )
    assert (refused.status_code, refused.json()["code"]) == (406, "PGRST116")
    pages = {r["title"]: r["pages"] for r in db.table("books").select("title,pages").execute().data}
    assert pages["Alpha"] == 100 and pages["Beta"] == 300


def test_max_affected_with_strict_handling(db, url):
    seed(db)
    response = call(
        url,
        "DELETE",
        "books",
        author_id="eq.1",
        headers={"Prefer": "handling=strict, max-affected=1"},
    )
    assert (response.status_code, response.json()["code"]) == (400, "PGRST124")
    assert len(db.table("books").select("id").execute().data) == 3


def test_put_upserts_one_row_by_its_primary_key(url):
    call(url, "POST", "authors", body={"name": "Ada"})
    put = call(
        url,
        "PUT",
        "profiles",
        author_id="eq.1",
        body={"author_id": 1, "bio": "hi"},
        headers={"Prefer": "return=representation"},
    )
    assert put.status_code == 200 and put.json() == [{"author_id": 1, "bio": "hi"}]
    mismatch = call(url, "PUT", "profiles", author_id="eq.1", body={"author_id": 2, "bio": "x"})
    assert mismatch.json()["code"] == "PGRST115"
    not_key = call(url, "PUT", "profiles", bio="eq.hi", body={"author_id": 1, "bio": "x"})
    assert (not_key.status_code, not_key.json()["code"]) == (405, "PGRST105")


def test_deletes_cascade_set_null_or_refuse_by_foreign_key(db):
    seed(db)
    db.table("profiles").insert({"author_id": 2, "bio": "b"}).execute()
    with pytest.raises(APIError) as refused:  # profiles has no ON DELETE: refused
        db.table("authors").delete().eq("id", 2).execute()
    assert refused.value.code == "23503"
    db.table("profiles").delete().eq("author_id", 2).execute()
    db.table("authors").delete().eq("id", 2).execute()
    books = db.table("books").select("title,author_id,editor_id").order("title").execute().data
    assert books == [
        {"title": "Alpha", "author_id": 1, "editor_id": None},  # editor set null
        {"title": "Beta", "author_id": 1, "editor_id": None},
    ]  # Gamma, by author 2, went with it (cascade)


# embedding --------------------------------------------------------------------------------------


def test_embed_to_one_and_to_many(db):
    seed(db)
    books = db.table("books").select("title,authors!author_id(name)").order("title").execute()
    assert books.data[0] == {"title": "Alpha", "authors": {"name": "Ada"}}
    authors = db.table("authors").select("name,books!author_id(title)").order("id").execute()
    assert authors.data[0] == {"name": "Ada", "books": [{"title": "Alpha"}, {"title": "Beta"}]}
    assert authors.data[2] == {"name": "Cy", "books": []}


def test_embed_by_column_alias_and_spread(db):
    seed(db)
    rows = (
        db.table("books")
        .select("title,writer:author_id(name),...editor_id(editor:name)")
        .order("title")
        .execute()
    )
    assert rows.data == [
        {"title": "Alpha", "writer": {"name": "Ada"}, "editor": "Bo"},
        {"title": "Beta", "writer": {"name": "Ada"}, "editor": None},
        {"title": "Gamma", "writer": {"name": "Bo"}, "editor": "Ada"},
    ]


def test_two_relationships_are_ambiguous_until_hinted(url):
    response = call(url, "GET", "books", select="title,authors(name)")
    assert (response.status_code, response.json()["code"]) == (300, "PGRST201")
    assert len(response.json()["details"]) == 2
    assert "'authors!books_author_id_fkey'" in response.json()["hint"]
    hinted = call(url, "GET", "books", select="title,authors!books_editor_fkey(name)")
    assert hinted.status_code == 200


def test_no_relationship_is_pgrst200(url):
    response = call(url, "GET", "usage", select="*,authors(*)")
    assert (response.status_code, response.json()["code"]) == (400, "PGRST200")
    assert response.json()["message"] == (
        "Could not find a relationship between 'usage' and 'authors' in the schema cache"
    )


def test_embedded_filters_order_limit_and_inner(db, url):
    seed(db)
    shaped = call(
        url,
        "GET",
        "authors",
        select="name,books!author_id(title)",
        order="id",
        **{"books.pages": "gt.150", "books.order": "title.desc", "books.limit": "1"},
    )
    assert shaped.json()[:2] == [
        {"name": "Ada", "books": [{"title": "Beta"}]},
        {"name": "Bo", "books": [{"title": "Gamma"}]},
    ]
    inner = (
        db.table("authors")
        .select("name,books!author_id!inner(title)")
        .eq("books.title", "Gamma")
        .execute()
    )
    assert inner.data == [{"name": "Bo", "books": [{"title": "Gamma"}]}]
    without = call(url, "GET", "authors", select="name,books!author_id()", books="is.null")
    assert without.json() == [{"name": "Cy"}]  # an empty embed filters and is not shown


def test_embedded_filter_rules(url):
    not_selected = call(url, "GET", "authors", select="name", **{"books.pages": "gt.1"})
    assert (not_selected.status_code, not_selected.json()["code"]) == (400, "PGRST108")
    bad_operator = call(url, "GET", "authors", select="name,books!author_id(title)", books="eq.1")
    assert (bad_operator.status_code, bad_operator.json()["code"]) == (400, "PGRST120")


def test_order_by_a_to_one_embed(db, url):
    seed(db)
    ordered = call(
        url,
        "GET",
        "books",
        select="title,authors!author_id(name)",
        order="authors(name).desc,title",
    )
    assert [r["title"] for r in ordered.json()] == ["Gamma", "Alpha", "Beta"]
    to_many = call(
        url, "GET", "authors", select="name,books!author_id(title)", order="books(title)"
    )
    assert (to_many.status_code, to_many.json()["code"]) == (400, "PGRST118")


def test_nested_embeds_are_beyond_the_twin(url):
    response = call(url, "GET", "profiles", select="*,authors(*,books!author_id(*))")
    assert (response.status_code, response.json()["code"]) == (400, "PGRST127")


# schemaless tables --------------------------------------------------------------------------------


def test_undeclared_tables_appear_on_first_use(supabase_url):
    db = create_client(supabase_url, ANON)
    inserted = db.table("notes").insert({"body": "hello"}).execute()
    assert inserted.data[0]["id"] == 1 and inserted.data[0]["created_at"]
    assert db.table("notes").select("body").execute().data == [{"body": "hello"}]


def test_declared_table_names_make_others_unknown(supabase_twin):
    base = supabase_twin(TWIN_SUPABASE_TABLES="known")
    assert call(base, "GET", "other").json()["code"] == "PGRST205"
    assert call(base, "GET", "known").status_code == 200
