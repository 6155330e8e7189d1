"""mock-anthropic's Messages API as the current API behaves, through the official SDK: forced
tool calls and structured output valid against their schemas, thinking, prompt caching, prefill,
``max_tokens``, the current parameters, and the errors the API answers. Every answer is checked
against the SDK's own types (tests.support.anthropic)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge_twins.mock_anthropic.schemas import instance
from tests.support.anthropic import HEADERS, Claude, checked_twin

MODEL = "claude-haiku-4-5"
REVIEW_TOOL: dict[str, Any] = {
    "name": "record_review",
    "description": "Record a code review's verdict.",
    "input_schema": {
        "type": "object",
        "properties": {
            "compliant": {"type": "boolean"},
            "score": {"type": "integer", "minimum": 3, "maximum": 10},
            "summary": {"type": "string", "minLength": 12},
            "severity": {"type": "string", "enum": ["blocker", "major", "minor"]},
            "findings": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "properties": {"file": {"type": "string"}, "line": {"type": "integer"}},
                    "required": ["file", "line"],
                    "additionalProperties": False,
                },
            },
            "reviewer": {"$ref": "#/$defs/person"},
        },
        "required": ["compliant", "score", "summary", "severity", "findings", "reviewer"],
        "$defs": {
            "person": {
                "type": "object",
                "properties": {"email": {"type": "string", "format": "email"}},
                "required": ["email"],
            }
        },
    },
}
WEATHER_TOOL: dict[str, Any] = {
    "name": "get_weather",
    "description": "The weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
ANALYSIS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {"type": "string"},
        "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "keywords": {"type": "array", "items": {"type": "string"}},
        "categories": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["summary", "sentiment", "score", "keywords", "categories"],
    "additionalProperties": False,
}
LONG_SYSTEM = "You review product feedback carefully. " + " ".join(
    f"Rule {n}: weigh what the customer says about delivery, quality and support."
    for n in range(400)
)


def ask(client: anthropic.Anthropic, text: str = "Hello", **extra: Any) -> Any:
    params: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }
    return client.messages.create(**params)


def refused(call: Any) -> anthropic.BadRequestError:
    with pytest.raises(anthropic.BadRequestError) as caught:
        call()
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    return caught.value


# tools -------------------------------------------------------------------------------------


@pytest.mark.parametrize("choice", [{"type": "any"}, {"type": "tool", "name": "record_review"}])
def test_a_forced_tool_call_has_input_valid_against_the_schema(claude: Claude, choice):
    message = (
        ask(
            claude.client,
            "Review this patch",
            tools=[WEATHER_TOOL, REVIEW_TOOL],
            tool_choice=choice,
        )
        if choice["type"] == "tool"
        else ask(claude.client, "Review this patch", tools=[REVIEW_TOOL], tool_choice=choice)
    )
    assert message.stop_reason == "tool_use"
    [call] = message.content
    assert (call.type, call.name) == ("tool_use", "record_review")
    assert call.id.startswith("toolu_01")
    jsonschema.validate(call.input, REVIEW_TOOL["input_schema"])


def test_a_tool_call_streams_its_input_as_json_deltas(claude: Claude):
    with claude.client.messages.stream(
        model=MODEL,
        max_tokens=1024,
        tools=[REVIEW_TOOL],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Review"}],
    ) as stream:
        kinds = {e.delta.type for e in stream if e.type == "content_block_delta"}
        final = stream.get_final_message()
    assert kinds == {"input_json_delta"}
    jsonschema.validate(final.content[0].input, REVIEW_TOOL["input_schema"])


def test_with_tools_offered_the_model_answers_in_text_unless_a_rule_calls_one(claude: Claude):
    assert ask(claude.client, "Weather in Paris?", tools=[WEATHER_TOOL]).stop_reason == "end_turn"
    httpx.post(
        f"{claude.url}/_twin/rules", json={"match": "weather", "tool_use": {"city": "Paris"}}
    )
    called = ask(claude.client, "Weather in Paris?", tools=[WEATHER_TOOL])
    assert (called.stop_reason, called.content[0].input) == ("tool_use", {"city": "Paris"})
    none = ask(claude.client, "Weather?", tools=[WEATHER_TOOL], tool_choice={"type": "none"})
    assert [block.type for block in none.content] == ["text"]


def test_a_tool_result_is_answered_in_text(claude: Claude):
    message = claude.client.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_01x",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01x",
                        "content": "18 degrees and sunny",
                    }
                ],
            },
        ],
    )
    assert [block.type for block in message.content] == ["text"]


JSON_TYPES = st.sampled_from(["string", "integer", "number", "boolean"])


@st.composite
def schemas(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    kind = draw(st.sampled_from(["leaf", "enum", "array", "object"] if depth < 3 else ["leaf"]))
    if kind == "enum":
        return {"enum": draw(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3))}
    if kind == "array":
        low = draw(st.integers(0, 3))
        return {
            "type": "array",
            "items": draw(schemas(depth + 1)),
            "minItems": low,
            "maxItems": low + draw(st.integers(0, 2)),
        }
    if kind == "object":
        names = draw(
            st.lists(st.from_regex(r"[a-z]{1,6}", fullmatch=True), max_size=4, unique=True)
        )
        properties = {name: draw(schemas(depth + 1)) for name in names}
        required = [n for n in names if draw(st.booleans())]
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": draw(st.booleans()),
        }
    leaf = draw(JSON_TYPES)
    schema: dict[str, Any] = {"type": leaf}
    if leaf in ("integer", "number") and draw(st.booleans()):
        low = draw(st.integers(-50, 50))
        schema.update(minimum=low, maximum=low + draw(st.integers(0, 20)))
    if leaf == "string" and draw(st.booleans()):
        low = draw(st.integers(0, 8))
        schema.update(minLength=low, maxLength=low + draw(st.integers(0, 5)))
        if draw(st.booleans()):
            schema["format"] = draw(st.sampled_from(["date-time", "email", "uuid", "uri"]))
    return schema


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(schemas())
def test_the_instance_made_for_any_schema_is_valid_against_it(schema):
    jsonschema.validate(instance(schema, {"summary": "A text."}), schema)


# structured output -------------------------------------------------------------------------


def test_structured_output_is_json_valid_against_its_schema(claude: Claude):
    schema = {
        "type": "object",
        "properties": {
            "verdict": {"enum": ["ship", "hold"]},
            "reasons": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        },
        "required": ["verdict", "reasons"],
        "additionalProperties": False,
    }
    message = ask(
        claude.client,
        "Should we ship?",
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    jsonschema.validate(json.loads(message.content[0].text), schema)
    with claude.client.messages.stream(
        model=MODEL,
        max_tokens=512,
        messages=[{"role": "user", "content": "Ship?"}],
        output_config={"format": {"type": "json_schema", "schema": schema}},
    ) as stream:
        streamed = "".join(stream.text_stream)
    jsonschema.validate(json.loads(streamed), schema)


def test_structured_output_keeps_the_analysis_when_it_fits_the_schema(claude: Claude):
    message = ask(
        claude.client,
        "Analyse: <text>Terrible support, the app crashed.</text>",
        output_config={"format": {"type": "json_schema", "schema": ANALYSIS_SCHEMA}},
    )
    answer = json.loads(message.content[0].text)
    jsonschema.validate(answer, ANALYSIS_SCHEMA)
    assert answer["sentiment"] == "negative"


# thinking ----------------------------------------------------------------------------------


def test_extended_thinking_comes_first_signed_and_within_its_budget(claude: Claude):
    message = ask(
        claude.client,
        "Is 17 prime?",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    thinking, text = message.content
    assert (thinking.type, text.type) == ("thinking", "text")
    assert thinking.signature and thinking.thinking
    assert message.usage.output_tokens_details.thinking_tokens <= 1024
    with claude.client.messages.stream(
        model=MODEL,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Is 17 prime?"}],
    ) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert deltas[0] == "thinking_delta" and "signature_delta" in deltas and "text_delta" in deltas
    assert final.content[0].signature == thinking.signature


def test_omitted_thinking_keeps_its_signature_and_adaptive_needs_a_newer_model(claude: Claude):
    hidden = ask(
        claude.client,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024, "display": "omitted"},
    )
    assert hidden.content[0].thinking == "" and hidden.content[0].signature
    refused(lambda: ask(claude.client, thinking={"type": "adaptive"}))
    adaptive = ask(claude.client, model="claude-sonnet-4-6", thinking={"type": "adaptive"})
    assert adaptive.content[0].type == "thinking"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"max_tokens": 1024, "thinking": {"type": "enabled", "budget_tokens": 1024}},
            "`max_tokens` must be greater than `thinking.budget_tokens`",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 1000}},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "max_tokens": 2048,
                "tools": [WEATHER_TOOL],
                "tool_choice": {"type": "any"},
            },
            "Thinking may not be enabled when tool_choice forces tool use.",
        ),
    ],
)
def test_thinking_that_cannot_be_is_refused(claude: Claude, extra, message):
    error = refused(lambda: ask(claude.client, **extra))
    assert error.body["error"]["message"].startswith(message)  # type: ignore[index]


# caching ---------------------------------------------------------------------------------


def cached(claude: Claude, ttl: str | None = None, text: str = LONG_SYSTEM) -> Any:
    control: dict[str, Any] = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    return ask(
        claude.client,
        "Reply OK",
        max_tokens=16,
        system=[{"type": "text", "text": text, "cache_control": control}],
    )


def test_a_cached_prefix_is_written_once_then_read(claude: Claude):
    first, second = cached(claude).usage, cached(claude).usage
    assert first.cache_creation_input_tokens > 4096 and first.cache_read_input_tokens == 0
    assert first.cache_creation.ephemeral_5m_input_tokens == first.cache_creation_input_tokens
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    assert first.input_tokens == second.input_tokens  # what follows the prefix
    counted = claude.client.messages.count_tokens(
        model=MODEL,
        messages=[{"role": "user", "content": "Reply OK"}],
        system=[{"type": "text", "text": LONG_SYSTEM}],
    )
    assert counted.input_tokens == first.input_tokens + first.cache_creation_input_tokens


def test_the_cache_expires_after_its_ttl_on_the_twins_clock(claude: Claude):
    cached(claude, "1h")
    httpx.post(f"{claude.url}/_twin/clock", json={"advance": 1800})
    assert cached(claude, "1h").usage.cache_read_input_tokens > 0
    cached(claude)
    httpx.post(f"{claude.url}/_twin/clock", json={"advance": 301})
    again = cached(claude).usage
    assert again.cache_read_input_tokens == 0 and again.cache_creation_input_tokens > 0
    written = cached(claude, "1h", LONG_SYSTEM + " More.").usage
    assert written.cache_creation.ephemeral_1h_input_tokens == written.cache_creation_input_tokens


def test_a_short_prefix_is_not_cached_and_a_top_level_marker_works(claude: Claude):
    short = cached(claude, text="Short system prompt.").usage
    assert (short.cache_creation_input_tokens, short.cache_read_input_tokens) == (0, 0)
    long_user = "Tell me about it. " * 1500
    first = ask(claude.client, long_user, max_tokens=8, cache_control={"type": "ephemeral"})
    second = ask(claude.client, long_user, max_tokens=8, cache_control={"type": "ephemeral"})
    assert first.usage.cache_creation_input_tokens > 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


def test_more_than_four_breakpoints_are_refused(claude: Claude):
    blocks = [
        {"type": "text", "text": f"part {n}", "cache_control": {"type": "ephemeral"}}
        for n in range(5)
    ]
    error = refused(lambda: ask(claude.client, system=blocks))
    assert "A maximum of 4 blocks with cache_control" in str(error)


def test_max_tokens_zero_warms_the_cache_without_an_answer(claude: Claude):
    warmed = ask(
        claude.client,
        max_tokens=0,
        system=[{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}],
    )
    assert (warmed.content, warmed.stop_reason, warmed.usage.output_tokens) == ([], "max_tokens", 0)
    assert warmed.usage.cache_creation_input_tokens > 0


# the answer ------------------------------------------------------------------------------


def test_a_prefilled_answer_is_continued(claude: Claude):
    message = claude.client.messages.create(
        model=MODEL,
        max_tokens=512,
        messages=[
            {"role": "user", "content": "Analyse: <text>good and fast</text>"},
            {"role": "assistant", "content": "{"},
        ],
    )
    text = message.content[0].text
    assert not text.startswith("{")
    assert json.loads("{" + text)["sentiment"] == "positive"


def test_max_tokens_cuts_the_answer_to_exactly_that_many_tokens(claude: Claude):
    message = ask(claude.client, "Analyse: <text>a long review of a product</text>", max_tokens=5)
    assert (message.stop_reason, message.usage.output_tokens) == ("max_tokens", 5)


def test_the_current_parameters_are_accepted(claude: Claude):
    message = ask(
        claude.client,
        metadata={"user_id": "user-1"},
        service_tier="auto",
        cache_control={"type": "ephemeral"},
        output_config={"format": {"type": "json_schema", "schema": ANALYSIS_SCHEMA}},
        inference_geo="us",
        extra_body={"temperature": 0.3, "top_k": 5},
        extra_headers={"anthropic-beta": "some-beta-2025-01-01"},
    )
    assert message.content[0].type == "text"
    effort = ask(claude.client, model="claude-opus-4-6", output_config={"effort": "low"})
    assert effort.stop_reason == "end_turn"


def test_images_and_documents_are_read(claude: Claude):
    png = (
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5"
        "ErkJggg=="
    )
    message = ask(
        claude.client,
        [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
            {
                "type": "document",
                "source": {
                    "type": "text",
                    "media_type": "text/plain",
                    "data": "The parcel came on Tuesday.",
                },
            },
            {"type": "text", "text": "What do you see?"},
        ],
    )
    assert message.content[0].type == "text"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"metadata": {"user_id": "u", "team": "a"}},
            "metadata.team: Extra inputs are not permitted",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/bmp",
                                    "data": "Qk0=",
                                },
                            }
                        ],
                    }
                ]
            },
            "messages.0.content.0.image.source.base64.media_type: Input should be 'image/jpeg', "
            "'image/png', 'image/gif' or 'image/webp'",
        ),
        (
            {"extra_body": {"temperature": 1.5}},
            "temperature: Input should be less than or equal to 1",
        ),
        ({"tool_choice": {"type": "any"}}, "tool_choice: tool_choice may only be specified"),
        (
            {"tools": [WEATHER_TOOL], "tool_choice": {"type": "tool", "name": "nope"}},
            "tool_choice.tool.name: tool 'nope' was not found",
        ),
        (
            {"tools": [{**WEATHER_TOOL, "input_schema": {"type": "string"}}]},
            "tools.0.custom.input_schema.type: Input should be 'object'",
        ),
        ({"max_tokens": 1_000_000, "timeout": 30}, "max_tokens: 1000000 > 64000"),
        ({"stop_sequences": ["  "]}, "stop_sequences: each stop sequence must contain"),
        ({"output_config": {"effort": "low"}}, "output_config.effort: effort is not supported"),
        ({"service_tier": "fastest"}, "service_tier: Input should be 'auto' or 'standard_only'"),
    ],
)
def test_what_the_api_refuses_is_refused_with_the_field_named(claude: Claude, extra, message):
    error = refused(lambda: ask(claude.client, **extra))
    assert error.body["error"]["message"].startswith(message), error.body  # type: ignore[index]


def test_an_unknown_model_is_a_404_naming_it(claude: Claude):
    with pytest.raises(anthropic.NotFoundError) as caught:
        ask(claude.client, model="claude-imaginary-9")
    assert caught.value.body["error"]["message"] == "model: claude-imaginary-9"  # type: ignore[index]


def test_an_added_model_is_accepted():
    for twin in checked_twin({"TWIN_ANTHROPIC_MODELS": "claude-next-1"}):
        assert ask(twin.client, model="claude-next-1").model == "claude-next-1"
        assert twin.client.models.retrieve("claude-next-1").lifecycle == "active"


def test_count_tokens_counts_system_tools_and_thinking_settings(claude: Claude):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    plain = claude.client.messages.count_tokens(model=MODEL, messages=messages).input_tokens
    with_tools = claude.client.messages.count_tokens(
        model=MODEL, messages=messages, tools=[WEATHER_TOOL]
    ).input_tokens
    with_system = claude.client.messages.count_tokens(
        model=MODEL, messages=messages, system="Be brief."
    ).input_tokens
    assert with_tools > plain + 300  # the tool's definition and the API's tool-use prompt
    assert with_system > plain
    refused(
        lambda: claude.client.messages.count_tokens(
            model=MODEL, messages=messages, extra_body={"max_tokens": 5}
        )
    )


# rate limits and headers -----------------------------------------------------------------


RATE_HEADERS = [
    f"anthropic-ratelimit-{kind}-{part}"
    for kind in ("requests", "input-tokens", "output-tokens", "tokens")
    for part in ("limit", "remaining", "reset")
]


def test_every_answer_carries_request_and_organization_ids_and_rate_limits(claude: Claude):
    answer = claude.http.post(
        "/v1/messages",
        headers=HEADERS,
        json={"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert answer.headers["request-id"].startswith("req_011C")
    assert answer.headers["anthropic-organization-id"]
    assert all(name in answer.headers for name in RATE_HEADERS)
    assert int(answer.headers["anthropic-ratelimit-requests-remaining"]) < int(
        answer.headers["anthropic-ratelimit-requests-limit"]
    )
    models = claude.http.get("/v1/models", headers=HEADERS)
    assert models.headers["request-id"] and models.headers["anthropic-organization-id"]


def test_past_its_rate_limit_the_twin_answers_429_with_retry_after():
    for twin in checked_twin({"TWIN_ANTHROPIC_RPM": "2"}):
        ask(twin.client)
        ask(twin.client)
        with pytest.raises(anthropic.RateLimitError) as caught:
            ask(twin.client)
        headers = caught.value.response.headers
        assert int(headers["retry-after"]) >= 1
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        httpx.post(f"{twin.url}/_twin/clock", json={"advance": 60})
        assert ask(twin.client).content
        changed = httpx.post(f"{twin.url}/_twin/ratelimits", json={"requests_per_minute": 50})
        assert changed.json()["limits"]["requests_per_minute"] == 50
        assert httpx.post(f"{twin.url}/_twin/ratelimits", json={"rpm": 1}).status_code == 400
        httpx.post(f"{twin.url}/_twin/reset")
        assert (
            httpx.get(f"{twin.url}/_twin/ratelimits").json()["limits"]["requests_per_minute"] == 2
        )


def test_a_429_fault_says_when_to_retry(claude: Claude):
    httpx.post(f"{claude.url}/_twin/faults", json={"path": "/v1/messages", "status": 429})
    with pytest.raises(anthropic.RateLimitError) as caught:
        ask(claude.client)
    assert caught.value.response.headers["retry-after"]
