"""The fidelity measurement behind the README's table: rows from sources, twins started for it
(here or from another checkout) and stopped afterwards, and the Markdown it prints."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx

from converge_twins.conformance.control_plane import CAPABILITIES
from converge_twins.conformance.fidelity import (
    SOURCES,
    TWIN_APPS,
    FidelityRow,
    measure,
    render_markdown,
)
from converge_twins.conformance.serve import serve_twin

REPO = Path(__file__).resolve().parents[1]


def test_every_control_plane_capability_is_seen_working_on_todays_twins():
    source = next(s for s in SOURCES if s.name == "control plane")
    [row] = measure([source])
    assert len(CAPABILITIES) == 27
    assert (row.passed, row.total) == (27, 27), row.failures


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


def test_the_script_prints_the_table():
    done = subprocess.run(
        [sys.executable, "scripts/fidelity.py", "--only", "control plane"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "| Control plane vs WireMock / LocalStack | capabilities | - | 27 of 27 |" in done.stdout
    bad = subprocess.run(
        [sys.executable, "scripts/fidelity.py", "--only", "nothing"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "--only" in bad.stderr


def test_every_anthropic_behaviour_of_the_table_holds_on_todays_twin():
    source = next(s for s in SOURCES if s.name == "anthropic")
    rows = {row.row: row for row in measure([source])}
    assert {name: (row.passed, row.total) for name, row in rows.items()} == {
        "operations": (15, 15),
        "features": (34, 34),
        "errors": (15, 15),
    }, [failure for row in rows.values() for failure in row.failures]
