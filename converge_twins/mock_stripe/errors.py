"""Stripe's error object and the errors the twin raises with it.

Stripe answers every error as ``{"error": {...}}`` with a ``type`` (``invalid_request_error``,
``card_error``, ``idempotency_error``, ``api_error``), a human ``message``, and when they apply a
machine ``code`` (with its ``doc_url``), the ``param`` at fault, a card's ``decline_code``, and a
``request_log_url`` pointing at the request in the Dashboard's logs.
"""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes/"
LOGS = "https://dashboard.stripe.com/test/logs/"


class StripeError(Exception):
    """An error Stripe would answer with; raised anywhere below a handler."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}

    def body(self, request_id: str | None = None, at: int | None = None) -> dict[str, Any]:
        error: dict[str, Any] = {}
        if self.code:
            error["code"] = self.code
        if self.decline_code:
            error["decline_code"] = self.decline_code
        if self.code and not self.code.startswith("twin_"):
            error["doc_url"] = DOCS + self.code.replace("_", "-")
        error["message"] = self.message
        if self.param:
            error["param"] = self.param
        if request_id:
            error["request_log_url"] = f"{LOGS}{request_id}" + (f"?t={at}" if at else "")
        error.update(self.extra)
        error["type"] = self.kind
        return {"error": error}


def missing(label: str, object_id: str, param: str = "id") -> StripeError:
    """Stripe's 404 for an id of the right kind that does not exist (``No such customer``)."""
    return StripeError(404, f"No such {label}: '{object_id}'", code="resource_missing", param=param)


def param_missing(name: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {name}.", code="parameter_missing", param=name
    )


def invalid(param: str, message: str, code: str = "parameter_invalid") -> StripeError:
    return StripeError(400, message, code=code, param=param)


def state_error(message: str, param: str | None = None) -> StripeError:
    """An action the object's current state does not allow (a paid invoice cannot be voided)."""
    return StripeError(400, message, param=param)
