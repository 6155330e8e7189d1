"""The fidelity measurement behind the README's table: rows from sources, twins started for it
(here or from another checkout) and stopped afterwards, the Markdown it prints, and the README's
table kept equal to what today's twins measure."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from converge_twins.conformance.control_plane import CAPABILITIES
from converge_twins.conformance.fidelity import (
    TWIN_APPS,
    FidelityRow,
    ReadmeTableError,
    measure,
    readme_problems,
    readme_rows,
    render_markdown,
    with_readme_table,
)
from converge_twins.conformance.serve import serve_twin

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


@pytest.fixture(scope="module")
def measured() -> dict[tuple[str, str], FidelityRow]:
    """Every row of the table, measured once on today's twins (about a minute)."""
    return {(row.twin, row.row): row for row in measure()}


def test_the_readme_table_is_what_the_twins_measure(measured):
    problems = readme_problems(README.read_text(encoding="utf-8"), list(measured.values()))
    assert problems == [], "run python scripts/fidelity.py --write-readme:\n" + "\n".join(
        problems
    )


# The rows whose every item holds; the others fall short for reasons the README gives (a
# feature the twin cannot turn on, an object Stripe's API cannot make).
FULL = {
    ("Anthropic", "operations"): 15,
    ("Anthropic", "features"): 34,
    ("Anthropic", "errors"): 15,
    ("Stripe", "operations of Stripe's 2023 spec"): 50,
    ("Stripe", "documented behaviours, through the official SDK"): 34,
    ("Supabase auth", "auth operations an app like Gravix uses"): 14,
    ("Supabase auth", "auth behaviours"): 31,
    ("PostgREST", "PostgREST filters"): 30,
    ("PostgREST", "PostgREST behaviours"): 45,
    ("Control plane vs WireMock / LocalStack", "capabilities"): 27,
}


def test_the_rows_issue_12_wants_whole_hold_on_todays_twins(measured):
    assert len(CAPABILITIES) == 27
    for key, total in FULL.items():
        row = measured[key]
        assert (row.passed, row.total) == (total, total), (key, row.failures)
    responses = measured[("Stripe", "responses valid against Stripe's spec (adapted to today)")]
    assert responses.total > 200 and responses.passed == responses.total, responses.failures


def test_the_stripe_operations_a_billing_app_uses_answer_and_the_rest_are_refused_by_name(
    measured,
):
    operations = measured[("Stripe", "operations of the current SDK's billing resources")]
    assert operations.total == 76 and operations.passed >= 69, operations.failures
    refused = measured[("Stripe", "other operations refused with a 400 naming them")]
    others = [f.partition(":")[0] for f in refused.failures]
    assert others == ["customers.delete_discount", "subscriptions.delete_discount"], others
    assert all("No active discount" in f or "No such discount" in f for f in refused.failures)
    fields = measured[("Stripe", "fields of today's objects (fixtures.json)")]
    assert fields.passed / fields.total >= 0.95
    assert {f.partition(".")[0] for f in fields.failures} <= {"deleted_price"}


README_TEXT = """intro
<!-- fidelity table: written by python scripts/fidelity.py --write-readme -->
| twin | measured | before | now |
|---|---|---|---|
| Anthropic | errors | 9 of 15 | 15 of 15 |
| Anthropic | ops | 2 of 15 | 3 of 15 |
<!-- end of the fidelity table -->
outro
"""


def test_a_readme_figure_that_is_not_the_measured_one_is_named():
    now = [FidelityRow("Anthropic", "errors", 14, 15), FidelityRow("Anthropic", "ops", 3, 15)]
    assert readme_problems(README_TEXT, now) == [
        "Anthropic | errors: the README says 15 of 15, measured 14 of 15"
    ]
    assert readme_problems(README_TEXT, now[1:]) == [
        "Anthropic | errors: in the README, not measured by any source"
    ]
    assert readme_problems(README_TEXT, now[1:], every_row=False) == []
    added = [*now, FidelityRow("Stripe", "fields", 3, 4)]
    assert "Stripe | fields: measured 3 of 4, not in the README" in readme_problems(
        README_TEXT, added
    )
    swapped = [FidelityRow("Anthropic", "ops", 3, 15), FidelityRow("Anthropic", "errors", 15, 15)]
    assert readme_problems(README_TEXT, swapped) == [
        "the README's rows are not in the order the sources measure them"
    ]
    with pytest.raises(ReadmeTableError, match="no fidelity table"):
        readme_problems("no table here", now)


def test_writing_the_table_keeps_the_readmes_before_figures_unless_measured_again():
    now = [FidelityRow("Anthropic", "errors", 14, 15), FidelityRow("Anthropic", "new", 1, 2)]
    written = with_readme_table(README_TEXT, now)
    assert written.startswith("intro\n") and written.endswith("-->\noutro\n")
    assert [(r.twin, r.row, r.before, r.now) for r in readme_rows(written)] == [
        ("Anthropic", "errors", "9 of 15", "14 of 15"),
        ("Anthropic", "new", "-", "1 of 2"),
    ]
    assert readme_problems(written, now) == []
    again = with_readme_table(written, now, [FidelityRow("Anthropic", "new", 0, 2)])
    assert [r.before for r in readme_rows(again)] == ["-", "0 of 2"]


def test_a_twin_from_a_checkout_runs_as_a_process_and_is_gone_afterwards():
    with serve_twin(TWIN_APPS["stripe"], {"TWIN_SEED": "fidelity"}, REPO) as url:
        assert httpx.get(f"{url}/_twin/health").json()["twin"] == "mock-stripe"
        port = int(url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        probe.settimeout(2)
        assert probe.connect_ex(("127.0.0.1", port)) != 0, "the twin still listens"


def test_the_table_shows_before_and_now():
    now = [FidelityRow("Anthropic", "errors", 15, 15), FidelityRow("Anthropic", "ops", 3, 15)]
    before = [FidelityRow("Anthropic", "errors", 9, 15)]
    assert render_markdown(now, before).splitlines() == [
        "| twin | measured | before | now |",
        "|---|---|---|---|",
        "| Anthropic | errors | 9 of 15 | 15 of 15 |",
        "| Anthropic | ops | - | 3 of 15 |",
    ]


def fidelity_script(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/fidelity.py", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_script_prints_the_table():
    done = fidelity_script("--only", "control plane")
    assert done.returncode == 0, done.stderr
    assert "| Control plane vs WireMock / LocalStack | capabilities | - | 27 of 27 |" in done.stdout
    bad = fidelity_script("--only", "nothing", timeout=60)
    assert bad.returncode == 2 and "--only" in bad.stderr


def test_the_script_checks_a_readme_and_names_the_figure_that_differs(tmp_path):
    readme = tmp_path / "README.md"
    shown = "| Control plane vs WireMock / LocalStack | capabilities | 10 of 27 | 27 of 27 |"
    assert shown in README.read_text(encoding="utf-8")
    readme.write_text(
        README.read_text(encoding="utf-8").replace(shown, shown.replace("27 of 27 |", "26 of 27 |"))
    )
    done = fidelity_script("--only", "control plane", "--check-readme", "--readme", str(readme))
    assert done.returncode == 1, done.stderr
    assert "capabilities: the README says 26 of 27, measured 27 of 27" in done.stdout
    assert "--write-readme" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--write-readme", "--only", "anthropic"), "drop --only"),
        (("--check-readme", "--readme", "{tmp}/none.md"), "none.md"),
        (("--check-readme", "--readme", "{tmp}/plain.md"), "no fidelity table"),
    ],
)
def test_the_script_refuses_a_readme_it_cannot_use_before_measuring(args, message, tmp_path):
    (tmp_path / "plain.md").write_text("# no table\n")
    done = fidelity_script(*(a.format(tmp=tmp_path) for a in args), timeout=60)
    assert done.returncode == 2, done.stdout
    assert message in done.stderr
    assert "Traceback" not in done.stderr
