"""Measure the twins' fidelity and print the README's fidelity table (Markdown).

    python scripts/fidelity.py                      # today's twins
    python scripts/fidelity.py --before CHECKOUT    # also an older checkout's, with today's probes
    python scripts/fidelity.py --only anthropic -v  # one source, listing what falls short
    python scripts/fidelity.py --check-readme       # exit 1 naming each README figure not measured
    python scripts/fidelity.py --write-readme       # write the measured table into the README

The rows come from the sources in converge_twins.conformance.fidelity.SOURCES; each starts its
twin on a free 127.0.0.1 port (from CHECKOUT when given: a git worktree of an older commit) and
stops it afterwards. --write-readme keeps the README's "before" figures unless --before measures
them again. Needs the dev extra (the official SDKs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from converge_twins.conformance.fidelity import (
    SOURCES,
    ReadmeTableError,
    measure,
    readme_problems,
    render_markdown,
    write_readme_table,
)

README = Path(__file__).resolve().parents[1] / "README.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="an older checkout to measure as 'before'")
    parser.add_argument("--only", action="append", default=[], help="one source (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="list what falls short")
    readme = parser.add_mutually_exclusive_group()
    readme.add_argument(
        "--check-readme", action="store_true", help="compare the README's table with the measure"
    )
    readme.add_argument(
        "--write-readme", action="store_true", help="write the measured table into the README"
    )
    parser.add_argument("--readme", type=Path, default=README, help="the README (default: ours)")
    options = parser.parse_args(argv)
    sources = [s for s in SOURCES if not options.only or s.name in options.only]
    if not sources:
        parser.error(f"--only: expected one of {', '.join(s.name for s in SOURCES)}")
    if options.write_readme and options.only:
        parser.error("--write-readme writes the whole table: drop --only")
    text = ""
    if options.check_readme or options.write_readme:
        try:
            text = options.readme.read_text(encoding="utf-8")
            readme_problems(text, [])  # the table is there and readable, before measuring
        except (OSError, ReadmeTableError) as error:
            parser.error(f"--readme {options.readme}: {error}")
    before = measure(sources, options.before.resolve()) if options.before else None
    rows = measure(sources)
    if options.verbose:
        for row in rows:
            for failure in row.failures:
                print(f"  {row.twin} {row.row}: {failure}", file=sys.stderr)
    if options.write_readme:
        write_readme_table(options.readme, rows, before)
        print(f"fidelity: the table in {options.readme} is the one measured")
        return 0
    if options.check_readme:
        problems = readme_problems(text, rows, every_row=not options.only)
        for problem in problems:
            print(f"{options.readme}: {problem}")
        if problems:
            print("fidelity: run python scripts/fidelity.py --write-readme", file=sys.stderr)
        return 1 if problems else 0
    print(render_markdown(rows, before or []), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
