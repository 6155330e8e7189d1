"""Evaluate a step's declared checks against the response it got.

Each :class:`~converge.model.CheckSpec` is worth one point and becomes one
:class:`~converge.model.CheckResult`. A check never raises: a missing field, a body that is not
JSON or a pattern that does not compile fails that one check with a message in the user's terms,
so a scenario still earns partial credit for everything else.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import regex

from converge import _regex
from converge._body_schema import first_failure
from converge.model import CheckResult, CheckSpec
from converge.paths import PathMissing
from converge.template import UndefinedVariable, text_of
from converge.visible import mismatch, show

ACTUAL_LIMIT = 200  # characters of an actual value kept in messages and reports
# Levels of nesting a captured value may have (as scenario.MAX_DEPTH for the files): templates,
# comparisons and the report recurse into captured values, and the API's body is not ours.
MAX_CAPTURE_DEPTH = 100
_TOO_DEEP = "nested too deeply to compare"

_NOT_JSON: Any = object()


class _OutOfJson(ValueError):
    """A body Python's json would read but JSON does not allow: a check must never pass on it
    (NaN passes every minimum and maximum; 1e400 would read as infinity)."""


def _not_a_number(literal: str) -> Any:
    raise _OutOfJson(f"holds {literal}, which is not a JSON number")


def _finite(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _OutOfJson(f"holds {literal[:40]}, beyond the range of JSON numbers (a double)")
    return value


class Response:
    """What the checks look at: status code, headers, raw text, the JSON body parsed on first
    use, and how long the exchange took.

    Parsing is lazy because most steps of a status-only scenario never need it. ``deadline``
    (``time.monotonic()`` seconds) is the step's: a regular expression may search until then.
    ``headers`` must look names up case-insensitively (requests' and urllib3's do; a header sent
    more than once reads as its values joined by ", "). ``body_problem`` says why the body
    cannot be read (an encoding converge cannot decode): every check of the body then fails
    with it, while status, headers and duration are still checked.
    """

    __slots__ = (
        "_json",
        "_json_problem",
        "body_problem",
        "deadline",
        "duration_ms",
        "headers",
        "status_code",
        "text",
    )

    def __init__(
        self,
        status_code: int,
        text: str,
        deadline: float | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        duration_ms: float = 0.0,
        body_problem: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.text = text
        self.deadline = deadline
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.duration_ms = duration_ms
        self.body_problem = body_problem
        self._json: Any = _UNPARSED
        self._json_problem: str | None = None

    @property
    def json(self) -> Any:
        """The parsed body, or the private ``_NOT_JSON`` marker when the body is not JSON."""
        if self._json is _UNPARSED:
            # RFC 8259 lets a reader ignore a byte-order mark before the JSON text.
            text = self.text.removeprefix("\ufeff")
            try:
                self._json = (
                    json.loads(text, parse_constant=_not_a_number, parse_float=_finite)
                    if text.strip() else _NOT_JSON
                )
            except _OutOfJson as error:
                self._json = _NOT_JSON
                self._json_problem = str(error)
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
        if spec.kind == "header_equals":
            return _header_equals(spec, response, variables)
        if spec.kind == "header_matches":
            return _header_matches(spec, response, variables)
        if spec.kind == "body_schema":
            return _schema(spec, response)
        if spec.kind == "max_duration_ms":
            return _duration(spec, response)
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
    if response.body_problem is not None:
        return _fail(spec, needle, None, response.body_problem)
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
    no_match = f"{spec.target} = {show(value)} does not match /{pattern}/"
    subject = text_of(value) if found else None
    return _pattern_check(spec, pattern, value, subject, response=response, no_match=no_match)


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


def _header_equals(
    spec: CheckSpec, response: Response, variables: Mapping[str, Any]
) -> CheckResult:
    expected = text_of(_render_expected(spec, variables))
    value, problem = _header(spec, response)
    if problem is not None:
        return _fail(spec, expected, None, problem)
    if value == expected:
        return _pass(spec, expected, _short_value(value))
    return _fail(spec, expected, _short_value(value), f"{spec.target}: {mismatch(expected, value)}")


def _header_matches(
    spec: CheckSpec, response: Response, variables: Mapping[str, Any]
) -> CheckResult:
    pattern = text_of(_render_expected(spec, variables))
    value, problem = _header(spec, response)
    if problem is not None:
        return _fail(spec, pattern, None, problem)
    no_match = f"{spec.target}: {show(value)} does not match /{pattern}/"
    return _pattern_check(spec, pattern, value, value, response=response, no_match=no_match)


def _pattern_check(
    spec: CheckSpec,
    pattern: str,
    value: Any,
    subject: str | None,
    *,
    response: Response,
    no_match: str,
) -> CheckResult:
    """The verdict of ``pattern`` on ``subject`` (None: nothing to search, so no match), shared by
    body_matches and header_matches: an invalid pattern and one that backtracks past the step's
    deadline fail the check, each saying so."""
    try:
        _regex.compiled(pattern)
    except regex.error as error:
        message = f"pattern {pattern!r} is not valid: {error}"
        return _fail(spec, pattern, _short_value(value), message)
    try:
        hit = subject is not None and _regex.search(pattern, subject, response.deadline)
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
    return _fail(spec, pattern, _short_value(value), no_match)


def _schema(spec: CheckSpec, response: Response) -> CheckResult:
    expected = _expected_for_report(spec)
    document, problem = _body(response)
    if problem is not None:
        return _fail(spec, expected, None, problem)
    failure = first_failure(spec.schema, document, response.deadline)
    if failure is None:
        return _pass(spec, expected, "valid")
    return _fail(spec, expected, _short_value(document), failure)


def _duration(spec: CheckSpec, response: Response) -> CheckResult:
    limit = spec.limit_ms if spec.limit_ms is not None else 0.0
    took = round(response.duration_ms)
    expected = _expected_for_report(spec)
    if response.duration_ms <= limit:
        return _pass(spec, expected, took)
    message = f"took {took} ms, at most {limit:g} ms allowed"
    return _fail(spec, expected, took, message)


def _capture(spec: CheckSpec, response: Response) -> tuple[CheckResult, Any]:
    where = _capture_source(spec)
    if spec.header is not None:
        text, problem = _header(spec, response)
        if problem is not None:
            return _fail(spec, where, None, f"cannot capture {spec.target}: {problem}"), None
        return _pass(spec, where, _short_value(text)), text
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


def _header(spec: CheckSpec, response: Response) -> tuple[str, str | None]:
    """(value, problem): the response header the check names, or why there is none."""
    value = response.headers.get(spec.header or "")
    if value is None:
        name = spec.target
        if spec.kind == "capture":
            name = _capture_source(spec).removeprefix("header.")
        return "", f"no {name} header in the response"
    return value, None


def _body(response: Response) -> tuple[Any, str | None]:
    """(document, problem): the parsed JSON body, or why there is none."""
    if response.body_problem is not None:
        return None, response.body_problem
    document = response.json
    if document is _NOT_JSON and response._json_problem is not None:
        return None, f"the response's JSON {response._json_problem}"
    if document is _NOT_JSON:
        body = shorten(response.text) if response.text else "an empty body"
        return None, f"response is not JSON (status {response.status_code}): {body}"
    return document, None


def _field(spec: CheckSpec, response: Response) -> tuple[bool, Any, str | None]:
    """(found, value, problem): problem is a message when the field cannot be read."""
    if spec.path is None:
        return False, None, f"check {spec.kind} has no field path"
    document, problem = _body(response)
    if problem is not None:
        return False, None, problem
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
    if spec.kind == "body_schema":
        return "a body valid against the schema"
    return spec.expected.source if spec.expected is not None else None


def _capture_source(spec: CheckSpec) -> str:
    if spec.header is not None and spec.expected is not None:
        return str(spec.expected.source)  # "header.Location", as written
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



# --- what cannot be decoded ------------------------------------------------------------------


@cache
def _decodable() -> frozenset[str]:
    """The content codings the HTTP client decodes: gzip and deflate always, br with a brotli
    decoder installed, zstd with zstandard (urllib3 knows which it has). Asked when a body
    comes: loading scenarios (which compiles their patterns here) needs no HTTP stack."""
    import urllib3

    codings = urllib3.response.HTTPResponse.CONTENT_DECODERS
    return frozenset({"identity", *(coding.lower() for coding in codings)})


def undecodable(headers: Mapping[str, str]) -> str | None:
    """Why a body cannot be read, when its Content-Encoding is one converge cannot decode."""
    value = headers.get("content-encoding")
    if not value:
        return None
    unknown = [
        coding.strip()
        for coding in value.split(",")
        if coding.strip() and coding.strip().lower() not in _decodable()
    ]
    if not unknown:
        return None
    hint = " (install brotli to decode it)" if "br" in (c.lower() for c in unknown) else ""
    return (
        f"the body is encoded as {', '.join(repr(c) for c in unknown)} (Content-Encoding), "
        f"which converge cannot decode{hint}; it was not read"
    )
