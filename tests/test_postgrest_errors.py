"""PostgREST's errors.rst read as the table of codes and statuses every PostgREST answer of the
twin is checked against, and mock-supabase's own mapping held to it."""

from __future__ import annotations

import json

import pytest

from converge_twins.conformance.postgrest_errors import from_gateway, parse, postgrest_errors
from converge_twins.mock_supabase.errors import sqlstate_status

ERRORS = postgrest_errors()


def test_the_document_gives_every_pgrst_code_its_status():
    assert len(ERRORS.pgrst) == 39
    assert ERRORS.statuses("PGRST116") == (406,)
    assert ERRORS.statuses("PGRST201") == (300,)
    assert ERRORS.statuses("PGRSTX00") == (500,)
    assert ERRORS.statuses("PGRST999") is None


def test_the_document_maps_postgresql_codes_exactly_then_by_class_then_400():
    assert ERRORS.statuses("23505") == (409,)
    assert ERRORS.statuses("53400") == (500,)  # the exact row wins over 53*
    assert ERRORS.statuses("53100") == (503,)
    assert ERRORS.statuses("42501") == (401, 403)  # anonymous or authenticated
    assert ERRORS.statuses("22P02") == (400,)  # "other"
    assert ERRORS.statuses("PT402") == (402,)  # RAISE with a status
    assert ERRORS.statuses("not a code") is None


def test_mock_supabase_answers_each_postgresql_code_with_the_documented_status():
    for pattern, statuses in ERRORS.sqlstate.items():
        code = pattern.replace("*", "000")
        assert sqlstate_status(code) in statuses, pattern
    for code in ("22P02", "42703", "23502", "PT402", "PT418"):
        assert (sqlstate_status(code),) == ERRORS.statuses(code), code


def error(code: str, **fields: object) -> bytes:
    body = {"code": code, "details": None, "hint": None, "message": "m", **fields}
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("status", "body", "problem"),
    [
        (406, error("PGRST116"), None),
        (409, error("23505"), None),
        (400, error("PGRST116"), "errors.rst gives PGRST116 the status 406"),
        (400, error("PGRST998"), "is not one errors.rst documents"),
        (400, error("PGRST100", extra=1), "not PostgREST's error shape"),
        (400, b"<html>", "not JSON"),
        (400, json.dumps({"code": 1, "details": None, "hint": None, "message": "m"}).encode(),
         "must be strings"),
    ],
)
def test_an_answer_is_checked_for_its_shape_its_code_and_its_status(status, body, problem):
    found = ERRORS.check("GET", "/rest/v1/books", status, body)
    if problem is None:
        assert found == []
    else:
        [only] = found
        assert only.startswith(f"GET /rest/v1/books -> {status}: ") and problem in only


def test_a_document_without_the_tables_is_refused():
    with pytest.raises(ValueError, match="tables of codes and statuses"):
        parse("HTTP Status Codes\nnothing\nErrors from PostgREST\n")


def test_the_gateways_own_errors_are_told_apart():
    assert from_gateway(b'{"message": "No API key found in request", "hint": "h"}')
    assert not from_gateway(error("PGRST116"))
    assert not from_gateway(b"<html>")
