"""Cutting a change too big for one request: whole files first, every chunk counted to fit."""

from __future__ import annotations

import math

import pytest

from converge.errors import ReviewError
from converge.spec.change import FileDiff, split_diff
from converge.spec.chunks import plan_chunks

SPEC_TOKENS = 100  # what a request costs with an empty diff


def file_diff(path: str, hunks: int = 1, lines_per_hunk: int = 10, width: int = 40) -> FileDiff:
    parts = [f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"]
    for hunk in range(hunks):
        parts.append(
            f"@@ -{hunk * 100 + 1},{lines_per_hunk} +{hunk * 100 + 1},{lines_per_hunk} @@\n"
        )
        parts.extend(
            f"+{path} hunk {hunk} line {line} ".ljust(width, "x") + "\n"
            for line in range(lines_per_hunk)
        )
    (parsed,) = split_diff("".join(parts))
    return parsed


class Counter:
    """A request's tokens: the spec's share plus one per four characters of diff (like the twin)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        return SPEC_TOKENS + math.ceil(len(text) / 4)


def test_a_change_that_fits_is_one_chunk_counted_once() -> None:
    files = [file_diff("a.py"), file_diff("b.py")]
    count = Counter()
    (chunk,) = plan_chunks(files, count, budget=10_000, max_chunks=5)
    assert chunk.files == ("a.py", "b.py")
    assert chunk.text == files[0].text + files[1].text
    assert chunk.input_tokens == count(chunk.text)
    assert count.calls == 2


def test_a_big_change_is_cut_into_whole_files_each_within_the_budget() -> None:
    files = [file_diff(f"pkg/m{n}.py", lines_per_hunk=20) for n in range(10)]
    budget = 700  # about three files per request next to the spec
    chunks = plan_chunks(files, Counter(), budget=budget, max_chunks=10)
    assert len(chunks) > 2
    assert [c.index for c in chunks] == list(range(1, len(chunks) + 1))
    assert all(chunk.input_tokens <= budget for chunk in chunks)
    assert [path for chunk in chunks for path in chunk.files] == [f.path for f in files]
    assert "".join(chunk.text for chunk in chunks) == "".join(f.text for f in files)
    for chunk in chunks:
        assert chunk.text.startswith("diff --git "), "no file is cut when files fit whole"


def test_a_file_too_big_for_a_request_is_cut_at_its_hunks_each_with_its_header() -> None:
    big = file_diff("big.py", hunks=6, lines_per_hunk=12)
    chunks = plan_chunks([file_diff("small.py"), big], Counter(), budget=600, max_chunks=10)
    parts = [chunk for chunk in chunks if "big.py" in chunk.files]
    assert len(parts) > 1
    header = "diff --git a/big.py b/big.py\n--- a/big.py\n+++ b/big.py\n"
    for part in parts:
        assert part.input_tokens <= 600
        assert header in part.text
    hunks = [line for part in parts for line in part.text.splitlines() if line.startswith("@@")]
    assert len(hunks) == 6, "every hunk is sent once"


def test_a_hunk_too_big_for_a_request_is_cut_between_lines() -> None:
    huge = file_diff("generated.py", hunks=1, lines_per_hunk=120)
    chunks = plan_chunks([huge], Counter(), budget=800, max_chunks=20)
    assert len(chunks) > 1
    assert all(chunk.input_tokens <= 800 for chunk in chunks)
    assert sum(chunk.text.count("hunk 0 line") for chunk in chunks) == 120
    assert "(continued)" in chunks[1].text


def test_a_denser_file_than_the_average_is_cut_again_when_counted() -> None:
    files = [file_diff("sparse.py", lines_per_hunk=30), file_diff("dense.py", lines_per_hunk=30)]

    def count(text: str) -> int:  # the dense file costs three times as much per character
        dense = sum(len(line) for line in text.splitlines(keepends=True) if "dense.py" in line)
        return SPEC_TOKENS + math.ceil((len(text) - dense) / 4) + math.ceil(dense * 3 / 4)

    chunks = plan_chunks(files, count, budget=900, max_chunks=20)
    assert all(chunk.input_tokens <= 900 for chunk in chunks)
    assert all(chunk.input_tokens == count(chunk.text) for chunk in chunks)


def test_a_spec_that_leaves_no_room_is_a_clear_error() -> None:
    with pytest.raises(ReviewError, match="the spec alone takes 100 of the 105 input tokens"):
        plan_chunks([file_diff("a.py")], Counter(), budget=105, max_chunks=5)


def test_more_chunks_than_allowed_is_a_clear_error() -> None:
    files = [file_diff(f"m{n}.py", lines_per_hunk=20) for n in range(10)]
    with pytest.raises(ReviewError, match=r"more than 2 requests.*spec_max_chunks"):
        plan_chunks(files, Counter(), budget=700, max_chunks=2)
