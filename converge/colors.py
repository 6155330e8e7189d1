"""Colour in the terminal table: PASS green, FAIL and ERROR red, WARN yellow; never in files.

``--color auto`` (the default) colours only a terminal, and not when ``NO_COLOR`` is set to
anything (https://no-color.org) or ``TERM`` is ``dumb``; ``--color always`` and ``never`` decide
regardless, because a flag given on the command line is the more specific wish.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, TextIO

ColorChoice = Literal["auto", "always", "never"]
CHOICES: tuple[ColorChoice, ...] = ("auto", "always", "never")

_CODES = {
    "PASS": "32",  # green
    "FAIL": "31",  # red
    "ERROR": "31",
    "WARN": "33",  # yellow
    "warning": "33",
}
_RESET = "\x1b[0m"


def wanted(
    choice: ColorChoice, stream: TextIO, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether text written to ``stream`` should be coloured."""
    if choice != "auto":
        return choice == "always"
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def paint(text: str, word: str) -> str:
    """``text`` in the colour of ``word`` (a result or ``warning``); unchanged for other words."""
    code = _CODES.get(word)
    return f"\x1b[{code}m{text}{_RESET}" if code else text
