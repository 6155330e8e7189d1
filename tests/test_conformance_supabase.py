"""The Supabase conformance suite: the twin against itself and against a changed twin (the
fidelity figures it measures are checked with the README's table in test_fidelity)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from converge_twins import conformance
from converge_twins.conformance.gotrue_spec import published_operations
from converge_twins.conformance.supabase import APP_OPERATIONS, OPERATIONS, SUITE
from converge_twins.mock_supabase.app import create_app
from tests.support.asgi import serve_asgi

pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)


@pytest.fixture
def other_twin() -> Iterator[str]:
    with serve_asgi(create_app({**SUITE.twin_env, "TWIN_SEED": "another-seed"})) as base:
        yield base


class DropErrorCode:
    """A twin with one deliberate change: GoTrue's errors lose their x-sb-error-code header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def without(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, v) for k, v in message["headers"] if k.lower() != b"x-sb-error-code"
                ]
            await send(message)

        await self.app(scope, receive, without)


def test_every_operation_of_gotrues_document_has_a_behaviour():
    assert len(published_operations()) == 59
    assert set(OPERATIONS) == set(published_operations())
    assert set(APP_OPERATIONS) < set(OPERATIONS), "the app's operations are GoTrue's"


def test_the_twin_against_itself_has_no_differences(other_twin):
    comparison = conformance.compare_service("supabase", other_twin, {})
    assert comparison.differences == [], conformance.render_table(comparison)
    assert not [seen for seen in comparison.twin if seen.error], "a behaviour could not run"


def test_a_deliberately_changed_twin_is_found_out():
    changed = DropErrorCode(create_app(dict(SUITE.twin_env)))
    with serve_asgi(changed) as base:
        comparison = conformance.compare_service(
            "supabase", base, {}, names=["errors name their code in x-sb-error-code"]
        )
    assert [(d.behaviour, d.aspect, d.where) for d in comparison.differences] == [
        ("errors name their code in x-sb-error-code", "header", "x-sb-error-code")
    ]
