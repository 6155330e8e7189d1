"""The spec review's report: ``spec-review.json`` (``schemas/spec-review.schema.json``), Markdown
for a PR or a step summary, and the terminal's table, all rendered from the one document.

The document says what was asked (model, limits, the base and head, the files and their sizes,
the chunks), what it cost (every request with its token usage), what was masked before sending,
and the verdict with its findings. It holds neither the diff nor the spec, and never a holdout.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

from converge import _schemas
from converge.errors import ReportError

FORMAT = 1
REPORT_NAME = "spec-review.json"
MARKDOWN_NAME = "spec-review.md"
VERDICTS = {0: "compliant", 1: "not compliant", 2: "error"}
SEVERITY_ORDER = ("blocker", "major", "minor")


def paths(reports_dir: Path) -> tuple[Path, Path]:
    """Where the JSON report and its Markdown go: next to the convergence report."""
    return reports_dir / REPORT_NAME, reports_dir / MARKDOWN_NAME


def schema_problems(document: Any) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schemas.load(_schemas.SPEC_REVIEW))
    return [
        f"{error.json_path}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    ]


def load(path: Path) -> dict[str, Any]:
    """A saved spec review report, checked against its schema; ReportError otherwise."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report file") from None
    except (OSError, ValueError, RecursionError) as error:
        raise ReportError(f"{path}: not a readable JSON report: {error}") from None
    problems = schema_problems(document)
    if problems:
        raise ReportError(f"{path}: not a spec review report: {problems[0]}")
    result: dict[str, Any] = document
    return result


# --- one-line forms ---------------------------------------------------------------------------


def counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{counts.get(severity, 0)} {severity}" for severity in SEVERITY_ORDER)


def cost_text(document: Mapping[str, Any]) -> str:
    usage = document["usage"]
    chunks = len(document["chunks"])
    parts = [f"{chunks} chunk{'s' if chunks != 1 else ''}"] if chunks else []
    if usage["requests"]:
        parts.append(
            f"{usage['input_tokens']:,} input + {usage['output_tokens']:,} output tokens in "
            f"{usage['requests']} request{'s' if usage['requests'] != 1 else ''}"
        )
    return "; ".join(parts)


def verdict_line(document: Mapping[str, Any]) -> str:
    """One line: COMPLIANT / NOT COMPLIANT / ERROR and why."""
    if document["error"]:
        first = str(document["error"]).splitlines()[0]
        return f"ERROR: the spec review could not judge the change: {first}"
    cost = cost_text(document)
    tail = f" ({cost})" if cost else ""
    if not document["change"]["files"]:
        return f"COMPLIANT: no change to review{tail}"
    word = "COMPLIANT" if document["exit_code"] == 0 else "NOT COMPLIANT"
    return f"{word}: {counts_text(document['counts'])} findings{tail}"


def reason(document: Mapping[str, Any]) -> str:
    """The short reason ``invoke done`` shows for this criterion."""
    if document["error"]:
        return str(document["error"]).splitlines()[0]
    if not document["change"]["files"]:
        return "no change to review"
    word = "compliant" if document["exit_code"] == 0 else "not compliant"
    return f"{word}: {counts_text(document['counts'])} findings"


# --- terminal ---------------------------------------------------------------------------------


def render_table(document: Mapping[str, Any]) -> str:
    """The summary, the findings worst first, then the verdict line."""
    lines = []
    if document["summary"]:
        lines.extend([document["summary"], ""])
    findings = document["findings"]
    if findings:
        rows = [
            [f["severity"], _where(f), _one_line(f["requirement"]), _one_line(f["explanation"])]
            for f in findings
        ]
        lines.append(
            tabulate(
                rows,
                headers=["Severity", "Where", "Requirement", "Explanation"],
                maxcolwidths=[None, 32, 40, 60],
                disable_numparse=True,
            )
        )
        lines.append("")
    for note in document["notes"]:
        lines.append(f"note: {note}")
    lines.append(verdict_line(document))
    return "\n".join(lines) + "\n"


# --- Markdown ---------------------------------------------------------------------------------


def render_markdown(document: Mapping[str, Any], heading: str = "###") -> str:
    """The review for a pull request or a step summary: verdict, summary, findings table."""
    word = {0: "COMPLIANT", 1: "NOT COMPLIANT", 2: "ERROR"}[document["exit_code"]]
    lines = [f"{heading} Spec review: {word}", "", _md(verdict_line(document))]
    change = document["change"]
    if change["base"]:
        lines.extend(
            [
                "",
                f"Change: {_md(change['base_label'])} (`{change['base'][:12]}`) to the "
                f"{_md(change['head'])}, {len(change['files'])} file"
                f"{'s' if len(change['files']) != 1 else ''}; spec: "
                + ", ".join(f"`{_md(f['path'])}`" for f in document["spec"]["files"]),
            ]
        )
    if document["summary"]:
        lines.extend(["", *[f"> {_md(line)}" for line in document["summary"].splitlines()]])
    lines.extend(markdown_findings(document["findings"]))
    if document["notes"]:
        lines.extend(["", *[f"- note: {_md(note)}" for note in document["notes"]]])
    masked = document["masked"]["count"]
    footer = [document["request"]["model"], cost_text(document)]
    if masked:
        footer.append(
            f"{masked} secret-looking value{'s' if masked != 1 else ''} masked before sending"
        )
    lines.extend(["", "<sub>" + " · ".join(_md(part) for part in footer if part) + "</sub>"])
    return "\n".join(lines) + "\n"


def markdown_findings(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    """The findings as a GitHub table, worst first (nothing when there are none)."""
    if not findings:
        return []
    rows = [
        [
            f"**{f['severity']}**" if f["severity"] != "minor" else "minor",
            _md(_one_line(f["requirement"])),
            f"`{_md(_where(f))}`" if f["file"] else "",
            _md(_one_line(f["explanation"])),
        ]
        for f in findings
    ]
    return [
        "",
        tabulate(
            rows,
            headers=["Severity", "Requirement", "Where", "Explanation"],
            tablefmt="github",
            disable_numparse=True,
        ),
    ]


def _where(finding: Mapping[str, Any]) -> str:
    if not finding["file"]:
        return "(missing)"
    return f"{finding['file']}:{finding['line']}" if finding["line"] else str(finding["file"])


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell or paragraph (no HTML, no cell breaks)."""
    return (
        _one_line(text)
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("`", "'")
    )
