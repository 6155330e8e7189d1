"""Stripe's search query language, for the ``/v1/<resource>/search`` endpoints.

A query is clauses ``field:value`` joined by spaces or ``AND`` (all must hold) or by ``OR`` (any
may), never both; ``-`` negates a clause. ``:`` is an exact match (case-insensitive for text),
``~`` a substring match of at least three characters on text fields, ``>``, ``<``, ``>=``, ``<=``
compare numbers. Values are quoted (``'...'`` or ``"..."``, ``\\"`` escapes a quote) except
numbers; ``metadata['key']`` reads a metadata value; ``field:null`` matches an empty field. Each
resource searches only its documented query fields; anything else is a 400 naming the problem.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from converge_twins.mock_stripe.errors import StripeError

MAX_CLAUSES = 10
MIN_SUBSTRING = 3
Getter = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Field:
    kind: str  # "text" (exact or ~substring), "token" (exact), "number", "boolean"
    get: Getter


def _key(name: str) -> Getter:
    return lambda obj: obj.get(name)


def text(name: str) -> Field:
    return Field("text", _key(name))


def token(name: str) -> Field:
    return Field("token", _key(name))


def number(name: str) -> Field:
    return Field("number", _key(name))


def boolean(name: str) -> Field:
    return Field("boolean", _key(name))


@dataclass(frozen=True)
class Clause:
    negated: bool
    field: str
    metadata_key: str | None
    operator: str
    value: str | float | None  # None: the literal null


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    any_of: bool  # OR instead of AND


TOKEN = re.compile(
    r"""\s*(?:
        (?P<join>(?i:AND|OR))(?=\s|$)
      | (?P<clause>-?[a-z_.]+(?:\[(?:'[^']*'|"[^"]*")\])?)\s*(?P<op>>=|<=|:|~|>|<)\s*
        (?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"]+)
    )""",
    re.VERBOSE,
)
FIELD = re.compile(r"""^(-?)([a-z_.]+)(?:\[(?:'([^']*)'|"([^"]*)")\])?$""")


def _problem(message: str) -> StripeError:
    return StripeError(400, message, param="query", code="parameter_invalid")


def parse(query: str) -> Query:
    if not query.strip():
        raise _problem("The query is empty: search needs at least one clause, like email:'a@b.co'.")
    clauses: list[Clause] = []
    joins: set[str] = set()
    position = 0
    expect_clause = True
    while position < len(query):
        if not query[position:].strip():
            break
        match = TOKEN.match(query, position)
        if match is None:
            raise _problem(
                f"We could not parse the query at character {position + 1} "
                f"({query[position : position + 20]!r}). A clause is field:'value', "
                "metadata['key']:'value' or a numeric comparison such as created>1700000000."
            )
        position = match.end()
        if match.group("join"):
            if expect_clause:
                raise _problem(f"{match.group('join')} must sit between two clauses.")
            joins.add(match.group("join").upper())
            expect_clause = True
            continue
        if not expect_clause:
            joins.add("AND")  # clauses side by side are ANDed
        expect_clause = False
        clauses.append(_clause(match.group("clause"), match.group("op"), match.group("value")))
    if expect_clause:
        raise _problem("The query ends with AND or OR: a clause must follow it.")
    if len(joins) > 1:
        raise _problem("A query cannot mix AND and OR.")
    if len(clauses) > MAX_CLAUSES:
        raise _problem(f"A query can have at most {MAX_CLAUSES} clauses.")
    return Query(tuple(clauses), joins == {"OR"})


def _clause(name: str, operator: str, raw: str) -> Clause:
    found = FIELD.match(name)
    if found is None:
        raise _problem(f"{name!r} is not a field name.")
    sign, field, single, double = found.groups()
    metadata_key = single if single is not None else double
    if metadata_key is not None and field != "metadata":
        raise _problem(f"Only metadata takes a key in brackets, not {field}.")
    if field == "metadata" and metadata_key is None:
        raise _problem("Search metadata by key: metadata['key']:'value'.")
    value: str | float | None
    if raw[0] in "'\"":
        value = re.sub(r"\\(.)", r"\1", raw[1:-1])
    elif raw == "null":
        value = None
    else:
        try:
            value = float(raw)
        except ValueError:
            raise _problem(
                f"The value {raw!r} of {field} must be quoted (text) or a number."
            ) from None
    return Clause(sign == "-", field, metadata_key, operator, value)


def _matches(clause: Clause, field: Field | None, obj: dict[str, Any]) -> bool:
    if clause.metadata_key is not None:
        actual: Any = (obj.get("metadata") or {}).get(clause.metadata_key)
        kind = "text"
    else:
        assert field is not None
        actual = field.get(obj)
        kind = field.kind
    if clause.value is None:
        return actual is None or actual == ""
    if actual is None:
        return False
    if kind == "number":
        try:
            left, right = float(actual), float(clause.value)
        except (TypeError, ValueError):
            return False
        return {
            ":": left == right,
            ">": left > right,
            "<": left < right,
            ">=": left >= right,
            "<=": left <= right,
        }[clause.operator]
    wanted = str(clause.value)
    if isinstance(clause.value, float) and clause.value.is_integer():
        wanted = str(int(clause.value))
    if kind == "boolean":
        return str(actual).lower() == wanted.lower()
    if clause.operator == "~":
        return wanted.lower() in str(actual).lower()
    if kind == "token":
        return str(actual) == wanted
    return str(actual).lower() == wanted.lower()


def _check(clause: Clause, fields: dict[str, Field], resource: str) -> Field | None:
    if clause.metadata_key is not None:
        if clause.operator not in (":", "~"):
            raise _problem(f"metadata values only take : or ~, not {clause.operator}.")
        return None
    field = fields.get(clause.field)
    if field is None:
        supported = ", ".join(sorted([*fields, "metadata"]))
        raise _problem(
            f"Field `{clause.field}` is an unsupported search field for resource `{resource}`. "
            f"The supported fields are: {supported}."
        )
    if clause.operator in (">", "<", ">=", "<=") and field.kind != "number":
        raise _problem(
            f"{clause.field} is not numeric: it cannot be compared with {clause.operator}."
        )
    if clause.operator == "~":
        if field.kind != "text":
            raise _problem(f"{clause.field} does not support substring matching (~).")
        if clause.value is None or len(str(clause.value)) < MIN_SUBSTRING:
            raise _problem(f"A substring search (~) needs at least {MIN_SUBSTRING} characters.")
    return field


def matcher(
    query: str, fields: dict[str, Field], resource: str
) -> Callable[[dict[str, Any]], bool]:
    """A predicate for the objects ``query`` selects, or Stripe's 400 for a bad query."""
    parsed = parse(query)
    checked = [(clause, _check(clause, fields, resource)) for clause in parsed.clauses]

    def selects(obj: dict[str, Any]) -> bool:
        results = (_matches(c, f, obj) != c.negated for c, f in checked)
        return any(results) if parsed.any_of else all(results)

    return selects


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        kind, _, value = base64.urlsafe_b64decode(padded).decode().partition(":")
        if kind == "offset" and value.isdigit():
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise StripeError(400, f"Invalid page: {token}", param="page", code="parameter_invalid")


CUSTOMER_FIELDS = {
    "created": number("created"),
    "email": text("email"),
    "name": text("name"),
    "phone": text("phone"),
}
PRODUCT_FIELDS = {
    "active": boolean("active"),
    "created": number("created"),
    "description": text("description"),
    "name": text("name"),
    "shippable": boolean("shippable"),
    "url": text("url"),
}
PRICE_FIELDS = {
    "active": boolean("active"),
    "currency": token("currency"),
    "lookup_key": token("lookup_key"),
    "product": token("product"),
    "type": token("type"),
}
SUBSCRIPTION_FIELDS = {
    "created": number("created"),
    "status": token("status"),
}
INVOICE_FIELDS = {
    "created": number("created"),
    "currency": token("currency"),
    "customer": token("customer"),
    "last_finalization_error_code": Field(
        "token", lambda obj: (obj.get("last_finalization_error") or {}).get("code")
    ),
    "last_finalization_error_type": Field(
        "token", lambda obj: (obj.get("last_finalization_error") or {}).get("type")
    ),
    "number": token("number"),
    "receipt_number": token("receipt_number"),
    "status": token("status"),
    "subscription": Field(
        "token",
        lambda obj: ((obj.get("parent") or {}).get("subscription_details") or {}).get(
            "subscription"
        ),
    ),
    "total": number("total"),
}
PAYMENT_INTENT_FIELDS = {
    "amount": number("amount"),
    "created": number("created"),
    "currency": token("currency"),
    "customer": token("customer"),
    "status": token("status"),
}
