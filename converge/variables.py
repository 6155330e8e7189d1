"""User variables: values a scenario gets from outside, such as a preview deployment's API key or
a seeded user's id.

Three sources, each overriding the one before: every environment variable
``CONVERGE_VAR_<NAME>`` (giving ``{{NAME}}``), a vars file (``--vars-file``: a YAML or JSON
mapping, values keep their JSON types), and ``--var NAME=VALUE`` (text). Values from the
environment and from a vars file are secrets: their texts go to the run's one redactor, like the
built-in tokens. ``--var`` values are not: they are on the command line already.

A name must be a variable name and may not be a built-in; a problem is a
:class:`~converge.errors.ConfigError` naming its source, raised before any scenario is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from converge._schema_errors import PathSegments
from converge._yaml import Loader, NodeInspector
from converge.errors import ConfigError
from converge.template import NAME, text_of
from converge.tokens import BUILTIN_VARIABLES

ENV_PREFIX = "CONVERGE_VAR_"
MAX_FILE_BYTES = 1_000_000  # as for a scenario file

_NAME = re.compile(NAME)


@dataclass(frozen=True)
class UserVariables:
    values: Mapping[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # texts to redact: every value from the environment or a file
    sources: Mapping[str, str] = field(default_factory=dict)  # name -> where its value came from

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.values)


NONE = UserVariables()


def collect(
    assignments: Sequence[str] = (),
    vars_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> UserVariables:
    """The user variables from the environment, then ``vars_file``, then ``assignments``."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in sorted((environ or {}).items()):
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :]
        _check_name(name, f"${key}")
        values[name], sources[name] = value, f"${key}"
        secrets.append(value)
    if vars_file is not None:
        for name, value in read_vars_file(vars_file).items():
            values[name], sources[name] = value, f"--vars-file {vars_file}"
            secrets.extend(_texts(value))
    for assignment in assignments:
        name, separator, value = assignment.partition("=")
        if not separator:
            raise ConfigError(f"--var {assignment!r}: expected NAME=VALUE")
        name = name.strip()
        _check_name(name, f"--var {assignment!r}")
        values[name], sources[name] = value, "--var"
    return UserVariables(values=values, secrets=tuple(secrets), sources=sources)


def read_vars_file(path: Path) -> dict[str, Any]:
    """A vars file: one YAML (or JSON) mapping of variable names to plain JSON values."""
    where = f"--vars-file {path}"
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"{where}: cannot read it: {error.strerror or error}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{where}: too large (at most {MAX_FILE_BYTES} bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    problems: list[str] = []

    def report(line: int, _where: PathSegments, message: str) -> None:
        problems.append(f"{path}:{line}: {message}")

    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}
        if not NodeInspector(report).inspect(node) or problems:
            raise ConfigError(f"--vars-file: {problems[0]}")
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(
            f"--vars-file: {path}:{line}: YAML syntax error: {error.problem}"
        ) from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as error:
        raise ConfigError(f"{where}: not a YAML or JSON mapping: {error}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of variable names to values")
    for name in data:
        _check_name(name, where)
    return data


def _check_name(name: str, source: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{source}: {name!r} is not a variable name "
            "(letters, digits and _, not starting with a digit)"
        )
    if name in BUILTIN_VARIABLES:
        raise ConfigError(
            f"{source}: {name!r} is a built-in variable and cannot be replaced; "
            "choose another name"
        )


def _texts(value: Any) -> Iterator[str]:
    """Every text inside a value (numbers as their text too): what the redactor must know."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif value is not None and not isinstance(value, bool):
        yield text_of(value)
