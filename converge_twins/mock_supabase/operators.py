"""Filters evaluated on rows, with SQL's three-valued logic.

A comparison with NULL is neither true nor false (``None`` here), so ``not.eq.x`` does not
match a NULL any more than ``eq.x`` does, ``or`` is true when any side is, and a row is kept
only when its filters are true. Values are compared as the column's declared type, else as the
stored value's own type; a JSON path with ``->`` compares JSON and with ``->>`` text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from converge_twins.mock_supabase.errors import PostgrestError
from converge_twins.mock_supabase.query import Condition, FieldRef, Operation, Predicate
from converge_twins.mock_supabase.ranges import Range
from converge_twins.mock_supabase.schema import ColumnType, comparable, parse_array
from converge_twins.mock_supabase.textsearch import search

Row = dict[str, Any]
Truth = bool | None


def extract(row: Row, field: FieldRef) -> tuple[Any, bool]:
    """The value at ``field`` and whether it is text (the result of a ``->>``)."""
    value = row.get(field.name)
    is_text = False
    for step in field.path:
        if isinstance(value, dict) and isinstance(step.key, str):
            value = value.get(step.key)
        elif isinstance(value, list) and isinstance(step.key, int):
            value = value[step.key] if -len(value) <= step.key < len(value) else None
        else:
            value = None
        if step.text and value is not None and not isinstance(value, str):
            value = json.dumps(value, separators=(", ", ": "))
        is_text = step.text
    return value, is_text


def _typed(text: str, cell: Any, column: ColumnType | None) -> Any:
    """The filter's text read as the compared value's type, as PostgreSQL casts a literal."""
    if column is not None and column.kind == "json":
        return _json_literal(text)
    if column is not None and not column.array:
        return comparable(column.convert(text), column)
    if isinstance(cell, bool):
        lowered = text.strip().lower()
        if lowered in ("t", "true", "y", "yes", "on", "1"):
            return True
        if lowered in ("f", "false", "n", "no", "off", "0"):
            return False
        raise PostgrestError(400, "22P02", f'invalid input syntax for type boolean: "{text}"')
    if isinstance(cell, int | float):
        try:
            return float(text)
        except ValueError:
            raise PostgrestError(
                400, "22P02", f'invalid input syntax for type numeric: "{text}"'
            ) from None
    if isinstance(cell, dict | list):
        try:
            return json.loads(text)
        except ValueError:
            raise PostgrestError(
                400, "22P02", "invalid input syntax for type json", f'Token "{text}" is invalid.'
            ) from None
    return text


def _like(pattern: str, flags: int = 0) -> re.Pattern[str]:
    out = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "*%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), flags | re.DOTALL)


def _ordering(operator: str, left: Any, right: Any) -> bool:
    try:
        return bool(_ORDER[operator](left, right))
    except TypeError:  # e.g. a number against text in a schemaless column: compare as text
        return bool(_ORDER[operator](str(left), str(right)))


_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _as_array(text: str) -> list[Any]:
    stripped = text.strip()
    if stripped.startswith("["):
        value = json.loads(stripped)
        return value if isinstance(value, list) else [value]
    return parse_array(stripped)


def _same(cell: Any, item: Any) -> bool:
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        try:
            return float(cell) == float(item)
        except (TypeError, ValueError):
            return False
    if isinstance(cell, bool) and isinstance(item, str):
        return (
            str(cell).lower() == item.lower()
            or (cell and item == "t")
            or (not cell and item == "f")
        )
    return cell == item or str(cell) == str(item)


def _contains(container: Any, contained: Any) -> bool:
    """jsonb's ``@>``: objects by keys, arrays by elements, scalars by equality."""
    if isinstance(container, dict) and isinstance(contained, dict):
        return all(k in container and _contains(container[k], v) for k, v in contained.items())
    if isinstance(container, list):
        items = contained if isinstance(contained, list) else [contained]
        return all(any(_contains(c, i) for c in container) for i in items)
    return bool(container == contained)


def _range(value: Any, column: ColumnType | None) -> Range:
    kind = column.name if column is not None and column.kind == "range" else None
    return Range.parse(str(value), kind)


def _collection(operator: str, cell: Any, text: str, column: ColumnType | None) -> bool:
    """cs, cd and ov on arrays, JSON and ranges."""
    if isinstance(cell, list):
        wanted = _as_array(text)
        if operator == "cs":
            return all(any(_same(c, w) for c in cell) for w in wanted)
        if operator == "cd":
            return all(any(_same(c, w) for w in wanted) for c in cell)
        return any(_same(c, w) for c in cell for w in wanted)
    if isinstance(cell, dict):
        try:
            other = json.loads(text)
        except ValueError:
            raise PostgrestError(400, "22P02", "invalid input syntax for type json") from None
        if operator == "cs":
            return _contains(cell, other)
        if operator == "cd":
            return _contains(other, cell)
        raise PostgrestError(400, "42883", "operator does not exist: jsonb && unknown")
    mine = _range(cell, column)
    if operator == "ov":
        return mine.overlaps(_range(text, column))
    try:
        other = _range(text, column)
    except PostgrestError:
        if operator == "cs":  # a range containing one element
            element = Range.parse(f"[{text},{text}]", mine.kind)
            return mine.contains(element)
        raise
    return mine.contains(other) if operator == "cs" else other.contains(mine)


_RANGES = {
    "sl": Range.strictly_left,
    "sr": Range.strictly_right,
    "nxr": Range.not_extend_right,
    "nxl": Range.not_extend_left,
    "adj": Range.adjacent,
}


def compare(operation: Operation, cell: Any, column: ColumnType | None, json_cell: bool) -> Truth:
    """One operator on one value: True, False, or None for SQL's unknown."""
    operator, value = operation.operator, operation.value
    if operator == "is":
        if value in ("null", "unknown"):
            return cell is None
        if value == "not_null":
            return cell is not None
        return cell is (value == "true")
    if operation.quantifier is not None:
        assert isinstance(value, tuple)
        results = [
            compare(Operation(operator, item or ""), cell, column, json_cell) for item in value
        ]
        if operation.quantifier == "any":
            return True if any(results) else (None if None in results else False)
        return False if False in results else (None if None in results else True)
    if operator == "isdistinct":
        assert isinstance(value, str)
        if cell is None:
            return True
        return bool(cell != _typed(value, cell, column)) if not json_cell else cell != value
    if cell is None:
        return None  # SQL: a comparison with NULL is unknown
    if operator == "in":
        assert isinstance(value, tuple)
        return any(item is not None and _same_typed(cell, item, column) for item in value)
    assert isinstance(value, str)
    if operator in ("like", "ilike"):
        flags = re.IGNORECASE if operator == "ilike" else 0
        return _like(value, flags).fullmatch(_text(cell)) is not None
    if operator in ("match", "imatch"):
        flags = re.IGNORECASE if operator == "imatch" else 0
        try:
            return re.search(value, _text(cell), flags) is not None
        except re.error as exc:
            raise PostgrestError(400, "2201B", f"invalid regular expression: {exc}") from None
    if operator in ("fts", "plfts", "phfts", "wfts"):
        return search(operator, _text(cell), value, operation.language)
    if operator in ("cs", "cd", "ov"):
        return _collection(operator, cell, value, column)
    if operator in _RANGES:
        return bool(_RANGES[operator](_range(cell, column), _range(value, column)))
    if json_cell:
        other = _json_literal(value)
        return (
            _ordering(operator, cell, other)
            if type(cell) is type(other) or operator in ("eq", "neq")
            else _ordering(operator, json.dumps(cell), json.dumps(other))
        )
    return _ordering(operator, comparable(cell, column), _typed(value, cell, column))


def _json_literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise PostgrestError(
            400, "22P02", "invalid input syntax for type json", f'Token "{text}" is invalid.'
        ) from None


def _same_typed(cell: Any, item: str, column: ColumnType | None) -> bool:
    try:
        return bool(comparable(cell, column) == _typed(item, cell, column))
    except PostgrestError:
        raise
    except (TypeError, ValueError):
        return _same(cell, item)


def _text(cell: Any) -> str:
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "true" if cell else "false"
    return json.dumps(cell) if isinstance(cell, dict | list) else str(cell)


def evaluate(predicate: Predicate, row: Row, types: Callable[[str], ColumnType | None]) -> Truth:
    if isinstance(predicate, Condition):
        cell, is_text = extract(row, predicate.field)
        column = None if predicate.field.path else types(predicate.field.name)
        json_cell = bool(predicate.field.path) and not is_text
        outcome = compare(predicate.operation, cell, column, json_cell)
        negate = predicate.operation.negated
    else:
        results = [evaluate(child, row, types) for child in predicate.children]
        if predicate.conjunction == "and":
            outcome = False if False in results else (None if None in results else True)
        else:
            outcome = True if True in results else (None if None in results else False)
        negate = predicate.negated
    if negate and outcome is not None:
        return not outcome
    return outcome
