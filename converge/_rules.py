"""What a schema cannot say about a scenario: tiers, field paths, regexes, templates, and the
order in which variables become available.

Runs after the schema, on the plain values, and reports each problem at its place through
:class:`Located` (the file checker, which knows the lines); a value of the wrong shape is left to
the schema's own message.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import regex

from converge import paths
from converge._body_schema import SchemaProblem, compile_schema
from converge._regex import compile_pattern
from converge._schema_errors import PathSegments
from converge.model import (
    DEFAULT_RETRY_INTERVAL_MS,
    DEFAULT_TIMEOUT,
    MAX_RETRY_SECONDS,
    TIERS,
    Priority,
)
from converge.template import TemplateSyntaxError, find_variables, text_of
from converge.tokens import BUILTIN_VARIABLES


class Located(Protocol):
    def problem_at(self, where: PathSegments, message: str, key: str | None = None) -> None:
        """A problem at ``where`` (or at the key ``key`` of the mapping there)."""


class Rules:
    """The checks of one file's values.

    ``folder_tier`` is the tier its folder names, if any; ``user`` the user variables supplied
    to this run (name -> where from); ``default_timeout`` the run's step timeout, for a retry's
    worst case.
    """

    def __init__(
        self,
        located: Located,
        folder_tier: Priority | None,
        user: Mapping[str, str] | None = None,
        default_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.located = located
        self.folder_tier = folder_tier
        self.user = user or {}
        self.default_timeout = default_timeout
        # Parameter names -> the entries (index, keys) that do not set them.
        self.parameters: dict[str, list[int]] = {}

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
        self.check_parameters(data, captures)
        available = set(BUILTIN_VARIABLES) | set(self.user) | set(self.parameters)
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

    def check_parameters(self, data: dict[str, Any], captures: Mapping[str, int]) -> None:
        entries = data.get("parameters")
        if not isinstance(entries, list):
            return
        valid = [(i, e) for i, e in enumerate(entries) if isinstance(e, dict)]
        names = {name for _i, entry in valid for name in entry if _is_name(name)}
        self.parameters = {
            name: [i for i, entry in valid if name not in entry] for name in sorted(names)
        }
        outside = set(BUILTIN_VARIABLES) | set(self.user)
        seen: dict[str, int] = {}
        for index, entry in valid:
            where: PathSegments = ("parameters", index)
            for name, value in entry.items():
                if name in BUILTIN_VARIABLES:
                    self.problem_at(where, f"{name!r} is a built-in variable; use another name",
                                    key=name)
                elif name in self.user:
                    self.problem_at(
                        where,
                        f"{name!r} is also a user variable ({self.user[name]}); "
                        "a parameter may not replace it",
                        key=name,
                    )
                if name in captures:
                    self.problem_at(
                        where,
                        f"{name!r} is captured by $.steps[{captures[name]}]; "
                        "a parameter cannot also be captured",
                        key=name,
                    )
                for site, text in _strings(value, (*where, name)):
                    self.check_templates(
                        site,
                        text,
                        outside,
                        lambda missing: f"undefined variable {missing!r}: parameters may use "
                        "built-in and user variables only",
                    )
            shown = instance_name("", entry)
            if shown in seen and entries[seen[shown]] == entry:
                self.problem_at(
                    where, f"the same values as $.parameters[{seen[shown]}]: one would hide "
                    "the other in the report"
                )
            elif shown in seen:
                # Different values, one name: a long value is cut in the name, and a text may
                # hold what separates the values (", ", "=").
                self.problem_at(
                    where, f"named like $.parameters[{seen[shown]}] in the report "
                    f"({shown.strip()!r}): one would hide the other; make the values differ "
                    "where the name shows them (the first 39 characters of each)"
                )
            seen.setdefault(shown, index)

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
            self.check_header_names(step["headers"], (*where, "headers"))
        for key in ("query", "headers", "auth", "body", "form", "body_text"):
            if key in step:
                sites.extend(_strings(step[key], (*where, key)))
        self.check_request(step, where)
        expect = step.get("expect")
        if isinstance(expect, dict):
            sites.extend(self.check_expect(expect, (*where, "expect")))
        capture = step.get("capture")
        if isinstance(capture, dict):
            self.check_capture(capture, (*where, "capture"))
        self.check_retry(step, where)

        def undefined(name: str) -> str:
            return _undefined(name, index, captures, available)

        for site, text in sites:
            self.check_templates(site, text, available, undefined)

    def check_templates(
        self,
        site: PathSegments,
        text: str,
        available: set[str],
        undefined: Callable[[str], str],
    ) -> None:
        try:
            names = find_variables(text)
        except TemplateSyntaxError as error:
            self.problem_at(site, str(error))
            return
        for name in sorted(names):
            if name not in available:
                self.problem_at(site, undefined(name))
                continue
            for entry in self.parameters.get(name, ()):
                self.problem_at(
                    site,
                    f"variable {name!r} has no value in $.parameters[{entry}]: "
                    "give every entry a value for it",
                )

    def check_request(self, step: dict[str, Any], where: PathSegments) -> None:
        bodies = [key for key in ("body", "form", "body_text") if key in step]
        if len(bodies) > 1:
            self.problem_at(
                where,
                f"{' and '.join(repr(key) for key in bodies)} together: a step sends one body "
                "(body as JSON, form, or body_text)",
                key=bodies[1],
            )
        for part in ("query", "form"):
            names = step.get(part)
            for name in names if isinstance(names, dict) else ():
                if isinstance(name, str) and "{{" in name:
                    # Names are sent as written, as keys are everywhere in a scenario; a
                    # template there would go out as literal braces.
                    self.problem_at(
                        (*where, part),
                        f"{name!r}: a template in a name is not filled in (names are sent as "
                        "written); put the variable in the value",
                        key=name,
                    )
        auth = step.get("auth")
        if not isinstance(auth, dict):
            return
        if len(auth) > 1:
            self.problem_at((*where, "auth"), "auth takes one of basic or bearer, not both")
        headers = step.get("headers")
        if isinstance(headers, dict):
            for name in headers:
                if isinstance(name, str) and name.lower() == "authorization":
                    self.problem_at(
                        where,
                        f"auth and an {name} header together: keep one of the two",
                        key="auth",
                    )
        basic = auth.get("basic")
        username = basic.get("username") if isinstance(basic, dict) else None
        if isinstance(username, str) and ":" in username and "{{" not in username:
            self.problem_at(
                (*where, "auth", "basic", "username"),
                "a Basic authentication username cannot hold ':'",
            )

    def check_retry(self, step: dict[str, Any], where: PathSegments) -> None:
        retry = step.get("retry")
        if not isinstance(retry, dict) or not isinstance(retry.get("attempts"), int):
            return
        timeout = step.get("timeout")
        seconds = timeout if isinstance(timeout, int | float) else self.default_timeout
        interval = retry.get("interval_ms", DEFAULT_RETRY_INTERVAL_MS)
        if not isinstance(interval, int):
            return
        worst = retry["attempts"] * (seconds + interval / 1000)
        if worst > MAX_RETRY_SECONDS:
            self.problem_at(
                (*where, "retry"),
                f"may take {worst:g} s at worst ({retry['attempts']} attempts x "
                f"({seconds:g} s timeout + {interval / 1000:g} s interval)); "
                f"at most {MAX_RETRY_SECONDS // 60} minutes are allowed",
            )

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
                    self.check_pattern((*where, kind, name), value)
                elif kind == "body_equals":
                    sites.extend(_strings(value, (*where, kind, name)))
        for kind in ("header_equals", "header_matches"):
            fields = expect.get(kind)
            if not isinstance(fields, dict):
                continue
            first: dict[str, str] = {}
            for name, value in fields.items():
                if not isinstance(name, str):
                    continue
                if name.lower() in first:
                    self.problem_at(
                        (*where, kind),
                        f"{name!r} repeats {first[name.lower()]!r}: header names are "
                        "case-insensitive",
                        key=name,
                    )
                first.setdefault(name.lower(), name)
                if isinstance(value, str):
                    sites.append(((*where, kind, name), value))
                    if kind == "header_matches":
                        self.check_pattern((*where, kind, name), value)
        if "body_schema" in expect:
            self.check_body_schema(expect["body_schema"], (*where, "body_schema"))
        return sites

    def check_pattern(self, where: PathSegments, pattern: str) -> None:
        if "{{" in pattern:  # with templates, only the rendered text is a regex
            return
        try:
            compile_pattern(pattern)
        except regex.error as error:
            self.problem_at(where, f"invalid regular expression: {error}")

    def check_body_schema(self, schema: Any, where: PathSegments) -> None:
        for site, text in _strings(schema, where):
            if "{{" in text:
                self.problem_at(
                    site,
                    "templates are not filled in inside body_schema (a schema is fixed); "
                    "compare values from variables with body_equals",
                )
                return
        try:
            compile_schema(schema)
        except SchemaProblem as problem:
            self.problem_at((*where, *problem.where), problem.message)

    def check_capture(self, capture: dict[str, Any], where: PathSegments) -> None:
        for name, source in capture.items():
            if name in BUILTIN_VARIABLES:
                self.problem_at(
                    where,
                    f"{name!r} is a built-in variable; capture the value under another name",
                    key=name,
                )
            elif name in self.user:
                self.problem_at(
                    where,
                    f"{name!r} is a user variable ({self.user[name]}); "
                    "capture the value under another name",
                    key=name,
                )
            if isinstance(source, str) and CAPTURE.match(source):
                try:
                    capture_path(source)
                except paths.PathSyntaxError as error:
                    self.problem_at((*where, name), str(error))


def instance_name(name: str, entry: Mapping[str, Any]) -> str:
    """``NAME [token={{pro_user_token}}, limit=50]``: an instance's name shows its values as
    written (templates unrendered, so the name is the same in every run), long ones cut."""
    shown = ", ".join(f"{key}={_parameter_text(value)}" for key, value in entry.items())
    return f"{name} [{shown}]"


def _parameter_text(value: Any) -> str:
    text = text_of(value)
    return text if len(text) <= 40 else text[:39] + "\u2026"


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
    # Say every way a variable gets a value: a new user may not know that values can come
    # from outside the scenario.
    return (
        f"undefined variable {name!r}: not a built-in, not supplied (--var {name}=VALUE, "
        f"--vars-file, $CONVERGE_VAR_{name}) and not captured by an earlier step{hint}"
    )
