"""Values that look like keys or tokens, masked before a text leaves the machine for a model.

The spec review sends the diff and the spec to the model provider. A change that adds a key to a
config file, or a spec that shows a real token in an example, must not carry it there. Three kinds
of values are masked: well-known key formats (Anthropic, OpenAI, Stripe, GitHub, AWS, Slack,
Google, JWTs, PEM private keys), the values of secret environment variables (``HOLDOUT_PAT``,
``ANTHROPIC_API_KEY``, …) wherever they appear, and literal values assigned to names that say
"secret" (``password``, ``api_key``, ``client_secret``, ``token``…) when the value looks random
rather than like code or a placeholder.

A masked value becomes ``[MASKED <kind>]``, so the reviewer still sees that a secret was hard-coded
there (which a spec may forbid) without seeing it; the count by kind and by file goes to the report.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from converge.redact import MIN_SECRET_LENGTH, SECRET_ENV

# Well-known formats: (kind, pattern). Order matters where one format contains another.
KNOWN_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("anthropic-key", r"\bsk-ant-[A-Za-z0-9_-]{16,}"),
        ("openai-key", r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{32,}"),
        ("stripe-key", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),
        ("stripe-webhook-secret", r"\bwhsec_[A-Za-z0-9+/=]{16,}"),
        ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
        ("aws-access-key", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
        ("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}"),
        ("jwt", r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    )
)

_PEM = re.compile(
    r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)(.*?)(-----END [A-Z0-9 ]*PRIVATE KEY-----)", re.DOTALL
)

# name = "value", name: 'value', "name": "value", NAME=value (at the start of a line, as in .env
# files and YAML). The name must say it holds a secret; the value must look like one (below).
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*(?:secret|passw(?:or)?d|passwd|pwd|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|auth[_-]?key|credentials?|signing[_-]?key)[A-Za-z0-9_.-]*"
)
_QUOTED_ASSIGNMENT = re.compile(
    rf"""(?i)(["']?{_SECRET_NAME}["']?\s*(?::=|=>|==|[:=])\s*)(["'`])([^"'`\s]{{8,}})\2"""
)
_LINE_ASSIGNMENT = re.compile(
    rf"""(?im)^([+\- ]?\s*(?:export\s+)?{_SECRET_NAME}\s*[:=]\s*)([^\s"'`#]{{8,}})\s*$"""
)
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\$\{?|\{\{|<|%|\[|os\.|process\.|env\.|settings\.|config\.|self\.)|"
    r"(?:example|placeholder|changeme|change-me|your[_-]|dummy|redacted|masked|xxxx|\*\*\*\*|"
    r"secrets\.|\.\.\.)"
)
MIN_ENTROPY = 3.0  # bits per character: "hunter2hunter2" has 2.5, a random base64 key about 5


@dataclass
class Masked:
    """What was masked in the texts given to one :class:`Masker`."""

    by_kind: Counter[str] = field(default_factory=Counter)
    by_file: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.by_kind.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "by_kind": dict(sorted(self.by_kind.items())),
            "by_file": dict(sorted(self.by_file.items())),
        }


class Masker:
    """Masks secret-looking values; remembers how many of which kind it masked, and where."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        self.known = sorted(
            {value for value in known if value and len(value) >= MIN_SECRET_LENGTH},
            key=len,
            reverse=True,
        )
        self.masked = Masked()

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, known: Iterable[str] = ()
    ) -> Masker:
        env = os.environ if environ is None else environ
        return cls([*known, *(env.get(name, "") for name in SECRET_ENV)])

    def mask(self, text: str, where: str) -> str:
        """``text`` with every secret-looking value replaced; ``where`` names it in the count."""

        def hide(kind: str) -> str:
            self.masked.by_kind[kind] += 1
            self.masked.by_file[where] += 1
            return f"[MASKED {kind}]"

        for value in self.known:
            for _ in range(text.count(value)):
                hide("environment-secret")
            text = text.replace(value, "[MASKED environment-secret]")
        text = _PEM.sub(lambda m: m.group(1) + _pem_body(m.group(2), hide) + m.group(3), text)
        for kind, pattern in KNOWN_FORMATS:
            text = pattern.sub(_replacer(hide, kind), text)
        text = _QUOTED_ASSIGNMENT.sub(
            lambda m: (
                m.group(0)
                if not looks_secret(m.group(3))
                else f"{m.group(1)}{m.group(2)}{hide('assigned-secret')}{m.group(2)}"
            ),
            text,
        )
        return _LINE_ASSIGNMENT.sub(
            lambda m: (
                m.group(0)
                if not looks_secret(m.group(2))
                else f"{m.group(1)}{hide('assigned-secret')}"
            ),
            text,
        )


def _replacer(hide: Callable[[str], str], kind: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: hide(kind)


def _pem_body(body: str, hide: Callable[[str], str]) -> str:
    """The key's lines emptied, keeping a diff's line markers, the mask on the first one."""
    lines = body.split("\n")
    if len(lines) < 3:  # the key on the BEGIN/END lines themselves
        return hide("private-key")
    inner = [line[:1] if line[:1] in "+- " else "" for line in lines[1:-1]]
    inner[0] += hide("private-key")
    return "\n".join([lines[0], *inner, lines[-1]])


def looks_secret(value: str) -> bool:
    """A literal that looks like a credential: not a placeholder, not code, random enough."""
    if "MASKED" in value or _PLACEHOLDER.search(value):
        return False
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?:\(\))?", value):
        return False  # a dotted name such as settings.api_key or os.getenv()
    if value.endswith(")") or value.lower() in {"true", "false", "none", "null"}:
        return False
    return entropy(value) >= MIN_ENTROPY


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())
