"""Stripe's published OpenAPI document, adapted to the current API, as a response validator.

The spec in ``tests/resources/specs/stripe`` describes API version 2023-08-16, while the twin
speaks today's API, whose example objects are ``fixtures.json``. Where the two disagree the
current objects win (see that folder's README). The adaptation is deliberately small and
checkable: :data:`NO_LONGER_REQUIRED` lists, per schema, the fields the 2023 spec requires that
current objects no longer carry; with those relaxed, every current fixture validates against the
spec (``tests/test_stripe_spec.py`` proves it), so the adaptation hides nothing else. The fields
current objects have and the 2023 spec does not know are typed from the fixtures instead: a value
the twin sends for such a field must have the fixture's JSON type (or be null).

Every response body is validated: against the operation's own response schema when the 2023
spec has the operation (``default`` means the ``error`` schema), else against the schema named
by the body's ``object`` (lists and search results item by item). An event's ``data.object`` is
validated as the object it carries, since the spec leaves it untyped.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from converge_twins.conformance.openapi import to_json_schema
from converge_twins.mock_stripe.catalogue import known

# The published spec and fixtures are test resources of the repository: this tooling runs from a
# checkout (as the conformance diff and the fidelity measure do), not from an installed wheel.
SPEC_DIR = Path(__file__).resolve().parents[2] / "tests" / "resources" / "specs" / "stripe"
BASE = "urn:stripe-openapi"

# Fields the 2023 spec requires and current objects (fixtures.json) no longer have.
NO_LONGER_REQUIRED: dict[str, frozenset[str]] = {
    "subscription": frozenset({"current_period_end", "current_period_start"}),
    "product": frozenset({"features"}),
    "invoice": frozenset({"paid", "paid_out_of_band", "total_tax_amounts"}),
    "line_item": frozenset({"proration", "type"}),
    "discount": frozenset({"coupon"}),
}

# Objects of today's API that the 2023 spec does not have at all, typed from Stripe's current API
# reference (an invoice's payments, reached with expand[]=payments, and their events).
_NULLABLE_INT = {"type": ["integer", "null"]}
CURRENT_SCHEMAS: dict[str, Any] = {
    "invoice_payment": {
        "type": "object",
        "required": [
            "id",
            "object",
            "amount_paid",
            "amount_requested",
            "created",
            "currency",
            "invoice",
            "is_default",
            "livemode",
            "payment",
            "status",
            "status_transitions",
        ],
        "properties": {
            "id": {"type": "string"},
            "object": {"enum": ["invoice_payment"]},
            "amount_paid": _NULLABLE_INT,
            "amount_requested": {"type": "integer"},
            "created": {"type": "integer"},
            "currency": {"type": "string"},
            "invoice": {
                "anyOf": [{"type": "string"}, {"$ref": BASE + "#/components/schemas/invoice"}]
            },
            "is_default": {"type": "boolean"},
            "livemode": {"type": "boolean"},
            "payment": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"enum": ["charge", "payment_intent", "payment_record"]},
                    "payment_intent": {"type": ["string", "object"]},
                    "charge": {"type": ["string", "object"]},
                },
            },
            "status": {"enum": ["canceled", "open", "paid"]},
            "status_transitions": {
                "type": "object",
                "required": ["canceled_at", "paid_at"],
                "properties": {"canceled_at": _NULLABLE_INT, "paid_at": _NULLABLE_INT},
            },
        },
    },
}

JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _absolute_refs(node: Any) -> Any:
    """``#/components/…`` refs made absolute, so a response schema taken out of the document
    still resolves them through the registry."""
    if isinstance(node, list):
        return [_absolute_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _absolute_refs(value) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        out["$ref"] = BASE + ref
    return out


def _converted(raw: Any) -> dict[str, Any]:
    document: dict[str, Any] = _absolute_refs(to_json_schema(raw))
    return document


def spec_available() -> bool:
    """Whether the published spec is at hand (it is in a checkout, not in an installed wheel)."""
    return (SPEC_DIR / "openapi.json").is_file()


@cache
def spec_document() -> dict[str, Any]:
    document = _converted(json.loads((SPEC_DIR / "openapi.json").read_text(encoding="utf-8")))
    schemas = document["components"]["schemas"]
    for name, fields in NO_LONGER_REQUIRED.items():
        schema = schemas[name]
        schema["required"] = [item for item in schema.get("required", []) if item not in fields]
    schemas.update(copy.deepcopy(CURRENT_SCHEMAS))
    return document


@cache
def raw_spec_document() -> dict[str, Any]:
    """The 2023 spec converted to JSON Schema but not adapted (for the before/after measure)."""
    return _converted(json.loads((SPEC_DIR / "openapi.json").read_text(encoding="utf-8")))


@cache
def fixtures() -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = json.loads(
        (SPEC_DIR / "fixtures.json").read_text(encoding="utf-8")
    )["resources"]
    return loaded


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    responses: dict[str, Any]

    @property
    def literal_segments(self) -> int:
        return sum(1 for part in self.template.split("/") if not part.startswith("{"))


def _operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for template, item in document["paths"].items():
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        for method, operation in item.items():
            responses = {
                status: answer["content"]["application/json"]["schema"]
                for status, answer in operation["responses"].items()
            }
            found.append(Operation(method.upper(), template, re.compile(regex), responses))
    # A literal segment beats a parameter: /v1/customers/search is not customer "search".
    return sorted(found, key=lambda op: -op.literal_segments)


class StripeSpec:
    """Validates Stripe response bodies; ``adapted=False`` gives the plain 2023 spec."""

    def __init__(self, adapted: bool = True) -> None:
        self.adapted = adapted
        self.document = spec_document() if adapted else raw_spec_document()
        self.schemas: dict[str, Any] = self.document["components"]["schemas"]
        self.registry: Registry[Any] = Registry().with_resource(
            BASE, DRAFT202012.create_resource(self.document)
        )
        self.operations = _operations(self.document)
        self._validators: dict[str, Draft202012Validator] = {}

    def operation(self, method: str, path: str) -> Operation | None:
        """The spec's operation for a request; None when the spec does not have it.

        The trimmed spec lacks some literal paths (``/v1/invoices/search``) that its
        parameter templates would wrongly take (invoice "search"): the SDK's catalogue of
        operations says which operation a path really is.
        """
        real = known(method.upper(), path)
        for operation in self.operations:
            if operation.method == method.upper() and operation.pattern.match(path):
                if real is not None and real.template != operation.template:
                    return None
                return operation
        return None

    def _validator(self, key: str, schema: Any) -> Draft202012Validator:
        validator = self._validators.get(key)
        if validator is None:
            validator = Draft202012Validator(schema, registry=self.registry)
            self._validators[key] = validator
        return validator

    def _named(self, name: str) -> Draft202012Validator | None:
        if name not in self.schemas:
            return None
        return self._validator(name, {"$ref": f"{BASE}#/components/schemas/{name}"})

    def _problems(self, validator: Draft202012Validator, body: Any, where: str) -> list[str]:
        problems = []
        for found in validator.iter_errors(body):
            error = found
            # "not valid under any of the given schemas" says nothing: name the closest branch's
            # complaint (an expandable field is a string or the object, and the object failed).
            while error.validator in ("anyOf", "oneOf") and error.context:
                # A branch whose very type differs (null, or an id string) is not the one meant.
                typed = [e for e in error.context if e.validator != "type" or e.relative_path]
                error = best_match(typed or error.context)
            location = "/".join(str(part) for part in error.absolute_path) or "(body)"
            problems.append(f"{where}: {location}: {_short(error.message)}")
        return problems

    def object_problems(self, body: Any, where: str) -> list[str]:
        """Validate a body by the ``object`` it names (lists item by item)."""
        if not isinstance(body, dict):
            return [f"{where}: the body is {json_type(body)}, not an object"]
        kind = body.get("object")
        if "error" in body and kind is None:
            validator = self._named("error")
            assert validator is not None
            return self._problems(validator, body, where)
        if kind in ("list", "search_result"):
            problems = []
            for index, item in enumerate(body.get("data") or []):
                problems += self.object_problems(item, f"{where}: data/{index}")
            return problems
        name = f"deleted_{kind}" if body.get("deleted") is True else str(kind)
        validator = self._named(name)
        if validator is None:
            return [f"{where}: no schema for object {name!r}"]
        return self._problems(validator, body, where)

    def response_problems(self, method: str, path: str, status: int, body: Any) -> list[str]:
        where = f"{method} {path} -> {status}"
        operation = self.operation(method, path)
        problems: list[str]
        if operation is None:
            problems = self.object_problems(body, where)
        else:
            schema = operation.responses.get(str(status)) or operation.responses.get("default")
            key = f"{operation.method} {operation.template} {status}"
            if schema is None:
                return [f"{where}: the spec has no response {status} for {operation.template}"]
            problems = self._problems(self._validator(key, schema), body, where)
        if self.adapted and status < 400:
            problems += current_shape_problems(body, where, self.schemas)
            problems += event_payload_problems(self, body, where)
        return problems


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[:limit] + "…"


def stripe_objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every dict in ``value`` (at any depth) that names a Stripe object type."""
    if isinstance(value, dict):
        if isinstance(value.get("object"), str):
            yield value
        for item in value.values():
            yield from stripe_objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from stripe_objects(item)


def current_shape_problems(body: Any, where: str, schemas: dict[str, Any]) -> list[str]:
    """Fields the 2023 spec does not know must have the type today's objects give them."""
    problems = []
    for obj in stripe_objects(body):
        kind = str(obj["object"])
        example = fixtures().get(kind)
        if example is None or obj.get("deleted") is True:
            continue
        known = set(schemas.get(kind, {}).get("properties", {}))
        for name, expected in example.items():
            if name in known or expected is None or name not in obj or obj[name] is None:
                continue
            if json_type(obj[name]) != json_type(expected) and {
                json_type(obj[name]),
                json_type(expected),
            } != {"integer", "number"}:
                problems.append(
                    f"{where}: {kind}.{name} is {json_type(obj[name])}, current objects have "
                    f"{json_type(expected)}"
                )
    return problems


def event_payload_problems(spec: StripeSpec, body: Any, where: str) -> list[str]:
    """The spec types an event's ``data.object`` as any object: check it as what it names."""
    problems = []
    for obj in stripe_objects(body):
        if obj.get("object") == "event":
            data = obj.get("data")
            payload = data.get("object") if isinstance(data, dict) else None
            problems += spec.object_problems(payload, f"{where}: event {obj.get('id')} data")
    return problems


def field_coverage(kind: str, obj: dict[str, Any]) -> tuple[int, int, list[str]]:
    """How many of the current fixture's top-level fields ``obj`` has, and which it lacks."""
    expected = fixtures()[kind]
    missing = sorted(name for name in expected if name not in obj)
    return len(expected) - len(missing), len(expected), missing


@dataclass
class ResponseLog:
    """What a validating wrapper saw: every response and every problem found in one."""

    spec: StripeSpec = field(default_factory=StripeSpec)
    responses: int = 0
    invalid: int = 0
    problems: list[str] = field(default_factory=list)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def record(self, method: str, path: str, status: int, raw: bytes) -> None:
        self.responses += 1
        before = len(self.problems)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
            self.problems.append(f"{method} {path} -> {status}: the body is not JSON")
        else:
            try:
                self.problems += self.spec.response_problems(method, path, status, body)
            except Exception as error:  # a validator bug must fail the test, not the twin
                self.problems.append(f"{method} {path} -> {status}: could not validate: {error!r}")
        self.invalid += len(self.problems) > before
        for obj in stripe_objects(body):
            kind = f"deleted_{obj['object']}" if obj.get("deleted") is True else obj["object"]
            self.objects.setdefault(str(kind), copy.deepcopy(obj))
