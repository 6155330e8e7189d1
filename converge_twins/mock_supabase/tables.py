"""The project's tables held in memory, with the constraints PostgreSQL would enforce.

A table declared in the project (see :mod:`.schema`) has exactly its columns: values are
converted to their types, defaults fill what an insert leaves out, and NOT NULL (23502),
primary keys and unique constraints (23505), foreign keys (23503) and unknown columns (PGRST204
on write, 42703 on read) answer as PostgreSQL and PostgREST do. A table nobody declared is
schemaless: any column goes, a row without ``id`` gets the next integer (an identity column, as
Supabase's table editor creates) and one without ``created_at`` the clock's now; while its table
is empty a column it has never seen is not an error, since nobody can tell it is unknown.

Tables appear on first use unless the project declares tables (in ``tables`` or
``TWIN_SUPABASE_TABLES``): then any other table is PostgREST's 404 ``PGRST205``, as on a real
project. A statement changes all of its rows or none of them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from converge_twins.mock_supabase.errors import PostgrestError, perhaps
from converge_twins.mock_supabase.operators import Row, evaluate
from converge_twins.mock_supabase.query import Predicate
from converge_twins.mock_supabase.schema import (
    ColumnType,
    ForeignKey,
    TableSchema,
    default_value,
    schemaless,
)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


@dataclass
class Table:
    name: str
    schema: TableSchema
    rows: list[Row] = field(default_factory=list)
    next_id: int = 1

    @property
    def declared(self) -> bool:
        return self.schema.columns is not None

    def columns(self) -> list[str]:
        if self.schema.columns is not None:
            return list(self.schema.columns)
        known = ["id"]
        for row in self.rows:
            known.extend(name for name in row if name not in known)
        if "created_at" not in known:
            known.append("created_at")
        return known

    def type_of(self, name: str) -> ColumnType | None:
        return self.schema.column_type(name)

    def check_columns(self, names: Iterable[str]) -> None:
        """42703 for a column the table does not have (PostgreSQL's error, with its hint)."""
        if not self.declared and not self.rows:
            return  # an empty schemaless table cannot tell which columns it lacks
        known = self.columns()
        for name in names:
            if name != "*" and name not in known:
                close = perhaps(name, known)
                raise PostgrestError(
                    400,
                    "42703",
                    f"column {self.name}.{name} does not exist",
                    hint=f'Perhaps you meant to reference the column "{self.name}.{close}".'
                    if close
                    else None,
                )

    def matching(self, predicates: Iterable[Predicate]) -> list[Row]:
        wanted = list(predicates)
        return [
            row for row in self.rows if all(evaluate(p, row, self.type_of) is True for p in wanted)
        ]


class Store:
    """Every table of the project, and the rules writes go through."""

    def __init__(self, now: Callable[[], str], new_uuid: Callable[[], str]) -> None:
        self.now = now
        self.new_uuid = new_uuid
        self.schemas: dict[str, TableSchema] = {}
        self.strict = False
        self.tables: dict[str, Table] = {}

    def configure(self, schemas: Mapping[str, TableSchema], strict: bool) -> None:
        """Declare the project's tables; rows of tables that stay are kept."""
        self.schemas = dict(schemas)
        self.strict = strict
        for name in list(self.tables):
            if strict and name not in self.schemas:
                del self.tables[name]
            else:
                self.tables[name].schema = self.schemas.get(name, schemaless(name))

    def reset(self) -> None:
        self.tables.clear()

    def exists(self, name: str) -> bool:
        return not self.strict or name in self.schemas

    def table(self, name: str) -> Table:
        if not self.exists(name):
            close = perhaps(name, self.schemas)
            raise PostgrestError(
                404,
                "PGRST205",
                f"Could not find the table 'public.{name}' in the schema cache",
                hint=f"Perhaps you meant the table 'public.{close}'" if close else None,
            )
        if name not in self.tables:
            self.tables[name] = Table(name, self.schemas.get(name, schemaless(name)))
        return self.tables[name]

    def snapshot(self) -> dict[str, tuple[list[Row], int]]:
        return {name: (copy.deepcopy(t.rows), t.next_id) for name, t in self.tables.items()}

    def restore(self, saved: dict[str, tuple[list[Row], int]]) -> None:
        for name in list(self.tables):
            if name not in saved:
                del self.tables[name]  # appeared during the statement: it leaves no trace
        for name, (rows, next_id) in saved.items():
            self.tables[name].rows, self.tables[name].next_id = rows, next_id

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A statement's writes all take effect or none do: a PostgrestError inside the block puts
        every table back as it was, as PostgreSQL rolls the statement back."""
        saved = self.snapshot()
        try:
            yield
        except PostgrestError:
            self.restore(saved)
            raise

    # writing ----------------------------------------------------------------------------------

    def prepare(self, table: Table, given: Row, *, fill: bool, update: bool = False) -> Row:
        """A row as it is stored: unknown columns refused, values converted, defaults filled."""
        schema = table.schema
        if schema.columns is None:
            row = dict(given)
            if fill:
                if row.get("id") is None:
                    row["id"] = table.next_id
                row.setdefault("created_at", self.now())
            if isinstance(row.get("id"), int) and not isinstance(row["id"], bool):
                table.next_id = max(table.next_id, row["id"] + 1)
            return row
        for name in given:
            if name not in schema.columns:
                raise PostgrestError(
                    400,
                    "PGRST204",
                    f"Could not find the '{name}' column of '{table.name}' in the schema cache",
                )
        row = {}
        for name, column in schema.columns.items():
            if name in given:
                row[name] = column.type.convert(given[name])
            elif update:
                continue
            elif column.identity:
                row[name] = table.next_id
            elif fill and column.has_default:
                row[name] = column.type.convert(default_value(column, self.now(), self.new_uuid()))
            else:
                row[name] = None
            if column.identity and isinstance(row.get(name), int):
                table.next_id = max(table.next_id, row[name] + 1)
        return row

    def check(self, table: Table, row: Row, replacing: Row | None = None) -> None:
        schema = table.schema
        if schema.columns is not None:
            for name, column in schema.columns.items():
                required = not column.nullable or name in schema.primary_key
                if required and row.get(name) is None:
                    shown = ", ".join(_show(row.get(c)) for c in schema.columns)
                    raise PostgrestError(
                        400,
                        "23502",
                        f'null value in column "{name}" of relation "{table.name}" violates '
                        "not-null constraint",
                        f"Failing row contains ({shown}).",
                    )
        keys = (
            schema.unique_keys()
            if schema.columns is not None
            else [(f"{table.name}_pkey", ("id",))]
        )
        for constraint, columns in keys:
            values = tuple(row.get(c) for c in columns)
            if any(v is None for v in values):
                continue
            for other in table.rows:
                if other is replacing or other is row:
                    continue
                if tuple(other.get(c) for c in columns) == values:
                    raise PostgrestError(
                        409,
                        "23505",
                        f'duplicate key value violates unique constraint "{constraint}"',
                        f"Key ({', '.join(columns)})=({', '.join(map(_show, values))}) "
                        "already exists.",
                    )
        for fk in schema.foreign_keys:
            self.check_reference(fk, row)

    def check_reference(self, fk: ForeignKey, row: Row) -> None:
        values = tuple(row.get(c) for c in fk.columns)
        if any(v is None for v in values):
            return
        target = self.table(fk.target)
        if not any(tuple(r.get(c) for c in fk.target_columns) == values for r in target.rows):
            raise PostgrestError(
                409,
                "23503",
                f'insert or update on table "{fk.table}" violates foreign key constraint '
                f'"{fk.name}"',
                f"Key ({', '.join(fk.columns)})=({', '.join(map(_show, values))}) is not present "
                f'in table "{fk.target}".',
            )

    def conflict_target(self, table: Table, on_conflict: list[str] | None) -> tuple[str, ...]:
        columns = tuple(on_conflict) if on_conflict else table.schema.primary_key
        if table.declared:
            constraints = [set(c) for _, c in table.schema.unique_keys()]
            if set(columns) not in constraints:
                raise PostgrestError(
                    400,
                    "42P10",
                    "there is no unique or exclusion constraint matching the ON CONFLICT "
                    "specification",
                )
        return columns

    def insert(
        self,
        table: Table,
        rows: list[Row],
        *,
        conflict: tuple[str, ...] | None = None,
        merge: bool = False,
    ) -> list[Row]:
        """Insert ``rows``; with ``conflict`` columns an upsert (merge, or ignore duplicates)."""
        written: list[Row] = []
        for given in rows:
            if conflict is not None:
                existing = next(
                    (
                        row
                        for row in table.rows
                        if all(c in given for c in conflict)
                        and all(row.get(c) == self.stored(table, c, given[c]) for c in conflict)
                    ),
                    None,
                )
                if existing is not None:
                    if merge:
                        self.update(table, [existing], given)
                        written.append(existing)
                    continue
            row = self.prepare(table, given, fill=True)
            self.check(table, row)
            table.rows.append(row)
            written.append(row)
        return written

    def stored(self, table: Table, column: str, value: Any) -> Any:
        kind = table.type_of(column)
        return kind.convert(value) if kind is not None else value

    def update(self, table: Table, rows: list[Row], values: Row) -> None:
        changes = self.prepare(table, values, fill=False, update=True)
        for row in rows:
            updated = {**row, **changes}
            self.check(table, updated, replacing=row)
            self.cascade_key_change(table, row, updated)
            row.update(changes)

    def cascade_key_change(self, table: Table, before: Row, after: Row) -> None:
        for fk, source in self.references_to(table.name):
            old = tuple(before.get(c) for c in fk.target_columns)
            new = tuple(after.get(c) for c in fk.target_columns)
            if old != new and any(tuple(r.get(c) for c in fk.columns) == old for r in source.rows):
                raise PostgrestError(
                    409,
                    "23503",
                    f'update or delete on table "{table.name}" violates foreign key constraint '
                    f'"{fk.name}" on table "{source.name}"',
                    f"Key ({', '.join(fk.target_columns)})=({', '.join(map(_show, old))}) is "
                    f'still referenced from table "{source.name}".',
                )

    def references_to(self, name: str) -> list[tuple[ForeignKey, Table]]:
        found = []
        for schema in self.schemas.values():
            for fk in schema.foreign_keys:
                if fk.target == name:
                    found.append((fk, self.table(schema.name)))
        return found

    def delete(self, table: Table, rows: list[Row]) -> None:
        doomed = {id(row) for row in rows}
        for fk, source in self.references_to(table.name):
            for row in rows:
                key = tuple(row.get(c) for c in fk.target_columns)
                referring = [r for r in source.rows if tuple(r.get(c) for c in fk.columns) == key]
                if not referring or (source is table and all(id(r) in doomed for r in referring)):
                    continue
                if fk.on_delete == "cascade":
                    self.delete(source, referring)
                elif fk.on_delete == "set null":
                    for r in referring:
                        r.update(dict.fromkeys(fk.columns))
                else:
                    raise PostgrestError(
                        409,
                        "23503",
                        f'update or delete on table "{table.name}" violates foreign key '
                        f'constraint "{fk.name}" on table "{source.name}"',
                        f"Key ({', '.join(fk.target_columns)})=({', '.join(map(_show, key))}) "
                        f'is still referenced from table "{source.name}".',
                    )
        table.rows = [row for row in table.rows if id(row) not in doomed]
