"""The fidelity table: for each twin, how much of its real service it reproduces, measured.

Each row counts items that pass out of items measured, for one twin and one aspect. Rows come
from *sources*, one per twin or concern, listed in :data:`SOURCES` as ``module:function``; a
source takes the base URL of the twin to measure and returns its rows. A conformance suite
becomes a source for free (:func:`suite_rows`): each behaviour with a ``row`` and an
expectation is one item of that row. Other measures (every response of a run validated against
a published OpenAPI document, the fields of the current API's example objects) are sources of
their own.

``python scripts/fidelity.py`` prints the table as Markdown; ``--before CHECKOUT`` measures the
twins of another checkout with today's probes, which is how "before" figures are taken. The
README's fidelity table is this table, between :data:`README_BEGIN` and :data:`README_END`:
``--write-readme`` writes it there (keeping the README's "before" figures unless ``--before``
measures them again) and ``--check-readme`` (and the test suite) finds every figure the README
shows that is not the one measured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converge_twins.conformance.serve import load, serve_twin
from converge_twins.conformance.suite import Suite, run_behaviours


@dataclass(frozen=True)
class FidelityRow:
    twin: str
    row: str
    passed: int
    total: int
    failures: tuple[str, ...] = field(default=())  # "item: why", for the verbose listing

    @property
    def figure(self) -> str:
        return f"{self.passed} of {self.total}"


# A source: the twins it measures (name -> factory), the env to start them with, and the
# function measuring them, which takes {name: base URL} and returns rows.
@dataclass(frozen=True)
class Source:
    name: str
    twin_apps: dict[str, str]
    measure: str  # "module:function"
    twin_env: dict[str, str] = field(default_factory=dict)


TWIN_APPS = {
    "anthropic": "converge_twins.mock_anthropic.app:create_app",
    "stripe": "converge_twins.mock_stripe.app:create_app",
    "supabase": "converge_twins.mock_supabase.app:create_app",
}
SOURCES: list[Source] = [
    Source(
        "anthropic",
        {"anthropic": TWIN_APPS["anthropic"]},
        "converge_twins.conformance.anthropic:fidelity",
        {"TWIN_SEED": "fidelity", "TWIN_ANTHROPIC_API_KEY": "sk-ant-conformance-twin"},
    ),
    Source(
        "stripe",
        {"stripe": TWIN_APPS["stripe"]},
        "converge_twins.conformance.stripe:fidelity",
        {"TWIN_SEED": "fidelity"},
    ),
    Source(
        "supabase",
        {"supabase": TWIN_APPS["supabase"]},
        "converge_twins.conformance.supabase:fidelity",
        {
            "TWIN_SEED": "fidelity",
            "JWT_SECRET": "conformance-secret-that-is-at-least-32-characters",
            "TWIN_SUPABASE_PROJECT": "converge_twins.conformance:supabase_project.yaml",
        },
    ),
    Source(
        "control plane",
        TWIN_APPS,
        "converge_twins.conformance.control_plane:fidelity",
        {"TWIN_SEED": "fidelity", "TWIN_ANTHROPIC_API_KEY": "sk-ant-conformance-twin"},
    ),
]


def suite_rows(suite: Suite[Any], base_url: str, twin: str) -> list[FidelityRow]:
    """One row per ``row`` name of the suite's behaviours, each behaviour one item."""
    measured = [b for b in suite.behaviours if b.row and b.expect is not None]
    credentials = {key: c.twin_default for key, c in suite.credentials.items()}
    seen = run_behaviours(suite, base_url, credentials, measured)
    results: dict[str, list[tuple[str, list[str]]]] = {}
    for behaviour, observation in zip(measured, seen, strict=True):
        assert behaviour.row is not None and behaviour.expect is not None
        results.setdefault(behaviour.row, []).append(
            (behaviour.name, behaviour.expect(observation))
        )
    return [
        FidelityRow(
            twin,
            row,
            sum(1 for _, problems in items if not problems),
            len(items),
            tuple(f"{name}: {'; '.join(problems)}" for name, problems in items if problems),
        )
        for row, items in results.items()
    ]


def measure(
    sources: Iterable[Source] = SOURCES, checkout: Path | None = None
) -> list[FidelityRow]:
    """Start each source's twins (from ``checkout`` when given) and collect its rows."""
    rows: list[FidelityRow] = []
    for source in sources:
        function: Callable[[Mapping[str, str]], list[FidelityRow]] = load(source.measure)
        with ExitStack() as stack:
            urls = {
                name: stack.enter_context(serve_twin(app, source.twin_env, checkout))
                for name, app in source.twin_apps.items()
            }
            rows += function(urls)
    return rows


def render_markdown(rows: Sequence[FidelityRow], before: Sequence[FidelityRow] = ()) -> str:
    return _render(rows, {(row.twin, row.row): row.figure for row in before})


def _render(rows: Sequence[FidelityRow], before: Mapping[tuple[str, str], str]) -> str:
    lines = ["| twin | measured | before | now |", "|---|---|---|---|"]
    for row in rows:
        then = before.get((row.twin, row.row), "-")
        lines.append(f"| {row.twin} | {row.row} | {then} | {row.figure} |")
    return "\n".join(lines) + "\n"


# --- the README's table ---------------------------------------------------------------------

README_BEGIN = "<!-- fidelity table: written by python scripts/fidelity.py --write-readme -->"
README_END = "<!-- end of the fidelity table -->"


class ReadmeTableError(ValueError):
    """The README has no fidelity table between the markers, or one that cannot be read."""


@dataclass(frozen=True)
class ShownRow:
    """One row of the README's fidelity table, as it reads."""

    twin: str
    row: str
    before: str
    now: str


def _table_span(text: str) -> tuple[int, int]:
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise ReadmeTableError(
            f"the README has no fidelity table between {README_BEGIN!r} and {README_END!r}"
        )
    return begin + len(README_BEGIN), end


def readme_rows(text: str) -> list[ShownRow]:
    """The rows of the README's fidelity table (header and separator left out)."""
    start, end = _table_span(text)
    rows = []
    for number, line in enumerate(text[start:end].strip().splitlines()):
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4:
            raise ReadmeTableError(f"fidelity table line {number + 1}: expected 4 cells: {line}")
        if number >= 2:  # the header and the |---| line
            rows.append(ShownRow(*cells))
    return rows


def readme_problems(
    text: str, rows: Sequence[FidelityRow], *, every_row: bool = True
) -> list[str]:
    """What the README's table shows that is not what was measured (nothing when it is true).

    With ``every_row`` false (only some sources measured) rows of the README that were not
    measured are not reported.
    """
    shown = {(row.twin, row.row): row for row in readme_rows(text)}
    measured = {(row.twin, row.row): row for row in rows}
    problems = []
    for key, row in measured.items():
        if key not in shown:
            problems.append(f"{row.twin} | {row.row}: measured {row.figure}, not in the README")
        elif shown[key].now != row.figure:
            problems.append(
                f"{row.twin} | {row.row}: the README says {shown[key].now}, measured {row.figure}"
            )
    if every_row:
        problems += [
            f"{twin} | {name}: in the README, not measured by any source"
            for twin, name in shown
            if (twin, name) not in measured
        ]
        if not problems and list(shown) != list(measured):
            problems.append("the README's rows are not in the order the sources measure them")
    return problems


def write_readme_table(
    path: Path, rows: Sequence[FidelityRow], before: Sequence[FidelityRow] | None = None
) -> None:
    """Rewrite the fidelity table of the README at ``path`` in place (atomically)."""
    text = with_readme_table(path.read_text(encoding="utf-8"), rows, before)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def with_readme_table(
    text: str, rows: Sequence[FidelityRow], before: Sequence[FidelityRow] | None = None
) -> str:
    """The README with its fidelity table replaced by ``rows``.

    "Before" figures come from ``before`` when given (measured again), else from the table
    being replaced, so that rewriting the table never loses them.
    """
    start, end = _table_span(text)
    earlier = (
        {(row.twin, row.row): row.figure for row in before}
        if before is not None
        else {(row.twin, row.row): row.before for row in readme_rows(text)}
    )
    return text[:start] + "\n" + _render(rows, earlier) + text[end:]
