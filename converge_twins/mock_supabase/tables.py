"""PostgREST's query language over in-memory tables: filters, select, order, limit, offset.

Tables are schemaless and appear on first use, unless ``TWIN_SUPABASE_TABLES`` names the tables
that exist (then any other table is PostgREST's 404 ``PGRST205``). A column is known once a row
has it; filtering, ordering or selecting a column no row has, in a table that has rows, is
PostgreSQL's ``42703``. A row without ``id`` gets the next integer (an identity column, as
Supabase's table editor creates by default) and a row without ``created_at`` gets the clock's now.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
RESERVED_PARAMS = frozenset({"select", "order", "limit", "offset", "on_conflict", "columns"})
OPERATORS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "in", "is"})


class PostgrestError(Exception):
    """An error PostgREST answers with ``{"code", "details", "hint", "message"}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }


@dataclass(frozen=True)
class Filter:
    column: str
    operator: str
    value: str
    negated: bool = False

    def matches(self, row: Row) -> bool:
        outcome = _compare(self.operator, row.get(self.column), self.value)
        return not outcome if self.negated else outcome


def parse_filter(column: str, expression: str) -> Filter:
    negated = expression.startswith("not.")
    rest = expression[4:] if negated else expression
    operator, dot, value = rest.partition(".")
    if not dot or operator not in OPERATORS:
        raise PostgrestError(
            400,
            "PGRST100",
            f'"failed to parse filter ({expression})" (line 1, column 1)',
            f'unexpected "{operator}" expecting an operator (eq, neq, gt, gte, lt, lte, ...)',
        )
    if operator == "in" and not (value.startswith("(") and value.endswith(")")):
        raise PostgrestError(
            400, "PGRST100", f'"failed to parse filter (in.{value})" (line 1, column 1)'
        )
    return Filter(column, operator, value, negated)


def _typed(text: str, cell: Any) -> Any:
    """The filter's text read as the cell's type, the way PostgreSQL casts a literal."""
    if isinstance(cell, bool):
        return text.lower() in ("true", "t", "1", "yes", "on")
    if isinstance(cell, int | float):
        try:
            return float(text)
        except ValueError:
            return text
    if isinstance(cell, dict | list):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _in_values(text: str) -> list[str]:
    inner = text[1:-1]
    return [item.strip().strip('"') for item in re.findall(r'"[^"]*"|[^,]+', inner)]


def _like(pattern: str, flags: int = 0) -> re.Pattern[str]:
    parts = [re.escape(piece) for piece in re.split(r"[*%]", pattern)]
    return re.compile(".*".join(parts), flags | re.DOTALL)


def _compare(operator: str, cell: Any, text: str) -> bool:
    if operator == "is":
        wanted = text.lower()
        if wanted == "null":
            return cell is None
        if wanted in ("true", "false"):
            return cell is (wanted == "true")
        return cell is None if wanted == "unknown" else False
    if cell is None:
        return False  # SQL: a comparison with NULL is never true
    if operator == "in":
        return any(_equal(cell, item) for item in _in_values(text))
    if operator in ("like", "ilike"):
        flags = re.IGNORECASE if operator == "ilike" else 0
        return _like(text, flags).fullmatch(str(cell)) is not None
    if operator == "eq":
        return _equal(cell, text)
    if operator == "neq":
        return not _equal(cell, text)
    value = _typed(text, cell)
    try:
        left, right = cell, value
        return _ORDERINGS[operator](left, right)
    except TypeError:  # e.g. a number compared with text: order by type, as in _order_key
        return _ORDERINGS[operator](_order_key(cell), _order_key(value))


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: bool(a > b),
    "gte": lambda a, b: bool(a >= b),
    "lt": lambda a, b: bool(a < b),
    "lte": lambda a, b: bool(a <= b),
}


def _equal(cell: Any, text: str) -> bool:
    value = _typed(text, cell)
    if isinstance(cell, int | float) and not isinstance(cell, bool) and isinstance(value, float):
        return float(cell) == value
    if isinstance(value, str) and not isinstance(cell, str):
        return str(cell) == value
    return bool(cell == value)


def _order_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, json.dumps(value, sort_keys=True))


@dataclass(frozen=True)
class Ordering:
    column: str
    descending: bool
    nulls_first: bool


def parse_order(text: str) -> list[Ordering]:
    orderings = []
    for part in text.split(","):
        pieces = part.strip().split(".")
        column, modifiers = pieces[0], pieces[1:]
        if not column or any(
            m not in ("asc", "desc", "nullsfirst", "nullslast") for m in modifiers
        ):
            raise PostgrestError(
                400, "PGRST100", f'"failed to parse order ({text})" (line 1, column 1)'
            )
        descending = "desc" in modifiers
        # PostgreSQL's default: NULLs sort as if larger than any value.
        nulls_first = "nullsfirst" in modifiers or (descending and "nullslast" not in modifiers)
        orderings.append(Ordering(column, descending, nulls_first))
    return orderings


def apply_order(rows: list[Row], orderings: list[Ordering]) -> list[Row]:
    ordered = list(rows)
    for ordering in reversed(orderings):  # stable sorts, least significant key first
        present = [row for row in ordered if row.get(ordering.column) is not None]
        missing = [row for row in ordered if row.get(ordering.column) is None]
        present.sort(key=lambda row: _order_key(row[ordering.column]), reverse=ordering.descending)
        ordered = missing + present if ordering.nulls_first else present + missing
    return ordered


@dataclass(frozen=True)
class Selection:
    """``select=`` as output name -> source column; None means every column (``*``)."""

    columns: tuple[tuple[str, str], ...] | None


def parse_select(text: str | None, table: str) -> Selection:
    if text is None or text.strip() in ("", "*"):
        return Selection(None)
    if "(" in text:
        relation = text[: text.index("(")].split(",")[-1].split(":")[-1].strip()
        raise PostgrestError(
            400,
            "PGRST200",
            f"Could not find a relationship between '{table}' and '{relation}' in the schema cache",
            hint="mock-supabase keeps tables apart: select the related rows with their own query.",
        )
    columns = []
    for item in text.split(","):
        name = item.strip()
        if name == "*":
            return Selection(None)
        alias, colon, source = name.partition(":")
        source = (source if colon else alias).split("::")[0].strip()
        columns.append(((alias if colon else source).strip(), source))
    return Selection(tuple(columns))


def project(rows: Iterable[Row], selection: Selection) -> list[Row]:
    if selection.columns is None:
        return [dict(row) for row in rows]
    return [{alias: row.get(source) for alias, source in selection.columns} for row in rows]


@dataclass
class Table:
    name: str
    rows: list[Row] = field(default_factory=list)
    next_id: int = 1

    def columns(self) -> set[str]:
        known = {"id", "created_at"}
        for row in self.rows:
            known.update(row)
        return known

    def check_columns(self, names: Iterable[str]) -> None:
        if not self.rows:
            return  # an empty schemaless table cannot say which columns it lacks
        known = self.columns()
        for name in names:
            if name not in known:
                raise PostgrestError(400, "42703", f"column {self.name}.{name} does not exist")

    def select(self, filters: list[Filter]) -> list[Row]:
        self.check_columns(f.column for f in filters)
        return [row for row in self.rows if all(f.matches(row) for f in filters)]


class Store:
    def __init__(self, declared: Iterable[str] | None, now: Callable[[], str]) -> None:
        self.declared = frozenset(declared) if declared is not None else None
        self.now = now
        self.tables: dict[str, Table] = {}

    def reset(self) -> None:
        self.tables.clear()

    def table(self, name: str) -> Table:
        if self.declared is not None and name not in self.declared:
            raise PostgrestError(
                404,
                "PGRST205",
                f"Could not find the table 'public.{name}' in the schema cache",
            )
        return self.tables.setdefault(name, Table(name))

    def insert(
        self, table: Table, rows: list[Row], conflict: list[str] | None, merge: bool
    ) -> list[Row]:
        """Insert rows; with ``conflict`` columns an upsert (merge, or ignore duplicates)."""
        written: list[Row] = []
        for incoming in rows:
            if conflict is not None:
                existing = next(
                    (
                        row
                        for row in table.rows
                        if all(c in incoming and row.get(c) == incoming[c] for c in conflict)
                    ),
                    None,
                )
                if existing is not None:
                    if merge:
                        existing.update(incoming)
                        written.append(existing)
                    continue
            row = dict(incoming)
            if row.get("id") is None:
                row["id"] = table.next_id
            if isinstance(row["id"], int) and not isinstance(row["id"], bool):
                table.next_id = max(table.next_id, row["id"] + 1)
            if any(existing.get("id") == row["id"] for existing in table.rows):
                raise PostgrestError(
                    409,
                    "23505",
                    f'duplicate key value violates unique constraint "{table.name}_pkey"',
                    f"Key (id)=({row['id']}) already exists.",
                )
            row.setdefault("created_at", self.now())
            table.rows.append(row)
            written.append(row)
        return written
