"""Measure the twins' fidelity and print the README's fidelity table (Markdown).

    python scripts/fidelity.py                      # today's twins
    python scripts/fidelity.py --before CHECKOUT    # also an older checkout's, with today's probes
    python scripts/fidelity.py --only anthropic -v  # one source, listing what falls short

The rows come from the sources in converge_twins.conformance.fidelity.SOURCES; each starts its
twin on a free 127.0.0.1 port (from CHECKOUT when given: a git worktree of an older commit) and
stops it afterwards. Needs the dev extra (the official SDKs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from converge_twins.conformance.fidelity import SOURCES, measure, render_markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="an older checkout to measure as 'before'")
    parser.add_argument("--only", action="append", default=[], help="one source (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list what falls short")
    options = parser.parse_args(argv)
    sources = [s for s in SOURCES if not options.only or s.name in options.only]
    if not sources:
        parser.error(f"--only: expected one of {', '.join(s.name for s in SOURCES)}")
    before = measure(sources, options.before.resolve()) if options.before else []
    rows = measure(sources)
    print(render_markdown(rows, before), end="")
    if options.verbose:
        for row in rows:
            for failure in row.failures:
                print(f"  {row.twin} {row.row}: {failure}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
