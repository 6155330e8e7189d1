"""Anthropic's Messages API over HTTP, as the product calls it (the wire format is small)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from converge_gravix.config import ANTHROPIC_VERSION, Settings
from converge_gravix.errors import UpstreamError
from converge_gravix.upstream import json_body, send

SERVICE = "anthropic"


@dataclass(frozen=True)
class Completion:
    id: str
    model: str
    text: str  # the text blocks of the reply, joined
    input_tokens: int
    output_tokens: int


class AnthropicClient:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._url = settings.anthropic_base_url.rstrip("/") + "/v1/messages"
        self._model = settings.anthropic_model
        self._headers = {
            "x-api-key": settings.anthropic_api_key,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
        }

    async def complete(self, system: str, prompt: str, *, max_tokens: int = 1024) -> Completion:
        payload = {
            "model": self._model,
            "max_tokens": max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": prompt}],
        }
        response = await send(
            self._http,
            SERVICE,
            "POST",
            self._url,
            expect=(200,),
            json=payload,
            headers=self._headers,
        )
        return _completion(json_body(response, SERVICE))


def _completion(body: Any) -> Completion:
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise UpstreamError(
            SERVICE, "anthropic answered without message content", unavailable=False
        )
    text = "".join(
        block.get("text", "")
        for block in body["content"]
        if isinstance(block, dict) and block.get("type") == "text"
    )
    raw_usage = body.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    return Completion(
        id=str(body.get("id", "")),
        model=str(body.get("model", "")),
        text=text,
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
    )
