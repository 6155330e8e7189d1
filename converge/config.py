"""One ``Settings`` object from setup.cfg's ``[converge]`` section and the environment.

Invoke does not read setup.cfg, so tasks.py reads the section with :func:`invoke_defaults` and
hands the raw text values to ``Collection.configure({"converge": ...})``; invoke.yaml and
``INVOKE_CONVERGE_*`` variables then override them the usual Invoke way, and each task builds its
``Settings`` with :meth:`Settings.from_mapping`. Validation happens there, inside the task's error
guard, so a bad value is a one-line message naming the key and exit 2, never an import-time
traceback of tasks.py.

A few values only ever come from the environment, because they differ per machine or are
secrets: ``API_URL`` (overrides ``api_url``), the JWT secret (from the variable named by
``jwt_secret_env``) and ``HOLDOUT_PAT``. Secrets are kept out of ``repr`` and out of
:meth:`Settings.to_invoke_config`, so printing the settings or the Invoke config never shows them.
"""

from __future__ import annotations

import configparser
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from converge.errors import ConfigError
from converge.model import DETAILS, GATES, TIERS, Detail, Gate, Priority

SECTION = "converge"
SOURCE = "setup.cfg [converge]"

BackendChoice = Literal["auto", "compose", "process"]
Choice = TypeVar("Choice", bound=str)  # a Literal of config values (converge.model.Gate, ...)
MAX_TIMEOUT = 86400.0  # seconds: a day per step is already no timeout at all
# Beyond these a value is a typo, not a plan: 10^22 runs would only grow memory until the
# machine gives out, and a thread per worker costs memory whether or not the API keeps up.
MAX_RUNS = 1000
MAX_WORKERS = 64
# Scenarios run in parallel unless told otherwise. A step is I/O-bound (a worker mostly waits for
# the API), so threads cost little; eight keep a small machine's client busy against an API that
# takes tens of milliseconds (8 workers are about 7x one at 50 ms a request), and are what the
# reference stack is measured to keep up with (bench/run.py). More would mostly load the API.
DEFAULT_WORKERS = 8
BACKENDS: tuple[BackendChoice, ...] = ("auto", "compose", "process")

# The JWT secret of the reference stack; kept equal to converge.tokens.DEFAULT_JWT_SECRET (a test
# pins that) so this module does not import the token minting code just to read configuration.
DEFAULT_JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"

# Every key of the section with its default, as setup.cfg text. The order is the order of
# `to_invoke_config()` and of the documentation.
DEFAULTS: dict[str, str] = {
    "api_url": "http://127.0.0.1:8000",
    "scenarios_dir": ".holdouts",
    "holdouts_repo": "holdouts-fixture",
    "holdouts_ref": "",
    "report_file": "reports/latest.json",
    "threshold_critical": "85",
    "threshold_important": "85",
    "threshold_nice_to_have": "85",
    "gate": "mean",
    "detail": "public",
    "timeout": "10",
    "workers": str(DEFAULT_WORKERS),
    "vars_file": "",
    "trust_env": "false",
    "twins_backend": "auto",
    "twins_variability": "0",
    "compose_file": "compose/docker-compose.yml",
    "compose_project": "converge",
    "jwt_secret_env": "CONVERGE_JWT_SECRET",
    "gate_lint": "ruff check .",
    "gate_types": "mypy",
    "gate_backend": "pytest -q",
    "gate_frontend": "",
    # The spec review gate (converge.spec_review): what the specification is, what the change is
    # measured from, and how the model is asked.
    "spec_files": "SPEC.md\ndocs/spec/**/*.md",
    "spec_exclude": "",
    "spec_base": "",
    "spec_model": "claude-sonnet-4-6",
    "spec_max_tokens": "8192",
    "spec_temperature": "",
    "spec_context_tokens": "200000",
    "spec_max_chunks": "20",
    "spec_max_retries": "2",
}

MAX_RETRIES = 10  # the SDK backs off exponentially: ten retries already wait minutes
MAX_SPEC_TOKENS = 10_000_000  # far above any model's context: a bound, not a policy
MAX_SPEC_CHUNKS = 1000


@dataclass(frozen=True)
class ReviewSettings:
    """How ``invoke gates.spec`` reviews a change against the specification."""

    spec_files: tuple[str, ...]  # globs relative to the root (git pathspec glob syntax)
    exclude: tuple[str, ...]  # globs of changed files never sent (besides the holdouts)
    base: str  # "" = the pull request's base in CI, else the merge base with the default branch
    model: str
    max_tokens: int
    temperature: float | None  # None: not sent (the current API version rejects it)
    context_tokens: int  # what one request may hold, input and answer together
    max_chunks: int
    max_retries: int  # the SDK's retries of overloaded, rate-limited and failed requests
    api_key: str | None = field(default=None, repr=False)  # ANTHROPIC_API_KEY
    base_url: str | None = None  # ANTHROPIC_BASE_URL: a gateway or a twin

    def to_invoke_config(self) -> dict[str, str]:
        return {
            "spec_files": "\n".join(self.spec_files),
            "spec_exclude": "\n".join(self.exclude),
            "spec_base": self.base,
            "spec_model": self.model,
            "spec_max_tokens": str(self.max_tokens),
            "spec_temperature": "" if self.temperature is None else _number_text(self.temperature),
            "spec_context_tokens": str(self.context_tokens),
            "spec_max_chunks": str(self.max_chunks),
            "spec_max_retries": str(self.max_retries),
        }


@dataclass(frozen=True)
class Settings:
    """The pipeline's configuration, validated. Relative paths are resolved against ``root``."""

    root: Path
    api_url: str
    scenarios_dir: Path
    holdouts_repo: str  # a folder (relative to root), a path to a git repository, or a git URL
    holdouts_ref: str  # "" = the remote's default branch
    report_file: Path
    thresholds: Mapping[Priority, float]
    timeout: float
    workers: int
    twins_backend: BackendChoice
    compose_file: Path
    compose_project: str
    jwt_secret_env: str
    gate_lint: tuple[str, ...]
    gate_types: tuple[str, ...]
    gate_backend: tuple[str, ...]
    gate_frontend: tuple[str, ...]
    spec: ReviewSettings
    # mock-anthropic's TWIN_ANTHROPIC_VARIABILITY: 0 the same answer every time, up to 1 varied.
    twins_variability: float = 0.0
    gate: Gate = "mean"  # what thresholds are compared with: satisfaction or its lower bound
    # How much of what the holdouts check the Markdown, the step summary and JUnit show.
    detail: Detail = "public"
    vars_file: Path | None = None  # user variables for the scenarios (a YAML or JSON mapping)
    # Proxies and CA bundle from the environment for the requests to the API (--trust-env).
    trust_env: bool = False
    api_url_from_env: bool = False  # API_URL was set: it wins over a started stack's URL
    jwt_secret: str = field(default=DEFAULT_JWT_SECRET, repr=False)
    holdout_pat: str | None = field(default=None, repr=False)

    @classmethod
    def from_mapping(
        cls,
        values: Mapping[str, object],
        environ: Mapping[str, str] | None = None,
        *,
        root: Path | str = ".",
        file_values: Mapping[str, str] | None = None,
    ) -> Settings:
        """Validate a ``[converge]``-shaped mapping (setup.cfg text or Invoke config values).

        ``file_values`` are the values as read from setup.cfg: a key whose value differs from
        them came from an Invoke override, and its error message says so instead of blaming
        setup.cfg. Unknown keys are rejected so a typo does not silently fall back to a default.
        """
        env = os.environ if environ is None else environ
        reader = _Reader(values, file_values)
        reader.reject_unknown()
        base = Path(root).resolve()

        env_api_url = env.get("API_URL", "").strip()
        api_url = _url("API_URL", env_api_url) if env_api_url else reader.url("api_url")
        secret_env = reader.text("jwt_secret_env", required=True)
        jwt_secret = env.get(secret_env) or DEFAULT_JWT_SECRET

        backend = reader.text("twins_backend", required=True)
        if backend not in BACKENDS:
            raise ConfigError(reader.wrong("twins_backend", "one of auto, compose, process"))

        return cls(
            root=base,
            api_url=api_url,
            scenarios_dir=base / reader.text("scenarios_dir", required=True),
            holdouts_repo=reader.text("holdouts_repo", required=True),
            holdouts_ref=reader.text("holdouts_ref"),
            report_file=base / reader.text("report_file", required=True),
            thresholds={tier: reader.percent(_threshold_key(tier)) for tier in TIERS},
            timeout=reader.positive_number("timeout"),
            workers=reader.positive_int("workers", MAX_WORKERS),
            gate=reader.choice("gate", GATES),
            detail=reader.choice("detail", DETAILS),
            vars_file=base / reader.text("vars_file") if reader.text("vars_file") else None,
            trust_env=reader.boolean("trust_env"),
            twins_backend=backend,
            twins_variability=reader.fraction("twins_variability"),
            compose_file=base / reader.text("compose_file", required=True),
            compose_project=reader.text("compose_project", required=True),
            jwt_secret_env=secret_env,
            gate_lint=reader.commands("gate_lint"),
            gate_types=reader.commands("gate_types"),
            gate_backend=reader.commands("gate_backend"),
            gate_frontend=reader.commands("gate_frontend"),
            spec=_review_settings(reader, env),
            api_url_from_env=bool(env_api_url),
            jwt_secret=jwt_secret,
            holdout_pat=env.get("HOLDOUT_PAT") or None,
        )

    def to_invoke_config(self) -> dict[str, str]:
        """The settings as ``[converge]`` text, for ``Collection.configure({"converge": ...})``.

        Plain strings, so Invoke can override each from ``INVOKE_CONVERGE_<KEY>`` (it casts an
        environment value to the type of the existing one). Secrets are left out: they are read
        from the environment again when a task builds its Settings.
        """
        thresholds = {_threshold_key(tier): _number_text(v) for tier, v in self.thresholds.items()}
        return {
            "api_url": self.api_url,
            "scenarios_dir": _relative(self.scenarios_dir, self.root),
            "holdouts_repo": self.holdouts_repo,
            "holdouts_ref": self.holdouts_ref,
            "report_file": _relative(self.report_file, self.root),
            **thresholds,
            "gate": self.gate,
            "detail": self.detail,
            "timeout": _number_text(self.timeout),
            "workers": str(self.workers),
            "vars_file": _relative(self.vars_file, self.root) if self.vars_file else "",
            "trust_env": "true" if self.trust_env else "false",
            "twins_backend": self.twins_backend,
            "twins_variability": _number_text(self.twins_variability),
            "compose_file": _relative(self.compose_file, self.root),
            "compose_project": self.compose_project,
            "jwt_secret_env": self.jwt_secret_env,
            "gate_lint": "\n".join(self.gate_lint),
            "gate_types": "\n".join(self.gate_types),
            "gate_backend": "\n".join(self.gate_backend),
            "gate_frontend": "\n".join(self.gate_frontend),
            **self.spec.to_invoke_config(),
        }


def _review_settings(reader: _Reader, env: Mapping[str, str]) -> ReviewSettings:
    max_tokens = reader.positive_int("spec_max_tokens", MAX_SPEC_TOKENS)
    context = reader.positive_int("spec_context_tokens", MAX_SPEC_TOKENS)
    if context <= max_tokens:
        raise ConfigError(
            reader.wrong("spec_context_tokens", f"more tokens than spec_max_tokens ({max_tokens})")
        )
    retries = reader.int_between("spec_max_retries", 0, MAX_RETRIES)
    temperature_text = reader.text("spec_temperature")
    temperature = None
    if temperature_text:
        temperature = reader.number("spec_temperature")
        if not 0 <= temperature <= 1:
            raise ConfigError(reader.wrong("spec_temperature", "a number from 0 to 1, or empty"))
    base_url = env.get("ANTHROPIC_BASE_URL", "").strip()
    return ReviewSettings(
        spec_files=reader.globs("spec_files"),
        exclude=reader.globs("spec_exclude"),
        base=reader.text("spec_base"),
        model=reader.text("spec_model", required=True),
        max_tokens=max_tokens,
        temperature=temperature,
        context_tokens=context,
        max_chunks=reader.positive_int("spec_max_chunks", MAX_SPEC_CHUNKS),
        max_retries=retries,
        api_key=env.get("ANTHROPIC_API_KEY", "").strip() or None,
        base_url=_url("ANTHROPIC_BASE_URL", base_url) if base_url else None,
    )


def read_setup_cfg(path: Path | str) -> dict[str, str]:
    """The raw ``[converge]`` section of a setup.cfg (empty when the file or section is absent)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with Path(path).open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        return {}
    except (OSError, configparser.Error) as error:
        raise ConfigError(f"{path}: cannot read the [converge] section: {error}") from None
    if not parser.has_section(SECTION):
        return {}
    return {key: value.strip() for key, value in parser.items(SECTION)}


def invoke_defaults(root: Path | str) -> dict[str, str]:
    """The section as Invoke configuration: every key, setup.cfg's text over the defaults.

    Not validated on purpose (see the module docstring); unknown keys are kept so that the
    task reports them. Never raises for a missing file: the defaults apply.
    """
    try:
        file_values = read_setup_cfg(Path(root) / "setup.cfg")
    except ConfigError:
        file_values = {}  # the task re-reads the file and reports the problem under its guard
    return {**DEFAULTS, **file_values}


def load(
    root: Path | str = ".",
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Settings:
    """Settings for a project root: its setup.cfg, then ``overrides`` (Invoke's), then the env."""
    file_values = read_setup_cfg(Path(root) / "setup.cfg")
    values: dict[str, object] = {**DEFAULTS, **file_values, **(overrides or {})}
    return Settings.from_mapping(
        values, environ, root=root, file_values={**DEFAULTS, **file_values}
    )


# --- validation helpers -------------------------------------------------------------------


def _threshold_key(tier: Priority) -> str:
    return "threshold_" + tier.replace("-", "_")


class _Reader:
    def __init__(self, values: Mapping[str, object], file_values: Mapping[str, str] | None):
        self.values = {**DEFAULTS, **values}
        self.file_values = file_values

    def where(self, key: str) -> str:
        if self.file_values is not None and self.values.get(key) != self.file_values.get(key):
            return f"invoke configuration converge.{key}"
        return f"{SOURCE} {key}"

    def wrong(self, key: str, expected: str) -> str:
        return f"{self.where(key)}: expected {expected}, got {self.values.get(key)!r}"

    def reject_unknown(self) -> None:
        unknown = sorted(set(self.values) - set(DEFAULTS))
        if unknown:
            known = ", ".join(DEFAULTS)
            raise ConfigError(f"{self.where(unknown[0])}: unknown key (known keys: {known})")

    def text(self, key: str, *, required: bool = False) -> str:
        value = self.values.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ConfigError(self.wrong(key, "a string"))
        value = value.strip()
        if required and not value:
            raise ConfigError(f"{self.where(key)}: must not be empty")
        return value

    def url(self, key: str) -> str:
        try:
            return _url(self.where(key), self.text(key, required=True))
        except ConfigError:
            raise ConfigError(self.wrong(key, "an http:// or https:// URL")) from None

    def number(self, key: str) -> float:
        value = self.values.get(key)
        if isinstance(value, bool):
            raise ConfigError(self.wrong(key, "a number"))
        if isinstance(value, int | float):
            return float(value)
        try:
            return float(str(value).strip())
        except ValueError:
            raise ConfigError(self.wrong(key, "a number")) from None

    def percent(self, key: str) -> float:
        try:
            number = self.number(key)
        except ConfigError:
            number = float("nan")
        if not 0 <= number <= 100:
            raise ConfigError(self.wrong(key, "a number from 0 to 100"))
        return number

    def choice(self, key: str, choices: Sequence[Choice]) -> Choice:
        """One of ``choices`` (a Literal's values, such as GATES), typed as that Literal."""
        value = self.text(key, required=True)
        for choice in choices:
            if value == choice:
                return choice
        raise ConfigError(self.wrong(key, f"one of {', '.join(choices)}"))

    def boolean(self, key: str) -> bool:
        value = self.values.get(key)
        if isinstance(value, bool):
            return value
        text = str(value or "").strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0", ""):
            return False
        raise ConfigError(self.wrong(key, "true or false"))

    def fraction(self, key: str) -> float:
        try:
            number = self.number(key)
        except ConfigError:
            number = float("nan")
        if not 0 <= number <= 1:
            raise ConfigError(self.wrong(key, "a number from 0 to 1"))
        return number

    def positive_number(self, key: str) -> float:
        try:
            number = self.number(key)
        except ConfigError:
            number = float("nan")
        # Bounded: an infinite or huge timeout passed validation, then overflowed the socket's
        # own timeout deep inside the first request, as a traceback.
        if not 0 < number <= MAX_TIMEOUT:
            raise ConfigError(
                self.wrong(key, f"a number of seconds greater than 0 and at most {MAX_TIMEOUT:g}")
            )
        return number

    def positive_int(self, key: str, maximum: int) -> int:
        value = self.values.get(key)
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else 0
        except ValueError:
            number = 0
        if not 1 <= number <= maximum:
            raise ConfigError(self.wrong(key, f"a whole number from 1 to {maximum}"))
        return number

    def int_between(self, key: str, low: int, high: int) -> int:
        value = self.values.get(key)
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else low - 1
        except ValueError:
            number = low - 1
        if not low <= number <= high:
            raise ConfigError(self.wrong(key, f"a whole number from {low} to {high}"))
        return number

    def lines(self, key: str) -> tuple[str, ...]:
        """One value per line (setup.cfg), or a list of strings (invoke.yaml)."""
        value = self.values.get(key)
        if isinstance(value, list | tuple):
            if not all(isinstance(item, str) for item in value):
                raise ConfigError(self.wrong(key, "a list of strings"))
            lines = list(value)
        elif isinstance(value, str):
            lines = value.splitlines()
        elif value is None:
            lines = []
        else:
            raise ConfigError(self.wrong(key, "one value per line"))
        return tuple(line.strip() for line in lines if line.strip())

    def globs(self, key: str) -> tuple[str, ...]:
        """Path globs relative to the project root: never absolute, never leaving it."""
        patterns = self.lines(key)
        for pattern in patterns:
            if pattern.startswith(("/", ":")) or ".." in pattern.split("/"):
                raise ConfigError(
                    f"{self.where(key)}: {pattern!r} is not a glob relative to the project root"
                )
        return patterns

    def commands(self, key: str) -> tuple[str, ...]:
        """One command per line (setup.cfg), or a list of commands (invoke.yaml)."""
        value = self.values.get(key)
        if isinstance(value, list | tuple):
            lines = [item for item in value if isinstance(item, str)]
            if len(lines) != len(value):
                raise ConfigError(self.wrong(key, "a list of command strings"))
        elif isinstance(value, str):
            lines = value.splitlines()
        elif value is None:
            lines = []
        else:
            raise ConfigError(self.wrong(key, "one command per line"))
        commands = tuple(line.strip() for line in lines if line.strip())
        for command in commands:
            try:
                shlex.split(command)
            except ValueError as error:
                raise ConfigError(
                    f"{self.where(key)}: cannot parse the command {command!r}: {error}"
                ) from None
        return commands


def _url(where: str, value: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises for a port that is not a number in range)
    except ValueError as error:  # "http://[::1": an unclosed IPv6 address
        raise ConfigError(f"{where}: {value!r} is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: expected an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
