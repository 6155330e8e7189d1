"""`converge run` and `invoke converge` speak one vocabulary: every flag of one is a flag of the
other, with the same short name, unless it is listed below with the reason it belongs to one.

The task takes each shared flag from the argparse parser (names, help, value checks), so adding a
flag to `converge run` makes this test ask for it in `invoke converge` too, and the other way.
"""

from __future__ import annotations

import argparse

import tasks
from converge import cli

# Flags of the pipeline alone: they are about the twins and the holdouts pull around the run.
TASK_ONLY = {
    "--keep": "leaves the twins running after the pipeline",
    "--no-twins": "the pipeline starts no twins",
    "--backend": "which backend starts the twins",
    "--holdouts-repo": "where the pipeline pulls the scenarios from",
    "--holdouts-ref": "which ref of it the pipeline pulls",
}
# Flags of `converge run` alone.
RUN_ONLY = {
    "--twin-url": "invoke converge resets the twins it started, whose URLs it knows",
    # A replay repeats one recorded run against the API already up; the pipeline would start a
    # new stack and pull the holdouts, which is not the trajectory the report recorded.
    "--replay": "repeats one recorded run of a report against the API already up",
    "--scenario": "the scenario of --replay",
    "--run": "the run of --replay",
}


def run_flags() -> dict[str, set[str]]:
    """`converge run`'s long flags, each with its short ones."""
    flags = {}
    for action in cli.run_options().values():
        longs = [flag for flag in action.option_strings if flag.startswith("--")]
        flags[longs[0]] = {flag for flag in action.option_strings if not flag.startswith("--")}
    return flags


def task_flags(task: object) -> dict[str, set[str]]:
    """An invoke task's long flags (first name), each with its short ones."""
    flags = {}
    for argument in task.get_arguments():  # type: ignore[attr-defined]
        names = [name for name in argument.names if len(name) > 1]
        flags[f"--{names[0]}"] = {f"-{name}" for name in argument.names if len(name) == 1}
    return flags


def test_every_flag_of_converge_run_is_a_flag_of_invoke_converge_and_back():
    run, task = run_flags(), task_flags(tasks.run)
    missing_in_task = sorted(set(run) - set(task) - set(RUN_ONLY))
    missing_in_run = sorted(set(task) - set(run) - set(TASK_ONLY))
    assert not missing_in_task, f"invoke converge lacks {missing_in_task} (or list it in RUN_ONLY)"
    assert not missing_in_run, f"converge run lacks {missing_in_run} (or list it in TASK_ONLY)"
    assert not set(RUN_ONLY) & set(task) and not set(TASK_ONLY) & set(run), "lists up to date"


def test_shared_flags_have_the_same_short_names():
    run, task = run_flags(), task_flags(tasks.run)
    for flag in set(run) & set(task):
        assert run[flag] == task[flag], f"{flag}: {sorted(run[flag])} vs {sorted(task[flag])}"
    assert run["--filter"] == {"-k"}, "-k is the name filter, as in pytest"


def test_flags_of_the_task_alone_take_no_short_name_from_converge_run():
    task = task_flags(tasks.run)
    for flag in TASK_ONLY:
        assert not task[flag], f"{flag} has a short name that converge run may want"


def test_shared_flags_carry_converge_runs_help():
    options = cli.run_options()
    for argument in tasks.run.get_arguments():
        action = options.get(argument.name.replace("-", "_"))
        if action is not None and action.help and action.help != argparse.SUPPRESS:
            assert argument.help and action.help[1:10] in argument.help, argument.name


def test_holdouts_pull_names_its_source_as_invoke_converge_does():
    pull = task_flags(tasks.pull)
    assert {"--holdouts-repo", "--holdouts-ref"} <= set(pull)
    names = {name for argument in tasks.pull.get_arguments() for name in argument.names}
    assert {"repo", "ref"} <= names, "the older names still work"
