"""PostgREST's published errors, as mock-supabase's PostgREST answers are checked against them.

The document is ``tests/resources/specs/postgrest/errors.rst`` of a checkout (PostgREST's own
``docs/references/errors.rst``). Read from it: the error body (``code``, ``details``, ``hint``,
``message``), the HTTP status of each ``PGRSTgxx`` code, and the table mapping a PostgreSQL
error code (SQLSTATE, exact or by its class ``08*``) to a status, "other" codes being 400.
Custom errors raised as ``PTxyz`` answer status ``xyz`` (the document's "RAISE errors with HTTP
Status Codes"). ``42501`` answers 403 to an authenticated caller and 401 otherwise, so both are
allowed.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

SPECS = Path(__file__).resolve().parents[2] / "tests" / "resources" / "specs"
ERRORS_FILE = SPECS / "postgrest" / "errors.rst"
ERROR_FIELDS = frozenset({"code", "details", "hint", "message"})
_PGRST_ROW = re.compile(r"^\|\s*\.\. _pgrst(\w+):\s*\|\s*(\d{3})\s*\|", re.MULTILINE)
_CUSTOM = re.compile(r"^PT(\d{3})$")


@dataclass(frozen=True)
class PostgrestErrors:
    """The codes errors.rst documents and the statuses it gives them."""

    pgrst: dict[str, tuple[int, ...]]  # "PGRST116" -> (406,)
    sqlstate: dict[str, tuple[int, ...]]  # "23505" -> (409,), "08*" -> (503,)
    other: tuple[int, ...]  # any other SQLSTATE

    def statuses(self, code: str) -> tuple[int, ...] | None:
        """The statuses the document allows for ``code``, or None when it does not know it."""
        if code.startswith("PGRST"):
            return self.pgrst.get(code)
        custom = _CUSTOM.match(code)
        if custom:
            return (int(custom.group(1)),)
        if not re.fullmatch(r"[0-9A-Z]{5}", code):
            return None
        if code in self.sqlstate:
            return self.sqlstate[code]
        return self.sqlstate.get(f"{code[:2]}*", self.other)

    def check(self, method: str, path: str, status: int, body: bytes) -> list[str]:
        """What is wrong with one PostgREST error answer (nothing when it is as documented)."""
        where = f"{method} {path} -> {status}"
        try:
            found = json.loads(body)
        except ValueError:
            return [f"{where}: the error is not JSON"]
        if not isinstance(found, dict) or set(found) != ERROR_FIELDS:
            keys = sorted(found) if isinstance(found, dict) else type(found).__name__
            return [f"{where}: not PostgREST's error shape {sorted(ERROR_FIELDS)}: {keys}"]
        code = found["code"]
        if not isinstance(code, str) or not isinstance(found["message"], str):
            return [f"{where}: code and message must be strings"]
        allowed = self.statuses(code)
        if allowed is None:
            return [f"{where}: code {code!r} is not one errors.rst documents"]
        if status not in allowed:
            shown = " or ".join(map(str, allowed))
            return [f"{where}: errors.rst gives {code} the status {shown}"]
        return []


def from_gateway(body: bytes) -> bool:
    """Whether an error on ``/rest/v1`` is the API gateway's (``{"message", "hint"?}``: no API
    key, a rate limit, a body too large), which PostgREST never saw."""
    try:
        found = json.loads(body)
    except ValueError:
        return False
    return isinstance(found, dict) and "message" in found and set(found) <= {"message", "hint"}


def parse(text: str) -> PostgrestErrors:
    """The codes and statuses of errors.rst's tables."""
    pgrst: dict[str, tuple[int, ...]] = {
        f"PGRST{ident.upper()}": (int(status),) for ident, status in _PGRST_ROW.findall(text)
    }
    start = text.index("HTTP Status Codes")
    end = text.index("Errors from PostgREST", start)
    sqlstate: dict[str, tuple[int, ...]] = {}
    other: tuple[int, ...] = ()
    # Rows of the grid table are separated by +---+ lines; a row may span lines (42501 does).
    for block in re.split(r"^\+[-=+]+\+\s*$", text[start:end], flags=re.MULTILINE):
        lines = [line for line in block.splitlines() if line.startswith("|")]
        if not lines:
            continue
        cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
        code = " ".join(row[0] for row in cells if row[0]).strip()
        # the middle cells: a line block ("| if authenticated 403,") splits the status cell
        statuses = tuple(
            int(s) for row in cells for cell in row[1:-1] for s in re.findall(r"\b\d{3}\b", cell)
        )
        if not statuses or code.startswith("PostgreSQL"):
            continue
        if code == "other":
            other = statuses
        else:
            sqlstate[code] = tuple(sorted(statuses))
    if not pgrst or not sqlstate or not other:
        raise ValueError("errors.rst: the tables of codes and statuses were not found")
    return PostgrestErrors(pgrst, sqlstate, other)


@functools.cache
def postgrest_errors(path: Path = ERRORS_FILE) -> PostgrestErrors:
    return parse(path.read_text(encoding="utf-8"))
