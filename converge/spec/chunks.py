"""Cutting a change too big for one request into chunks of whole files, each counted.

When the spec and the whole diff do not fit in one request (``spec_context_tokens``, the answer's
``spec_max_tokens`` included), the diff is cut into chunks of whole files (a file too big for one
is cut at its hunks, a hunk too big at its lines) and each chunk is reviewed against the whole
spec. Sizes are estimated from the whole diff's counted tokens per character, then every chunk is
counted for real and cut again while it does not fit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from converge.errors import ReviewError
from converge.spec.change import FileDiff


@dataclass(frozen=True)
class Chunk:
    """One request's share of the diff."""

    index: int  # 1-based
    files: tuple[str, ...]  # the paths whose diff (or part of it) the chunk holds
    text: str
    input_tokens: int  # the whole request's, as counted (or estimated)


Count = Callable[[str], int]  # diff text -> the whole request's input tokens


@dataclass(frozen=True)
class _Unit:
    """A piece of the diff that stays whole in a chunk: a file, or a run of one file's hunks."""

    path: str
    text: str


def plan_chunks(
    files: Sequence[FileDiff], count: Count, budget: int, max_chunks: int
) -> list[Chunk]:
    """Cut the diff into as few requests as fit ``budget`` input tokens each, whole files first.

    ``count`` gives a request's input tokens for a diff text. Files are packed in diff order
    (git sorts by path, so a folder's files tend to share a chunk) by their estimated size, then
    each chunk is counted for real and cut in two while it still does not fit.
    """
    whole = "".join(diff.text for diff in files)
    total = count(whole)
    if total <= budget:
        return [Chunk(1, tuple(diff.path for diff in files), whole, total)]
    empty = count("")
    room = budget - empty
    if room <= budget // 10:
        raise ReviewError(
            f"the spec alone takes {empty:,} of the {budget:,} input tokens a request may hold "
            "(spec_context_tokens less spec_max_tokens): shorten spec_files or raise "
            "spec_context_tokens"
        )
    per_char = max(total - empty, 1) / max(len(whole), 1)
    units = [unit for diff in files for unit in _units(diff, room, per_char)]
    groups = _pack(units, room, per_char)
    chunks: list[tuple[list[_Unit], int]] = []
    pending = [(group, 0) for group in groups]
    counted = 0
    limit = 4 * max(len(units), 1) + 8  # each cut halves a group: a bounded number of counts
    while pending:
        group, depth = pending.pop(0)
        tokens = count("".join(unit.text for unit in group))
        counted += 1
        if tokens <= budget:
            chunks.append((group, tokens))
        elif counted > limit or depth > 12:
            raise ReviewError(
                f"cannot cut the change into requests of at most {budget:,} input tokens: "
                "raise spec_context_tokens or exclude generated files with spec_exclude"
            )
        elif len(group) > 1:
            middle = len(group) // 2
            pending[:0] = [(group[:middle], depth + 1), (group[middle:], depth + 1)]
        else:
            # One unit denser than the diff's average: cut it finer at its own density.
            (unit,) = group
            denser = per_char * (tokens - empty) / max(_estimate(unit, per_char), 1) * 1.1
            finer = _units(FileDiff(unit.path, unit.text, 0, 0), room, denser, force=True)
            pending[:0] = [([piece], depth + 1) for piece in finer]
        if len(chunks) + len(pending) > max_chunks:
            raise ReviewError(
                f"the change needs more than {max_chunks} requests of at most {budget:,} input "
                f"tokens ({total:,} tokens in all): exclude generated or vendored files with "
                "spec_exclude, or raise spec_max_chunks"
            )
    return [
        Chunk(
            index=position,
            files=tuple(dict.fromkeys(unit.path for unit in group)),
            text="".join(unit.text for unit in group),
            input_tokens=tokens,
        )
        for position, (group, tokens) in enumerate(chunks, start=1)
    ]


def _estimate(unit: _Unit, per_char: float) -> int:
    return math.ceil(len(unit.text) * per_char)


def _pack(units: Sequence[_Unit], room: int, per_char: float) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    size = 0
    for unit in units:
        cost = _estimate(unit, per_char)
        if groups and size + cost <= room:
            groups[-1].append(unit)
            size += cost
        else:
            groups.append([unit])
            size = cost
    return groups


_HUNK = re.compile(r"^@@ ", re.MULTILINE)


def _units(diff: FileDiff, room: int, per_char: float, force: bool = False) -> list[_Unit]:
    """The file whole when it fits, else runs of its hunks (each with the file's header)."""
    if not force and math.ceil(len(diff.text) * per_char) <= room:
        return [_Unit(diff.path, diff.text)]
    starts = [match.start() for match in _HUNK.finditer(diff.text)]
    header = diff.text[: starts[0]] if starts else ""
    hunks = [diff.text[a:b] for a, b in zip(starts, [*starts[1:], len(diff.text)], strict=True)]
    if len(hunks) <= 1:
        hunks = _lines_of(hunks[0] if hunks else diff.text, room, per_char, header)
    pieces: list[_Unit] = []
    current = ""
    for hunk in hunks:
        if current and math.ceil(len(header + current + hunk) * per_char) > room:
            pieces.append(_Unit(diff.path, header + current))
            current = ""
        current += hunk
    if current:
        pieces.append(_Unit(diff.path, header + current))
    return pieces


def _lines_of(hunk: str, room: int, per_char: float, header: str) -> list[str]:
    """One hunk too big for a request, cut between lines; later pieces say they continue it."""
    lines = hunk.splitlines(keepends=True)
    if len(lines) <= 1:
        return [hunk]
    opening = lines[0] if lines[0].startswith("@@") else ""
    body = lines[1:] if opening else lines
    allowed = max(int(room / per_char) - len(header) - len(opening) - 64, 1)
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in body:
        if current and size + len(line) > allowed:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        pieces.append("".join(current))
    if len(pieces) == 1:
        # A single line too long to fit: cut it, it cannot be reviewed whole anyway.
        text = pieces[0]
        pieces = [text[i : i + allowed] for i in range(0, len(text), allowed)]
    continued = opening.rstrip("\n") + " (continued)\n" if opening else ""
    return [(opening if i == 0 else continued) + piece for i, piece in enumerate(pieces)]
