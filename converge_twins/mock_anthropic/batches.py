"""Message Batches: create, retrieve, list, cancel, delete, and results as JSON Lines.

A batch is ``in_progress`` when created and ends at the first read (retrieve, list, results)
once ``TWIN_ANTHROPIC_BATCH_SECONDS`` (default 0) of the twin's clock have passed since its
creation: every request is then answered as ``POST /v1/messages`` would answer it (``succeeded``
with the message, whose usage says ``service_tier: batch``, or ``errored`` with the error), or
``canceled`` when the batch was canceled first. Cancelling is possible while it is in progress
(it becomes ``canceling``, then ends; cancelling an ended batch changes nothing); deleting
only once it has ended. Results come in request
order; the batch expires 24 hours after creation, as the API's do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from converge_twins.mock_anthropic.validation import InvalidRequest

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_REQUESTS = 100_000
# Answers one request's params: the message, or raises InvalidRequest.
Answer = Callable[[dict[str, Any]], dict[str, Any]]
ErrorBody = Callable[[InvalidRequest], dict[str, Any]]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Batch:
    id: str
    created: datetime
    requests: list[dict[str, Any]]
    order: int = 0
    status: str = "in_progress"
    cancel_initiated_at: datetime | None = None
    ended_at: datetime | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    results_url: str | None = None

    def counts(self) -> dict[str, int]:
        kinds = [result["result"]["type"] for result in self.results]
        return {
            "processing": len(self.requests) if self.status != "ended" else 0,
            "succeeded": kinds.count("succeeded"),
            "errored": kinds.count("errored"),
            "canceled": kinds.count("canceled"),
            "expired": kinds.count("expired"),
        }

    def describe(self) -> dict[str, Any]:
        try:
            expires = _iso(self.created + timedelta(hours=24))
        except OverflowError:
            expires = _iso(self.created)
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": self.counts(),
            "created_at": _iso(self.created),
            "expires_at": expires,
            "ended_at": _iso(self.ended_at) if self.ended_at else None,
            "cancel_initiated_at": (
                _iso(self.cancel_initiated_at) if self.cancel_initiated_at else None
            ),
            "archived_at": None,
            "results_url": self.results_url,
        }


def parse_requests(spec: Any) -> list[dict[str, Any]]:
    """The ``requests`` of a create call, as the API checks them up front."""
    if not isinstance(spec, dict):
        raise InvalidRequest("Input should be a valid dictionary")
    extra = sorted(set(spec) - {"requests"})
    if extra:
        raise InvalidRequest(f"{extra[0]}: Extra inputs are not permitted")
    requests = spec.get("requests")
    if not isinstance(requests, list):
        raise InvalidRequest("requests: Field required")
    if not requests:
        raise InvalidRequest("requests: List should have at least 1 item after validation")
    if len(requests) > MAX_REQUESTS:
        raise InvalidRequest(f"requests: a batch holds at most {MAX_REQUESTS} requests")
    seen: set[str] = set()
    for index, request in enumerate(requests):
        if not isinstance(request, dict):
            raise InvalidRequest(f"requests.{index}: Input should be a valid dictionary")
        extra = sorted(set(request) - {"custom_id", "params"})
        if extra:
            raise InvalidRequest(f"requests.{index}.{extra[0]}: Extra inputs are not permitted")
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
            raise InvalidRequest(
                f"requests.{index}.custom_id: String should match pattern '{CUSTOM_ID.pattern}'"
            )
        if custom_id in seen:
            raise InvalidRequest(f"requests: custom_id {custom_id!r} is used more than once")
        seen.add(custom_id)
        params = request.get("params")
        if not isinstance(params, dict):
            raise InvalidRequest(f"requests.{index}.params: Field required")
        if params.get("stream"):
            raise InvalidRequest(
                f"requests.{index}.params.stream: streaming is not supported in batches"
            )
    return [dict(request) for request in requests]


class Batches:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.batches: dict[str, Batch] = {}
        self._created = 0

    def clear(self) -> None:
        self.batches.clear()
        self._created = 0

    def create(self, batch_id: str, now: datetime, requests: list[dict[str, Any]]) -> Batch:
        batch = Batch(batch_id, now, requests, len(self.batches) + self._created)
        self._created += 1
        self.batches[batch_id] = batch
        return batch

    def get(self, batch_id: str) -> Batch | None:
        return self.batches.get(batch_id)

    def settle(
        self, batch: Batch, now: datetime, answer: Answer, error_body: ErrorBody, base_url: str
    ) -> None:
        """End the batch if its time has come (or it was canceled): every request answered."""
        if batch.status == "ended":
            return
        due = now >= batch.created + timedelta(seconds=self.seconds)
        if batch.status == "in_progress" and not due:
            return
        for request in batch.requests:
            custom_id = request["custom_id"]
            if batch.status == "canceling":
                batch.results.append({"custom_id": custom_id, "result": {"type": "canceled"}})
                continue
            try:
                message = answer(dict(request["params"]))
                result: dict[str, Any] = {"type": "succeeded", "message": message}
            except InvalidRequest as exc:
                result = {"type": "errored", "error": error_body(exc)}
            batch.results.append({"custom_id": custom_id, "result": result})
        batch.status = "ended"
        batch.ended_at = now
        batch.results_url = f"{base_url}/v1/messages/batches/{batch.id}/results"

    def newest_first(self) -> list[Batch]:
        return sorted(self.batches.values(), key=lambda b: b.order, reverse=True)

    @staticmethod
    def jsonl(batch: Batch) -> bytes:
        return "".join(json.dumps(result) + "\n" for result in batch.results).encode()
