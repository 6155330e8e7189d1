"""The quality gates: lint, types, backend tests and frontend commands, as configured.

Each gate is a list of shell commands from setup.cfg's ``[converge]`` section (``gate_lint``,
``gate_types``, ``gate_backend``, ``gate_frontend``), so a product repository points them at its
own tools. They run through ``/bin/sh`` in the project root like Makefile lines, because a
frontend gate is typically ``cd web && npm run build``; the commands are the project's own
configuration, as trusted as tasks.py. Output streams straight through, so CI logs show the tool
itself. Every command of every selected gate runs; then, if any failed, one
:class:`~converge.errors.GateFailedError` (exit 1) lists them all.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from converge.errors import GateFailedError

Say = Callable[[str], None]

GATE_NAMES = ("lint", "types", "backend", "frontend")


@dataclass(frozen=True)
class Gate:
    name: str  # one of GATE_NAMES
    commands: tuple[str, ...]  # empty: not configured, skipped with a message

    @property
    def key(self) -> str:
        return f"gate_{self.name}"


@dataclass(frozen=True)
class CommandOutcome:
    command: str
    exit_code: int
    seconds: float


@dataclass(frozen=True)
class GateOutcome:
    """What one gate did: ``passed``, ``failed`` or ``skipped`` (no command configured)."""

    name: str
    status: str
    commands: tuple[CommandOutcome, ...]


@dataclass(frozen=True)
class GateFailure:
    gate: str
    command: str
    exit_code: int

    def __str__(self) -> str:
        hint = " (command not found?)" if self.exit_code == 127 else ""
        return f"{self.gate}: `{self.command}` exited {self.exit_code}{hint}"


class _GateSettings(Protocol):
    @property
    def gate_lint(self) -> tuple[str, ...]: ...
    @property
    def gate_types(self) -> tuple[str, ...]: ...
    @property
    def gate_backend(self) -> tuple[str, ...]: ...
    @property
    def gate_frontend(self) -> tuple[str, ...]: ...


def configured(settings: _GateSettings, names: Sequence[str] = GATE_NAMES) -> list[Gate]:
    """The gates named, in order, with their commands from the settings."""
    unknown = [name for name in names if name not in GATE_NAMES]
    if unknown:
        raise ValueError(f"unknown gates: {', '.join(unknown)}")
    return [Gate(name, getattr(settings, f"gate_{name}")) for name in names]


def _stdout(message: str) -> None:
    print(message, flush=True)


Runner = Callable[[str, Path], int]


def _run_shell(command: str, cwd: Path) -> int:
    # Flush our own output first so it appears before the tool's, in order, in CI logs.
    sys.stdout.flush()
    sys.stderr.flush()
    return subprocess.run(command, shell=True, cwd=cwd, check=False).returncode


def run(
    gates: Sequence[Gate], *, cwd: Path | str = ".", say: Say = _stdout, runner: Runner = _run_shell
) -> list[GateOutcome]:
    """Run every command of every gate; raise GateFailedError naming each failure, once."""
    outcomes = execute(gates, cwd=cwd, say=say, runner=runner)
    raise_failures(outcomes)
    return outcomes


def execute(
    gates: Sequence[Gate], *, cwd: Path | str = ".", say: Say = _stdout, runner: Runner = _run_shell
) -> list[GateOutcome]:
    """Run every command of every gate and say how each went; never raises for a failure."""
    outcomes = []
    for gate in gates:
        if not gate.commands:
            say(f"gate {gate.name}: skipped, no command configured ([converge] {gate.key})")
            outcomes.append(GateOutcome(gate.name, "skipped", ()))
            continue
        done = []
        for command in gate.commands:
            say(f"gate {gate.name}: $ {command}")
            started = time.monotonic()
            code = runner(command, Path(cwd))
            seconds = time.monotonic() - started
            done.append(CommandOutcome(command, code, seconds))
            if code == 0:
                say(f"gate {gate.name}: ok ({seconds:.1f}s)")
            else:
                say(f"gate {gate.name}: FAILED, {command!r} exited {code}")
        failed = any(outcome.exit_code != 0 for outcome in done)
        outcomes.append(GateOutcome(gate.name, "failed" if failed else "passed", tuple(done)))
    return outcomes


def raise_failures(outcomes: Sequence[GateOutcome]) -> None:
    """One GateFailedError (exit 1) listing every failed command, if any failed."""
    failures = [
        GateFailure(outcome.name, command.command, command.exit_code)
        for outcome in outcomes
        for command in outcome.commands
        if command.exit_code != 0
    ]
    if failures:
        count = len(failures)
        raise GateFailedError(
            f"{count} gate command{'s' if count != 1 else ''} failed:\n"
            + "\n".join(f"  {failure}" for failure in failures)
        )
