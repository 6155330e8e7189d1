"""The database functions a project exposes as ``/rest/v1/rpc/<name>``, declared for the twin.

The ``functions`` section of the project document declares each function's parameters and what
it does, in one of four ways::

    functions:
      usage_this_month:                       # rows of a table, chosen by the arguments
        args: [user_id, month]
        query: {table: analyses, filters: {user_id: "eq.{{user_id}}", month: "eq.{{month}}"}}
      plan_limits:                            # a fixed answer, with the arguments put in
        args: {tier: {default: free}}
        result: {tier: "{{tier}}", monthly: 3}
      refuse:                                 # RAISE, as plpgsql would
        raise: {code: P0001, message: "not today", hint: "try tomorrow"}
      increment_usage:                        # anything else: Python (project files only)
        args: [user_id]
        python: my_project.twin_functions:increment_usage
        returns: void

``args`` is a list of required names, or a mapping of name to ``{default: value}`` for optional
ones; a call must name only declared arguments and every required one, else PostgREST's 404
``PGRST202``. In templates ``"{{name}}"`` alone keeps the argument's JSON type, inside a longer
string it is written as text. A ``query`` answers a set of rows (``single: true``: one row or
null) that ``select``, filters, ``order`` and ranges then shape as for a table; ``returns:
void`` answers 204. A Python function is called as ``function(db, **arguments)`` with a
:class:`Database` on the twin's tables, may raise :class:`Raise`, and is only loaded from a
project file, never through the control plane. Called with GET (read-only, as PostgREST runs
it) a function that writes fails with 405 ``25006``.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from converge_twins.mock_supabase.auth_settings import SettingsError
from converge_twins.mock_supabase.errors import PostgrestError, perhaps, sqlstate_status
from converge_twins.mock_supabase.query import parse_filter
from converge_twins.mock_supabase.tables import Store

KINDS = ("query", "result", "raise", "python")
_TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


class Raise(PostgrestError):
    """What a Python function raises to fail as ``RAISE`` would: the status follows the code."""

    def __init__(
        self, code: str, message: str, details: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(sqlstate_status(code), code, message, details, hint)


@dataclass(frozen=True)
class Parameter:
    name: str
    required: bool = True
    default: Any = None


@dataclass(frozen=True)
class Function:
    name: str
    parameters: tuple[Parameter, ...]
    kind: str
    body: Any
    void: bool = False

    def accepts(self, names: set[str]) -> bool:
        declared = {p.name for p in self.parameters}
        required = {p.name for p in self.parameters if p.required}
        return names <= declared and required <= names


def _parameters(where: str, spec: Any) -> tuple[Parameter, ...]:
    if spec is None:
        return ()
    if isinstance(spec, list) and all(isinstance(name, str) for name in spec):
        return tuple(Parameter(name) for name in spec)
    if isinstance(spec, dict):
        found = []
        for name, detail in spec.items():
            if detail is None or isinstance(detail, str):  # name: type
                found.append(Parameter(str(name)))
            elif isinstance(detail, dict):
                found.append(Parameter(str(name), "default" not in detail, detail.get("default")))
            else:
                raise SettingsError(f"{where}.args.{name}: expected a type or {{default: value}}")
        return tuple(found)
    raise SettingsError(f"{where}.args: expected a list of names or a mapping")


def parse_functions(spec: Any, *, allow_python: bool) -> dict[str, Function]:
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise SettingsError("functions: expected a mapping of function name to its definition")
    functions = {}
    for name, definition in spec.items():
        where = f"functions.{name}"
        if not isinstance(definition, dict):
            raise SettingsError(f"{where}: expected a mapping")
        kinds = [kind for kind in KINDS if kind in definition]
        if len(kinds) != 1:
            raise SettingsError(f"{where}: give exactly one of {', '.join(KINDS)}")
        unknown = set(definition) - {*KINDS, "args", "returns"}
        if unknown:
            raise SettingsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        kind = kinds[0]
        body = definition[kind]
        if kind == "python":
            if not allow_python:
                raise SettingsError(
                    f"{where}.python: Python functions load only from the project file "
                    "(TWIN_SUPABASE_PROJECT), not through the control plane"
                )
            body = _load(where, body)
        elif kind == "query":
            if not isinstance(body, dict) or not isinstance(body.get("table"), str):
                raise SettingsError(f"{where}.query: expected {{table, filters?, single?}}")
        elif kind == "raise" and (
            not isinstance(body, dict) or not isinstance(body.get("message"), str)
        ):
            raise SettingsError(f"{where}.raise: expected {{code?, message, details?, hint?}}")
        functions[str(name)] = Function(
            str(name),
            _parameters(where, definition.get("args")),
            kind,
            body,
            str(definition.get("returns", "")).strip().lower() == "void",
        )
    return functions


def _load(where: str, target: Any) -> Callable[..., Any]:
    if not isinstance(target, str) or ":" not in target:
        raise SettingsError(f"{where}.python: expected module:function")
    module, _, attribute = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise SettingsError(f"{where}.python: cannot load {target}: {exc}") from None
    if not callable(found):
        raise SettingsError(f"{where}.python: {target} is not callable")
    return found  # type: ignore[no-any-return]


def fill(template: Any, arguments: Mapping[str, Any]) -> Any:
    """``{{name}}`` templates filled with the call's arguments, at any depth."""
    if isinstance(template, dict):
        return {key: fill(value, arguments) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(item, arguments) for item in template]
    if not isinstance(template, str):
        return template
    whole = _TEMPLATE.fullmatch(template.strip())
    if whole is not None:
        return arguments.get(whole.group(1))

    def text(match: re.Match[str]) -> str:
        value = arguments.get(match.group(1))
        return value if isinstance(value, str) else json.dumps(value)

    return _TEMPLATE.sub(text, template)


class Database:
    """The twin's tables as a Python function sees them; filters are PostgREST expressions."""

    def __init__(self, store: Store, *, read_only: bool) -> None:
        self.store = store
        self.read_only = read_only

    def _rows(self, table: str, filters: Mapping[str, str]) -> list[dict[str, Any]]:
        found = self.store.table(table)
        conditions = [parse_filter(column, text)[1] for column, text in filters.items()]
        return found.matching(conditions)

    def _writing(self, statement: str) -> None:
        if self.read_only:
            raise PostgrestError(
                405, "25006", f"cannot execute {statement} in a read-only transaction"
            )

    def select(self, table: str, **filters: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self._rows(table, filters)]

    def insert(self, table: str, rows: Any) -> list[dict[str, Any]]:
        self._writing("INSERT")
        many = rows if isinstance(rows, list) else [rows]
        return [dict(r) for r in self.store.insert(self.store.table(table), many)]

    def update(self, table: str, values: Mapping[str, Any], **filters: str) -> list[dict[str, Any]]:
        self._writing("UPDATE")
        rows = self._rows(table, filters)
        self.store.update(self.store.table(table), rows, dict(values))
        return [dict(row) for row in rows]

    def delete(self, table: str, **filters: str) -> list[dict[str, Any]]:
        self._writing("DELETE")
        rows = self._rows(table, filters)
        self.store.delete(self.store.table(table), rows)
        return [dict(row) for row in rows]


def not_found(
    functions: Mapping[str, Function], name: str, names: list[str], *, post: bool
) -> PostgrestError:
    """PostgREST's 404 ``PGRST202`` for a function, or a signature, it does not have."""
    arguments = ", ".join(sorted(names))
    shown = f"public.{name}" + (f"({arguments})" if names else " without parameters")
    searched = (
        f" with parameter{'s' if len(names) > 1 else ''} {arguments}"
        if names
        else " without parameters"
    )
    if post:
        searched += " or with a single unnamed json/jsonb parameter"
    known = functions.get(name)
    if known is not None:
        declared = ", ".join(sorted(p.name for p in known.parameters))
        hint: str | None = f"Perhaps you meant to call the function public.{name}({declared})"
    else:
        close = perhaps(name, functions)
        hint = f"Perhaps you meant to call the function public.{close}" if close else None
    return PostgrestError(
        404,
        "PGRST202",
        f"Could not find the function {shown} in the schema cache",
        f"Searched for the function public.{name}{searched}, but no matches were found in the "
        "schema cache.",
        hint,
    )


def call(function: Function, arguments: Mapping[str, Any], db: Database) -> Any:
    """The function's answer: rows (a list), one row, a value, or None for void."""
    values = {p.name: arguments.get(p.name, p.default) for p in function.parameters}
    if function.kind == "result":
        return fill(function.body, values)
    if function.kind == "raise":
        spec = fill(function.body, values)
        code = str(spec.get("code", "P0001"))
        raise Raise(code, str(spec["message"]), spec.get("details"), spec.get("hint"))
    if function.kind == "query":
        spec = fill(function.body, values)
        filters = {str(k): str(v) for k, v in (spec.get("filters") or {}).items()}
        rows = db.select(spec["table"], **filters)
        if spec.get("single"):
            return rows[0] if rows else None
        return rows
    try:
        return function.body(db, **values)
    except PostgrestError:
        raise
    except Exception as exc:  # a bug in the project's function: PostgreSQL's internal error
        raise PostgrestError(500, "XX000", f"{function.name}: {exc}") from exc
