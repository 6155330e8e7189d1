"""What mock-anthropic refuses, as the real API refuses it: a 400 naming the field.

Messages are ``field.path: problem`` in the API's own words (``messages.0.content.0.image.
source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or
'image/webp'``). The fields accepted are the current SDK's ``MessageCreateParams``, plus
``temperature``, ``top_p`` and ``top_k``, which older SDKs and many apps still send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from converge_twins.mock_anthropic.models import Model

MESSAGE_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "cache_control",
        "container",
        "diagnostics",
        "inference_geo",
        "metadata",
        "output_config",
        "service_tier",
        "speed",
        "stop_sequences",
        "stream",
        "system",
        "thinking",
        "tool_choice",
        "tools",
        # Sampling parameters: gone from the current SDK's types, still sent by older clients.
        "temperature",
        "top_p",
        "top_k",
    }
)
COUNT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "cache_control",
        "output_config",
        "speed",
    }
)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
MIN_BUDGET = 1024
THINKING_MAX_TOKENS = (
    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
    "documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
    "#max-tokens-and-context-window-size"
)


class InvalidRequest(Exception):
    """A request the API refuses; ``status`` 400 unless said (404 for an unknown model)."""

    def __init__(self, message: str, status: int = 400, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code  # error.details.error_code, when the API names one


def _literal(where: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        words = ", ".join(f"'{a}'" for a in allowed[:-1]) + f" or '{allowed[-1]}'"
        if len(allowed) == 1:
            words = f"'{allowed[0]}'"
        raise InvalidRequest(f"{where}: Input should be {words}")


def _object(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where}: Input should be a valid dictionary")
    return value


def _extra(where: str, value: Mapping[str, Any], allowed: set[str] | frozenset[str]) -> None:
    extra = sorted(set(value) - set(allowed))
    if extra:
        prefix = f"{where}." if where else ""
        raise InvalidRequest(f"{prefix}{extra[0]}: Extra inputs are not permitted")


def _number(where: str, value: Any, low: float, high: float | None, integer: bool) -> None:
    kind = "integer" if integer else "number"
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        raise InvalidRequest(f"{where}: Input should be a valid {kind}")
    if value < low:
        raise InvalidRequest(f"{where}: Input should be greater than or equal to {low:g}")
    if high is not None and value > high:
        raise InvalidRequest(f"{where}: Input should be less than or equal to {high:g}")


def _cache_control(where: str, value: Any) -> None:
    if value is None:
        return
    control = _object(where, value)
    _extra(where, control, {"type", "ttl"})
    _literal(f"{where}.type", control.get("type"), ("ephemeral",))
    if "ttl" in control:
        _literal(f"{where}.ttl", control["ttl"], ("5m", "1h"))


def _source(where: str, source: Any, kinds: dict[str, tuple[str, ...]]) -> None:
    source = _object(where, source)
    kind = source.get("type")
    _literal(f"{where}.type", kind, tuple(kinds))
    here = f"{where}.{kind}"
    if kind == "base64":
        _literal(f"{here}.media_type", source.get("media_type"), kinds["base64"])
        if not isinstance(source.get("data"), str) or not source["data"]:
            raise InvalidRequest(f"{here}.data: Field required")
    elif kind == "url":
        if not isinstance(source.get("url"), str):
            raise InvalidRequest(f"{here}.url: Field required")
    elif kind == "file":
        if not isinstance(source.get("file_id"), str):
            raise InvalidRequest(f"{here}.file_id: Field required")
    elif kind == "text":
        _literal(f"{here}.media_type", source.get("media_type"), ("text/plain",))
        if not isinstance(source.get("data"), str):
            raise InvalidRequest(f"{here}.data: Field required")
    elif kind == "content" and not isinstance(source.get("content"), str | list):
        raise InvalidRequest(f"{here}.content: Field required")


BLOCKS = {
    "user": ("text", "image", "document", "tool_result", "search_result", "container_upload"),
    "assistant": (
        "text",
        "tool_use",
        "thinking",
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
    ),
}


def _block(where: str, block: Any, role: str) -> None:
    block = _object(where, block)
    kind = block.get("type")
    allowed = BLOCKS[role] if role in BLOCKS else BLOCKS["user"]
    if kind not in {*BLOCKS["user"], *BLOCKS["assistant"]}:
        _literal(f"{where}.type", kind, tuple(sorted({*BLOCKS["user"], *BLOCKS["assistant"]})))
    if kind not in allowed:
        raise InvalidRequest(f"{where}: a {role} message cannot contain a {kind} block")
    here = f"{where}.{kind}"
    _cache_control(f"{here}.cache_control", block.get("cache_control"))
    if kind == "text" and not isinstance(block.get("text"), str):
        raise InvalidRequest(f"{here}.text: Field required")
    if kind == "image":
        _source(
            f"{here}.source", block.get("source"), {"base64": IMAGE_TYPES, "url": (), "file": ()}
        )
    if kind == "document":
        _source(
            f"{here}.source",
            block.get("source"),
            {"base64": ("application/pdf",), "text": (), "content": (), "url": (), "file": ()},
        )
    if kind == "tool_use":
        for field in ("id", "name"):
            if not isinstance(block.get(field), str):
                raise InvalidRequest(f"{here}.{field}: Field required")
        _object(f"{here}.input", block.get("input"))
    if kind == "tool_result" and not isinstance(block.get("tool_use_id"), str):
        raise InvalidRequest(f"{here}.tool_use_id: Field required")
    if kind == "thinking":
        for field in ("thinking", "signature"):
            if not isinstance(block.get(field), str):
                raise InvalidRequest(f"{here}.{field}: Field required")


def _messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise InvalidRequest("messages: Input should be a valid list")
    if not messages:
        raise InvalidRequest("messages: at least one message is required")
    for index, item in enumerate(messages):
        where = f"messages.{index}"
        message = _object(where, item)
        _extra(where, message, {"role", "content"})
        role = message.get("role")
        _literal(f"{where}.role", role, ("user", "assistant"))
        content = message.get("content")
        if content is None:
            raise InvalidRequest(f"{where}.content: Field required")
        if not isinstance(content, str | list):
            raise InvalidRequest(f"{where}.content: Input should be a valid list")
        if not content and index != len(messages) - 1:
            raise InvalidRequest(
                f"{where}: all messages must have non-empty content except "
                "for the optional final assistant message"
            )
        if isinstance(content, list):
            for number, block in enumerate(content):
                _block(f"{where}.content.{number}", block, str(role))


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("tools: Input should be a valid list")
    names: set[str] = set()
    for index, item in enumerate(tools):
        where = f"tools.{index}"
        tool = _object(where, item)
        kind = tool.get("type", "custom")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{where}.name: Field required")
        if kind in ("custom", None):
            _extra(
                f"{where}.custom",
                tool,
                {
                    "name",
                    "description",
                    "input_schema",
                    "cache_control",
                    "type",
                    "strict",
                    "input_examples",
                },
            )
            if not TOOL_NAME.fullmatch(name):
                raise InvalidRequest(
                    f"{where}.custom.name: String should match pattern '{TOOL_NAME.pattern}'"
                )
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                raise InvalidRequest(f"{where}.custom.input_schema: Field required")
            if schema.get("type") != "object":
                raise InvalidRequest(f"{where}.custom.input_schema.type: Input should be 'object'")
        _cache_control(f"{where}.cache_control", tool.get("cache_control"))
        if name in names:
            raise InvalidRequest(f"tools: Tool names must be unique. Duplicate name: {name}")
        names.add(name)
    return tools


def _tool_choice(given: Any, tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    choice = _object("tool_choice", given)
    kind = choice.get("type")
    _literal("tool_choice.type", kind, ("auto", "any", "tool", "none"))
    allowed = {"type", "disable_parallel_tool_use"} | ({"name"} if kind == "tool" else set())
    _extra(f"tool_choice.{kind}", choice, allowed)
    if "disable_parallel_tool_use" in choice and not isinstance(
        choice["disable_parallel_tool_use"], bool
    ):
        raise InvalidRequest(
            f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean"
        )
    if tools is None and kind != "none":
        raise InvalidRequest(
            "tool_choice: tool_choice may only be specified while providing tools."
        )
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str):
            raise InvalidRequest("tool_choice.tool.name: Field required")
        if name not in {tool.get("name") for tool in tools or []}:
            raise InvalidRequest(f"tool_choice.tool.name: tool '{name}' was not found in tools")
    return choice


def _thinking(given: Any, max_tokens: int | None, model: Model | None) -> dict[str, Any]:
    thinking = _object("thinking", given)
    kind = thinking.get("type")
    _literal("thinking.type", kind, ("enabled", "disabled", "adaptive"))
    if kind == "enabled":
        _extra("thinking.enabled", thinking, {"type", "budget_tokens", "display"})
        if "budget_tokens" not in thinking:
            raise InvalidRequest("thinking.enabled.budget_tokens: Field required")
        _number(
            "thinking.enabled.budget_tokens",
            thinking["budget_tokens"],
            MIN_BUDGET,
            None,
            integer=True,
        )
        if max_tokens is not None and thinking["budget_tokens"] >= max_tokens:
            raise InvalidRequest(THINKING_MAX_TOKENS)
    elif kind == "adaptive":
        _extra("thinking.adaptive", thinking, {"type", "display"})
        if model is not None and not model.adaptive:
            raise InvalidRequest(
                f"thinking.adaptive: adaptive thinking is not supported on {model.id}"
            )
    else:
        _extra("thinking.disabled", thinking, {"type"})
    if "display" in thinking:
        _literal(f"thinking.{kind}.display", thinking["display"], ("summarized", "omitted"))
    return thinking


def _output_config(config: Any, model: Model | None) -> None:
    config = _object("output_config", config)
    _extra("output_config", config, {"format", "effort"})
    if config.get("format") is not None:
        fmt = _object("output_config.format", config["format"])
        _extra("output_config.format", fmt, {"type", "schema"})
        _literal("output_config.format.type", fmt.get("type"), ("json_schema",))
        _object("output_config.format.schema", fmt.get("schema"))
    if config.get("effort") is not None:
        _literal(
            "output_config.effort", config["effort"], ("low", "medium", "high", "xhigh", "max")
        )
        if model is not None and not model.effort:
            raise InvalidRequest(f"output_config.effort: effort is not supported on {model.id}")


def _system(system: Any) -> None:
    if isinstance(system, str):
        return
    if not isinstance(system, list):
        raise InvalidRequest("system: Input should be a valid string")
    for index, item in enumerate(system):
        block = _object(f"system.{index}", item)
        _literal(f"system.{index}.type", block.get("type"), ("text",))
        if not isinstance(block.get("text"), str):
            raise InvalidRequest(f"system.{index}.text: Field required")
        _cache_control(f"system.{index}.cache_control", block.get("cache_control"))


def validate(body: Any, model: Model | None, *, counting: bool = False) -> None:
    """Refuse what the API refuses; ``model`` is the catalogue's entry (None: unknown)."""
    body = _object("", body) if isinstance(body, dict) else None
    if body is None:
        raise InvalidRequest("Input should be a valid dictionary")
    required = ("model", "messages") if counting else ("model", "max_tokens", "messages")
    for field in required:
        if field not in body:
            raise InvalidRequest(f"{field}: Field required")
    _extra("", body, COUNT_FIELDS if counting else MESSAGE_FIELDS)
    if not isinstance(body["model"], str) or not body["model"]:
        raise InvalidRequest("model: Input should be a valid string")
    max_tokens = None
    if not counting:
        _number("max_tokens", body["max_tokens"], 0, None, integer=True)
        max_tokens = body["max_tokens"]
        if model is not None and max_tokens > model.max_tokens:
            raise InvalidRequest(
                f"max_tokens: {max_tokens} > {model.max_tokens}, which is the maximum allowed "
                f"number of output tokens for {model.id}"
            )
    _messages(body["messages"])
    if body.get("system") is not None:
        _system(body["system"])
    tools = _tools(body["tools"]) if body.get("tools") is not None else None
    choice = _tool_choice(body["tool_choice"], tools) if body.get("tool_choice") else None
    if body.get("thinking") is not None:
        thinking = _thinking(body["thinking"], max_tokens, model)
        forced = choice is not None and choice.get("type") in ("any", "tool")
        if thinking.get("type") != "disabled" and forced:
            raise InvalidRequest("Thinking may not be enabled when tool_choice forces tool use.")
    if body.get("metadata") is not None:
        metadata = _object("metadata", body["metadata"])
        _extra("metadata", metadata, {"user_id"})
        user = metadata.get("user_id")
        if user is not None and (not isinstance(user, str) or len(user) > 256):
            raise InvalidRequest("metadata.user_id: String should have at most 256 characters")
    if body.get("output_config") is not None:
        _output_config(body["output_config"], model)
    _cache_control("cache_control", body.get("cache_control"))
    if counting:
        return
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) and s.strip() for s in stops)
    ):
        raise InvalidRequest("stop_sequences: each stop sequence must contain non-whitespace")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise InvalidRequest("stream: Input should be a valid boolean")
    for name, high in (("temperature", 1.0), ("top_p", 1.0)):
        if body.get(name) is not None:
            _number(name, body[name], 0, high, integer=False)
    if body.get("top_k") is not None:
        _number("top_k", body["top_k"], 0, None, integer=True)
    if body.get("service_tier") is not None:
        _literal("service_tier", body["service_tier"], ("auto", "standard_only"))
    if body.get("speed") is not None:
        _literal("speed", body["speed"], ("standard", "fast"))
