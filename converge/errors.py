"""One exception hierarchy for converge; each kind knows its exit code.

Library code raises these and never calls ``sys.exit``. The CLI and the Invoke tasks turn them into
a one-line message and an exit code in one place, :func:`exit_code_of` / :func:`guard`, so a user
never sees a traceback for bad input or a broken environment.
"""

from __future__ import annotations

import re
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from converge.redact import Redactor

EXIT_OK = 0
EXIT_FAILED = 1  # a critical scenario (or a gate) failed: the change is not ready
EXIT_ERROR = 2  # infrastructure or input error: converge could not judge the change


class ConvergeError(Exception):
    """Anything that stops converge from judging a change. Exit code 2 unless a subclass says."""

    exit_code: int = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.reported = False  # a report saying so has been written (no need to write another)

    def __str__(self) -> str:
        return self.message


class ConfigError(ConvergeError):
    """A configuration value is missing or malformed; the message names the key."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one scenario file, located as precisely as the YAML allows."""

    file: str  # as the user should see it (relative to the scenarios directory's parent or cwd)
    line: int  # 1-based; 0 when the file could not be read at all
    pointer: str  # JSONPath-like location inside the document, "$" for the whole file
    message: str

    def __str__(self) -> str:
        # One line whatever a hostile holdouts repository names its files or keys: a newline
        # in a file name would otherwise forge more problems (or hide real ones) in the list.
        file, pointer, message = (one_line(p) for p in (self.file, self.pointer, self.message))
        location = f"{file}:{self.line}" if self.line else file
        return f"{location}: {pointer}: {message}"


class ScenarioError(ConvergeError):
    """One or more scenario files are invalid. Carries every problem found, in every file."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the scenarios:\n"
            + "\n".join(str(p) for p in self.problems)
        )


class NoScenariosError(ConvergeError):
    """The scenarios directory is missing, or holds no scenario (after filtering)."""


class ApiUnreachableError(ConvergeError):
    """The pre-flight request got no HTTP answer at all from the API under test."""


class TwinsError(ConvergeError):
    """The digital twins could not be started, inspected or stopped."""


class HoldoutsError(ConvergeError):
    """The holdout scenarios could not be pulled and no previous checkout exists."""


class ReportError(ConvergeError):
    """A saved report could not be read or rendered."""


class ReviewError(ConvergeError):
    """The spec review could not judge the change: no key, the model provider failing after the
    SDK's retries, an answer that is not a valid verdict, a change git cannot show."""


class GateFailedError(ConvergeError):
    """A quality gate (lint, types, tests, frontend) failed: the change is not ready."""

    exit_code = EXIT_FAILED


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped converge (see :mod:`converge.interrupt`).

    A KeyboardInterrupt, so that it unwinds like Ctrl-C always has: past ``except Exception``,
    through every ``finally`` (the twins' teardown among them). The process exits 128 + the
    signal's number (130, 143), as shells report a process a signal ended; the report written
    on the way says exit 2, converge could not judge the change.
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        self.signum = int(signum)
        self.name = signal.Signals(self.signum).name
        self.reported = False  # a report saying so has been written
        super().__init__(f"interrupted by {self.name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code_of(error: BaseException) -> int:
    """The exit code for an exception that reached the top: the one mapping in the project."""
    if isinstance(error, ConvergeError):
        return error.exit_code
    if isinstance(error, Interrupted):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return 130
    return EXIT_ERROR


# Control characters but newline and tab, C1 included (U+009B is a CSI on some terminals): file
# names and values of a hostile holdouts repository are quoted in messages.
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\x85]")


def one_line(text: str) -> str:
    """``text`` on one line: control characters and line separators written as escapes."""
    return _LINE_BREAKING.sub(
        lambda m: _ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text
    )


def _printable(text: str) -> str:
    return _UNPRINTABLE.sub("?", text)


@contextmanager
def guard(stderr: TextIO | None = None) -> Iterator[None]:
    """Turn a :class:`ConvergeError` into its message on stderr and ``SystemExit(code)``.

    Used by the CLI and by every Invoke task, so both speak the same way. Unexpected exceptions
    are not hidden: they are bugs in converge and keep their traceback, but they exit 2 like any
    other failure to judge the change; Python's own exit 1 would read "a critical scenario fails".
    """
    try:
        yield
    except ConvergeError as error:
        # Redacted before anything reshapes it: a secret quoted in a message (a token in a
        # mistyped URL, the environment's HOLDOUT_PAT) never reaches the terminal or CI's log.
        message = Redactor.from_environment().text(str(error))
        print(f"converge: error: {_printable(message)}", file=stderr or sys.stderr)
        raise SystemExit(error.exit_code) from None
    except KeyboardInterrupt as error:
        name = error.name if isinstance(error, Interrupted) else "SIGINT"
        print(f"converge: interrupted by {name}", file=stderr or sys.stderr)
        raise SystemExit(exit_code_of(error)) from None
    except Exception:
        traceback.print_exc(file=stderr or sys.stderr)
        print(
            "converge: internal error: a bug in converge, not a verdict on the change",
            file=stderr or sys.stderr,
        )
        raise SystemExit(EXIT_ERROR) from None
