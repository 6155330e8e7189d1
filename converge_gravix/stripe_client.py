"""Stripe's API as the product uses it: form-encoded requests with a secret key, and the
``Stripe-Signature`` check that proves a webhook came from Stripe."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

import httpx

from converge_gravix.config import Settings
from converge_gravix.errors import ApiError, UpstreamError
from converge_gravix.upstream import json_body, send

SERVICE = "stripe"

StripeObject = dict[str, Any]


class StripeClient:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._base = settings.stripe_api_base.rstrip("/") + "/v1/"
        self._headers = {"Authorization": f"Bearer {settings.stripe_secret_key}"}

    async def create(self, resource: str, params: Mapping[str, Any]) -> StripeObject:
        response = await send(
            self._http,
            SERVICE,
            "POST",
            self._base + resource,
            expect=(200,),
            data=dict(encode_form(params)),
            headers=self._headers,
        )
        return _object(json_body(response, SERVICE))

    async def list(self, resource: str, params: Mapping[str, Any]) -> list[StripeObject]:
        response = await send(
            self._http,
            SERVICE,
            "GET",
            self._base + resource,
            expect=(200,),
            params=encode_form(params),
            headers=self._headers,
        )
        data = _object(json_body(response, SERVICE)).get("data")
        if not isinstance(data, list):
            raise UpstreamError(
                SERVICE, f"stripe listed {resource} without a data list", unavailable=False
            )
        return [item for item in data if isinstance(item, dict)]


def encode_form(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested params the way Stripe expects: ``a[b]=1``, ``items[0][price]=p``."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            pairs.extend(encode_form(value, name))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    pairs.extend(encode_form(item, f"{name}[{index}]"))
                else:
                    pairs.append((f"{name}[{index}]", _scalar(item)))
        elif value is not None:
            pairs.append((name, _scalar(value)))
    return pairs


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _object(body: Any) -> StripeObject:
    if not isinstance(body, dict):
        raise UpstreamError(
            SERVICE, "stripe answered with something other than an object", unavailable=False
        )
    return body


def verify_signature(
    payload: bytes, header: str | None, secret: str, *, tolerance: int, now: float | None = None
) -> None:
    """Raise a 400 ApiError unless ``header`` is a valid, fresh signature of ``payload``.

    Stripe signs ``"{t}.{payload}"`` with HMAC-SHA256 keyed by the endpoint secret and may send
    several ``v1`` signatures (during a secret rotation); any one matching is enough. A tolerance
    of 0 turns the freshness check off (a twin with a frozen clock signs with an old ``t``).
    """
    if not header:
        raise ApiError(400, "invalid_signature", "missing Stripe-Signature header")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        raise ApiError(400, "invalid_signature", "Stripe-Signature header is malformed")
    signed = f"{timestamp}.".encode() + payload
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise ApiError(400, "invalid_signature", "Stripe-Signature does not match the payload")
    current = time.time() if now is None else now
    if tolerance and abs(current - timestamp) > tolerance:
        raise ApiError(
            400, "invalid_signature", "Stripe-Signature timestamp is outside the tolerance"
        )
