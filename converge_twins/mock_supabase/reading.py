"""Reading rows the way a PostgREST query asks: filter, embed, order, count, range, project.

:class:`Plan` is the query string parsed once; :func:`shape` runs it over rows of a table (or
of a function's answer) and returns what the response needs: the projected rows, the total
before the range when a count was asked for, the offset, and the column labels for CSV.
The ``Range`` header (``Range: 0-9``) and ``limit``/``offset`` pick the rows; a range that
starts past the counted rows is 416 ``PGRST103``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from converge_twins.mock_supabase.embed import Relationship, related_rows, relationship
from converge_twins.mock_supabase.errors import PostgrestError
from converge_twins.mock_supabase.operators import Row, evaluate, extract
from converge_twins.mock_supabase.query import (
    RESERVED,
    RESERVED_EMBEDDABLE,
    Condition,
    FieldRef,
    OrderTerm,
    Predicate,
    SelectEmbed,
    SelectField,
    SelectItem,
    parse_columns,
    parse_filter,
    parse_logic,
    parse_operation,
    parse_order,
    parse_select,
)
from converge_twins.mock_supabase.schema import ColumnType, comparable
from converge_twins.mock_supabase.tables import Store, Table

Path = tuple[str, ...]
# Parameters the gateway consumes before PostgREST sees the query.
GATEWAY_PARAMS = frozenset({"apikey"})


@dataclass
class Plan:
    select: tuple[SelectItem, ...]
    predicates: dict[Path, list[Predicate]] = field(default_factory=dict)
    orders: dict[Path, tuple[OrderTerm, ...]] = field(default_factory=dict)
    limits: dict[Path, int] = field(default_factory=dict)
    offsets: dict[Path, int] = field(default_factory=dict)
    arguments: dict[str, str] = field(default_factory=dict)
    on_conflict: list[str] | None = None
    columns: tuple[str, ...] | None = None
    range_header: tuple[int, int | None] | None = None

    @property
    def root(self) -> list[Predicate]:
        return self.predicates.get((), [])

    @classmethod
    def parse(cls, request: Request, *, rpc_read: bool = False) -> Plan:
        query = request.query_params
        plan = cls(parse_select(query.get("select")))
        if "on_conflict" in query:
            plan.on_conflict = list(parse_columns(query["on_conflict"]))
        if "columns" in query:
            plan.columns = parse_columns(query["columns"])
        for key, value in query.multi_items():
            if key in RESERVED or key in GATEWAY_PARAMS:
                continue
            *path_parts, last = key.split(".")
            path = tuple(p for p in path_parts if p != "not")
            if last in ("order", "limit", "offset") and key.count("->") == 0:
                if last == "order":
                    plan.orders[path] = parse_order(value)
                elif re.fullmatch(r"-?\d+", value.strip()):
                    number = int(value)
                    if number < 0:
                        raise PostgrestError(
                            416,
                            "PGRST103",
                            "Requested range not satisfiable",
                            "Limit should be greater than or equal to zero.",
                        )
                    (plan.limits if last == "limit" else plan.offsets)[path] = number
                continue  # PostgREST ignores a limit or offset that is not a number
            if last in ("or", "and") and last in RESERVED_EMBEDDABLE:
                logic_path, tree = parse_logic(key, value)
                plan.predicates.setdefault(logic_path, []).append(tree)
                continue
            if rpc_read:
                try:
                    parse_operation(value)
                except PostgrestError:
                    plan.arguments[key] = value
                    continue
            filter_path, condition = parse_filter(key, value)
            plan.predicates.setdefault(filter_path, []).append(condition)
        plan.range_header = _range_header(request)
        return plan


def _range_header(request: Request) -> tuple[int, int | None] | None:
    header = request.headers.get("range")
    if not header:
        return None
    match = re.fullmatch(r"\s*(?:items=)?(\d+)-(\d*)\s*", header)
    if match is None:
        return None  # PostgREST ignores a Range it cannot read
    lower, upper = int(match.group(1)), int(match.group(2)) if match.group(2) else None
    if upper is not None and lower > upper:
        raise PostgrestError(
            416,
            "PGRST103",
            "Requested range not satisfiable",
            "The lower boundary must be lower than or equal to the upper boundary in the Range "
            "header.",
        )
    return lower, upper


@dataclass
class Shaped:
    rows: list[dict[str, Any]]
    total: int | None
    offset: int
    labels: list[str]


def predicate_fields(predicate: Predicate) -> list[FieldRef]:
    if isinstance(predicate, Condition):
        return [predicate.field]
    return [f for child in predicate.children for f in predicate_fields(child)]


def order_rows(
    rows: list[Row],
    terms: tuple[OrderTerm, ...],
    value: Callable[[Row, OrderTerm], Any],
    types: Callable[[str], ColumnType | None],
) -> list[Row]:
    ordered = list(rows)
    for term in reversed(terms):  # stable sorts, least significant key first
        kind = None if term.field.path else types(term.field.name)
        present = [(r, comparable(value(r, term), kind)) for r in ordered]
        known = [pair for pair in present if pair[1] is not None]
        missing = [pair[0] for pair in present if pair[1] is None]
        known.sort(key=lambda pair: _order_key(pair[1]), reverse=term.descending)
        nulls_first = term.nulls_first if term.nulls_first is not None else term.descending
        rows_known = [pair[0] for pair in known]
        ordered = missing + rows_known if nulls_first else rows_known + missing
    return ordered


def _order_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, dict | list):
        return (4, json.dumps(value, sort_keys=True))
    return (3, value)


_CASTS: dict[str, Callable[[Any], Any]] = {
    "text": lambda v: (
        v
        if isinstance(v, str)
        else (
            ("true" if v else "false")
            if isinstance(v, bool)
            else json.dumps(v)
            if isinstance(v, dict | list)
            else str(v)
        )
    ),
    "int": lambda v: round(float(v)),
    "float": float,
    "bool": lambda v: v if isinstance(v, bool) else str(v).lower() in ("t", "true", "1"),
    "json": lambda v: json.loads(v) if isinstance(v, str) else v,
}
_CAST_NAMES = {
    "text": "text",
    "varchar": "text",
    "int": "int",
    "int2": "int",
    "int4": "int",
    "int8": "int",
    "integer": "int",
    "bigint": "int",
    "smallint": "int",
    "numeric": "float",
    "float4": "float",
    "float8": "float",
    "real": "float",
    "double precision": "float",
    "decimal": "float",
    "bool": "bool",
    "boolean": "bool",
    "json": "json",
    "jsonb": "json",
}


def cast(value: Any, name: str | None) -> Any:
    if name is None or value is None:
        return value
    kind = _CAST_NAMES.get(name.lower())
    if kind is None:
        raise PostgrestError(400, "42704", f'type "{name}" does not exist')
    try:
        return _CASTS[kind](value)
    except (TypeError, ValueError):
        raise PostgrestError(
            400, "22P02", f'invalid input syntax for type {name}: "{value}"'
        ) from None


def project(
    row: Row,
    items: tuple[SelectItem, ...],
    columns: list[str] | None,
    embedded: dict[str, Any],
    targets: dict[str, Table],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if isinstance(item, SelectField):
            if item.star:
                for name in columns if columns is not None else list(row):
                    out[name] = row.get(name)
            else:
                out[item.label] = cast(extract(row, item.field)[0], item.cast)
            continue
        if not item.items:
            continue  # an empty embed, ``books()``, only filters: it is not in the answer
        value = embedded.get(item.label)
        target = targets[item.label]
        shown = target.columns() if target.declared else None
        inner = item.items or ()

        def shape_one(embedded_row: Row) -> dict[str, Any]:
            return project(embedded_row, inner, shown, {}, {})  # noqa: B023 - used at once

        if isinstance(value, list):
            shaped: Any = [shape_one(r) for r in value]
        else:
            shaped = shape_one(value) if value is not None else None
        if item.spread:
            names = [i.label for i in inner if isinstance(i, SelectField) and not i.star]
            out.update(shaped if isinstance(shaped, dict) else dict.fromkeys(names))
        else:
            out[item.label] = shaped
    return out


def labels_for(items: tuple[SelectItem, ...], columns: list[str]) -> list[str]:
    labels: list[str] = []
    for item in items:
        if isinstance(item, SelectField):
            labels.extend(columns if item.star else [item.label])
        elif not item.spread and item.items:
            labels.append(item.label)
    return labels


def _check_paths(plan: Plan, embeds: Mapping[str, SelectEmbed]) -> None:
    """Parameters for embedded resources name one in ``select``, one level deep."""
    for paths in (plan.predicates, plan.orders, plan.limits, plan.offsets):
        for path in paths:
            if not path:
                continue
            if len(path) > 1:
                raise PostgrestError(
                    400,
                    "PGRST127",
                    "Feature not implemented",
                    "mock-supabase embeds resources one level deep",
                )
            if path[0] not in embeds:
                raise not_embedded(path[0])


def not_embedded(name: str) -> PostgrestError:
    return PostgrestError(
        400,
        "PGRST108",
        f"'{name}' is not an embedded resource in this request",
        hint=f"Verify that '{name}' is included in the 'select' query parameter.",
    )


class Embedding:
    """The embedded resources of one request: their relationships, and their rows per row."""

    def __init__(self, store: Store, table: Table | None, plan: Plan) -> None:
        self.store = store
        self.plan = plan
        self.embeds = [item for item in plan.select if isinstance(item, SelectEmbed)]
        self.relationships: dict[str, Relationship] = {}
        self.targets: dict[str, Table] = {}
        self.values: dict[int, dict[str, Any]] = {}
        for embed in self.embeds:
            if table is None:
                raise PostgrestError(
                    400,
                    "PGRST200",
                    "Could not find a relationship between the function's result and "
                    f"'{embed.relation}' in the schema cache",
                )
            rel = relationship(store, table.name, embed)
            target = store.table(rel.target)
            target.check_columns(
                [i.field.name for i in embed.items if isinstance(i, SelectField)]
                + [
                    f.name
                    for p in plan.predicates.get((embed.label,), [])
                    for f in predicate_fields(p)
                ]
            )
            self.relationships[embed.label] = rel
            self.targets[embed.label] = target

    def fill(self, rows: list[Row]) -> None:
        for row in rows:
            self.values[id(row)] = {
                embed.label: self.rows_for(embed.label, row) for embed in self.embeds
            }

    def rows_for(self, label: str, row: Row) -> Any:
        rel, target = self.relationships[label], self.targets[label]
        predicates = self.plan.predicates.get((label,), [])
        related = [
            r
            for r in related_rows(self.store, rel, row)
            if all(evaluate(p, r, target.type_of) is True for p in predicates)
        ]
        if not rel.to_many:
            return related[0] if related else None
        terms = self.plan.orders.get((label,), ())
        related = order_rows(related, terms, lambda r, t: extract(r, t.field)[0], target.type_of)
        offset, limit = _window(self.plan, (label,))
        return related[offset : None if limit is None else offset + limit]

    def keeps(self, row: Row, filters: list[Predicate]) -> bool:
        """``!inner`` embeds have rows for it, and ``embed=is.null`` filters hold."""
        values = self.values.get(id(row), {})
        if any(e.inner and not values.get(e.label) for e in self.embeds):
            return False
        return all(_embed_filter(p, values) for p in filters)

    def order_value(self, row: Row, term: OrderTerm) -> Any:
        if term.relation is None:
            return extract(row, term.field)[0]
        rel = self.relationships.get(term.relation)
        if rel is None:
            raise not_embedded(term.relation)
        if rel.to_many:
            raise PostgrestError(
                400,
                "PGRST118",
                f"A related order on '{term.relation}' is not possible",
                f"'{rel.origin}' and '{term.relation}' do not form a many-to-one or one-to-one "
                "relationship",
            )
        other = self.values.get(id(row), {}).get(term.relation)
        return extract(other, term.field)[0] if other else None


def shape(
    store: Store,
    table: Table | None,
    rows: list[Row],
    plan: Plan,
    *,
    counting: bool,
    filtered: bool = False,
) -> Shaped:
    """Run ``plan`` over ``rows`` of ``table`` (or of a function's answer when it is None).

    ``filtered`` rows were already chosen by the root filters (the rows a write changed).
    """
    embedding = Embedding(store, table, plan)
    by_label = {e.label: e for e in embedding.embeds}
    _check_paths(plan, by_label)
    types: Callable[[str], ColumnType | None] = table.type_of if table else (lambda _: None)
    root = [p for p in plan.root if not _on_embed(p, by_label)]
    embed_filters = [p for p in plan.root if _on_embed(p, by_label)]
    for predicate in embed_filters:
        _embed_filter(predicate, {})  # refuses a bad operator even when there are no rows
    terms = plan.orders.get((), ())
    if table is not None:
        table.check_columns(i.field.name for i in plan.select if isinstance(i, SelectField))
        table.check_columns(f.name for p in root for f in predicate_fields(p))
        table.check_columns(t.field.name for t in terms if t.relation is None)
    if not filtered:
        rows = [r for r in rows if all(evaluate(p, r, types) is True for p in root)]
    embedding.fill(rows)
    kept = [row for row in rows if embedding.keeps(row, embed_filters)]
    ordered = order_rows(kept, terms, embedding.order_value, types)
    total = len(ordered) if counting else None
    offset, limit = _window(plan, ())
    if total is not None and offset > total and offset > 0:
        raise PostgrestError(
            416,
            "PGRST103",
            "Requested range not satisfiable",
            f"An offset of {offset} was requested, but there are only {total} rows.",
        )
    page = ordered[offset : None if limit is None else offset + limit]
    columns = table.columns() if table is not None and table.declared else None
    shaped = [
        project(r, plan.select, columns, embedding.values.get(id(r), {}), embedding.targets)
        for r in page
    ]
    known = columns or (list(page[0]) if page and isinstance(page[0], dict) else [])
    return Shaped(shaped, total, offset, labels_for(plan.select, known))


def _window(plan: Plan, path: Path) -> tuple[int, int | None]:
    offset = plan.offsets.get(path, 0)
    limit = plan.limits.get(path)
    if (
        not path
        and plan.range_header is not None
        and path not in plan.offsets
        and (path not in plan.limits)
    ):
        lower, upper = plan.range_header
        return lower, None if upper is None else upper - lower + 1
    return offset, limit


def _on_embed(predicate: Predicate, embeds: dict[str, SelectEmbed]) -> bool:
    return (
        isinstance(predicate, Condition)
        and not predicate.field.path
        and (predicate.field.name in embeds)
    )


def _embed_filter(predicate: Predicate, values: dict[str, Any]) -> bool:
    assert isinstance(predicate, Condition)
    operation = predicate.operation
    if operation.operator != "is" or operation.value not in ("null", "not_null"):
        raise PostgrestError(
            400,
            "PGRST120",
            f"Bad operator on the '{predicate.field.name}' embedded resource",
            "Only is null or not is null filters are allowed on embedded resources",
        )
    present = bool(values.get(predicate.field.name))
    wants_null = (operation.value == "null") != operation.negated
    return present != wants_null
