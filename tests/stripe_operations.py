"""Write the catalogue of Stripe's v1 operations that mock-stripe refuses by name.

    python -m tests.stripe_operations > converge_twins/mock_stripe/operations.txt

The official ``stripe`` SDK is generated from Stripe's OpenAPI spec: every service method names
one operation (``customers.delete_discount``) with its method and path template. The twin answers
a request for one of these it does not implement with a 400 naming it, instead of a 404 that
would claim the object does not exist; a path in no operation is Stripe's own 404
"Unrecognized request URL". Rerun this after upgrading the SDK; the file's first line records
the SDK version it came from.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from typing import Any

import stripe

CALL = re.compile(r'"(get|post|delete)",\s*"(/v1/[^"]+)"')


def services(module: str, cls: str, label: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    service = getattr(importlib.import_module(module), cls)
    yield label, service
    children = getattr(importlib.import_module(module), "_subservices", {})
    if depth < 4:
        for name, (child_module, child_cls) in children.items():
            yield from services(child_module, child_cls, f"{label}.{name}".strip("."), depth + 1)


def operations() -> list[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    for label, service in services("stripe._v1_services", "V1Services", ""):
        for name, method in inspect.getmembers(service, inspect.isfunction):
            if name.startswith("_") or name.endswith("_async"):
                continue
            source = re.sub(r"\s+", " ", inspect.getsource(method))
            for verb, path in CALL.findall(source):
                found.add((f"{label}.{name}".strip("."), verb.upper(), path))
    return sorted(found, key=lambda op: (op[2], op[1]))


def main() -> int:
    listed = operations()
    print(f"# Stripe v1 operations from the stripe SDK {stripe.VERSION} (API {stripe.api_version})")
    for name, verb, path in listed:
        print(f"{verb} {path} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
