"""Validated scenario values in, the :class:`~converge.model.Scenario` model out.

Runs only on a file without problems, so every value has the shape the schema and the rules
promise. Templates, field paths and status lists are compiled here, once per file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from converge import paths
from converge._rules import capture_path
from converge._schema_errors import PathSegments
from converge.model import CheckSpec, Priority, Scenario, Step
from converge.template import compile_value

LineOf = Callable[[PathSegments, "str | None"], int]


class Builder:
    """Builds one file's scenario; ``line_of`` gives the line of a place in the file."""

    def __init__(self, relative: str, folder_tier: Priority | None, line_of: LineOf) -> None:
        self.relative = relative
        self.folder_tier = folder_tier
        self._line_of = line_of

    def line_of(self, where: PathSegments, key: str | None = None) -> int:
        return self._line_of(where, key)

    def build(self, data: dict[str, Any]) -> Scenario:
        # check_priority has reported a file with neither, so one of the two is set here.
        priority = cast("Priority", data.get("priority") or self.folder_tier)
        steps = tuple(
            self.build_step(index, step) for index, step in enumerate(data["steps"])
        )
        return Scenario(name=data["name"], priority=priority, file=self.relative, steps=steps)

    def build_step(self, index: int, step: dict[str, Any]) -> Step:
        where: PathSegments = ("steps", index)
        method = str(step.get("method", "GET"))
        path = compile_value(step["path"])
        headers = compile_value(step.get("headers") or {}, as_text=True)
        body = None if step.get("body") is None else compile_value(step["body"])
        checks: list[CheckSpec] = []
        variables = set(path.variables | headers.variables)
        if body is not None:
            variables |= body.variables
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
                template = compile_value(text)
                variables |= template.variables
                checks.append(
                    CheckSpec(
                        kind="body_contains",
                        target=text,
                        line=self.line_of((*exp, "body_contains", i)),
                        expected=template,
                    )
                )
            for kind in ("body_matches", "body_equals"):
                for name, value in expect.get(kind, {}).items():
                    template = compile_value(value)
                    variables |= template.variables
                    checks.append(
                        CheckSpec(
                            kind=kind,
                            target=name,
                            line=self.line_of((*exp, kind), name),
                            expected=template,
                            path=paths.parse(name),
                        )
                    )
        for name, source in (step.get("capture") or {}).items():
            checks.append(
                CheckSpec(
                    kind="capture",
                    target=name,
                    line=self.line_of((*where, "capture"), name),
                    path=capture_path(source),
                )
            )
        if expect is None and not step.get("capture"):
            # The implicit check: a step that declares nothing must at least answer 2xx.
            checks.append(CheckSpec(kind="status", target="status", line=self.line_of(where)))
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
        )
