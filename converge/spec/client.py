"""The model provider, through the official ``anthropic`` SDK: count tokens, ask, map errors.

The key comes from ``ANTHROPIC_API_KEY`` and the address from ``ANTHROPIC_BASE_URL`` (a gateway,
or mock-anthropic in tests), both read into the settings from the environment. The SDK retries
overloaded, rate-limited and failed requests itself (``spec_max_retries`` times, backing off);
what still fails becomes a :class:`~converge.errors.ReviewError` (exit 2) that names the status,
the error type, the provider's message and the request id, never the key.

Answers are streamed and collected with the SDK's own helper: the SDK refuses a non-streamed
request whose ``max_tokens`` could take longer than its ten-minute timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from converge.config import ReviewSettings
from converge.errors import ReviewError
from converge.redact import Redactor
from converge.spec.verdict import Reply

if TYPE_CHECKING:
    import anthropic

EXTRA = "review"  # the extra that installs the SDK: pip install 'converge[review]'
# The SDK's own default, passed explicitly: the SDK would otherwise read ANTHROPIC_BASE_URL from
# the process environment itself, and CI sets it to "" when no repository variable holds it.
DEFAULT_BASE_URL = "https://api.anthropic.com"
RETRIED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
NO_COUNTING_STATUSES = frozenset({404, 405, 501})  # a gateway without count_tokens


def _sdk() -> Any:
    try:
        import anthropic
    except ImportError:
        raise ReviewError(
            f"the spec review needs converge's `{EXTRA}` extra (anthropic is not installed): "
            f"pip install 'converge[{EXTRA}]' (in a checkout: pip install -e '.[{EXTRA}]')"
        ) from None
    return anthropic


class ModelClient:
    """One SDK client for a review; ``counted_by`` says whether counts are real or estimated."""

    def __init__(self, settings: ReviewSettings) -> None:
        sdk = _sdk()
        if not settings.api_key:
            raise ReviewError(
                "ANTHROPIC_API_KEY is not set: the spec review sends the spec and the diff to "
                "the model provider with it (--dry-run shows what would be sent, without a key)"
            )
        self.settings = settings
        self._sdk = sdk
        self._redactor = Redactor([settings.api_key])
        self._client: anthropic.Anthropic = sdk.Anthropic(
            api_key=settings.api_key,
            base_url=settings.base_url or DEFAULT_BASE_URL,
            max_retries=settings.max_retries,
        )
        self.counted_by = "count_tokens"

    def close(self) -> None:
        self._client.close()

    def count(self, request: dict[str, Any]) -> int | None:
        """The request's input tokens; None when the provider cannot count (then estimate)."""
        params = {
            key: request[key] for key in ("model", "system", "messages", "tools", "tool_choice")
        }
        try:
            counted = self._client.messages.count_tokens(**params)
        except self._sdk.APIStatusError as error:
            if error.status_code in NO_COUNTING_STATUSES:
                self.counted_by = "estimate"
                return None
            raise self._error(error, "counting tokens") from None
        except self._sdk.AnthropicError as error:
            raise self._error(error, "counting tokens") from None
        return int(counted.input_tokens)

    def send(self, request: dict[str, Any]) -> Reply:
        extra: dict[str, Any] = {}
        if self.settings.temperature is not None:
            # Not a parameter of the current SDK (its API version rejects sampling settings);
            # sent as given for a provider or gateway that still takes it.
            extra["extra_body"] = {"temperature": self.settings.temperature}
        try:
            with self._client.messages.stream(**request, **extra) as stream:
                message = stream.get_final_message()
                request_id = _request_id(stream)
        except self._sdk.AnthropicError as error:
            raise self._error(error, "asking for the verdict") from None
        usage = message.usage
        return Reply(
            content=tuple(block.model_dump(mode="json") for block in message.content),
            stop_reason=message.stop_reason,
            usage={
                "input_tokens": usage.input_tokens or 0,
                "output_tokens": usage.output_tokens or 0,
                "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0,
                "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
            },
            request_id=request_id,
        )

    def _error(self, error: Exception, doing: str) -> ReviewError:
        sdk = self._sdk
        retries = self.settings.max_retries
        after = f" after {retries} retr{'y' if retries == 1 else 'ies'}" if retries else ""
        where = self.settings.base_url or "the Anthropic API"
        if isinstance(error, sdk.APIStatusError):
            status = error.status_code
            body: Any = error.body if isinstance(error.body, dict) else {}
            detail: Any = body.get("error") if isinstance(body.get("error"), dict) else {}
            kind = detail.get("type") or "error"
            message = str(detail.get("message") or error.message)
            request = getattr(error, "request_id", None)
            suffix = f" (request {request})" if request else ""
            if status == 401:
                text = f"the model provider refused ANTHROPIC_API_KEY ({status} {kind}: {message})"
            else:
                tried = after if status in RETRIED_STATUSES else ""
                text = f"{doing}: the model provider answered {status} {kind}{tried}: {message}"
            return ReviewError(self._redactor.text(text + suffix))
        if isinstance(error, sdk.APIConnectionError):
            cause = error.__cause__ or error
            return ReviewError(
                self._redactor.text(f"{doing}: cannot reach {where}{after}: {cause}")
            )
        return ReviewError(self._redactor.text(f"{doing}: {error}"))


def _request_id(stream: Any) -> str | None:
    response = getattr(stream, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("request-id") if headers is not None else None
    return str(value) if value else None
