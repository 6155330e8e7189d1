"""The ``Prefer`` header, as PostgREST reads it, and the ``Preference-Applied`` it answers.

Understood: ``return=minimal|representation|headers-only``, ``count=exact|planned|estimated``
(all three count exactly here), ``resolution=merge-duplicates|ignore-duplicates``,
``missing=default|null``, ``handling=strict|lenient``, ``max-affected=N`` and ``tx`` (accepted
and not applied, as on Supabase, whose ``db-tx-end`` does not allow overriding). An unknown or
malformed preference is ignored, unless ``handling=strict`` asks for 400 ``PGRST122``.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from converge_twins.mock_supabase.errors import PostgrestError

ALLOWED: dict[str, tuple[str, ...] | None] = {
    "return": ("minimal", "representation", "headers-only"),
    "count": ("exact", "planned", "estimated"),
    "resolution": ("merge-duplicates", "ignore-duplicates"),
    "missing": ("default", "null"),
    "handling": ("strict", "lenient"),
    "tx": ("commit", "rollback"),
    "params": ("single-object",),
    "timezone": None,
    "max-affected": None,
}


@dataclass(frozen=True)
class Preferences:
    values: dict[str, str]

    @classmethod
    def parse(cls, request: Request) -> Preferences:
        values: dict[str, str] = {}
        invalid: list[str] = []
        for header in request.headers.getlist("prefer"):
            for raw in header.split(","):
                item = raw.strip()
                if not item:
                    continue
                key, _, value = item.partition("=")
                key, value = key.strip(), value.strip()
                allowed = ALLOWED.get(key, ())
                valid = key in ALLOWED and (allowed is None or value in allowed)
                if key == "max-affected":
                    valid = value.isdigit()
                if valid:
                    values.setdefault(key, value)
                else:
                    invalid.append(item)
        if invalid and values.get("handling") == "strict":
            raise PostgrestError(
                400,
                "PGRST122",
                "Invalid preferences given with handling=strict",
                f"Invalid preferences: {', '.join(invalid)}",
            )
        return cls(values)

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    @property
    def counting(self) -> bool:
        return "count" in self.values

    @property
    def representation(self) -> bool:
        return self.values.get("return") == "representation"

    def applied(self, *keys: str) -> dict[str, str]:
        """``Preference-Applied`` for the preferences this request used, in PostgREST's order."""
        used = [f"{key}={self.values[key]}" for key in keys if key in self.values]
        return {"Preference-Applied": ", ".join(used)} if used else {}
