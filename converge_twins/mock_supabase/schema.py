"""The project's tables as its migrations would declare them: columns, keys, foreign keys.

The ``tables`` section of the project document (see :mod:`.project`)::

    tables:
      profiles:
        columns:                          # omit for a schemaless table (any columns)
          id: uuid                        # shorthand for {type: uuid}
          user_id: {type: uuid, nullable: false, unique: true}
          tier: {type: text, default: free}
          created_at: {type: timestamptz, default: now()}
        primary_key: [id]                 # default: [id] when there is an id column
        unique: [[user_id, month]]        # more unique constraints
        foreign_keys:
          - {columns: [user_id], references: users(id), on_delete: cascade}

A column's ``default`` is a value, ``now()``, ``gen_random_uuid()`` or ``identity`` (integer
columns of the ``serial`` kinds are identities anyway). A foreign key's ``references`` is
``table(column, ...)`` or just ``table`` (its primary key); ``name`` defaults to PostgreSQL's
``<table>_<columns>_fkey``; ``on_delete`` is ``no action`` (the default), ``restrict``,
``cascade`` or ``set null``. Values are checked and converted as PostgreSQL would on insert
(22P02 for an integer column given ``"abc"``), and filters compare by the column's type.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from converge_twins.mock_supabase.auth_settings import SettingsError
from converge_twins.mock_supabase.errors import PostgrestError
from converge_twins.mock_supabase.ranges import Range

KINDS: dict[str, tuple[str, str]] = {}  # type name -> (kind, name in PostgreSQL's messages)
for _names, _kind, _sql in (
    ("text varchar char character citext name bpchar", "text", "text"),
    ("int int4 integer serial serial4", "int", "integer"),
    ("int2 smallint smallserial serial2", "int", "smallint"),
    ("int8 bigint bigserial serial8", "int", "bigint"),
    ("numeric decimal money", "number", "numeric"),
    ("real float4", "number", "real"),
    ("float float8 double", "number", "double precision"),
    ("bool boolean", "bool", "boolean"),
    ("json", "json", "json"),
    ("jsonb", "json", "jsonb"),
    ("uuid", "uuid", "uuid"),
    ("timestamptz", "timestamptz", "timestamp with time zone"),
    ("timestamp", "timestamp", "timestamp without time zone"),
    ("date", "date", "date"),
    ("time timetz", "time", "time without time zone"),
    ("int4range int8range numrange daterange tsrange tstzrange", "range", "range"),
    ("tsvector", "tsvector", "tsvector"),
):
    for _name in _names.split():
        KINDS[_name] = (_kind, _sql)
ALIASES = {
    "character varying": "varchar",
    "double precision": "float8",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
}
SERIALS = frozenset({"serial", "serial2", "serial4", "serial8", "smallserial", "bigserial"})
ON_DELETE = ("no action", "restrict", "cascade", "set null")
_TRUE = frozenset({"t", "true", "y", "yes", "on", "1"})
_FALSE = frozenset({"f", "false", "n", "no", "off", "0"})


def invalid_input(sql_type: str, value: Any) -> PostgrestError:
    text = value if isinstance(value, str) else json.dumps(value)
    return PostgrestError(400, "22P02", f'invalid input syntax for type {sql_type}: "{text}"')


@dataclass(frozen=True)
class ColumnType:
    name: str  # as declared, normalized: "int8", "text", "uuid", "int4range", ...
    array: bool = False

    @classmethod
    def parse(cls, text: str) -> ColumnType:
        declared = " ".join(text.strip().lower().split())
        array = declared.endswith("[]")
        base = ALIASES.get(declared.removesuffix("[]").strip(), declared.removesuffix("[]").strip())
        base = re.sub(r"\(.*\)$", "", base).strip()  # varchar(20), numeric(10,2)
        if base not in KINDS:
            raise SettingsError(f"unknown type {text!r}")
        return cls(base, array)

    @property
    def kind(self) -> str:
        return KINDS[self.name][0]

    @property
    def sql(self) -> str:
        return KINDS[self.name][1] if self.kind != "range" else self.name

    def element(self) -> ColumnType:
        return ColumnType(self.name)

    def convert(self, value: Any) -> Any:
        """A JSON value stored into a column of this type, or 22P02 as PostgreSQL would."""
        if value is None:
            return None
        if self.array:
            items = parse_array(value) if isinstance(value, str) else value
            if not isinstance(items, list):
                raise PostgrestError(400, "22P02", f'malformed array literal: "{value}"')
            return [self.element().convert(item) for item in items]
        return _convert(self, value)


def _convert(column: ColumnType, value: Any) -> Any:
    kind = column.kind
    if kind == "text":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return json.dumps(value) if isinstance(value, dict | list) else str(value)
    if kind == "json":
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise invalid_input(column.sql, value)
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise invalid_input(column.sql, value)
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            number = Decimal(str(value).strip()) if isinstance(value, str) else None
        except InvalidOperation:
            number = None
        if number is None:
            raise invalid_input(column.sql, value)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "uuid":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise invalid_input(column.sql, value) from None
    if kind in ("timestamptz", "timestamp", "date", "time"):
        return _convert_time(column, value)
    if kind == "range":
        if not isinstance(value, str):
            raise PostgrestError(400, "22P02", f'malformed range literal: "{value}"')
        return Range.parse(value, column.name).text()
    return value if isinstance(value, str) else json.dumps(value)


def _convert_time(column: ColumnType, value: Any) -> str:
    if not isinstance(value, str):
        raise invalid_input(column.sql, value)
    text = value.strip()
    try:
        if column.kind == "time":
            return time.fromisoformat(text).isoformat()
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise invalid_input(column.sql, value) from None
    if column.kind == "date":
        return moment.date().isoformat()
    if column.kind == "timestamp":
        return moment.replace(tzinfo=None).isoformat()
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def parse_array(text: str) -> list[Any]:
    """A PostgreSQL array literal ``{a,"b c",NULL}``, one dimension."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise PostgrestError(400, "22P02", f'malformed array literal: "{text}"')
    items: list[Any] = []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|([^,]+)', body[1:-1]):
        quoted, plain = match.groups()
        if quoted is not None:
            items.append(re.sub(r"\\(.)", r"\1", quoted))
        else:
            word = plain.strip()
            items.append(None if word.upper() == "NULL" else word)
    return items


def comparable(value: Any, column: ColumnType | None) -> Any:
    """A stored value as the column's type orders it (times as datetimes, numbers as numbers)."""
    if value is None or column is None or column.array:
        return value
    if column.kind in ("timestamptz", "timestamp") and isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment
    if column.kind == "date" and isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = True
    default: Any = None  # a value, or "now()", "gen_random_uuid()", "identity"
    has_default: bool = False

    @property
    def identity(self) -> bool:
        return self.default == "identity" or self.type.name in SERIALS


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: str
    columns: tuple[str, ...]
    target: str
    target_columns: tuple[str, ...]
    on_delete: str = "no action"


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: Mapping[str, Column] | None  # None: schemaless, any column goes
    primary_key: tuple[str, ...] = ("id",)
    unique: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()

    def column(self, name: str) -> Column | None:
        return None if self.columns is None else self.columns.get(name)

    def column_type(self, name: str) -> ColumnType | None:
        found = self.column(name)
        return found.type if found is not None else None

    def unique_keys(self) -> list[tuple[str, tuple[str, ...]]]:
        """Every unique constraint with its PostgreSQL name, the primary key first."""
        named = [(f"{self.name}_pkey", self.primary_key)] if self.primary_key else []
        for columns in self.unique:
            named.append((f"{self.name}_{'_'.join(columns)}_key", columns))
        return named


def schemaless(name: str) -> TableSchema:
    return TableSchema(name, None)


def _columns(table: str, spec: Any) -> dict[str, Column]:
    if not isinstance(spec, dict) or not spec:
        raise SettingsError(f"tables.{table}.columns: expected a mapping of column to type")
    columns: dict[str, Column] = {}
    for name, declared in spec.items():
        where = f"tables.{table}.columns.{name}"
        column = {"type": declared} if isinstance(declared, str) else declared
        if not isinstance(column, dict) or not isinstance(column.get("type"), str):
            raise SettingsError(f"{where}: expected a type, or a mapping with a type")
        unknown = set(column) - {"type", "nullable", "default", "unique"}
        if unknown:
            raise SettingsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            kind = ColumnType.parse(column["type"])
        except SettingsError as exc:
            raise SettingsError(f"{where}: {exc}") from None
        nullable = column.get("nullable", True)
        if not isinstance(nullable, bool):
            raise SettingsError(f"{where}.nullable: expected true or false")
        columns[str(name)] = Column(
            str(name), kind, nullable, column.get("default"), "default" in column
        )
    return columns


def _foreign_key(table: str, index: int, spec: Any) -> ForeignKey:
    where = f"tables.{table}.foreign_keys[{index}]"
    if not isinstance(spec, dict):
        raise SettingsError(f"{where}: expected a mapping with columns and references")
    columns = spec.get("columns")
    if isinstance(columns, str):
        columns = [columns]
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise SettingsError(f"{where}.columns: expected a list of column names")
    reference = spec.get("references")
    if isinstance(reference, str):
        match = re.fullmatch(r"\s*([\w$]+)\s*(?:\(([^)]*)\))?\s*", reference)
        if match is None:
            raise SettingsError(f"{where}.references: expected table or table(column, ...)")
        target = match.group(1)
        targets = [c.strip() for c in match.group(2).split(",")] if match.group(2) else []
    elif isinstance(reference, dict) and isinstance(reference.get("table"), str):
        target = reference["table"]
        targets = reference.get("columns") or []
        if isinstance(targets, str):
            targets = [targets]
    else:
        raise SettingsError(f"{where}.references: expected table or table(column, ...)")
    on_delete = str(spec.get("on_delete", "no action")).lower().replace("_", " ")
    if on_delete not in ON_DELETE:
        raise SettingsError(f"{where}.on_delete: expected one of {', '.join(ON_DELETE)}")
    name = spec.get("name") or f"{table}_{'_'.join(columns)}_fkey"
    return ForeignKey(str(name), table, tuple(columns), target, tuple(targets), on_delete)


def parse_tables(spec: Any) -> dict[str, TableSchema]:
    """The ``tables`` section, checked; SettingsError names the bad place."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise SettingsError("tables: expected a mapping of table name to its definition")
    tables: dict[str, TableSchema] = {}
    for name, given in spec.items():
        definition = given or {}
        if not isinstance(definition, dict):
            raise SettingsError(f"tables.{name}: expected a mapping")
        unknown = set(definition) - {"columns", "primary_key", "unique", "foreign_keys"}
        if unknown:
            raise SettingsError(f"tables.{name}: unknown field(s) {', '.join(sorted(unknown))}")
        columns = _columns(name, definition["columns"]) if "columns" in definition else None
        primary = definition.get("primary_key")
        if primary is None:
            primary = ["id"] if columns is None or "id" in columns else []
        if isinstance(primary, str):
            primary = [primary]
        unique = [list(u) if isinstance(u, list) else [u] for u in definition.get("unique", [])]
        if columns is not None:
            unique += [[c.name] for c in columns.values() if _is_unique(definition, c.name)]
            for group in [primary, *unique]:
                for column in group:
                    if column not in columns:
                        raise SettingsError(f"tables.{name}: key column {column!r} is not declared")
        keys = definition.get("foreign_keys", [])
        if not isinstance(keys, list):
            raise SettingsError(f"tables.{name}.foreign_keys: expected a list")
        tables[str(name)] = TableSchema(
            str(name),
            columns,
            tuple(primary),
            tuple(tuple(u) for u in unique),
            tuple(_foreign_key(name, i, fk) for i, fk in enumerate(keys)),
        )
    _resolve_targets(tables)
    return tables


def _is_unique(definition: Mapping[str, Any], column: str) -> bool:
    spec = definition["columns"].get(column)
    return isinstance(spec, dict) and spec.get("unique") is True


def _resolve_targets(tables: dict[str, TableSchema]) -> None:
    """Fill a reference to a table's primary key, and check every reference exists."""
    for table in list(tables.values()):
        resolved = []
        for fk in table.foreign_keys:
            target = tables.get(fk.target)
            if target is None:
                raise SettingsError(
                    f"tables.{table.name}: foreign key {fk.name} references unknown table "
                    f"{fk.target!r}"
                )
            columns = fk.target_columns or target.primary_key
            if len(columns) != len(fk.columns):
                raise SettingsError(
                    f"tables.{table.name}: foreign key {fk.name} has {len(fk.columns)} "
                    f"column(s) but references {len(columns)}"
                )
            resolved.append(
                ForeignKey(fk.name, fk.table, fk.columns, fk.target, tuple(columns), fk.on_delete)
            )
        tables[table.name] = TableSchema(
            table.name, table.columns, table.primary_key, table.unique, tuple(resolved)
        )


def default_value(column: Column, now: str, new_uuid: str) -> Any:
    if column.default == "now()":
        return now
    if column.default == "gen_random_uuid()":
        return new_uuid
    return column.default
