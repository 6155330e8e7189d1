"""The scenario language for real APIs, end to end: `python -m converge run` (a subprocess)
against a real HTTP server on 127.0.0.1 that records what it was sent."""

from __future__ import annotations

from pathlib import Path

from tests.support.servers import TestServer
from tests.test_cli import Outcome, run, scenarios


def checks_of(outcome: Outcome, name: str | None = None) -> list[dict]:
    assert outcome.report is not None, outcome.err
    found = [
        check
        for scenario in outcome.report["scenarios"]
        if name is None or scenario["name"] == name
        for step in scenario["steps"]
        for check in step["checks"]
    ]
    assert found, "no checks in the report"
    return found


def failed(outcome: Outcome) -> list[str]:
    return [
        f"{c['kind']} {c['target']}: {c['message']}" for c in checks_of(outcome) if not c["passed"]
    ]


# --- field paths -----------------------------------------------------------------------------


def test_quoted_keys_reach_fields_whose_names_hold_dots_and_brackets(
    http_server: TestServer, tmp_path: Path
) -> None:
    http_server.json(
        "/v1/search", {"args": {"filter[status]": "open", "a.b": 7}, "items": [{"x.y": "z"}]}
    )
    scenarios(tmp_path, {"critical/quoted.yaml": """
        name: Quoted keys
        steps:
          - path: /v1/search
            expect:
              body_equals: {'args["filter[status]"]': open, "args['a.b']": 7}
            capture:
              inner: 'response.items[0]["x.y"]'
              count: "response.args['a.b']"
          - path: /v1/search?inner={{inner}}&count={{count}}
    """})
    outcome = run(tmp_path, http_server.url)
    assert outcome.code == 0, failed(outcome)
    assert http_server.sent()[-1].path == "/v1/search?inner=z&count=7"


def test_a_malformed_field_path_is_named_in_words_before_any_request(
    http_server: TestServer, tmp_path: Path
) -> None:
    scenarios(tmp_path, {"critical/bad.yaml": """
        name: Bad path
        steps:
          - path: /a
            expect:
              body_equals:
                filter[status]: open
    """})
    outcome = run(tmp_path, http_server.url)
    assert outcome.code == 2
    assert (
        "bad.yaml:7: $.steps[0].expect.body_equals: field path 'filter[status]': [status] is "
        'neither a list index like [0] nor a quoted key like ["status"] (at character 7)'
    ) in outcome.err
    assert http_server.sent() == []


# --- messages --------------------------------------------------------------------------------


def test_a_failed_comparison_shows_an_invisible_difference(
    http_server: TestServer, tmp_path: Path
) -> None:
    http_server.json("/v1/me", {"name": "a  b", "city": "Z\u0430greb", "note": "ok\t"})
    scenarios(tmp_path, {"critical/me.yaml": """
        name: Names
        steps:
          - path: /v1/me
            expect:
              body_equals: {name: "a b", city: Zagreb, note: ok}
    """})
    outcome = run(tmp_path, http_server.url, "--verbose")
    assert outcome.code == 1
    messages = failed(outcome)
    assert any(
        'name: expected "a b", got "a  b" (first difference at character 3' in m for m in messages
    )
    assert any('got "Z\\u0430greb"' in m and "CYRILLIC SMALL LETTER A" in m for m in messages)
    assert any('got "ok\\t"' in m for m in messages)
    assert 'actual:   "a  b"' in outcome.out and 'actual:   "ok\\t"' in outcome.out
