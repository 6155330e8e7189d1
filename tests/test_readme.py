"""The README's tables of commands, tasks and flags say what `converge --help` and
`invoke --list` say: every command, task and flag is in them, and nothing else is."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import tasks
from converge import cli

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Commands, tasks and flags"
# The default task of a collection is listed under the collection's name.
DEFAULTS = {"converge": "converge.run", "gates": "gates.all"}
_CELL = re.compile(r"(?<!\\)\|")
_FLAG = re.compile(r"(?<![\w-])(--?[a-z][a-z-]*)")


def tables() -> list[list[list[str]]]:
    """The Markdown tables of the section, each a list of rows of cells (header rows left out)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    found: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in section.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [cell.strip() for cell in _CELL.split(line.strip().strip("|"))]
        if current is None:
            current = []
            found.append(current)
            continue  # the header
        if not set("".join(cells)) <= set("-: "):
            current.append(cells)
    return found


def table_of(header_word: str) -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    headers = [line for line in section.splitlines() if line.startswith("| ")]
    index = [i for i, line in enumerate(headers) if not line.startswith("| `")]
    names = [headers[i].split("|")[1].strip() for i in index]
    return tables()[names.index(header_word)]


def flags_in(text: str) -> set[str]:
    return set(_FLAG.findall(text))


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def parser_flags(parser: argparse.ArgumentParser) -> set[str]:
    return {
        flag
        for action in parser._actions
        if action.help != argparse.SUPPRESS
        for flag in action.option_strings
        if flag not in ("-h", "--help")
    }


def task_flags(task: object) -> set[str]:
    return {
        f"--{name}" if len(name) > 1 else f"-{name}"
        for argument in task.get_arguments()  # type: ignore[attr-defined]
        for name in argument.names
    }


def test_the_commands_table_lists_every_command_with_its_flags():
    rows = {row[0].split()[1].strip("`"): row for row in table_of("command")}
    commands = subcommands()
    assert set(rows) == set(commands), "one row per `converge` command"
    for name, parser in commands.items():
        if name == "run":
            continue  # its flags have their own table
        missing = parser_flags(parser) - flags_in(" ".join(rows[name]))
        assert not missing, f"converge {name}: the README does not show {sorted(missing)}"


def test_the_tasks_table_lists_every_task_of_invoke_list_with_its_flags():
    rows: dict[str, list[str]] = {}
    for row in table_of("task"):
        word = row[0].strip("`").split()[1]
        rows[DEFAULTS.get(word, word)] = row
    listed = set(tasks.ns.task_names)
    assert set(rows) == listed, f"README vs invoke --list: {sorted(set(rows) ^ listed)}"
    for name in listed:
        if name == "converge.run":
            continue  # its flags have their own table
        # Long names: the short ones of these tasks are invoke's first letters (-b, -j, ...).
        longs = {flag for flag in task_flags(tasks.ns[name]) if flag.startswith("--")}
        missing = longs - flags_in(" ".join(rows[name]))
        assert not missing, f"invoke {name}: the README does not show {sorted(missing)}"


def test_the_flags_table_is_the_flags_of_converge_run_and_invoke_converge():
    run_flags = parser_flags(subcommands()["run"])
    task = task_flags(tasks.ns["converge.run"])
    seen_run: set[str] = set()
    seen_task: set[str] = set()
    for row in table_of("flag"):
        flags = flags_in(row[0])
        in_run, in_task = row[1] == "✓", row[2] == "✓"
        assert row[3], f"{row[0]} says what it means"
        assert (flags <= run_flags) == in_run, f"{row[0]}: converge run column"
        assert (flags <= task) == in_task, f"{row[0]}: invoke converge column"
        seen_run |= flags if in_run else set()
        seen_task |= flags if in_task else set()
    assert run_flags == seen_run, f"converge run: {sorted(run_flags ^ seen_run)}"
    assert task == seen_task, f"invoke converge: {sorted(task ^ seen_task)}"


def test_the_tables_match_what_the_programs_print():
    # The same sources the tests above read, checked once against the real help output.
    listing = subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPO), "--list"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    for name in tasks.ns.task_names:
        assert f"  {name}" in listing
    helped = subprocess.run(
        [sys.executable, "-m", "converge", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    for name in subcommands():
        assert name in helped
