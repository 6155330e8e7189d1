"""The Supabase conformance suite: the twin against itself, against a changed twin, and the
fidelity figures the README shows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from converge_twins import conformance
from converge_twins.conformance.fidelity import FidelityRow
from converge_twins.conformance.gotrue_spec import published_operations
from converge_twins.conformance.supabase import OPERATIONS, SUITE, fidelity
from converge_twins.mock_supabase.app import create_app
from tests.support.asgi import serve_asgi

pytestmark = pytest.mark.filterwarnings(
    "ignore:The '(timeout|verify)' parameter is deprecated:DeprecationWarning"
)
README = Path(__file__).resolve().parents[1] / "README.md"


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


def readme_rows() -> dict[tuple[str, str], str]:
    """The README fidelity table's "now" figure of each Supabase and PostgREST row."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in ("Supabase auth", "PostgREST"):
            rows[(cells[0], cells[1])] = cells[3]
    return rows


def test_the_readme_shows_the_measured_figures():
    with serve_asgi(create_app(dict(SUITE.twin_env))) as base:
        measured: list[FidelityRow] = fidelity({"supabase": base})
    shown = readme_rows()
    for row in measured:
        figure = shown.get((row.twin, row.row))
        assert figure is not None, f"the README has no row {row.twin} | {row.row}"
        assert re.match(rf"^{row.passed} of {row.total}\b", figure), (
            f"{row.twin} | {row.row}: README says {figure!r}, measured {row.figure}:\n"
            + "\n".join(row.failures)
        )
    failing = {row.row: row.failures for row in measured if row.row != "auth operations"}
    assert all(not failures for failures in failing.values()), failing
