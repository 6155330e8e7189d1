"""The one redaction point: every string that leaves converge passes through a :class:`Redactor`.

Secrets come from three places: values the run itself sent as credentials (built-in tokens,
Authorization headers), the environment (``HOLDOUT_PAT``, the JWT secret), and anything that merely
looks like a JWT, because a hostile or careless API may echo tokens we never saw.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"

# Header names whose values are credentials. Compared lower-cased.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "apikey", "api-key"}
)

# Environment variables whose values are secrets wherever they turn up.
SECRET_ENV = ("HOLDOUT_PAT", "CONVERGE_JWT_SECRET", "GITHUB_TOKEN")

# Header.payload.signature, each base64url; both header and payload are JSON objects ("eyJ").
_JWT = r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"

# Shorter values would mask ordinary words ("Bearer", "ok") all over the report.
MIN_SECRET_LENGTH = 6


def secrets_of_header(name: str, value: str) -> tuple[str, ...]:
    """The secret parts of one request header: the whole value and, for "Bearer x", x alone."""
    if name.lower() not in SECRET_HEADERS or not value:
        return ()
    _scheme, _, credential = value.partition(" ")
    if credential.strip():
        return (value, credential.strip())
    return (value,)


class Redactor:
    """Replaces every known secret, and anything JWT-shaped, with ``[REDACTED]``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = sorted(
            {s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LENGTH},
            key=len,
            reverse=True,  # longest first, so a secret containing another is masked whole
        )
        alternatives = [re.escape(s) for s in known] + [_JWT]
        self._pattern = re.compile("|".join(alternatives))
        self.secrets = frozenset(known)

    @classmethod
    def from_environment(cls, secrets: Iterable[str] = ()) -> Redactor:
        env = [os.environ.get(name, "") for name in SECRET_ENV]
        return cls([*secrets, *env])

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        return Redactor([*self.secrets, *secrets])

    def text(self, text: str) -> str:
        return self._pattern.sub(MASK, text)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string (keys included) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value
