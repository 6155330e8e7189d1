"""The check of Anthropic answers against the official SDK's own types refuses what the SDK
would not accept, strictly: a missing field, a wrong type, an unknown field, a stream event the
SDK does not know."""

from __future__ import annotations

import json

from converge_twins.conformance.anthropic_types import problems

MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 1},
}


def check(method: str, path: str, value: object, status: int = 200) -> list[str]:
    return problems(method, path, status, "application/json", json.dumps(value).encode())


def test_a_valid_message_has_no_problems():
    assert check("POST", "/v1/messages", MESSAGE) == []


def test_a_missing_field_a_wrong_type_and_an_unknown_field_are_named():
    assert check("POST", "/v1/messages", {**MESSAGE, "stop_reason": "done"})[0].startswith(
        "stop_reason:"
    )
    strict = check(
        "POST", "/v1/messages", {**MESSAGE, "usage": {"input_tokens": "1", "output_tokens": 1}}
    )
    assert strict and strict[0].startswith("usage.input_tokens")
    extra = check("POST", "/v1/messages", {**MESSAGE, "usage": {**MESSAGE["usage"], "tokns": 1}})
    assert extra == ["usage.tokns: not a field of Usage"]
    old_model = {
        "type": "model",
        "id": "m",
        "display_name": "M",
        "created_at": "2025-01-01T00:00:00Z",
    }
    assert check("GET", "/v1/models/m", old_model) == ["lifecycle: Field required"]


def test_errors_are_checked_with_their_details_and_the_documented_413():
    error = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "x",
            "details": {"error_code": "file_not_downloadable"},
        },
        "request_id": "req_1",
    }
    assert check("GET", "/v1/files/f/content", error, 400) == []
    too_large = {"type": "error", "error": {"type": "request_too_large", "message": "big"}}
    assert check("POST", "/v1/messages", too_large, 413) == []
    assert check("POST", "/v1/messages", {"error": "plain"}, 400)


def test_a_stream_is_checked_event_by_event():
    good = (
        'event: message_start\ndata: {"type": "message_start", "message": '
        + json.dumps({**MESSAGE, "content": []})
        + '}\n\nevent: ping\ndata: {"type": "ping"}\n\n'
        'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
        '"delta": {"type": "text_delta", "text": "x"}}\n\n'
    )
    assert problems("POST", "/v1/messages", 200, "text/event-stream", good.encode()) == []
    bad = good.replace("text_delta", "txt_delta")
    assert problems("POST", "/v1/messages", 200, "text/event-stream", bad.encode())


def test_pages_and_jsonl_results_are_checked():
    page = {"data": [], "has_more": False, "first_id": None, "last_id": None}
    assert check("GET", "/v1/messages/batches", page) == []
    assert check("GET", "/v1/files", {"data": [], "next_page": None}) == []
    assert check("GET", "/v1/models", {"data": [{"id": "x"}], "has_more": False})
    line = json.dumps({"custom_id": "a", "result": {"type": "canceled"}})
    results = problems(
        "GET",
        "/v1/messages/batches/b/results",
        200,
        "application/x-jsonl",
        (line + "\nnot json\n").encode(),
    )
    assert results == ["line 2: not JSON"]
