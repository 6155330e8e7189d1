"""mock-anthropic against the official ``anthropic`` SDK and raw HTTP, on a real uvicorn."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import pytest

from converge_twins.mock_anthropic.app import create_app
from converge_twins.mock_anthropic.replies import analyse, analysis_subject
from tests.support.anthropic import Claude, checked_twin
from tests.support.asgi import serve_asgi

KEY = "sk-ant-converge-test"
MODEL = "claude-haiku-4-5"
USER_X = [{"role": "user", "content": "x"}]
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}


# Every answer these tests receive from /v1/ is checked against the SDK's own types.
@pytest.fixture
def twin() -> Iterator[Claude]:
    yield from checked_twin({"TWIN_SEED": "anthropic-tests"})


@pytest.fixture
def url(twin: Claude) -> str:
    return twin.url


@pytest.fixture
def client(twin: Claude) -> anthropic.Anthropic:
    return twin.client


@pytest.fixture
def raw(twin: Claude) -> httpx.Client:
    return twin.http


def ask(client: anthropic.Anthropic, text: str, **extra: object) -> anthropic.types.Message:
    return client.messages.create(
        model=MODEL,
        max_tokens=1024,
        messages=[{"role": "user", "content": text}],
        **extra,  # type: ignore[arg-type]
    )


def test_sdk_create_returns_a_message_with_analysis_json(client):
    message = ask(client, "Analyse this review: <text>Great product, fast delivery!</text>")
    assert message.id.startswith("msg_01")
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    assert message.stop_sequence is None
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    block = message.content[0]
    assert block.type == "text"
    analysis = json.loads(block.text)
    assert set(analysis) == {"summary", "sentiment", "score", "keywords", "categories"}
    assert analysis["sentiment"] == "positive"
    assert 0 <= analysis["score"] <= 1


def test_default_analysis_follows_the_text_not_the_instructions(client):
    angry = ask(client, "Return JSON.\n<text>Terrible support, the app crashed twice.</text>")
    calm = ask(client, "Return JSON.\n<text>The parcel came on Tuesday.</text>")
    assert json.loads(angry.content[0].text)["sentiment"] == "negative"
    assert json.loads(calm.content[0].text)["sentiment"] == "neutral"
    assert "support" in json.loads(angry.content[0].text)["categories"]


def test_same_prompt_gets_the_same_reply(client):
    first = ask(client, "Text: I love the new dashboard")
    second = ask(client, "Text: I love the new dashboard")
    assert first.content[0].text == second.content[0].text
    assert first.id != second.id


def test_sdk_stream_yields_the_real_event_sequence(client):
    with client.messages.stream(
        model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "Text: good stuff"}]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "content_block_delta" in kinds
    assert final.stop_reason == "end_turn"
    assert json.loads(final.content[0].text)["sentiment"] == "positive"
    assert final.usage.output_tokens > 0


def test_raw_stream_has_ping_and_event_lines(url, raw):
    body = {
        "model": MODEL,
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with raw.stream("POST", f"{url}/v1/messages", json=body, headers=HEADERS) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("event: ")]
    assert [line.removeprefix("event: ") for line in lines[:3]] == [
        "message_start",
        "content_block_start",
        "ping",
    ]


def test_streamed_text_equals_the_plain_reply(client):
    plain = ask(client, "Text: slow and broken").content[0].text
    with client.messages.stream(
        model=MODEL,
        max_tokens=1024,
        messages=[{"role": "user", "content": "Text: slow and broken"}],
    ) as stream:
        streamed = "".join(stream.text_stream)
    assert streamed == plain


def test_missing_api_key_is_an_authentication_error(url, raw):
    response = raw.post(f"{url}/v1/messages", json={}, headers={"anthropic-version": "2023-06-01"})
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "authentication_error"
    assert response.headers["request-id"]


def test_sdk_raises_authentication_error_for_a_wrong_key(twin):
    client = twin.sdk(api_key="not-a-key")
    with pytest.raises(anthropic.AuthenticationError) as caught:
        ask(client, "hello")
    assert caught.value.status_code == 401


def test_missing_version_header_is_an_invalid_request(url, raw):
    response = raw.post(f"{url}/v1/messages", json={}, headers={"x-api-key": KEY})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_tokens": 5, "messages": USER_X}, "model: Field required"),
        ({"model": MODEL, "messages": USER_X}, "max_tokens: Field"),
        ({"model": MODEL, "max_tokens": 5}, "messages: Field required"),
        ({"model": MODEL, "max_tokens": -1, "messages": USER_X}, "max_tokens: Input should be"),
        ({"model": MODEL, "max_tokens": 5, "messages": []}, "messages: at least one"),
        ({"model": MODEL, "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]},
         "messages.0.role"),
        ({"model": MODEL, "max_tokens": 5, "messages": USER_X, "foo": 1}, "foo: Extra inputs"),
    ],
)  # fmt: skip
def test_invalid_bodies_are_rejected_with_the_field_named(url, body, message, raw):
    response = raw.post(f"{url}/v1/messages", json=body, headers=HEADERS)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(message)


def test_sdk_raises_bad_request_for_invalid_input(client):
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model=MODEL, max_tokens=-1, messages=[{"role": "user", "content": "x"}]
        )


def test_unknown_model_is_not_found(client):
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(
            model="gpt-4", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )


def test_max_tokens_truncates_and_says_so(client):
    message = client.messages.create(
        model=MODEL, max_tokens=3, messages=[{"role": "user", "content": "Text: lovely"}]
    )
    assert message.stop_reason == "max_tokens"
    assert len(message.content[0].text) <= 12


def test_stop_sequence_cuts_the_reply(url, client):
    httpx.post(
        f"{url}/_twin/rules", json=[{"match": "story", "reply": "Once upon a time. END more"}]
    )
    message = ask(client, "tell a story", stop_sequences=["END"])
    assert message.content[0].text == "Once upon a time. "
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "END"


def test_posted_rules_win_until_reset(url, client):
    rule = {"match": r"product\s+match", "reply": {"matches": ["sku-1"]}}
    created = httpx.post(f"{url}/_twin/rules", json=rule)
    assert created.status_code == 201
    assert json.loads(ask(client, "Please do a product match").content[0].text) == {
        "matches": ["sku-1"]
    }
    httpx.post(f"{url}/_twin/reset")
    assert "sentiment" in json.loads(ask(client, "Please do a product match").content[0].text)


def test_env_rules_apply_from_the_start():
    rules = json.dumps([{"match": "ping", "reply": "pong"}])
    with serve_asgi(create_app({"TWIN_ANTHROPIC_RULES": rules})) as base:
        client = anthropic.Anthropic(api_key=KEY, base_url=base, max_retries=0)
        assert ask(client, "ping?").content[0].text == "pong"
        httpx.post(f"{base}/_twin/reset")
        assert ask(client, "ping?").content[0].text == "pong"


def test_invalid_rule_is_refused(url):
    response = httpx.post(f"{url}/_twin/rules", json=[{"match": "("}])
    assert response.status_code == 400
    assert "rule 0" in response.json()["error"]


def test_sdk_lists_models_and_resolves_an_alias_to_its_dated_model(client):
    page = client.models.list()
    ids = [model.id for model in page.data]
    assert "claude-haiku-4-5-20251001" in ids
    assert MODEL not in ids  # aliases are not listed
    assert page.first_id == ids[0]
    assert page.last_id == ids[-1]
    assert page.has_more is False
    assert all(model.lifecycle == "active" and model.capabilities for model in page.data)
    retrieved = client.models.retrieve(MODEL)
    assert (retrieved.id, retrieved.display_name) == ("claude-haiku-4-5-20251001",
                                                      "Claude Haiku 4.5")  # fmt: skip


def test_models_page_with_limit_says_there_is_more(url, raw):
    response = raw.get(f"{url}/v1/models", params={"limit": 1}, headers=HEADERS)
    body = response.json()
    assert len(body["data"]) == 1
    assert body["has_more"] is True


def test_sdk_counts_tokens(client):
    counted = client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "x" * 40}]
    )
    assert counted.input_tokens == 10


def test_sdk_sees_an_overloaded_fault_as_the_real_error(url, client):
    httpx.post(f"{url}/_twin/faults", json={"path": "/v1/messages", "status": 529})
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask(client, "hello")
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert ask(client, "hello").content


def test_analysis_subject_prefers_tagged_text():
    assert analysis_subject("Analyse:\n<text>inner words</text>\nthanks") == "inner words"
    assert analysis_subject('Say """quoted words""" please') == "quoted words"
    assert analysis_subject("plain words") == "plain words"


def test_analysis_handles_negation():
    assert analyse("not good at all")["sentiment"] == "negative"
    assert analyse("")["keywords"] == []


VERDICT_TOOL = {
    "name": "record_verdict",
    "description": "Record the verdict.",
    "input_schema": {
        "type": "object",
        "properties": {"compliant": {"type": "boolean"}},
        "required": ["compliant"],
    },
}
OTHER_TOOL = {"name": "other", "input_schema": {"type": "object"}}


def test_a_tool_use_rule_answers_a_forced_tool_call(url, client):
    httpx.post(f"{url}/_twin/rules", json={"match": "review", "tool_use": {"compliant": True}})
    message = ask(
        client,
        "review this change",
        tools=[OTHER_TOOL, VERDICT_TOOL],
        tool_choice={"type": "tool", "name": "record_verdict"},
    )
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use"
    assert block.id.startswith("toolu_01")
    assert block.name == "record_verdict"
    assert block.input == {"compliant": True}
    assert message.usage.output_tokens > 0


def test_a_tool_use_rule_calls_the_named_tool_or_else_the_first(url, client):
    httpx.post(
        f"{url}/_twin/rules",
        json=[
            {"match": "named", "tool_use": {"x": 1}, "tool": "other"},
            {"match": "first", "tool_use": {"y": 2}},
        ],
    )
    tools = [VERDICT_TOOL, OTHER_TOOL]
    assert ask(client, "named", tools=tools).content[0].name == "other"
    assert ask(client, "first", tools=tools).content[0].name == "record_verdict"


def test_a_tool_use_rule_does_not_match_without_tools(url, client):
    httpx.post(
        f"{url}/_twin/rules",
        json=[
            {"match": "review", "tool_use": {"compliant": True}},
            {"match": "review", "reply": "ok"},
        ],
    )
    assert ask(client, "review this").content[0].text == "ok"
    none = ask(client, "review this", tools=[VERDICT_TOOL], tool_choice={"type": "none"})
    assert none.content[0].text == "ok"


def test_a_streamed_tool_call_arrives_as_input_json_deltas(url, client):
    verdict = {"compliant": False, "summary": "a long enough summary to be cut in pieces " * 3}
    httpx.post(f"{url}/_twin/rules", json={"match": "review", "tool_use": verdict})
    with client.messages.stream(
        model=MODEL,
        max_tokens=1024,
        messages=[{"role": "user", "content": "review"}],
        tools=[VERDICT_TOOL],
        tool_choice={"type": "tool", "name": "record_verdict"},
    ) as stream:
        deltas = [
            event.delta.type
            for event in stream
            if event.type == "content_block_delta"  # type: ignore[union-attr]
        ]
        final = stream.get_final_message()
    assert len(deltas) > 1 and set(deltas) == {"input_json_delta"}
    assert final.stop_reason == "tool_use"
    assert final.content[0].input == verdict  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"match": "x"}, "needs a 'reply'"),
        ({"match": "x", "reply": "a", "tool_use": {}}, "not both"),
        ({"match": "x", "tool_use": [1]}, "tool_use must be a JSON object"),
        ({"match": "x", "tool_use": {}, "tool": ""}, "tool must be"),
        ({"match": "x", "reply": "a", "tool": "t"}, "'tool' goes with 'tool_use'"),
        ({"match": "x", "reply": "a", "times": 2}, "unknown field 'times'"),
    ],
)
def test_rules_that_cannot_be_used_are_refused_with_the_field_named(url, rule, problem):
    response = httpx.post(f"{url}/_twin/rules", json=[rule])
    assert response.status_code == 400
    assert problem in response.json()["error"]


def test_posted_tool_use_rules_are_listed_as_given(url):
    rule = {"match": "review", "tool_use": {"compliant": True}, "tool": "record_verdict"}
    listed = httpx.post(f"{url}/_twin/rules", json=rule).json()
    assert listed["posted"] == [rule]
