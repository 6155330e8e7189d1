"""The models mock-anthropic knows: the catalogue ``GET /v1/models`` lists and messages accept.

A request naming any other model is a 404 ``not_found_error``, as the real API answers
``claude-imaginary-9``. ``TWIN_ANTHROPIC_MODELS`` adds ids (comma-separated) for a model the
catalogue does not have yet; they are listed with the capabilities of the newest model.

Each entry carries what the current API's ModelInfo does: lifecycle, capabilities, context
window and output limit. Release dates the twin does not know are the epoch, as the API
documents for unknown dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class Model:
    id: str
    display_name: str
    created_at: str
    line: str
    max_input_tokens: int = 200_000
    max_tokens: int = 64_000
    effort: bool = False  # output_config.effort
    adaptive: bool = False  # thinking {"type": "adaptive"}
    min_cacheable_tokens: int = 1024  # shorter prefixes are never cached
    lifecycle: str = "active"
    aliases: tuple[str, ...] = ()  # other names it answers to (a dated model's short alias)

    def info(self) -> dict[str, Any]:
        def yes(flag: bool = True) -> dict[str, bool]:
            return {"supported": flag}

        return {
            "type": "model",
            "id": self.id,
            "display_name": self.display_name,
            "created_at": self.created_at,
            "lifecycle": self.lifecycle,
            "deprecated_at": None,
            "retires_at": None,
            "line": self.line,
            "max_input_tokens": self.max_input_tokens,
            "max_tokens": self.max_tokens,
            "capabilities": {
                "batch": yes(),
                "citations": yes(),
                "code_execution": yes(),
                "context_management": {"supported": False},
                "effort": {
                    "supported": self.effort,
                    "low": yes(self.effort),
                    "medium": yes(self.effort),
                    "high": yes(self.effort),
                    "max": yes(self.effort),
                },
                "image_input": yes(),
                "pdf_input": yes(),
                "server_tools": {
                    "supported": False,
                    "code_execution": yes(False),
                    "web_search": yes(False),
                },
                "structured_outputs": yes(),
                "thinking": {
                    "supported": True,
                    "types": {
                        "adaptive": yes(self.adaptive),
                        "between_tools": yes(False),
                        "disabled": yes(),
                        "enabled": yes(),
                    },
                },
            },
        }


def _model(model_id: str, name: str, day: str, line: str, **traits: Any) -> Model:
    return Model(model_id, name, f"{day}T00:00:00Z" if day else EPOCH, line, **traits)


# Newest first, as the API lists them; an alias is answered as the dated model it names.
CATALOGUE: list[Model] = [
    _model(
        "claude-sonnet-4-6", "Claude Sonnet 4.6", "2026-02-17", "sonnet", effort=True, adaptive=True
    ),
    _model(
        "claude-opus-4-6",
        "Claude Opus 4.6",
        "2026-02-05",
        "opus",
        max_tokens=128_000,
        effort=True,
        adaptive=True,
        min_cacheable_tokens=4096,
    ),
    _model(
        "claude-opus-4-5-20251101",
        "Claude Opus 4.5",
        "2025-11-01",
        "opus",
        effort=True,
        min_cacheable_tokens=4096,
        aliases=("claude-opus-4-5",),
    ),
    _model(
        "claude-haiku-4-5-20251001",
        "Claude Haiku 4.5",
        "2025-10-01",
        "haiku",
        min_cacheable_tokens=4096,
        aliases=("claude-haiku-4-5",),
    ),
    _model(
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
        "2025-09-29",
        "sonnet",
        aliases=("claude-sonnet-4-5",),
    ),
    _model(
        "claude-opus-4-1-20250805",
        "Claude Opus 4.1",
        "2025-08-05",
        "opus",
        max_tokens=32_000,
        aliases=("claude-opus-4-1",),
    ),
    _model(
        "claude-opus-4-20250514",
        "Claude Opus 4",
        "2025-05-14",
        "opus",
        max_tokens=32_000,
        aliases=("claude-opus-4-0",),
    ),
    _model(
        "claude-sonnet-4-20250514",
        "Claude Sonnet 4",
        "2025-05-14",
        "sonnet",
        aliases=("claude-sonnet-4-0",),
    ),
]


class Catalogue:
    def __init__(self, env: Mapping[str, str]) -> None:
        extra = [m.strip() for m in (env.get("TWIN_ANTHROPIC_MODELS") or "").split(",")]
        known = {name for model in CATALOGUE for name in (model.id, *model.aliases)}
        newest = CATALOGUE[0]
        added = [
            Model(
                model_id,
                model_id,
                EPOCH,
                newest.line,
                newest.max_input_tokens,
                newest.max_tokens,
                newest.effort,
                newest.adaptive,
            )
            for model_id in extra
            if model_id and model_id not in known
        ]
        self.models = [*added, *CATALOGUE]
        self._by_id = {name: model for model in self.models for name in (model.id, *model.aliases)}

    def get(self, model_id: str) -> Model | None:
        return self._by_id.get(model_id)

    def ids(self) -> list[str]:
        """The listed ids (aliases are not listed, as the API does not list them)."""
        return [model.id for model in self.models]
