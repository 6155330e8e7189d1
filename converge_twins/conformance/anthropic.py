"""The Anthropic behaviours: what an app sees of the Messages, Models, Batches and Files APIs.

Each behaviour is one short story through the official ``anthropic`` SDK (raw HTTP only where
the SDK refuses to send the mistake), chosen so that a faithful service observes the same thing
whatever the model writes: statuses, error types, which blocks come back, that a forced tool's
input is valid against its schema, that structured output parses against its schema, the event
sequence of a stream. Every response is also checked against the SDK's own types
(:mod:`.anthropic_types`); the problems found are the fact ``response problems``.

Rows (for the fidelity table): ``operations`` (the 15 operations of the SDK's messages, models,
batches and files resources), ``features`` (34) and ``errors`` (15). A few behaviours need the
twin's control plane (a 429 is armed as a fault) and are not sent to a real service.

Against the real API the suite spends a few cents: small prompts, ``max_tokens`` in the tens,
one batch of one request (canceled or read back), one small text file (deleted). The model is
``CONFORMANCE_ANTHROPIC_MODEL`` (default ``claude-haiku-4-5``; adaptive thinking uses
``CONFORMANCE_ANTHROPIC_ADAPTIVE_MODEL``, default ``claude-sonnet-4-6``); how long to wait for a
batch to end is ``CONFORMANCE_ANTHROPIC_BATCH_WAIT`` seconds (default 900).
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anthropic
import httpx2
import jsonschema

from converge_twins.conformance import anthropic_types
from converge_twins.conformance.fidelity import FidelityRow, suite_rows
from converge_twins.conformance.recording import RecordingTransport
from converge_twins.conformance.suite import (
    Behaviour,
    Credential,
    Exchange,
    Expectation,
    Observation,
    Outcome,
    Recorder,
    Suite,
    behaviour,
)

VERSION = "2023-06-01"
TWIN_KEY = "sk-ant-conformance-twin"
# A 1x1 transparent PNG and a tiny BMP header: enough for the API to see the media type.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
    )
).decode()
BMP = base64.b64encode(b"BM" + bytes(60)).decode()
WEATHER: dict[str, Any] = {
    "name": "get_weather",
    "description": "Get the current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city, e.g. Paris"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
}
REVIEW: dict[str, Any] = {
    "name": "record_review",
    "description": "Record the verdict of a code review.",
    "input_schema": {
        "type": "object",
        "properties": {
            "compliant": {"type": "boolean"},
            "score": {"type": "integer", "minimum": 0, "maximum": 10},
            "summary": {"type": "string"},
            "findings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "severity": {"type": "string", "enum": ["blocker", "major", "minor"]},
                        "file": {"type": "string"},
                    },
                    "required": ["severity", "file"],
                },
            },
        },
        "required": ["compliant", "score", "summary", "findings"],
    },
}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "confidence": {"type": "number"},
        "keywords": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["sentiment", "confidence", "keywords"],
    "additionalProperties": False,
}
REVIEW_TEXT = "Analyse this review: <text>Great product, fast delivery, would buy again.</text>"


@dataclass
class Claude:
    """What a behaviour works with: the SDK client, a raw client, and the recorder of both."""

    client: Any  # anthropic.Anthropic, used with plain dicts as a user would
    http: httpx2.Client
    recorder: Recorder
    base_url: str
    api_key: str
    model: str
    adaptive_model: str
    batch_wait: float

    def ask(self, **params: Any) -> Any:
        base: dict[str, Any] = {
            "model": self.model,
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
        }
        return self.client.messages.create(**{**base, **params})

    def raw(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        key: str | None = "default",
        version: str | None = VERSION,
    ) -> Exchange:
        sent: dict[str, str] = {"content-type": "application/json"}
        if key is not None:
            sent["x-api-key"] = self.api_key if key == "default" else key
        if version is not None:
            sent["anthropic-version"] = version
        sent.update(headers or {})
        data = content if content is not None else (json.dumps(body).encode() if body else None)
        with self.http.stream(method, f"{self.base_url}{path}", content=data,
                              headers=sent) as answer:  # fmt: skip
            answer.read()
        exchange = self.recorder.last
        assert exchange is not None
        return exchange

    def control(self, path: str, body: Any) -> None:
        """Use the twin's control plane (only behaviours marked ``needs_control`` do)."""
        answer = httpx2.post(f"{self.base_url}/_twin{path}", json=body, timeout=10)
        answer.raise_for_status()


def connect(base_url: str, credentials: Mapping[str, str], recorder: Recorder) -> Claude:
    transport: Any = RecordingTransport(httpx2.HTTPTransport(), recorder)
    raw_transport: Any = RecordingTransport(httpx2.HTTPTransport(), recorder)
    return Claude(
        client=anthropic.Anthropic(
            api_key=credentials["api_key"],
            base_url=base_url,
            max_retries=0,
            http_client=httpx2.Client(transport=transport, timeout=120),
        ),
        http=httpx2.Client(transport=raw_transport, timeout=120),
        recorder=recorder,
        base_url=base_url,
        api_key=credentials["api_key"],
        model=os.environ.get("CONFORMANCE_ANTHROPIC_MODEL") or "claude-haiku-4-5",
        adaptive_model=os.environ.get("CONFORMANCE_ANTHROPIC_ADAPTIVE_MODEL")
        or "claude-sonnet-4-6",
        batch_wait=float(os.environ.get("CONFORMANCE_ANTHROPIC_BATCH_WAIT") or 900),
    )


def validate(exchange: Exchange) -> list[str]:
    path = urlsplit(exchange.url).path
    return anthropic_types.problems(
        exchange.method, path, exchange.status, exchange.media_type, exchange.body
    )


# --- helpers behaviours share -------------------------------------------------------------


def sdk_error(call: Callable[[], Any]) -> dict[str, Any]:
    """Run an SDK call that should fail: which exception, which error type, which code."""
    try:
        call()
    except anthropic.APIStatusError as exc:
        return {
            "sdk": type(exc).__name__,
            "error.type": exc.type,
            "error_code": exc.error_code,
        }
    return {"sdk": "no error"}


def block_types(message: Any) -> list[str]:
    return [block.type for block in message.content]


def valid_against(schema: Mapping[str, Any], value: Any) -> bool:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    return True


def text_of(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


# --- expectations ---------------------------------------------------------------------------


def expect(
    facts: Mapping[str, Any] | None = None, *, status: int | tuple[int, ...] = 200
) -> Expectation:
    """The status (one or several), no problems by the SDK's types, and these facts."""
    allowed = status if isinstance(status, tuple) else (status,)

    def check(seen: Observation) -> list[str]:
        if seen.error:
            return [f"could not run: {seen.detail or seen.error}"]
        problems = []
        if seen.status not in allowed:
            problems.append(f"status {seen.status}, expected {' or '.join(map(str, allowed))}")
        for problem in seen.facts.get("response problems", []):
            problems.append(f"SDK types: {problem}")
        for name, wanted in (facts or {}).items():
            if seen.facts.get(name) != wanted:
                problems.append(f"{name}: {seen.facts.get(name)!r}, expected {wanted!r}")
        return problems

    return check


def expect_headers(
    *names: str, status: int = 200, facts: Mapping[str, Any] | None = None
) -> Expectation:
    base = expect(facts, status=status)

    def check(seen: Observation) -> list[str]:
        missing = [name for name in names if name not in seen.headers]
        return base(seen) + [f"header {name} missing" for name in missing]

    return check


# --- operations -----------------------------------------------------------------------------


def op_messages_create(c: Claude) -> Outcome:
    message = c.ask()
    return Outcome({"content": block_types(message), "stop_reason": message.stop_reason})


def op_count_tokens(c: Claude) -> Outcome:
    counted = c.client.messages.count_tokens(
        model=c.model, messages=[{"role": "user", "content": "Hello, Claude"}]
    )
    return Outcome({"positive": counted.input_tokens > 0})


def op_models_list(c: Claude) -> Outcome:
    page = c.client.models.list(limit=5)
    return Outcome({"has models": bool(page.data)})


def op_models_retrieve(c: Claude) -> Outcome:
    model = c.client.models.retrieve(c.model)
    return Outcome({"lifecycle": model.lifecycle})


def _batch_request(c: Claude, custom_id: str = "first") -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "params": {
            "model": c.model,
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "Say hi."}],
        },
    }


def _wait_ended(c: Claude, batch_id: str) -> Any:
    deadline = time.monotonic() + c.batch_wait
    while True:
        batch = c.client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended" or time.monotonic() > deadline:
            return batch
        time.sleep(min(30.0, max(0.2, c.batch_wait / 60)))


def op_batches_create(c: Claude) -> Outcome:
    batch = c.client.messages.batches.create(requests=[_batch_request(c)])
    created = c.recorder.last
    c.client.messages.batches.cancel(batch.id)
    return Outcome(
        {"processing_status": batch.processing_status,
         "processing": batch.request_counts.processing},
        created,
    )  # fmt: skip


def op_batches_retrieve(c: Claude) -> Outcome:
    batch = c.client.messages.batches.create(requests=[_batch_request(c)])
    again = c.client.messages.batches.retrieve(batch.id)
    seen = c.recorder.last
    c.client.messages.batches.cancel(batch.id)
    return Outcome({"same id": again.id == batch.id}, seen)


def op_batches_list(c: Claude) -> Outcome:
    batch = c.client.messages.batches.create(requests=[_batch_request(c)])
    page = c.client.messages.batches.list(limit=1)
    seen = c.recorder.last
    c.client.messages.batches.cancel(batch.id)
    return Outcome({"newest first": page.data[0].id == batch.id if page.data else False}, seen)


def op_batches_cancel(c: Claude) -> Outcome:
    batch = c.client.messages.batches.create(requests=[_batch_request(c)])
    canceled = c.client.messages.batches.cancel(batch.id)
    return Outcome(
        {
            "processing_status": canceled.processing_status,
            "cancel_initiated_at set": canceled.cancel_initiated_at is not None,
        }
    )


def op_batches_delete(c: Claude) -> Outcome:
    batch = c.client.messages.batches.create(requests=[_batch_request(c)])
    c.client.messages.batches.cancel(batch.id)
    ended = _wait_ended(c, batch.id)
    deleted = c.client.messages.batches.delete(batch.id)
    return Outcome({"ended first": ended.processing_status == "ended", "type": deleted.type})


def op_batches_results(c: Claude) -> Outcome:
    batch = c.client.messages.batches.create(
        requests=[_batch_request(c, "first"), _batch_request(c, "second")]
    )
    ended = _wait_ended(c, batch.id)
    if ended.processing_status != "ended":
        c.client.messages.batches.cancel(batch.id)
        return Outcome({"ended": False})
    results = list(c.client.messages.batches.results(batch.id))
    return Outcome(
        {
            "ended": True,
            "custom ids": sorted(item.custom_id for item in results),
            "results": sorted(item.result.type for item in results),
            "succeeded": ended.request_counts.succeeded,
        }
    )


def _upload(c: Claude) -> Any:
    return c.client.files.upload(file=("notes.txt", b"Converge conformance notes.\n", "text/plain"))


def op_files_upload(c: Claude) -> Outcome:
    uploaded = _upload(c)
    seen = c.recorder.last
    c.client.files.delete(uploaded.id)
    return Outcome(
        {"filename": uploaded.filename, "mime_type": uploaded.mime_type,
         "size_bytes": uploaded.size_bytes, "downloadable": uploaded.downloadable},
        seen,
    )  # fmt: skip


def op_files_list(c: Claude) -> Outcome:
    uploaded = _upload(c)
    page = c.client.files.list(limit=1)
    seen = c.recorder.last
    c.client.files.delete(uploaded.id)
    return Outcome({"listed": bool(page.data)}, seen)


def op_files_retrieve(c: Claude) -> Outcome:
    uploaded = _upload(c)
    again = c.client.files.retrieve_metadata(uploaded.id)
    seen = c.recorder.last
    c.client.files.delete(uploaded.id)
    return Outcome({"same": again.id == uploaded.id and again.size_bytes == 28}, seen)


def op_files_download(c: Claude) -> Outcome:
    uploaded = _upload(c)
    facts = sdk_error(lambda: c.client.files.download(uploaded.id).read())
    seen = c.recorder.last
    c.client.files.delete(uploaded.id)
    return Outcome(facts, seen)


def op_files_delete(c: Claude) -> Outcome:
    uploaded = _upload(c)
    deleted = c.client.files.delete(uploaded.id)
    facts = {"type": deleted.type}
    seen = c.recorder.last
    facts.update({f"then {k}": v for k, v in sdk_error(
        lambda: c.client.files.retrieve_metadata(uploaded.id)).items()})  # fmt: skip
    return Outcome(facts, seen)


# --- features -------------------------------------------------------------------------------


def f_text_reply(c: Claude) -> Outcome:
    message = c.ask(messages=[{"role": "user", "content": REVIEW_TEXT}], max_tokens=300)
    return Outcome({"content": block_types(message), "stop_reason": message.stop_reason})


def f_system_string(c: Claude) -> Outcome:
    message = c.ask(system="You answer in one word.")
    return Outcome({"content": block_types(message)})


def f_system_blocks(c: Claude) -> Outcome:
    message = c.ask(system=[{"type": "text", "text": "You answer in one word."},
                            {"type": "text", "text": "You are polite."}])  # fmt: skip
    return Outcome({"content": block_types(message)})


def f_multi_turn(c: Claude) -> Outcome:
    message = c.ask(
        messages=[
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Nice to meet you, Ada."},
            {"role": "user", "content": [{"type": "text", "text": "What is my name?"}]},
        ]
    )
    return Outcome({"content": block_types(message)})


def f_prefill(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=300,
        messages=[
            {"role": "user", "content": f'{REVIEW_TEXT}\nAnswer with a JSON object only.'},
            {"role": "assistant", "content": "{"},
        ],
    )
    text = text_of(message)
    try:
        json.loads("{" + text)
        continued = True
    except ValueError:
        continued = False
    return Outcome({"prefill + reply is JSON": continued, "reply repeats the prefill":
                    text.startswith("{")})  # fmt: skip


def f_stop_sequences(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=200,
        messages=[{"role": "user", "content": 'Reply with exactly this JSON: {"status": "ok"}'}],
        stop_sequences=['"'],
    )
    return Outcome({"stop_reason": message.stop_reason, "stop_sequence": message.stop_sequence})


def f_max_tokens(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=5,
        messages=[{"role": "user", "content": "Write a long poem about the sea."}],
    )
    return Outcome(
        {"stop_reason": message.stop_reason,
         "output_tokens == max_tokens": message.usage.output_tokens == 5}
    )  # fmt: skip


def f_sampling(c: Claude) -> Outcome:
    # Older SDKs send them; the current SDK's types no longer have them.
    message = c.ask(extra_body={"temperature": 0.2, "top_k": 5})
    return Outcome({"content": block_types(message)})


def f_metadata(c: Claude) -> Outcome:
    message = c.ask(metadata={"user_id": "conformance-user-1"})
    return Outcome({"content": block_types(message)})


def f_stream_events(c: Claude) -> Outcome:
    with c.client.messages.stream(
        model=c.model, max_tokens=64, messages=[{"role": "user", "content": "Say hi."}]
    ) as stream:
        final = stream.get_final_message()
    return Outcome({"stop_reason": final.stop_reason})


def f_stream_text(c: Claude) -> Outcome:
    with c.client.messages.stream(
        model=c.model, max_tokens=300, messages=[{"role": "user", "content": REVIEW_TEXT}]
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    return Outcome({"streamed text is the final text": streamed == text_of(final)})


def f_stream_usage(c: Claude) -> Outcome:
    with c.client.messages.stream(
        model=c.model, max_tokens=64, messages=[{"role": "user", "content": "Say hi."}]
    ) as stream:
        final = stream.get_final_message()
    return Outcome(
        {"input_tokens > 0": final.usage.input_tokens > 0,
         "output_tokens > 0": final.usage.output_tokens > 0}
    )  # fmt: skip


def f_tool_auto(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=200,
        tools=[WEATHER],
        messages=[{"role": "user", "content": "What is the weather in Paris, in celsius?"}],
    )
    uses_tool = "tool_use" in block_types(message)
    return Outcome({"stop_reason matches the content":
                    (message.stop_reason == "tool_use") == uses_tool})  # fmt: skip


def _tool_call(message: Any) -> Any:
    return next(block for block in message.content if block.type == "tool_use")


def f_tool_choice_any(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=300,
        tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Tell me about Paris."}],
    )
    return Outcome({"content": block_types(message), "stop_reason": message.stop_reason,
                    "tool": _tool_call(message).name})  # fmt: skip


def f_tool_choice_tool(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=400,
        tools=[WEATHER, REVIEW],
        tool_choice={"type": "tool", "name": "record_review"},
        messages=[{"role": "user", "content": "Review: the patch adds tests. Record it."}],
    )
    return Outcome({"content": block_types(message), "tool": _tool_call(message).name})


def f_tool_choice_none(c: Claude) -> Outcome:
    message = c.ask(
        tools=[WEATHER],
        tool_choice={"type": "none"},
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
    )
    return Outcome({"content": block_types(message)})


def f_tool_input_valid(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=600,
        tools=[REVIEW],
        tool_choice={"type": "tool", "name": "record_review"},
        messages=[{"role": "user", "content": "The patch breaks the build in app.py. Record."}],
    )
    call = _tool_call(message)
    return Outcome({"input valid against input_schema":
                    valid_against(REVIEW["input_schema"], call.input)})  # fmt: skip


def f_tool_result(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=200,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "What is the weather in Paris, in celsius?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01conformance",
             "name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}}]},
            {"role": "user", "content": [{"type": "tool_result",
             "tool_use_id": "toolu_01conformance", "content": "18 degrees, sunny"}]},
        ],
    )  # fmt: skip
    return Outcome({"content": block_types(message)})


def f_tool_stream(c: Claude) -> Outcome:
    with c.client.messages.stream(
        model=c.model,
        max_tokens=600,
        tools=[REVIEW],
        tool_choice={"type": "tool", "name": "record_review"},
        messages=[{"role": "user", "content": "The patch adds tests. Record the review."}],
    ) as stream:
        deltas = sorted({event.delta.type for event in stream
                         if event.type == "content_block_delta"})  # fmt: skip
        final = stream.get_final_message()
    call = _tool_call(final)
    return Outcome({"delta types": deltas, "input valid against input_schema":
                    valid_against(REVIEW["input_schema"], call.input)})  # fmt: skip


def f_single_tool_call(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=400,
        tools=[WEATHER],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": "Weather in Paris and in Rome, in celsius?"}],
    )
    return Outcome({"tool calls": block_types(message).count("tool_use")})


def _structured(c: Claude, stream: bool) -> Outcome:
    params: dict[str, Any] = {
        "model": c.model,
        "max_tokens": 400,
        "messages": [{"role": "user", "content": REVIEW_TEXT}],
        "output_config": {"format": {"type": "json_schema", "schema": ANSWER_SCHEMA}},
    }
    if stream:
        with c.client.messages.stream(**params) as events:
            text = "".join(events.text_stream)
    else:
        text = text_of(c.client.messages.create(**params))
    try:
        value = json.loads(text)
    except ValueError:
        return Outcome({"JSON valid against the schema": False})
    return Outcome({"JSON valid against the schema": valid_against(ANSWER_SCHEMA, value)})


def f_structured_output(c: Claude) -> Outcome:
    return _structured(c, stream=False)


def f_structured_output_stream(c: Claude) -> Outcome:
    return _structured(c, stream=True)


def f_thinking(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Is 17 a prime number? Answer yes or no."}],
    )
    first = message.content[0]
    return Outcome({"first block": first.type,
                    "signed": bool(getattr(first, "signature", ""))})  # fmt: skip


def f_thinking_stream(c: Claude) -> Outcome:
    with c.client.messages.stream(
        model=c.model,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Is 17 a prime number? Answer yes or no."}],
    ) as stream:
        deltas = sorted({event.delta.type for event in stream
                         if event.type == "content_block_delta"})  # fmt: skip
    return Outcome({"delta types": deltas})


def f_thinking_adaptive(c: Claude) -> Outcome:
    # Adaptive thinking is for the newest models only (not Haiku 4.5).
    message = c.ask(model=c.adaptive_model, max_tokens=2048, thinking={"type": "adaptive"})
    return Outcome({"ends with text": block_types(message)[-1] == "text"})


def f_thinking_with_tools(c: Claude) -> Outcome:
    message = c.ask(
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[WEATHER],
        messages=[{"role": "user", "content": "What is the weather in Paris, in celsius?"}],
    )
    return Outcome({"first block": message.content[0].type})


# A system prompt long enough to be cached by every current model (4096 tokens and more).
LONG_SYSTEM = "You are a careful reviewer of product feedback. " + " ".join(
    f"Guideline {n}: weigh the customer's words about delivery, quality and support fairly."
    for n in range(1, 460)
)


def _cached(c: Claude, ttl: str | None = None) -> Any:
    control: dict[str, Any] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    return c.ask(
        max_tokens=16,
        system=[{"type": "text", "text": LONG_SYSTEM, "cache_control": control}],
        messages=[{"role": "user", "content": "Reply with OK."}],
    )


def f_prompt_caching(c: Claude) -> Outcome:
    _cached(c)
    second = _cached(c)
    return Outcome({"second call reads the cache": (second.usage.cache_read_input_tokens or 0) > 0})


def f_cache_ttl_breakdown(c: Claude) -> Outcome:
    first = _cached(c, "1h")
    usage = first.usage
    written = usage.cache_creation_input_tokens or 0
    read = usage.cache_read_input_tokens or 0
    breakdown = usage.cache_creation
    return Outcome(
        {"breakdown present": breakdown is not None,
         "1h tokens match the write": breakdown is not None
         and breakdown.ephemeral_1h_input_tokens == written,
         "cached": written + read > 0}
    )  # fmt: skip


def f_top_level_cache_control(c: Claude) -> Outcome:
    message = c.ask(cache_control={"type": "ephemeral"})
    return Outcome({"content": block_types(message)})


def f_count_tokens_system(c: Claude) -> Outcome:
    messages = [{"role": "user", "content": "Hello, Claude"}]
    plain = c.client.messages.count_tokens(model=c.model, messages=messages)
    more = c.client.messages.count_tokens(
        model=c.model, messages=messages, system="You are a helpful assistant for reviews."
    )
    return Outcome({"system counted": more.input_tokens > plain.input_tokens})


def f_count_tokens_tools(c: Claude) -> Outcome:
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    plain = c.client.messages.count_tokens(model=c.model, messages=messages)
    more = c.client.messages.count_tokens(model=c.model, messages=messages, tools=[WEATHER])
    return Outcome({"tools counted": more.input_tokens > plain.input_tokens})


def f_image_input(c: Claude) -> Outcome:
    message = c.ask(
        messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PNG}},
            {"type": "text", "text": "What colour is this pixel?"}]}],
    )  # fmt: skip
    return Outcome({"content": block_types(message)})


def f_document_input(c: Claude) -> Outcome:
    message = c.ask(
        messages=[{"role": "user", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                            "data": "The parcel arrived on Tuesday."}},
            {"type": "text", "text": "When did the parcel arrive?"}]}],
    )  # fmt: skip
    return Outcome({"content": block_types(message)})


def f_models_pages(c: Claude) -> Outcome:
    first = c.client.models.list(limit=1)
    following = c.client.models.list(limit=1, after_id=first.last_id or "")
    return Outcome(
        {"one per page": len(first.data) == 1, "has_more": first.has_more,
         "first_id is last_id": first.first_id == first.last_id,
         "next page differs": bool(following.data)
         and following.data[0].id != first.data[0].id}
    )  # fmt: skip


# --- errors ---------------------------------------------------------------------------------

MESSAGE = {"model": "claude-haiku-4-5", "max_tokens": 16,
           "messages": [{"role": "user", "content": "Hi"}]}  # fmt: skip


def _raw_error(exchange: Exchange) -> Outcome:
    try:
        body = json.loads(exchange.body)
        kind = body["error"]["type"]
    except (ValueError, KeyError, TypeError):
        kind = None
    return Outcome({"error.type": kind}, exchange)


def e_missing_key(c: Claude) -> Outcome:
    return _raw_error(c.raw("POST", "/v1/messages", body={**MESSAGE, "model": c.model}, key=None))


def e_invalid_key(c: Claude) -> Outcome:
    transport: Any = RecordingTransport(httpx2.HTTPTransport(), c.recorder)
    client: Any = anthropic.Anthropic(
        api_key="sk-ant-api03-not-a-real-key",
        base_url=c.base_url,
        max_retries=0,
        http_client=httpx2.Client(transport=transport),
    )
    return Outcome(sdk_error(lambda: client.messages.create(**{**MESSAGE, "model": c.model})))


def e_missing_version(c: Claude) -> Outcome:
    return _raw_error(
        c.raw("POST", "/v1/messages", body={**MESSAGE, "model": c.model}, version=None)
    )


def e_invalid_json(c: Claude) -> Outcome:
    return _raw_error(c.raw("POST", "/v1/messages", content=b'{"model": '))


def e_missing_field(c: Claude) -> Outcome:
    body = {"model": c.model, "messages": MESSAGE["messages"]}
    return _raw_error(c.raw("POST", "/v1/messages", body=body))


def e_extra_field(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(extra_body={"colour": "blue"})))


def e_max_tokens_negative(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(max_tokens=-1)))


def e_bad_role(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(messages=[{"role": "robot", "content": "Hi"}])))


def e_no_messages(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(messages=[])))


def e_unknown_model(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(model="claude-imaginary-9")))


def e_unknown_metadata_key(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(metadata={"user_id": "u1", "team": "x"})))


def e_image_bmp(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": BMP}},
        {"type": "text", "text": "What is this?"}]}])))  # fmt: skip


def e_budget_over_max_tokens(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(
        max_tokens=1024, thinking={"type": "enabled", "budget_tokens": 1024})))  # fmt: skip


def e_rate_limited(c: Claude) -> Outcome:
    c.control("/faults", {"path": "/v1/messages", "status": 429, "times": 1})
    return Outcome(sdk_error(c.ask))


def e_ratelimit_headers(c: Claude) -> Outcome:
    c.ask()
    return Outcome({})


def e_thinking_with_forced_tool(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(
        max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[WEATHER], tool_choice={"type": "any"})))  # fmt: skip


def e_unknown_batch(c: Claude) -> Outcome:
    return Outcome(sdk_error(
        lambda: c.client.messages.batches.retrieve("msgbatch_01NoSuchBatchConformance")))


def e_unknown_file(c: Claude) -> Outcome:
    return Outcome(sdk_error(
        lambda: c.client.files.retrieve_metadata("file_011CNoSuchFileConformance")))


def e_temperature_out_of_range(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(extra_body={"temperature": 1.5})))


def e_tool_choice_without_tools(c: Claude) -> Outcome:
    return Outcome(sdk_error(lambda: c.ask(tool_choice={"type": "any"})))


def e_overloaded(c: Claude) -> Outcome:
    c.control("/faults", {"path": "/v1/messages", "status": 529, "times": 1})
    return Outcome(sdk_error(c.ask))


BAD_REQUEST = {"sdk": "BadRequestError", "error.type": "invalid_request_error",
               "error_code": None}  # fmt: skip
RAW_BAD_REQUEST = {"error.type": "invalid_request_error"}
TEXT = {"content": ["text"]}
TEXT_EVENTS = [
    "message_start",
    "content_block_start",
    "ping",
    "content_block_delta*",
    "content_block_stop",
    "message_delta",
    "message_stop",
]
RATE_HEADERS = (
    "request-id",
    "anthropic-organization-id",
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-input-tokens-limit",
    "anthropic-ratelimit-input-tokens-remaining",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-limit",
    "anthropic-ratelimit-output-tokens-remaining",
    "anthropic-ratelimit-output-tokens-reset",
)


# How far a batch got when it is read depends on the service's speed, not on its contract.
BATCH_TIMING = ("shape:*ended_at", "shape:*results_url", "shape:*request_counts*")


_b = behaviour  # short: the tables below call it once a row


BEHAVIOURS: list[Behaviour[Claude]] = [
    # operations
    _b("messages.create", op_messages_create, "operations", expect()),
    _b("messages.count_tokens", op_count_tokens, "operations", expect({"positive": True})),
    _b("models.list", op_models_list, "operations", expect({"has models": True})),
    _b("models.retrieve", op_models_retrieve, "operations", expect({"lifecycle": "active"})),
    _b("batches.create", op_batches_create, "operations",
       expect({"processing_status": "in_progress", "processing": 1})),
    _b("batches.retrieve", op_batches_retrieve, "operations", expect({"same id": True}),
       *BATCH_TIMING),
    _b("batches.list", op_batches_list, "operations", expect({"newest first": True}),
       *BATCH_TIMING),
    _b("batches.cancel", op_batches_cancel, "operations",
       expect({"processing_status": "canceling", "cancel_initiated_at set": True})),
    _b("batches.delete", op_batches_delete, "operations",
       expect({"type": "message_batch_deleted", "ended first": True})),
    _b("batches.results", op_batches_results, "operations",
       expect({"ended": True, "results": ["succeeded", "succeeded"], "succeeded": 2,
               "custom ids": ["first", "second"]})),
    _b("files.upload", op_files_upload, "operations",
       expect({"filename": "notes.txt", "mime_type": "text/plain", "size_bytes": 28,
               "downloadable": False})),
    _b("files.list", op_files_list, "operations", expect({"listed": True})),
    _b("files.retrieve_metadata", op_files_retrieve, "operations", expect({"same": True})),
    _b("files.download", op_files_download, "operations",
       expect({"sdk": "FileNotDownloadableError", "error.type": "invalid_request_error",
               "error_code": "file_not_downloadable"}, status=400)),
    _b("files.delete", op_files_delete, "operations",
       expect({"type": "file_deleted", "then sdk": "NotFoundError",
               "then error.type": "not_found_error"})),
    # features
    _b("a text reply", f_text_reply, "features",
       expect({"content": ["text"], "stop_reason": "end_turn"})),
    _b("a system prompt as text", f_system_string, "features", expect(TEXT)),
    _b("a system prompt as blocks", f_system_blocks, "features", expect(TEXT)),
    _b("a conversation of several turns", f_multi_turn, "features", expect(TEXT)),
    _b("a prefilled answer is continued", f_prefill, "features",
       expect({"prefill + reply is JSON": True, "reply repeats the prefill": False})),
    _b("a stop sequence ends the answer", f_stop_sequences, "features",
       expect({"stop_reason": "stop_sequence", "stop_sequence": '"'})),
    _b("max_tokens cuts the answer", f_max_tokens, "features",
       expect({"stop_reason": "max_tokens", "output_tokens == max_tokens": True})),
    _b("temperature and top_k", f_sampling, "features", expect(TEXT)),
    _b("metadata.user_id", f_metadata, "features", expect(TEXT)),
    _b("a stream's event sequence", f_stream_events, "features",
       expect({"stop_reason": "end_turn", "events": TEXT_EVENTS})),
    _b("a stream's text is the message's", f_stream_text, "features",
       expect({"streamed text is the final text": True})),
    _b("a stream's usage", f_stream_usage, "features",
       expect({"input_tokens > 0": True, "output_tokens > 0": True})),
    _b("tools offered, the model chooses", f_tool_auto, "features",
       expect({"stop_reason matches the content": True})),
    _b("tool_choice any calls a tool", f_tool_choice_any, "features",
       expect({"content": ["tool_use"], "stop_reason": "tool_use", "tool": "get_weather"})),
    _b("tool_choice tool calls that tool", f_tool_choice_tool, "features",
       expect({"content": ["tool_use"], "tool": "record_review"})),
    _b("tool_choice none answers in text", f_tool_choice_none, "features", expect(TEXT)),
    _b("a forced tool's input is valid against its schema", f_tool_input_valid, "features",
       expect({"input valid against input_schema": True})),
    _b("a tool result is answered", f_tool_result, "features", expect(TEXT)),
    _b("a tool call streams as input_json_delta", f_tool_stream, "features",
       expect({"delta types": ["input_json_delta"],
               "input valid against input_schema": True})),
    _b("disable_parallel_tool_use gives one call", f_single_tool_call, "features",
       expect({"tool calls": 1})),
    _b("structured output is valid against its schema", f_structured_output, "features",
       expect({"JSON valid against the schema": True})),
    _b("structured output streams valid JSON", f_structured_output_stream, "features",
       expect({"JSON valid against the schema": True})),
    _b("extended thinking comes first, signed", f_thinking, "features",
       expect({"first block": "thinking", "signed": True})),
    _b("extended thinking streams", f_thinking_stream, "features",
       expect({"delta types": ["signature_delta", "text_delta", "thinking_delta"]})),
    _b("adaptive thinking", f_thinking_adaptive, "features", expect({"ends with text": True})),
    _b("thinking with tools offered", f_thinking_with_tools, "features",
       expect({"first block": "thinking"})),
    _b("prompt caching reads on the second call", f_prompt_caching, "features",
       expect({"second call reads the cache": True})),
    _b("cache usage by TTL", f_cache_ttl_breakdown, "features",
       expect({"breakdown present": True, "1h tokens match the write": True,
               "cached": True})),
    _b("top-level cache_control", f_top_level_cache_control, "features", expect(TEXT)),
    _b("count_tokens counts the system prompt", f_count_tokens_system, "features",
       expect({"system counted": True})),
    _b("count_tokens counts tools", f_count_tokens_tools, "features",
       expect({"tools counted": True})),
    _b("an image is read", f_image_input, "features", expect(TEXT)),
    _b("a text document is read", f_document_input, "features", expect(TEXT)),
    _b("models come in pages", f_models_pages, "features",
       expect({"one per page": True, "has_more": True, "first_id is last_id": True,
               "next page differs": True})),
    # errors
    _b("no API key", e_missing_key, "errors",
       expect({"error.type": "authentication_error"}, status=401)),
    _b("a wrong API key", e_invalid_key, "errors",
       expect({"sdk": "AuthenticationError", "error.type": "authentication_error",
               "error_code": None}, status=401)),
    _b("no anthropic-version", e_missing_version, "errors", expect(RAW_BAD_REQUEST, status=400)),
    _b("a body that is not JSON", e_invalid_json, "errors", expect(RAW_BAD_REQUEST, status=400)),
    _b("a required field missing", e_missing_field, "errors",
       expect(RAW_BAD_REQUEST, status=400)),
    _b("an unknown field", e_extra_field, "errors", expect(BAD_REQUEST, status=400)),
    _b("max_tokens below 0", e_max_tokens_negative, "errors", expect(BAD_REQUEST, status=400)),
    _b("an unknown role", e_bad_role, "errors", expect(BAD_REQUEST, status=400)),
    _b("no messages", e_no_messages, "errors", expect(BAD_REQUEST, status=400)),
    _b("an unknown model", e_unknown_model, "errors",
       expect({"sdk": "NotFoundError", "error.type": "not_found_error", "error_code": None},
              status=404)),
    _b("an unknown metadata key", e_unknown_metadata_key, "errors",
       expect(BAD_REQUEST, status=400)),
    _b("an image/bmp image", e_image_bmp, "errors", expect(BAD_REQUEST, status=400)),
    _b("budget_tokens not below max_tokens", e_budget_over_max_tokens, "errors",
       expect(BAD_REQUEST, status=400)),
    _b("429 says when to retry", e_rate_limited, "errors",
       expect_headers("retry-after", status=429,
                      facts={"sdk": "RateLimitError", "error.type": "rate_limit_error"}),
       control=True),
    _b("rate limits in every answer's headers", e_ratelimit_headers, "errors",
       expect_headers(*RATE_HEADERS)),
    # more errors the twin knows (no row)
    _b("thinking with a forced tool", e_thinking_with_forced_tool, None,
       expect(BAD_REQUEST, status=400)),
    _b("an unknown batch", e_unknown_batch, None,
       expect({"sdk": "NotFoundError", "error.type": "not_found_error"}, status=404)),
    _b("an unknown file", e_unknown_file, None,
       expect({"sdk": "NotFoundError", "error.type": "not_found_error"}, status=404)),
    _b("temperature above 1", e_temperature_out_of_range, None,
       expect(BAD_REQUEST, status=400)),
    _b("tool_choice without tools", e_tool_choice_without_tools, None,
       expect(BAD_REQUEST, status=400)),
    _b("529 overloaded", e_overloaded, None,
       expect({"sdk": "OverloadedError", "error.type": "overloaded_error"}, status=529),
       control=True),
]  # fmt: skip

SUITE: Suite[Claude] = Suite(
    service="anthropic",
    twin_app="converge_twins.mock_anthropic.app:create_app",
    credentials={
        "api_key": Credential("ANTHROPIC_API_KEY", TWIN_KEY, "an Anthropic API key"),
    },
    connect=connect,
    behaviours=BEHAVIOURS,
    header_rules={
        "content-type": "media-type",
        "request-id": "present",
        "retry-after": "present",
        "anthropic-organization-id": "present",
        "anthropic-ratelimit-*": "present",
    },
    # Only the suite's key is valid, so that a wrong key is refused as the real service would.
    twin_env={"TWIN_SEED": "conformance", "TWIN_ANTHROPIC_API_KEY": TWIN_KEY},
    validate=validate,
)


def fidelity(urls: Mapping[str, str]) -> list[FidelityRow]:
    """The Anthropic rows of the fidelity table, measured against the twin at ``urls``."""
    return suite_rows(SUITE, urls["anthropic"], "Anthropic")
