"""The Message mock-anthropic answers, and the event stream that carries it.

What comes back depends on the request as the API's contract says it must:

- a forced tool (``tool_choice`` ``any`` or ``tool``) is always called, with input valid
  against its ``input_schema``; a reply rule's ``tool_use`` input is used when one matches,
  else the input is made from the schema (:mod:`.schemas`), filled from the twin's analysis of
  the prompt where the names fit;
- with tools offered and ``auto``, a matching ``tool_use`` rule calls the tool; otherwise the
  answer is text (the model chose not to);
- structured output (``output_config.format``) is JSON valid against the schema: a text rule's
  reply or the analysis when valid, else made from the schema;
- extended or adaptive thinking puts a signed ``thinking`` block first (its text empty with
  ``display: omitted``), within ``budget_tokens``;
- a prefilled answer (a final assistant turn) is continued, not repeated;
- ``stop_sequences`` cut the text; ``max_tokens`` cuts it too (``output_tokens`` is then
  exactly ``max_tokens``), and ``max_tokens: 0`` answers no content at all (a cache warm-up).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema

from converge_twins.mock_anthropic.prompt import CacheUse, block_text, estimate
from converge_twins.mock_anthropic.replies import (
    Rule,
    analyse,
    analysis_subject,
    choose_rule,
    default_reply,
)
from converge_twins.mock_anthropic.schemas import instance
from converge_twins.mock_anthropic.variation import Variation


@dataclass(frozen=True)
class Context:
    """What an answer depends on besides the request."""

    rules: list[Rule]
    variation: Variation | None
    new_id: Callable[[str, int], str]  # a seeded id: (prefix, length)
    seed: str


def _valid(value: Any, schema: Any) -> bool:
    try:
        jsonschema.validate(value, schema)
    except (jsonschema.ValidationError, jsonschema.SchemaError):
        return False
    return True


def _prefill(messages: list[dict[str, Any]]) -> str:
    last = messages[-1]
    return block_text(last["content"]) if last.get("role") == "assistant" else ""


def _structured(schema: Any, reply: str | None, analysis: dict[str, Any]) -> str:
    for candidate in (reply, json.dumps(analysis)):
        if candidate is None:
            continue
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if _valid(value, schema):
            return json.dumps(value)
    return json.dumps(instance(schema, analysis))


def _thinking(body: dict[str, Any], last_user: str, seed: str) -> dict[str, Any] | None:
    config = body.get("thinking") or {}
    if config.get("type") not in ("enabled", "adaptive"):
        return None
    topic = " ".join(last_user.split())[:160]
    text = (
        f"The request asks: {topic!r}. I will work out what is wanted, check it against the "
        "instructions, and answer in the form they ask for."
    )
    if config.get("type") == "enabled":
        text = text[: int(config.get("budget_tokens", 1024)) * 4]
    signature = base64.b64encode(hashlib.sha256(f"{seed}:{text}".encode()).digest() * 3).decode()
    shown = "" if config.get("display") == "omitted" else text
    return {
        "type": "thinking",
        "thinking": shown,
        "signature": signature,
        "_tokens": estimate(text),
    }


def _tool(body: dict[str, Any], rule: Rule | None) -> dict[str, Any]:
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict)]
    choice = body.get("tool_choice") or {}
    names = {str(t.get("name")): t for t in tools}
    wanted = rule.tool if rule is not None and rule.tool in names else None
    if wanted is None and choice.get("type") == "tool":
        wanted = str(choice.get("name"))
    return names.get(wanted or "", tools[0])


def _text(
    body: dict[str, Any], context: Context, rule: Rule | None, subject: str
) -> tuple[str, str, str | None]:
    """The text answer, its stop reason and stop sequence (before ``max_tokens`` applies)."""
    reply = rule.reply if rule is not None else None
    schema = ((body.get("output_config") or {}).get("format") or {}).get("schema")
    if schema is not None:
        text = _structured(schema, reply, analyse(subject, context.variation))
    else:
        text = reply if reply is not None else default_reply(subject, context.variation)
    prefill = _prefill(body["messages"])
    if prefill and text.startswith(prefill):
        text = text[len(prefill) :]
    elif prefill.strip() and text.startswith(prefill.strip()):
        text = text[len(prefill.strip()) :]
    for stop in body.get("stop_sequences") or []:
        cut = text.find(stop)
        if cut >= 0:
            return text[:cut], "stop_sequence", stop
    return text, "end_turn", None


def compose(body: dict[str, Any], context: Context, cache: CacheUse) -> dict[str, Any]:
    """The finished Message for a valid request."""
    messages: list[dict[str, Any]] = body["messages"]
    system = block_text(body.get("system") or "")
    texts = [block_text(message["content"]) for message in messages]
    prompt = "\n".join([system, *texts]) if system else "\n".join(texts)
    last_user = next(
        (block_text(m["content"]) for m in reversed(messages) if m["role"] == "user"), texts[-1]
    )
    subject = analysis_subject(last_user)
    choice = body.get("tool_choice") or {"type": "auto"}
    offered = bool(body.get("tools")) and choice.get("type") != "none"
    forced = offered and choice.get("type") in ("any", "tool")
    rule = choose_rule(context.rules, prompt, offered)
    budget = int(body["max_tokens"])
    content: list[dict[str, Any]] = []
    thinking = _thinking(body, last_user, context.seed) if budget else None
    spent = 0
    if thinking is not None:
        spent = min(thinking.pop("_tokens"), budget)
        content.append(thinking)
    stop_reason, stop_sequence = "end_turn", None
    if budget == 0:
        stop_reason = "max_tokens"
    elif forced or (offered and rule is not None and rule.tool_input is not None):
        tool = _tool(body, rule)
        if rule is not None and rule.tool_input is not None:
            arguments: dict[str, Any] = rule.tool_input
        else:
            arguments = instance(tool.get("input_schema") or {"type": "object"}, analyse(subject))
        content.append(
            {
                "type": "tool_use",
                "id": context.new_id("toolu_01", 22),
                "name": str(tool.get("name")),
                "input": arguments,
            }
        )
        spent += estimate(json.dumps(arguments))
        stop_reason = "tool_use"
    else:
        text, stop_reason, stop_sequence = _text(body, context, rule, subject)
        room = budget - spent
        if estimate(text) > room:
            text, stop_reason, stop_sequence = text[: max(0, room) * 4], "max_tokens", None
            spent = budget
        else:
            spent += estimate(text)
        content.append({"type": "text", "text": text})
    usage: dict[str, Any] = {**cache.usage(), "output_tokens": spent, "service_tier": "standard"}
    if thinking is not None:
        usage["output_tokens_details"] = {
            "thinking_tokens": min(spent, estimate(thinking["thinking"]) or 1)
        }
    return {
        "id": context.new_id("msg_01", 22),
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


def chunks(text: str, size: int = 24) -> list[str]:
    """Pieces cut after whitespace near ``size`` characters, as a tokenizer roughly would."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        space = text.rfind(" ", start + 1, end)
        if end < len(text) and space > start:
            end = space + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def _opening_and_deltas(block: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    kind = block["type"]
    if kind == "tool_use":
        pieces = chunks(json.dumps(block["input"]))
        return {**block, "input": {}}, [
            {"type": "input_json_delta", "partial_json": p} for p in pieces
        ]
    if kind == "thinking":
        deltas = [{"type": "thinking_delta", "thinking": p} for p in chunks(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
        return {"type": "thinking", "thinking": "", "signature": ""}, deltas
    return {"type": "text", "text": ""}, [
        {"type": "text_delta", "text": p} for p in chunks(block["text"])
    ]


def events(message: dict[str, Any]) -> Iterator[bytes]:
    """The server-sent events of a Message, in the API's order."""
    usage = message["usage"]
    start = {
        **message,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {**usage, "output_tokens": min(1, usage["output_tokens"])},
    }
    yield _event("message_start", {"type": "message_start", "message": start})
    if not message["content"]:
        yield _event("ping", {"type": "ping"})
    for index, block in enumerate(message["content"]):
        opening, deltas = _opening_and_deltas(block)
        yield _event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
        )
        if index == 0:
            yield _event("ping", {"type": "ping"})
        for delta in deltas:
            yield _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
        yield _event("content_block_stop", {"type": "content_block_stop", "index": index})
    final = {
        key: usage[key]
        for key in (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
            "output_tokens_details",
        )
        if key in usage
    }
    yield _event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": message["stop_reason"],
                "stop_sequence": message["stop_sequence"],
            },
            "usage": final,
        },
    )
    yield _event("message_stop", {"type": "message_stop"})
