"""The project the twin stands in for: its auth settings, its tables, its database functions.

A Supabase project is configured in its dashboard and its migrations; the twin reads the same
facts from one document, YAML or JSON, named by ``TWIN_SUPABASE_PROJECT`` (a file path, or
``package:resource`` for a file shipped inside a Python package), and the control plane replaces
or amends it while the twin runs (``PUT``/``PATCH /_twin/supabase/project``)::

    auth:                      # AuthSettings, by GoTrue's names
      mailer_autoconfirm: false
    tables:                    # see converge_twins.mock_supabase.schema
      profiles: {columns: {id: uuid, tier: text}}
    functions:                 # see converge_twins.mock_supabase.functions
      monthly_usage: {args: [user_id], query: {table: usage, filters: {user_id: "eq.{{user_id}}"}}}

A reset goes back to the document the twin started with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from converge_twins.mock_supabase.auth_settings import AuthSettings, SettingsError
from converge_twins.mock_supabase.functions import Function, parse_functions
from converge_twins.mock_supabase.schema import TableSchema, parse_tables

SECTIONS = ("auth", "tables", "functions")


class ProjectError(SettingsError):
    """A project document the twin cannot use; the message names the place."""


@dataclass(frozen=True)
class Project:
    auth: AuthSettings = field(default_factory=AuthSettings)
    tables: Mapping[str, TableSchema] = field(default_factory=dict)
    functions: Mapping[str, Function] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_document(
        cls, document: Any, base: AuthSettings | None = None, *, allow_python: bool = False
    ) -> Project:
        """The project a document describes; Python functions only when ``allow_python``."""
        if document is None:
            document = {}
        if not isinstance(document, dict):
            raise ProjectError("the project document must be a mapping of auth, tables, functions")
        unknown = set(document) - set(SECTIONS)
        if unknown:
            raise ProjectError(
                f"unknown section(s) {', '.join(sorted(unknown))}; expected {', '.join(SECTIONS)}"
            )
        auth = document.get("auth") or {}
        if not isinstance(auth, dict):
            raise ProjectError("auth: expected a mapping of settings")
        return cls(
            (base or AuthSettings()).updated(auth),
            parse_tables(document.get("tables")),
            parse_functions(document.get("functions"), allow_python=allow_python),
            document,
        )

    def merged(self, changes: Any) -> Project:
        """This project with ``changes`` laid over it, section by section (PATCH).

        Functions named in ``changes`` are added or replaced; the others, Python ones included,
        stay as they were.
        """
        if not isinstance(changes, dict):
            raise ProjectError("a project change must be a mapping of auth, tables, functions")
        document = {key: dict(value) for key, value in self.document.items()}
        for section, value in changes.items():
            if section not in SECTIONS:
                raise ProjectError(f"unknown section {section!r}; expected {', '.join(SECTIONS)}")
            if not isinstance(value, dict):
                raise ProjectError(f"{section}: expected a mapping")
            document.setdefault(section, {}).update(value)
        auth = self.auth.updated(changes.get("auth") or {})
        tables = parse_tables(document.get("tables")) if "tables" in changes else self.tables
        functions = dict(self.functions)
        functions.update(parse_functions(changes.get("functions"), allow_python=False))
        return Project(auth, tables, functions, document)

    def describe(self) -> dict[str, Any]:
        return {
            "auth": asdict(self.auth),
            **{k: v for k, v in self.document.items() if k != "auth"},
        }


def read_document(location: str) -> Any:
    """The document at a path, or at ``package:resource`` inside an installed package."""
    path = Path(location)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    elif ":" in location and not path.exists():
        package, _, name = location.partition(":")
        try:
            text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
        except (ModuleNotFoundError, FileNotFoundError) as exc:
            raise ProjectError(f"{location}: no such project file") from exc
    else:
        raise ProjectError(f"{location}: no such project file")
    try:
        return json.loads(text) if location.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ProjectError(f"{location}: not valid YAML or JSON: {exc}") from exc
