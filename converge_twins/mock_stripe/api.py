"""The operations mock-stripe implements, registered by the resource modules.

Each resource module declares its operations with :func:`operation`: the method, Stripe's path
template, the parameters it accepts (anything else is ``parameter_unknown``, as on Stripe; list
operations take ``limit``, ``starting_after`` and ``ending_before`` too) and the handler, a
function of the :class:`~converge_twins.mock_stripe.state.Call` returning the answer's object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from converge_twins.mock_stripe.state import Call
from converge_twins.mock_stripe.store import Obj

Handler = Callable[[Call], Obj]
PAGINATION = frozenset({"limit", "starting_after", "ending_before"})
SEARCH = frozenset({"query", "limit", "page"})


@dataclass(frozen=True)
class Operation:
    name: str  # the SDK's name, e.g. customers.create
    method: str
    path: str  # Starlette's template, e.g. /v1/customers/{customer}
    handler: Handler
    params: frozenset[str]

    @property
    def literal_segments(self) -> int:
        return sum(1 for part in self.path.split("/") if part and not part.startswith("{"))


OPERATIONS: list[Operation] = []


def operation(
    name: str, method: str, path: str, params: Iterable[str] = (), *, listing: bool = False
) -> Callable[[Handler], Handler]:
    accepted = frozenset(params) | (PAGINATION if listing else frozenset())

    def register(handler: Handler) -> Handler:
        OPERATIONS.append(Operation(name, method, path, handler, accepted))
        return handler

    return register


def routing_order() -> list[Operation]:
    """Literal segments first: /v1/customers/search is not the customer "search"."""
    return sorted(OPERATIONS, key=lambda op: (-op.literal_segments, op.path))


def names(text: str) -> frozenset[str]:
    """Parameter names written as one spaced string: long lists stay readable."""
    return frozenset(text.split())
