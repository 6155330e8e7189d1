"""Gates run real shell commands; every failure is reported, then one GateFailedError."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from converge import config, gates
from converge.errors import EXIT_FAILED, GateFailedError

PY = shlex.quote(sys.executable)


def exits(code: int, text: str = "") -> str:
    return f"{PY} -c \"import sys; print('{text}'); sys.exit({code})\""


def run(selected: list[gates.Gate], tmp_path: Path) -> list[str]:
    said: list[str] = []
    gates.run(selected, cwd=tmp_path, say=said.append)
    return said


def test_passing_gates_run_every_command(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    said = run(
        [gates.Gate("lint", (exits(0, "lint-out"),)), gates.Gate("types", (exits(0, "t"),))],
        tmp_path,
    )
    assert "lint-out" in capfd.readouterr().out, "the tool's output streams through"
    assert [line.split(" (")[0] for line in said if ": ok (" in line] == [
        "gate lint: ok",
        "gate types: ok",
    ]


def test_every_failure_is_reported_then_fails_once(tmp_path: Path) -> None:
    marker = tmp_path / "ran-after-failure"
    selected = [
        gates.Gate("lint", (exits(1),)),
        gates.Gate("types", (exits(0),)),
        gates.Gate("frontend", (exits(2), f"touch {shlex.quote(str(marker))}")),
    ]
    with pytest.raises(GateFailedError) as raised:
        run(selected, tmp_path)
    assert raised.value.exit_code == EXIT_FAILED
    message = str(raised.value)
    assert message.startswith("2 gate commands failed")
    assert "lint:" in message and "exited 1" in message
    assert "frontend:" in message and "exited 2" in message
    assert "types:" not in message
    assert marker.exists(), "commands after a failure still run"


def test_gate_without_commands_is_skipped_with_a_message(tmp_path: Path) -> None:
    said = run([gates.Gate("frontend", ())], tmp_path)
    assert said == ["gate frontend: skipped, no command configured ([converge] gate_frontend)"]


def test_missing_tool_is_a_failure_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(GateFailedError, match="command not found"):
        run([gates.Gate("lint", ("no-such-tool-for-converge-gates",))], tmp_path)


def test_commands_run_in_the_project_root(tmp_path: Path) -> None:
    run([gates.Gate("backend", ("touch here.txt",))], tmp_path)
    assert (tmp_path / "here.txt").exists()


def test_configured_reads_the_commands_from_settings(tmp_path: Path) -> None:
    values = {**config.DEFAULTS, "gate_frontend": "npm run lint\nnpm run build"}
    settings = config.Settings.from_mapping(values, {}, root=tmp_path)
    selected = gates.configured(settings)
    assert [g.name for g in selected] == ["lint", "types", "backend", "frontend"]
    assert selected[0].commands == ("ruff check .",)
    assert selected[3].commands == ("npm run lint", "npm run build")
    assert [g.name for g in gates.configured(settings, ["types"])] == ["types"]
    with pytest.raises(ValueError, match="unknown gates: docs"):
        gates.configured(settings, ["docs"])
