"""The verdict: the request that forces the tool, validation, the one retry, and the merge."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from converge.errors import ReviewError
from converge.spec.verdict import (
    TOOL_NAME,
    ChunkVerdict,
    Finding,
    Ledger,
    Reply,
    build_request,
    merge,
    read_verdict,
    retry_messages,
    review_chunk,
    verdict_schema,
)

GOOD = {"compliant": True, "summary": "Fine.", "findings": []}
MAJOR = {
    "severity": "major",
    "requirement": "3 analyses a month",
    "file": "app.py",
    "line": 1,
    "explanation": "5, not 3",
}


def tool_reply(verdict: Any, stop: str = "tool_use") -> Reply:
    block = {"type": "tool_use", "id": "toolu_01x", "name": TOOL_NAME, "input": verdict}
    return Reply((block,), stop, {"input_tokens": 10, "output_tokens": 5}, "req_1")


def test_the_request_forces_the_verdict_tool_whose_schema_is_the_verdict_schema() -> None:
    request = build_request("claude-x", 100, "<specification/>", "<change/>")
    assert request["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    (tool,) = request["tools"]
    assert tool["input_schema"]["properties"] == verdict_schema()["properties"]
    assert "$schema" not in tool["input_schema"]
    jsonschema.Draft202012Validator.check_schema(verdict_schema())
    spec, _change = request["messages"][0]["content"]
    assert "cache_control" not in spec
    cached = build_request("claude-x", 100, "s", "c", cache_spec=True)
    assert cached["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (tool_reply({"compliant": "yes", "summary": "x", "findings": []}), "$.compliant"),
        (tool_reply({"summary": "x", "findings": []}), "'compliant' is a required property"),
        (
            tool_reply({**GOOD, "findings": [{**MAJOR, "severity": "fatal"}]}),
            "$.findings[0].severity",
        ),
        (tool_reply({**GOOD, "findings": [{**MAJOR, "line": 0}]}), "$.findings[0].line"),
        (tool_reply(GOOD, stop="max_tokens"), "cut off at spec_max_tokens (100 tokens)"),
        (Reply(({"type": "text", "text": "fine"},), "end_turn", {}, None), "did not call"),
    ],
)
def test_answers_that_are_not_a_valid_verdict_say_why(reply: Reply, problem: str) -> None:
    verdict, found = read_verdict(reply, 100)
    assert verdict is None
    assert found is not None and problem in found


def test_an_invalid_answer_goes_back_as_a_failed_tool_result() -> None:
    request = build_request("m", 100, "s", "c")
    messages = retry_messages(request["messages"], tool_reply({"compliant": 1}), "$.compliant: bad")
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0]["id"] == "toolu_01x"
    (result,) = messages[2]["content"]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert result["tool_use_id"] == "toolu_01x"
    assert "previous verdict was not valid: $.compliant: bad" in result["content"]
    text_only = Reply(({"type": "text", "text": "hi"},), "end_turn", {}, None)
    (again,) = retry_messages(request["messages"], text_only, "no call")
    assert again["content"][-1]["text"].startswith("Your previous verdict was not valid: no call")


def test_one_retry_then_the_review_cannot_judge() -> None:
    replies = [tool_reply({"compliant": 1}), tool_reply(GOOD)]
    ledger = Ledger()
    verdict = review_chunk(lambda _r: replies.pop(0), build_request("m", 9, "s", "c"), 1, ledger)
    assert verdict.model_compliant is True
    assert [a.problem is None for a in ledger.attempts] == [False, True]
    bad = Ledger()
    with pytest.raises(ReviewError, match="not valid, twice"):
        review_chunk(lambda _r: tool_reply({}), build_request("m", 9, "s", "c"), 1, bad)
    assert len(bad.attempts) == 2


def finding(severity: str, chunk: int = 1, file: str = "a.py", line: int | None = 1) -> Finding:
    return Finding(severity, "req", file, line, "why", chunk)


def test_the_verdict_follows_the_findings_not_the_models_word() -> None:
    minor_only = merge([ChunkVerdict(1, False, "meh", (finding("minor"),))])
    assert minor_only.compliant is True
    assert "not compliant without a blocker or major finding" in minor_only.notes[0]
    major = merge([ChunkVerdict(1, True, "ok", (finding("major"),))])
    assert major.compliant is False
    assert "compliant next to a blocker or major finding" in major.notes[0]
    assert merge([ChunkVerdict(1, True, "ok", ())]).notes == ()


def test_chunks_merge_worst_first_once_each_and_comply_only_together() -> None:
    merged = merge(
        [
            ChunkVerdict(1, True, "first part", (finding("minor", 1, "b.py"), finding("minor"))),
            ChunkVerdict(
                2, False, "second part", (finding("blocker", 2, "z.py"), finding("minor"))
            ),
        ]
    )
    assert merged.compliant is False
    assert [(f.severity, f.file, f.chunk) for f in merged.findings] == [
        ("blocker", "z.py", 2),
        ("minor", "a.py", 1),
        ("minor", "b.py", 1),
    ]
    assert merged.summary == "Part 1 of 2: first part\nPart 2 of 2: second part"
