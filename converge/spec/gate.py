"""``invoke gates.spec`` in one function: gather, mask, count, chunk, ask, merge, report.

:func:`execute` returns 0 (compliant) or 1 (not compliant) and raises the
:class:`~converge.errors.ConvergeError` of an exit 2 (no spec file, no key, the provider failing,
an invalid verdict twice), after writing the report either way, so an earlier verdict never
stays in place. ``--dry-run`` prints what would be sent and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from converge import __version__
from converge.config import ReviewSettings, Settings
from converge.errors import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_OK,
    ConfigError,
    ConvergeError,
    ReportError,
)
from converge.pipeline import STATE_DIR
from converge.redact import Redactor
from converge.report import write_report_atomic
from converge.spec import change as change_lib
from converge.spec import report
from converge.spec.change import Change, FileDiff
from converge.spec.chunks import Chunk, plan_chunks
from converge.spec.client import ModelClient
from converge.spec.masking import Masker
from converge.spec.verdict import (
    COUNTING_PART,
    TOOL_NAME,
    Ledger,
    Outcome,
    SpecDocument,
    build_request,
    estimate_tokens,
    merge,
    render_change,
    render_spec,
    review_chunk,
)

Say = Callable[[str], None]


@dataclass(frozen=True)
class GateOptions:
    root: Path
    settings: ReviewSettings
    reports_dir: Path
    never_sent: tuple[Path, ...] = ()  # the holdouts and converge's own output: never read
    worktree: bool = True  # False: the committed change only (base to HEAD)
    base: str | None = None  # overrides settings.base
    dry_run: bool = False
    environ: Mapping[str, str] = field(default_factory=dict)


def options_for(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    worktree: bool = True,
    base: str | None = None,
    dry_run: bool = False,
) -> GateOptions:
    """The gate's options from the project's settings: the holdouts are never sent."""
    return GateOptions(
        root=settings.root,
        settings=settings.spec,
        reports_dir=settings.report_file.parent,
        never_sent=(
            *holdout_paths(settings),
            settings.report_file.parent,
            settings.root / STATE_DIR,
        ),
        worktree=worktree,
        base=base,
        dry_run=dry_run,
        environ=environ,
    )


def holdout_paths(settings: Settings) -> tuple[Path, ...]:
    """The pulled scenarios, and the holdouts source when it is a folder of this project."""
    source = settings.holdouts_repo.strip()
    paths = [settings.scenarios_dir]
    if source and "://" not in source and not re.match(r"^[\w.-]+@[\w.-]+:", source):
        paths.append(settings.root / source)
    return tuple(paths)


@dataclass(frozen=True)
class Inputs:
    """What the model would be sent, secrets masked."""

    spec: tuple[SpecDocument, ...]
    spec_text: str
    change: Change


def execute(options: GateOptions, out: TextIO, err: TextIO) -> int:
    """Review the change; print and write the report. 0 or 1, or raise for an exit 2."""

    def say(message: str) -> None:
        print(f"spec review: {message}", file=err, flush=True)

    started = datetime.now(UTC)
    masker = Masker.from_environment(options.environ, [options.settings.api_key or ""])
    ledger = Ledger()
    inputs: Inputs | None = None
    outcome: Outcome | None = None
    failure: ConvergeError | None = None
    crash: Exception | None = None
    try:
        inputs = gather(options, masker, say)
        if options.dry_run:
            dry_run(options, inputs, masker, out, say)
            return EXIT_OK
        if not inputs.change.files:
            say(f"no change between the base and the {inputs.change.head}: nothing to review")
            outcome = Outcome(True, "No change to review.", (), ())
        else:
            outcome = review(options.settings, inputs, ledger, say)
    except ConvergeError as error:
        failure = error
    except Exception as error:  # a bug: the old verdict is still replaced, then it surfaces
        crash = error
        failure = ConvergeError(f"internal error: {error!r}")
    document = build_document(
        options,
        inputs=inputs,
        ledger=ledger,
        outcome=outcome,
        failure=failure,
        started=started,
        masker=masker,
    )
    redactor = Redactor.from_environment([options.settings.api_key or "", *masker.known])
    document = redactor.value(document)
    try:
        _write(document, options.reports_dir)
    except OSError as error:
        problem = f"cannot write the spec review report: {error}"
        if failure is None:
            raise ReportError(problem) from None
        failure.message += f"\n{problem}"
    if crash is not None:
        raise crash
    out.write(report.render_table(document))
    out.flush()
    if failure is not None:
        failure.message = redactor.text(failure.message)
        raise failure
    code: int = document["exit_code"]
    return code


# --- the inputs -------------------------------------------------------------------------------


def gather(options: GateOptions, masker: Masker, say: Say) -> Inputs:
    settings, root = options.settings, options.root
    # The base first: outside a repository that says so, before any spec file is looked for.
    base = change_lib.resolve_base(root, options.base or settings.base, options.environ)
    excluded_paths = change_lib.exclusions(root, options.never_sent, ())
    spec_paths = change_lib.list_files(root, settings.spec_files, excluded_paths)
    if not spec_paths:
        patterns = ", ".join(settings.spec_files) or "(none)"
        raise ConfigError(
            f"setup.cfg [converge] spec_files: no file matches {patterns}: "
            "point it at the specification (globs relative to the project root)"
        )
    documents = tuple(_read_spec(root, path, masker) for path in spec_paths)
    excluded = change_lib.exclusions(root, options.never_sent, settings.exclude)
    found = change_lib.collect(root, base, worktree=options.worktree, excluded=excluded)
    masked_files = tuple(
        FileDiff(diff.path, masker.mask(diff.text, diff.path), diff.added, diff.removed)
        for diff in found.files
    )
    change = Change(found.base, found.head, found.head_commit, masked_files, found.excluded)
    spec_bytes = sum(len(d.text.encode()) for d in documents)
    say(
        f"{len(documents)} spec file{_s(len(documents))} ({spec_bytes:,} bytes): "
        + ", ".join(d.path for d in documents)
    )
    say(
        f"change from {base.label} ({base.commit[:12]}) to the {change.head}: "
        f"{len(change.files)} file{_s(len(change.files))}, +{change.added} -{change.removed} "
        f"lines, {len(change.text.encode()):,} bytes"
    )
    if masker.masked.count:
        say(
            f"{masker.masked.count} secret-looking value{_s(masker.masked.count)} masked "
            "before sending"
        )
    return Inputs(documents, render_spec(documents), change)


def _read_spec(root: Path, path: str, masker: Masker) -> SpecDocument:
    try:
        data = (root / path).read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the spec file: {error.strerror}") from None
    if b"\0" in data:
        raise ConfigError(f"{path}: a spec file must be text (matched by spec_files)")
    return SpecDocument(path, masker.mask(data.decode("utf-8", "replace"), path))


# --- planning and asking ----------------------------------------------------------------------


def plan(
    settings: ReviewSettings,
    inputs: Inputs,
    count: Callable[[dict[str, Any]], int | None],
    say: Say,
) -> list[Chunk]:
    """The chunks, counted with ``count`` (an estimate where it returns None)."""
    budget = settings.context_tokens - settings.max_tokens

    def tokens(diff_text: str) -> int:
        whole = diff_text == inputs.change.text
        request = build_request(
            settings.model,
            settings.max_tokens,
            inputs.spec_text,
            render_change(inputs.change, diff_text, None if whole else COUNTING_PART),
            cache_spec=not whole,
        )
        counted = count(request)
        return estimate_tokens(request) if counted is None else counted

    chunks = plan_chunks(inputs.change.files, tokens, budget, settings.max_chunks)
    total = sum(chunk.input_tokens for chunk in chunks)
    if len(chunks) == 1:
        say(f"{total:,} input tokens: one request (at most {budget:,} fit in one)")
    else:
        say(
            f"the spec and the diff do not fit in one request ({budget:,} input tokens): "
            f"{len(chunks)} chunks of whole files, {total:,} input tokens in all"
        )
    return chunks


def review(settings: ReviewSettings, inputs: Inputs, ledger: Ledger, say: Say) -> Outcome:
    """Count, chunk and ask; every request lands in ``ledger``, even when one fails."""
    client = ModelClient(settings)
    try:
        ledger.chunks.extend(plan(settings, inputs, client.count, say))
        ledger.counted_by = client.counted_by
        return ask(client, settings, inputs, ledger, say)
    finally:
        client.close()


def ask(
    client: ModelClient, settings: ReviewSettings, inputs: Inputs, ledger: Ledger, say: Say
) -> Outcome:
    chunks = ledger.chunks
    for chunk in chunks:
        part = (chunk.index, len(chunks)) if len(chunks) > 1 else None
        request = build_request(
            settings.model,
            settings.max_tokens,
            inputs.spec_text,
            render_change(inputs.change, chunk.text, part),
            cache_spec=len(chunks) > 1,
        )
        which = f" (chunk {chunk.index} of {len(chunks)})" if part else ""
        say(f"asking {settings.model} for a verdict{which}")
        ledger.verdicts.append(review_chunk(client.send, request, chunk.index, ledger))
    return merge(ledger.verdicts)


def dry_run(options: GateOptions, inputs: Inputs, masker: Masker, out: TextIO, say: Say) -> None:
    """What would be sent: the files, their sizes and the chunks; the model is not asked."""
    settings = options.settings
    counter: Callable[[dict[str, Any]], int | None] = lambda _request: None  # noqa: E731
    how = "estimated (no ANTHROPIC_API_KEY: counted by size)"
    client = None
    if settings.api_key:
        client = ModelClient(settings)  # counting tokens is free and runs no model
        counter = client.count
    try:
        chunks = plan(settings, inputs, counter, say) if inputs.change.files else []
        if client is not None:
            how = (
                "counted by the provider's count_tokens"
                if client.counted_by == "count_tokens"
                else "estimated (the provider cannot count tokens)"
            )
    finally:
        if client is not None:
            client.close()
    lines = [f"Dry run: nothing is sent to {settings.base_url or 'the Anthropic API'}.", ""]
    lines.append(f"Model {settings.model}, max tokens {settings.max_tokens:,}, tool {TOOL_NAME}")
    lines.append("Spec files:")
    lines.extend(f"  {d.path}  {len(d.text.encode()):,} bytes" for d in inputs.spec)
    change = inputs.change
    lines.append(
        f"Change from {change.base.label} ({change.base.commit[:12]}) to the {change.head}:"
    )
    lines.extend(
        f"  {d.path}  +{d.added} -{d.removed}  {len(d.text.encode()):,} bytes" for d in change.files
    )
    if not change.files:
        lines.append("  (no change: nothing would be sent)")
    if change.excluded:
        lines.append("Never sent: " + ", ".join(change.excluded))
    lines.append(f"Secret-looking values masked before sending: {masker.masked.count}")
    if chunks:
        lines.append(f"Requests: {len(chunks)}, input tokens {how}:")
        for chunk in chunks:
            lines.append(
                f"  chunk {chunk.index}: {chunk.input_tokens:,} tokens, "
                f"{len(chunk.files)} file{_s(len(chunk.files))}: {', '.join(chunk.files)}"
            )
    out.write("\n".join(lines) + "\n")


# --- the report -------------------------------------------------------------------------------


def _write(document: dict[str, Any], reports_dir: Path) -> None:
    json_path, markdown_path = report.paths(reports_dir)
    write_report_atomic(document, json_path)
    temporary = markdown_path.with_name(f".{markdown_path.name}.tmp")
    temporary.write_text(report.render_markdown(document), encoding="utf-8")
    temporary.replace(markdown_path)


def build_document(
    options: GateOptions,
    *,
    inputs: Inputs | None,
    ledger: Ledger,
    outcome: Outcome | None,
    failure: ConvergeError | None,
    started: datetime,
    masker: Masker,
) -> dict[str, Any]:
    settings = options.settings
    finished = datetime.now(UTC)
    if failure is not None or outcome is None:
        code = EXIT_ERROR
    else:
        code = EXIT_OK if outcome.compliant else EXIT_FAILED
    change = inputs.change if inputs is not None else None
    attempts = [attempt.as_dict() for attempt in ledger.attempts]
    verdicts = {verdict.chunk: verdict for verdict in ledger.verdicts}
    findings = outcome.findings if outcome is not None and failure is None else ()
    return {
        "version": __version__,
        "format": report.FORMAT,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "duration_ms": round((finished - started).total_seconds() * 1000, 3),
        "exit_code": code,
        "verdict": report.VERDICTS[code],
        "error": str(failure) if failure is not None else None,
        "commit": change.head_commit if change else change_lib.head_commit(options.root),
        "summary": outcome.summary if outcome is not None and failure is None else "",
        "counts": {
            severity: sum(f.severity == severity for f in findings)
            for severity in report.SEVERITY_ORDER
        },
        "findings": [finding.as_dict() for finding in findings],
        "notes": list(outcome.notes) if outcome is not None and failure is None else [],
        "request": {
            "model": settings.model,
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "context_tokens": settings.context_tokens,
            "max_chunks": settings.max_chunks,
            "max_retries": settings.max_retries,
            "base_url": settings.base_url,
            "tool": TOOL_NAME,
            "counted_by": ledger.counted_by,
        },
        "change": {
            "base": change.base.commit if change else None,
            "base_label": change.base.label if change else None,
            "head": change.head if change else None,
            "head_commit": change.head_commit if change else None,
            "files": [
                {
                    "path": d.path,
                    "added": d.added,
                    "removed": d.removed,
                    "bytes": len(d.text.encode()),
                }
                for d in (change.files if change else ())
            ],
            "excluded": list(change.excluded) if change else [],
            "bytes": len(change.text.encode()) if change else 0,
            "added": change.added if change else 0,
            "removed": change.removed if change else 0,
        },
        "spec": {
            "patterns": list(settings.spec_files),
            "files": [
                {"path": d.path, "bytes": len(d.text.encode())}
                for d in (inputs.spec if inputs else ())
            ],
            "bytes": sum(len(d.text.encode()) for d in inputs.spec) if inputs else 0,
        },
        "masked": masker.masked.as_dict(),
        "chunks": [
            {
                "index": chunk.index,
                "files": list(chunk.files),
                "bytes": len(chunk.text.encode()),
                "input_tokens": chunk.input_tokens,
                "compliant": verdicts[chunk.index].model_compliant
                if chunk.index in verdicts
                else None,
                "findings": len(verdicts[chunk.index].findings) if chunk.index in verdicts else 0,
            }
            for chunk in ledger.chunks
        ],
        "requests": attempts,
        "usage": {
            "requests": len(attempts),
            **{
                key: sum(attempt[key] for attempt in attempts)
                for key in (
                    "input_tokens",
                    "output_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                )
            },
        },
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _s(count: int) -> str:
    return "" if count == 1 else "s"
