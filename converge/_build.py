"""Validated scenario values in, the :class:`~converge.model.Scenario` model out.

Runs only on a file without problems, so every value has the shape the schema and the rules
promise. Everything a run needs is compiled here, once per file: templates (the path's with
percent-encoding), field paths, status lists, header names, the validators of ``body_schema``.
A file with ``parameters`` gives one scenario per entry, all sharing the compiled steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from converge import paths
from converge._body_schema import compile_schema
from converge._rules import capture_path, instance_name
from converge._schema_errors import PathSegments
from converge.model import (
    DEFAULT_RETRY_INTERVAL_MS,
    Auth,
    BodyKind,
    CheckKind,
    CheckSpec,
    Priority,
    Retry,
    Scenario,
    Step,
)
from converge.template import Template, compile_path, compile_value

LineOf = Callable[[PathSegments, "str | None"], int]

HEADER_CAPTURE = "header."


class Builder:
    """Builds one file's scenarios; ``line_of`` gives the line of a place in the file."""

    def __init__(self, relative: str, folder_tier: Priority | None, line_of: LineOf) -> None:
        self.relative = relative
        self.folder_tier = folder_tier
        self._line_of = line_of

    def line_of(self, where: PathSegments, key: str | None = None) -> int:
        return self._line_of(where, key)

    def build(self, data: dict[str, Any]) -> list[Scenario]:
        # check_priority has reported a file with neither, so one of the two is set here.
        priority = cast("Priority", data.get("priority") or self.folder_tier)
        steps = tuple(
            self.build_step(index, step) for index, step in enumerate(data["steps"])
        )
        entries = data.get("parameters")
        if entries is None:
            return [
                Scenario(name=data["name"], priority=priority, file=self.relative, steps=steps)
            ]
        return [
            Scenario(
                name=instance_name(data["name"], entry),
                priority=priority,
                file=self.relative,
                steps=steps,
                parameters=compile_value(entry),
            )
            for entry in entries
        ]

    def build_step(self, index: int, step: dict[str, Any]) -> Step:
        where: PathSegments = ("steps", index)
        method = str(step.get("method", "GET"))
        path = compile_path(step["path"])
        headers = compile_value(step.get("headers") or {}, as_text=True)
        query = compile_value(step["query"]) if "query" in step else None
        auth = _auth(step["auth"]) if "auth" in step else None
        body, body_kind = _body(step)
        variables = set(path.variables | headers.variables)
        for part in (query, body, auth.credentials if auth is not None else None):
            if part is not None:
                variables |= part.variables
        checks = self.build_checks(step, where)
        for check in checks:
            if check.expected is not None:
                variables |= check.expected.variables
        retry = step.get("retry")
        timeout = step.get("timeout")
        return Step(
            index=index,
            name=step.get("name") or f"{method} {step['path']}",
            method=method,
            path=path,
            headers=headers,
            body=body,
            timeout=None if timeout is None else float(timeout),
            checks=tuple(checks),
            variables=frozenset(variables),
            line=self.line_of(where),
            query=query,
            auth=auth,
            body_kind=body_kind,
            retry=None
            if retry is None
            else Retry(
                attempts=int(retry["attempts"]),
                interval_ms=int(retry.get("interval_ms", DEFAULT_RETRY_INTERVAL_MS)),
            ),
        )

    def build_checks(self, step: dict[str, Any], where: PathSegments) -> list[CheckSpec]:
        checks: list[CheckSpec] = []
        expect = step.get("expect")
        if expect is not None:
            exp: PathSegments = (*where, "expect")
            if "status" in expect:
                status = expect["status"]
                statuses = tuple(int(s) for s in (status if isinstance(status, list) else [status]))
                checks.append(
                    CheckSpec(
                        kind="status",
                        target="status",
                        line=self.line_of(exp, "status"),
                        expected=compile_value(status),
                        statuses=statuses,
                    )
                )
            for i, text in enumerate(expect.get("body_contains", [])):
                checks.append(
                    CheckSpec(
                        kind="body_contains",
                        target=text,
                        line=self.line_of((*exp, "body_contains", i)),
                        expected=compile_value(text),
                    )
                )
            for kind in ("body_matches", "body_equals"):
                for name, value in expect.get(kind, {}).items():
                    checks.append(
                        CheckSpec(
                            kind=kind,
                            target=name,
                            line=self.line_of((*exp, kind), name),
                            expected=compile_value(value),
                            path=paths.parse(name),
                        )
                    )
            header_kinds: tuple[CheckKind, ...] = ("header_equals", "header_matches")
            for header_kind in header_kinds:
                for name, value in expect.get(header_kind, {}).items():
                    checks.append(
                        CheckSpec(
                            kind=header_kind,
                            target=name,
                            line=self.line_of((*exp, header_kind), name),
                            expected=compile_value(value, as_text=True),
                            header=name.lower(),
                        )
                    )
            if "body_schema" in expect:
                schema = expect["body_schema"]
                checks.append(
                    CheckSpec(
                        kind="body_schema",
                        target="body",
                        line=self.line_of(exp, "body_schema"),
                        expected=compile_value(schema),
                        schema=compile_schema(schema),
                    )
                )
            if "max_duration_ms" in expect:
                limit = expect["max_duration_ms"]
                checks.append(
                    CheckSpec(
                        kind="max_duration_ms",
                        target="duration",
                        line=self.line_of(exp, "max_duration_ms"),
                        expected=compile_value(limit),
                        limit_ms=float(limit),
                    )
                )
        for name, source in (step.get("capture") or {}).items():
            line = self.line_of((*where, "capture"), name)
            if source.startswith(HEADER_CAPTURE):
                header = source[len(HEADER_CAPTURE) :]
                checks.append(
                    CheckSpec(kind="capture", target=name, line=line, header=header.lower(),
                              expected=compile_value(source))
                )
            else:
                checks.append(
                    CheckSpec(kind="capture", target=name, line=line, path=capture_path(source))
                )
        if expect is None and not step.get("capture"):
            # The implicit check: a step that declares nothing must at least answer 2xx.
            checks.append(CheckSpec(kind="status", target="status", line=self.line_of(where)))
        return checks


def _auth(auth: dict[str, Any]) -> Auth:
    if "basic" in auth:
        return Auth(scheme="basic", credentials=compile_value(auth["basic"], as_text=True))
    return Auth(scheme="bearer", credentials=compile_value(auth["bearer"], as_text=True))


def _body(step: dict[str, Any]) -> tuple[Template | None, BodyKind]:
    if "form" in step:
        return compile_value(step["form"]), "form"
    if "body_text" in step:
        return compile_value(step["body_text"], as_text=True), "text"
    return (None if step.get("body") is None else compile_value(step["body"])), "json"
