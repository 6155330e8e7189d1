"""Evaluate a step's declared checks against the response it got.

Each :class:`~converge.model.CheckSpec` is worth one point and becomes one
:class:`~converge.model.CheckResult`. A check never raises: a missing field, a body that is not
JSON or a pattern that does not compile fails that one check with a message in the user's terms,
so a scenario still earns partial credit for everything else.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import regex

from converge.model import CheckResult, CheckSpec
from converge.paths import PathMissing
from converge.template import UndefinedVariable, text_of
from converge.visible import mismatch, show

ACTUAL_LIMIT = 200  # characters of an actual value kept in messages and reports
# Levels of nesting a captured value may have (as scenario.MAX_DEPTH for the files): templates,
# comparisons and the report recurse into captured values, and the API's body is not ours.
MAX_CAPTURE_DEPTH = 100
_TOO_DEEP = "nested too deeply to compare"
# How long a pattern may take when no step deadline is known (a check evaluated on its own).
MATCH_TIMEOUT = 10.0
# The least a pattern is given even when its step's deadline has (almost) passed: an answer
# that came in time deserves to be checked.
MIN_MATCH_SECONDS = 0.05

_NOT_JSON: Any = object()


class Response:
    """What the checks look at: status code, raw text, and the JSON body parsed on first use.

    Parsing is lazy because most steps of a status-only scenario never need it. ``deadline``
    (``time.monotonic()`` seconds) is the step's: a regular expression may search until then.
    """

    __slots__ = ("_json", "_json_problem", "deadline", "status_code", "text")

    def __init__(self, status_code: int, text: str, deadline: float | None = None) -> None:
        self.status_code = status_code
        self.text = text
        self.deadline = deadline
        self._json: Any = _UNPARSED
        self._json_problem: str | None = None

    def seconds_left(self) -> float:
        """How long a pattern may still search: until the step's deadline (at least a little)."""
        if self.deadline is None:
            return MATCH_TIMEOUT
        return max(self.deadline - time.monotonic(), MIN_MATCH_SECONDS)

    @property
    def json(self) -> Any:
        """The parsed body, or the private ``_NOT_JSON`` marker when the body is not JSON."""
        if self._json is _UNPARSED:
            try:
                self._json = json.loads(self.text) if self.text.strip() else _NOT_JSON
            except (ValueError, RecursionError) as error:  # the API's body, not converge's bug
                self._json = _NOT_JSON
                if isinstance(error, ValueError) and "digits" in str(error):
                    # Python reads at most 4300 digits of an integer: valid JSON all the same.
                    self._json_problem = "holds an integer too long to read (over 4300 digits)"
        return self._json

    @property
    def is_json(self) -> bool:
        return self.json is not _NOT_JSON


_UNPARSED: Any = object()


def evaluate(
    checks: Sequence[CheckSpec], response: Response, variables: Mapping[str, Any]
) -> tuple[tuple[CheckResult, ...], dict[str, Any]]:
    """All checks of one step, in order, and the values the step's captures took (with types)."""
    results: list[CheckResult] = []
    captured: dict[str, Any] = {}
    for spec in checks:
        if spec.kind == "capture":
            result, value = _capture(spec, response)
            if result.passed:
                captured[spec.target] = value
        else:
            result = evaluate_one(spec, response, variables)
        results.append(result)
    return tuple(results), captured


def evaluate_one(spec: CheckSpec, response: Response, variables: Mapping[str, Any]) -> CheckResult:
    """One check; never raises for anything the response or the scenario's values can hold."""
    try:
        if spec.kind == "status":
            return _status(spec, response)
        if spec.kind == "body_contains":
            return _contains(spec, response, variables)
        if spec.kind == "body_matches":
            return _matches(spec, response, variables)
        if spec.kind == "body_equals":
            return _equals(spec, response, variables)
        return _capture(spec, response)[0]
    except UndefinedVariable as missing:
        return _fail(spec, None, None, f"not checked: {missing}")
    except RecursionError:
        return _fail(spec, None, None, f"not checked: the value is {_TOO_DEEP}")


def fail_all(checks: Sequence[CheckSpec], reason: str) -> tuple[CheckResult, ...]:
    """Every check of a step that got no response (transport failure, or not sent)."""
    return tuple(
        CheckResult(
            kind=spec.kind,
            target=spec.target,
            expected=_expected_for_report(spec),
            actual=None,
            passed=False,
            message=reason,
            line=spec.line,
        )
        for spec in checks
    )


# --- the kinds ---------------------------------------------------------------------------


def _status(spec: CheckSpec, response: Response) -> CheckResult:
    code = response.status_code
    expected = _expected_for_report(spec)
    if spec.statuses:
        if code in spec.statuses:
            return _pass(spec, expected, code)
        wanted = (
            str(spec.statuses[0])
            if len(spec.statuses) == 1
            else "one of " + ", ".join(str(s) for s in spec.statuses)
        )
        message = f"expected status {wanted}, got {code}"
    else:
        if 200 <= code < 300:
            return _pass(spec, expected, code)
        message = f"expected a 2xx status, got {code}"
    if response.text:
        message += f" (body: {shorten(response.text)})"
    return _fail(spec, expected, code, message)


def _contains(spec: CheckSpec, response: Response, variables: Mapping[str, Any]) -> CheckResult:
    needle = text_of(_render_expected(spec, variables))
    if needle in response.text:
        return _pass(spec, needle, needle)
    body = show(response.text) if response.text else "empty"
    message = f"body does not contain {show(needle)}; body: {body}"
    return _fail(spec, needle, shorten(response.text), message)


def _matches(spec: CheckSpec, response: Response, variables: Mapping[str, Any]) -> CheckResult:
    pattern = text_of(_render_expected(spec, variables))
    found, value, problem = _field(spec, response)
    if problem is not None:
        return _fail(spec, pattern, None, problem)
    try:
        compiled = _compile(pattern)
    except regex.error as error:
        message = f"pattern {pattern!r} is not valid: {error}"
        return _fail(spec, pattern, _short_value(value), message)
    subject = text_of(value)
    try:
        # Bounded: a pattern that backtracks catastrophically (``^(a+)+$``) on the API's value
        # would otherwise hold the step for hours. The GIL is released while it searches, so
        # the other workers go on meanwhile.
        hit = found and compiled.search(
            subject, timeout=response.seconds_left(), concurrent=True
        ) is not None
    except TimeoutError:
        return _fail(
            spec,
            pattern,
            _short_value(value),
            f"{spec.target}: the pattern /{pattern}/ did not finish matching within the step's "
            "timeout (it backtracks too much on this value)",
        )
    if hit:
        return _pass(spec, pattern, _short_value(value))
    return _fail(
        spec,
        pattern,
        _short_value(value),
        f"{spec.target} = {show(value)} does not match /{pattern}/",
    )


def _equals(spec: CheckSpec, response: Response, variables: Mapping[str, Any]) -> CheckResult:
    expected = _render_expected(spec, variables)
    _found, value, problem = _field(spec, response)
    if problem is not None:
        return _fail(spec, expected, None, problem)
    if json_equal(expected, value):
        return _pass(spec, expected, _short_value(value))
    return _fail(
        spec,
        expected,
        _short_value(value),
        f"{spec.target}: {mismatch(expected, value)}",
    )


def _capture(spec: CheckSpec, response: Response) -> tuple[CheckResult, Any]:
    where = _capture_source(spec)
    _found, value, problem = _field(spec, response)
    if problem is not None:
        return _fail(spec, where, None, f"cannot capture {spec.target}: {problem}"), None
    if _deeper_than(value, MAX_CAPTURE_DEPTH):
        message = f"cannot capture {spec.target}: more than {MAX_CAPTURE_DEPTH} levels deep"
        return _fail(spec, where, None, message), None
    return _pass(spec, where, _short_value(value)), value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (iterative: deep is the problem)."""
    level: list[Any] = [value]
    for _depth in range(limit):
        containers = [item for item in level if isinstance(item, list | dict)]
        if not containers:
            return False
        level = [
            child
            for item in containers
            for child in (item.values() if isinstance(item, dict) else item)
        ]
    return any(isinstance(item, list | dict) for item in level)


# --- equality ----------------------------------------------------------------------------


def json_equal(expected: Any, actual: Any) -> bool:
    """Exact JSON equality, plus one convenience: ``"42"`` equals 42 and ``"true"`` equals true.

    Python's own ``==`` is not JSON equality: ``True == 1`` and ``1 == 1.0``; JSON booleans are
    never numbers, while 1 and 1.0 are the same JSON number.
    """
    if isinstance(expected, str) and _is_scalar_number_or_bool(actual):
        return expected == text_of(actual)
    return _strict_equal(expected, actual)


def _is_scalar_number_or_bool(value: Any) -> bool:
    return isinstance(value, bool | int | float)


def _strict_equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            _strict_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_strict_equal(left[k], right[k]) for k in left)
    return False


# --- helpers -----------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> regex.Pattern[str]:
    # Static patterns hit this cache from the second request on; templated ones are cached per
    # rendered text, so a scenario repeated with --runs pays the compile once per distinct value.
    return compile_pattern(pattern)


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """A ``body_matches`` pattern as the runner will search with it (the ``regex`` package, in
    its ``re``-compatible mode: it can bound a search in time, ``re`` cannot). Raises
    ``regex.error``; the loader uses this too, so validation and runs agree on the syntax."""
    return regex.compile(pattern, regex.VERSION0)


def _field(spec: CheckSpec, response: Response) -> tuple[bool, Any, str | None]:
    """(found, value, problem): problem is a message when the field cannot be read."""
    if spec.path is None:
        return False, None, f"check {spec.kind} has no field path"
    document = response.json
    if document is _NOT_JSON and response._json_problem is not None:
        return False, None, f"the response's JSON {response._json_problem}"
    if document is _NOT_JSON:
        body = shorten(response.text) if response.text else "an empty body"
        return False, None, f"response is not JSON (status {response.status_code}): {body}"
    try:
        return True, spec.path.resolve(document), None
    except PathMissing as missing:
        return False, None, f"field {spec.path.text!r} not found: {missing}"


def _render_expected(spec: CheckSpec, variables: Mapping[str, Any]) -> Any:
    return spec.expected.render(variables) if spec.expected is not None else None


def _expected_for_report(spec: CheckSpec) -> Any:
    """The expected value without rendering (used when nothing came back to compare with)."""
    if spec.kind == "status":
        if not spec.statuses:
            return "2xx"
        return spec.statuses[0] if len(spec.statuses) == 1 else list(spec.statuses)
    if spec.kind == "capture":
        return _capture_source(spec)
    return spec.expected.source if spec.expected is not None else None


def _capture_source(spec: CheckSpec) -> str:
    text = spec.path.text if spec.path is not None else ""
    return text if text.startswith("response") else f"response.{text}" if text else "response"


def _pass(spec: CheckSpec, expected: Any, actual: Any) -> CheckResult:
    return CheckResult(spec.kind, spec.target, expected, actual, True, "", spec.line)


def _fail(spec: CheckSpec, expected: Any, actual: Any, message: str) -> CheckResult:
    return CheckResult(spec.kind, spec.target, expected, actual, False, message, spec.line)


def shorten(text: str, limit: int = ACTUAL_LIMIT) -> str:
    """A one-line excerpt of a long text, saying how much was left out."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    excerpt = flat[:limit]
    if _WORDISH.match(flat[limit]):
        # Never cut a word in half: half a token is still half a secret, and the redactor can
        # only recognise whole ones. The cut word is left out entirely.
        excerpt = _TRAILING_WORD.sub("", excerpt)
    return f"{excerpt}... ({len(text)} characters)"


_WORDISH = re.compile(r"[\w\-.+/=~%]")
_TRAILING_WORD = re.compile(r"[\w\-.+/=~%]+\Z")


def _short_value(value: Any) -> Any:
    """A JSON value small enough for a report: long strings and big containers are cut."""
    if isinstance(value, str):
        return value if len(value) <= ACTUAL_LIMIT else shorten(value)
    if isinstance(value, list | dict):
        text = text_of(value)
        return value if len(text) <= ACTUAL_LIMIT else shorten(text)
    return value

