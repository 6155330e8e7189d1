"""PostgREST's query string, parsed: ``select``, filters, ``or``/``and`` trees, ``order``.

The grammar is PostgREST's (src/PostgREST/ApiRequest/QueryParams.hs): a filter is
``[embed.]column[->json->>path]=[not.]operator[(any|all)|(language)].value``; ``in`` takes
``(a,b,"c,d")``; quantified operators and ``cs``/``cd``/``ov`` take arrays as ``{a,b}``;
``or=(a.eq.1,and(b.gt.2,c.is.null))`` nests; ``select`` takes ``alias:column->path::cast``,
``*`` and embedded resources ``alias:table!hint!inner(...)`` or spread ``...table(...)``;
``order`` takes ``column->path.desc.nullsfirst`` and ``table(column)`` of a to-one embed.
A query the grammar refuses is 400 ``PGRST100`` naming the part that failed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from converge_twins.mock_supabase.errors import PostgrestError
from converge_twins.mock_supabase.schema import parse_array

SIMPLE_OPERATORS = ("neq", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj")
QUANTIFIABLE = ("eq", "gte", "gt", "lte", "lt", "like", "ilike", "match", "imatch")
FTS_OPERATORS = ("fts", "plfts", "phfts", "wfts")
IS_VALUES = ("null", "not_null", "true", "false", "unknown")
RESERVED = frozenset({"select", "columns", "on_conflict"})
RESERVED_EMBEDDABLE = frozenset({"order", "limit", "offset", "and", "or"})


def parse_error(what: str, text: str, details: str) -> PostgrestError:
    return PostgrestError(
        400, "PGRST100", f'"failed to parse {what} ({text})" (line 1, column 1)', details
    )


@dataclass(frozen=True)
class JsonStep:
    key: str | int
    text: bool  # ->> (text) rather than -> (json)


@dataclass(frozen=True)
class FieldRef:
    name: str
    path: tuple[JsonStep, ...] = ()

    @property
    def label(self) -> str:
        """The name PostgREST gives the value in a response: the last JSON key, else the column."""
        keys = [step.key for step in self.path if isinstance(step.key, str)]
        return keys[-1] if keys else self.name


@dataclass(frozen=True)
class SelectField:
    field: FieldRef
    alias: str | None = None
    cast: str | None = None

    @property
    def star(self) -> bool:
        return self.field.name == "*"

    @property
    def label(self) -> str:
        return self.alias or self.field.label


@dataclass(frozen=True)
class SelectEmbed:
    relation: str
    items: tuple[SelectField | SelectEmbed, ...]
    alias: str | None = None
    hint: str | None = None
    inner: bool = False
    spread: bool = False

    @property
    def label(self) -> str:
        return self.alias or self.relation


SelectItem = SelectField | SelectEmbed


@dataclass(frozen=True)
class Operation:
    operator: str
    value: str | tuple[str | None, ...]
    negated: bool = False
    quantifier: str | None = None  # "any" or "all"
    language: str | None = None  # for the fts family


@dataclass(frozen=True)
class Condition:
    field: FieldRef
    operation: Operation


@dataclass(frozen=True)
class Logic:
    conjunction: str  # "and" or "or"
    children: tuple[Condition | Logic, ...]
    negated: bool = False


Predicate = Condition | Logic


@dataclass(frozen=True)
class OrderTerm:
    field: FieldRef
    descending: bool = False
    nulls_first: bool | None = None  # None: PostgreSQL's default for the direction
    relation: str | None = None  # ordering by a column of a to-one embed


# fields and JSON paths ------------------------------------------------------------------------

_ARROW = re.compile(r"->>|->")


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def parse_field(text: str, what: str = "field") -> FieldRef:
    pieces = _ARROW.split(text)
    arrows = _ARROW.findall(text)
    name = _unquote(pieces[0])
    if not name:
        raise parse_error(what, text, 'unexpected "-" expecting field name (* or [a..z0..9_$])')
    steps = []
    for arrow, key in zip(arrows, pieces[1:], strict=True):
        raw = key.strip()
        if not raw:
            raise parse_error(what, text, "unexpected end of input expecting json key")
        step: str | int = int(raw) if re.fullmatch(r"-?\d+", raw) else _unquote(raw)
        steps.append(JsonStep(step, arrow == "->>"))
    return FieldRef(name, tuple(steps))


def split_key(key: str) -> tuple[tuple[str, ...], FieldRef]:
    """``embed.other.column->path`` -> (("embed", "other"), the field)."""
    head, arrow, tail = key.partition("->")
    parts = re.split(r"\.(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", head)
    field_text = parts[-1] + (arrow + tail if arrow else "")
    return tuple(_unquote(p) for p in parts[:-1]), parse_field(field_text, "tree path")


# operations ------------------------------------------------------------------------------------


def _split_top(text: str, separator: str = ",") -> list[str]:
    """Split at ``separator`` outside quotes, parentheses and braces."""
    parts, depth, quoted, current = [], 0, False, []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if char == "\\":
            escaped = True
            current.append(char)
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "({":
            depth += 1
        elif not quoted and char in ")}":
            depth -= 1
        if char == separator and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def parse_list(text: str, what: str) -> tuple[str | None, ...]:
    """``(1,2,"a,b")`` as ``in`` takes it."""
    inner = text.strip()
    if not (inner.startswith("(") and inner.endswith(")")):
        raise parse_error(what, text, 'unexpected end of input expecting "("')
    return tuple(_unquote(item) for item in _split_top(inner[1:-1]))


def parse_operation(text: str, what: str = "filter") -> Operation:
    negated = text.startswith("not.")
    rest = text[4:] if negated else text
    operator, dot, value = rest.partition(".")
    match = re.fullmatch(r"([a-z]+)(?:\(([^)]*)\))?", operator)
    expecting = 'expecting "not" or operator (eq, gt, ...)'
    if not dot or match is None:
        raise parse_error(what, text, f'unexpected "{rest[:1]}" {expecting}')
    name, modifier = match.groups()
    if name == "in" and modifier is None:
        return Operation("in", parse_list(value, what), negated)
    if name == "is" and modifier is None:
        if value.lower() not in IS_VALUES:
            raise parse_error(
                what, text, 'unexpected "' + value[:1] + '" expecting null or trilean value'
            )
        return Operation("is", value.lower(), negated)
    if name == "isdistinct" and modifier is None:
        return Operation("isdistinct", value, negated)
    if name in FTS_OPERATORS:
        return Operation(name, value, negated, language=modifier or None)
    if name in SIMPLE_OPERATORS and modifier is None:
        return Operation(name, value, negated)
    if name in QUANTIFIABLE and modifier in (None, "any", "all"):
        if modifier is not None:
            return Operation(name, tuple(parse_array(value)), negated, quantifier=modifier)
        return Operation(name, value, negated)
    raise parse_error(what, text, f'unexpected "{rest[:1]}" {expecting}')


def parse_filter(key: str, value: str) -> tuple[tuple[str, ...], Condition]:
    path, field = split_key(key)
    return path, Condition(field, parse_operation(value))


# or / and ------------------------------------------------------------------------------------


def parse_logic(key: str, value: str) -> tuple[tuple[str, ...], Logic]:
    """``or=(a.eq.1,b.eq.2)``, ``not.and=(...)``, ``embed.or=(...)``."""
    parts = key.split(".")
    negated = "not" in parts[:-1]
    path = tuple(p for p in parts[:-1] if p != "not")
    conjunction = parts[-1]
    text = value.strip()
    if not (text.startswith("(") and text.endswith(")")) or len(text) < 3:
        raise parse_error("logic tree", value, 'unexpected end of input expecting "("')
    return path, _logic(conjunction, text[1:-1], negated, value)


def _logic(conjunction: str, body: str, negated: bool, original: str) -> Logic:
    children: list[Predicate] = []
    for raw in _split_top(body):
        item = raw.strip()
        nested = re.fullmatch(r"(not\.)?(and|or)\((.*)\)", item, re.DOTALL)
        if nested is not None:
            children.append(
                _logic(nested.group(2), nested.group(3), bool(nested.group(1)), original)
            )
            continue
        field_text, operation_text = _condition_parts(item, original)
        operation = parse_operation(operation_text, "logic tree")
        if isinstance(operation.value, str) and operation.operator not in ("in",):
            operation = Operation(
                operation.operator,
                _unquote(operation.value),
                operation.negated,
                operation.quantifier,
                operation.language,
            )
        children.append(Condition(parse_field(field_text, "logic tree"), operation))
    return Logic(conjunction, tuple(children), negated)


def _condition_parts(item: str, original: str) -> tuple[str, str]:
    """``field->path.op.value`` -> ("field->path", "op.value") inside a logic tree."""
    head = item
    json_part = ""
    if "->" in item:
        head, _, tail = item.partition("->")
        # the JSON path ends at the first "." that is followed by an operator
        match = re.search(r"\.(?=(not\.)?[a-z]+(\([^)]*\))?\.)", tail)
        if match is None:
            raise parse_error("logic tree", original, "unexpected end of input expecting operator")
        json_part, rest = "->" + tail[: match.start()], tail[match.end() :]
        return head + json_part, rest
    name, dot, rest = head.partition(".")
    if not dot:
        raise parse_error("logic tree", original, 'unexpected end of input expecting "."')
    return name, rest


# select -----------------------------------------------------------------------------------------


def parse_select(text: str | None) -> tuple[SelectItem, ...]:
    if text is None or not text.strip():
        return (SelectField(FieldRef("*")),)
    return tuple(_select_item(part.strip(), text) for part in _split_top(text) if part.strip())


_EMBED = re.compile(r"(?:(\.\.\.)|([^:()!]+):(?!:))?([^:()!]+)((?:![^()!]+)*)\((.*)\)", re.DOTALL)
_AGGREGATE = re.compile(r"(?:^|[.:])(count|sum|avg|min|max)\(\)")


def _select_item(part: str, original: str) -> SelectItem:
    embed = _EMBED.fullmatch(part)
    if embed is not None and not _AGGREGATE.search(part):
        spread, alias, relation, modifiers, inner = embed.groups()
        hint, inner_join = None, False
        for modifier in [m.strip() for m in modifiers.split("!") if m.strip()]:
            if modifier == "inner":
                inner_join = True
            elif modifier != "left":
                hint = modifier
        items = tuple(_select_item(p.strip(), original) for p in _split_top(inner) if p.strip())
        return SelectEmbed(
            relation.strip(),
            items,
            alias.strip() if alias else None,
            hint,
            inner_join,
            bool(spread),
        )
    if _AGGREGATE.search(part):
        raise PostgrestError(400, "PGRST123", "Use of aggregate functions is not allowed")
    alias = None
    alias_match = re.match(r'^("(?:[^"\\]|\\.)*"|[^:"]+):(?!:)', part)
    if alias_match is not None:
        alias = _unquote(alias_match.group(1))
        part = part[alias_match.end() :]
    cast = None
    if "::" in part:
        part, _, cast = part.rpartition("::")
        cast = cast.strip()
        if not re.fullmatch(r"[\w ]+(\[\])?", cast):
            raise parse_error("select parameter", original, "unexpected end of input")
    if "(" in part or ")" in part or not part.strip():
        raise parse_error("select parameter", original, f'unexpected "(" in {part!r}')
    return SelectField(parse_field(part.strip(), "select parameter"), alias, cast)


# order -------------------------------------------------------------------------------------------


def parse_order(text: str) -> tuple[OrderTerm, ...]:
    terms = []
    for raw in _split_top(text):
        part = raw.strip()
        relation = None
        related = re.fullmatch(r"([^()]+)\(([^()]+)\)(.*)", part)
        if related is not None:
            relation, field_text, modifiers_text = related.groups()
            relation = relation.strip()
        else:
            field_text, modifiers_text = _order_split(part)
        modifiers = [m for m in modifiers_text.split(".") if m]
        if "." in field_text.split("->")[0].replace('"', "") and not field_text.strip().startswith(
            '"'
        ):
            modifiers.append(field_text)  # a column name has no ".": an unknown modifier
        if not field_text.strip() or any(
            m not in ("asc", "desc", "nullsfirst", "nullslast") for m in modifiers
        ):
            raise parse_error(
                "order", text, 'unexpected "." expecting "asc", "desc", "nullsfirst" or "nullslast"'
            )
        nulls = None
        if "nullsfirst" in modifiers:
            nulls = True
        elif "nullslast" in modifiers:
            nulls = False
        terms.append(
            OrderTerm(
                parse_field(field_text.strip(), "order"), "desc" in modifiers, nulls, relation
            )
        )
    return tuple(terms)


def _order_split(part: str) -> tuple[str, str]:
    match = re.search(r"(\.(asc|desc|nullsfirst|nullslast))+$", part)
    if match is None:
        return part, ""
    return part[: match.start()], match.group(0)


def parse_columns(text: str) -> tuple[str, ...]:
    """``columns=a,"b c"`` as inserts take it."""
    return tuple(_unquote(c) for c in _split_top(text) if c.strip())


def json_value(text: str) -> Any:
    """A filter value read as JSON where it is JSON, else as the text it is."""
    try:
        return json.loads(text)
    except ValueError:
        return text
