"""What a schema cannot say about a scenario: tiers, field paths, regexes, templates, and the
order in which variables become available.

Runs after the schema, on the plain values, and reports each problem at its place through
:class:`Located` (the file checker, which knows the lines); a value of the wrong shape is left to
the schema's own message.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import regex

from converge import paths
from converge._schema_errors import PathSegments
from converge.checks import compile_pattern
from converge.model import TIERS, Priority
from converge.template import TemplateSyntaxError, find_variables
from converge.tokens import BUILTIN_VARIABLES


class Located(Protocol):
    def problem_at(self, where: PathSegments, message: str, key: str | None = None) -> None:
        """A problem at ``where`` (or at the key ``key`` of the mapping there)."""


class Rules:
    """The checks of one file's values (``folder_tier``: the tier its folder names, if any)."""

    def __init__(self, located: Located, folder_tier: Priority | None) -> None:
        self.located = located
        self.folder_tier = folder_tier

    def problem_at(self, where: PathSegments, message: str, key: str | None = None) -> None:
        self.located.problem_at(where, message, key)

    def check(self, data: dict[str, Any]) -> None:
        self.check_priority(data)
        steps = data.get("steps")
        if not isinstance(steps, list):
            return
        captures: dict[str, int] = {}  # variable -> index of the first step that captures it
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            capture = step.get("capture")
            if isinstance(capture, dict):
                for name in capture:
                    if isinstance(name, str):
                        captures.setdefault(name, index)
        available = set(BUILTIN_VARIABLES)
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            self.check_step(step, ("steps", index), available, captures)
            capture = step.get("capture")
            if isinstance(capture, dict):
                available.update(name for name in capture if _is_name(name))

    def check_priority(self, data: dict[str, Any]) -> None:
        priority = data.get("priority")
        if "priority" in data:
            if self.folder_tier is not None and priority in TIERS and priority != self.folder_tier:
                self.problem_at(
                    ("priority",),
                    f"priority {priority!r} contradicts the tier folder "
                    f"'{self.folder_tier}/' (remove it, or move the file)",
                )
        elif self.folder_tier is None:
            self.problem_at(
                (),
                "no priority: add 'priority: critical | important | nice-to-have' "
                "or put the file in a tier folder",
            )

    def check_step(
        self,
        step: dict[str, Any],
        where: PathSegments,
        available: set[str],
        captures: dict[str, int],
    ) -> None:
        index = where[-1]
        sites: list[tuple[PathSegments, str]] = []
        if isinstance(step.get("path"), str):
            sites.append(((*where, "path"), step["path"]))
            self.check_path(step["path"], (*where, "path"))
        if isinstance(step.get("headers"), dict):
            sites.extend(_strings(step["headers"], (*where, "headers")))
            self.check_header_names(step["headers"], (*where, "headers"))
        if "body" in step:
            sites.extend(_strings(step["body"], (*where, "body")))
        expect = step.get("expect")
        if isinstance(expect, dict):
            sites.extend(self.check_expect(expect, (*where, "expect")))
        capture = step.get("capture")
        if isinstance(capture, dict):
            self.check_capture(capture, (*where, "capture"))
        for site, text in sites:
            try:
                names = find_variables(text)
            except TemplateSyntaxError as error:
                self.problem_at(site, str(error))
                continue
            for name in sorted(names - available):
                self.problem_at(site, _undefined(name, index, captures, available))

    def check_path(self, path: str, where: PathSegments) -> None:
        # A line break would end the request line and start a forged header; "//x" reads to
        # many servers and proxies as a URL of another host, x.
        if _CONTROL.search(path):
            self.problem_at(
                where, "contains a control character (a line break would split the request)"
            )
        if path.startswith("//"):
            self.problem_at(where, 'must not start with "//" (read as another host\'s URL)')

    def check_header_names(self, headers: dict[str, Any], where: PathSegments) -> None:
        for name in headers:
            if isinstance(name, str) and name.lower() in CONVERGE_HEADERS:
                self.problem_at(
                    where,
                    f"header {name!r} is converge's to set (from the API URL and the body): a "
                    "scenario cannot send its own",
                    key=name,
                )

    def check_expect(
        self, expect: dict[str, Any], where: PathSegments
    ) -> list[tuple[PathSegments, str]]:
        sites: list[tuple[PathSegments, str]] = []
        contains = expect.get("body_contains")
        if isinstance(contains, list):
            sites.extend(
                ((*where, "body_contains", i), text)
                for i, text in enumerate(contains)
                if isinstance(text, str)
            )
        for kind in ("body_matches", "body_equals"):
            fields = expect.get(kind)
            if not isinstance(fields, dict):
                continue
            for name, value in fields.items():
                if not isinstance(name, str) or not name:
                    continue  # the schema reports it
                try:
                    paths.parse(name)
                except paths.PathSyntaxError as error:
                    self.problem_at((*where, kind), str(error), key=name)
                if kind == "body_matches" and isinstance(value, str):
                    sites.append(((*where, kind, name), value))
                    if "{{" not in value:  # with templates, only the rendered text is a regex
                        try:
                            compile_pattern(value)
                        except regex.error as error:
                            self.problem_at(
                                (*where, kind, name), f"invalid regular expression: {error}"
                            )
                elif kind == "body_equals":
                    sites.extend(_strings(value, (*where, kind, name)))
        return sites

    def check_capture(self, capture: dict[str, Any], where: PathSegments) -> None:
        for name, source in capture.items():
            if name in BUILTIN_VARIABLES:
                self.problem_at(
                    where,
                    f"{name!r} is a built-in variable; capture the value under another name",
                    key=name,
                )
            if isinstance(source, str) and CAPTURE.match(source):
                try:
                    capture_path(source)
                except paths.PathSyntaxError as error:
                    self.problem_at((*where, name), str(error))


CAPTURE = re.compile(r"\Aresponse(?=[.\[])")
# Where the request goes and how its body is framed are converge's: a scenario's own Host would
# send the API's credentials under another name (a virtual host, an admin site), and its own
# Content-Length or Transfer-Encoding would frame the body differently from what is sent.
CONVERGE_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def capture_path(source: str) -> paths.FieldPath:
    """The field path of a capture source ``response.<path>``."""
    rest = source[len("response") :]
    rest = rest.removeprefix(".")
    if not rest:
        raise paths.PathSyntaxError(f"{source!r} needs a field path after 'response.'")
    return paths.parse(rest)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _strings(value: Any, where: PathSegments) -> Iterator[tuple[PathSegments, str]]:
    """Every string inside a value with its location (keys stay literal, as in templates)."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*where, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*where, str(key)))


def _undefined(
    name: str, index: int | str, captures: Mapping[str, int], available: set[str]
) -> str:
    captured_at = captures.get(name)
    if captured_at == index:
        return (
            f"variable {name!r} is captured by this step; only later steps can use it"
        )
    if captured_at is not None:
        return (
            f"variable {name!r} is used before it is captured "
            f"(by $.steps[{captured_at}])"
        )
    close = difflib.get_close_matches(name, sorted(available | set(captures)), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"undefined variable {name!r}: not a built-in nor captured by an earlier step{hint}"
