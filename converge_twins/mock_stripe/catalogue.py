"""Stripe's v1 operations the twin knows of but does not implement: a 400 that names them.

``operations.txt`` lists every v1 operation of the official SDK (``tests/stripe_operations.py``
writes it). A request for one of them that the twin does not implement is answered with a 400
``invalid_request_error`` naming the operation, so a test can never mistake the twin's gap for
Stripe's answer (a 404 would claim the object does not exist). A path in no operation gets
Stripe's own 404 ``Unrecognized request URL``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from converge_twins.mock_stripe.errors import StripeError

UNRECOGNIZED = (
    "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can "
    "help at https://support.stripe.com/."
)


@dataclass(frozen=True)
class KnownOperation:
    name: str
    method: str
    template: str
    pattern: re.Pattern[str]


@cache
def known_operations() -> tuple[KnownOperation, ...]:
    text = resources.files("converge_twins.mock_stripe").joinpath("operations.txt").read_text()
    found = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        method, template, name = line.split()
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        found.append(KnownOperation(name, method, template, re.compile(regex)))
    # Literal segments first, as the router does.
    return tuple(sorted(found, key=lambda op: -op.template.count("/") + op.template.count("{")))


def known(method: str, path: str) -> KnownOperation | None:
    for operation in known_operations():
        if operation.method == method and operation.pattern.match(path):
            return operation
    return None


def unanswered(method: str, path: str) -> StripeError:
    """The error for a request no implemented operation took."""
    operation = known(method, path)
    if operation is not None:
        return StripeError(
            400,
            f"mock-stripe does not support {operation.name} ({operation.method} "
            f"{operation.template}) yet: it is a Stripe operation the twin has not implemented, "
            "so it refuses it rather than answer as Stripe would not.",
            code="twin_unsupported_operation",
        )
    return StripeError(404, UNRECOGNIZED.format(method=method, path=path))
