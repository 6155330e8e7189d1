"""Building a step's request: what reaches a real server on 127.0.0.1 for any value a template
may hold. Properties (hypothesis) over the path, query and form encodings, sent through the
runner's own transport, so the HTTP client's rewriting of URLs is part of what is checked."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converge import request
from converge.model import Step, StepResult
from converge.runner import ApiOrigin, run_step
from converge.scenario import LoadOptions, load_file
from converge.transport import Transport
from tests.support.servers import TestServer

# Any text a captured or supplied value may hold: "/", "?", "#", "%", "&", "=", "+", spaces,
# controls, accents, emoji, look-alike letters; and texts made of dots, which HTTP clients read
# as "this folder" and "the folder above" unless converge keeps them a segment of their own.
VALUES = st.one_of(
    st.text(max_size=24),
    st.text(alphabet="./?#%&=+ ~", max_size=8),
    st.sampled_from([".", "..", "...", "a/b c", "salt & pepper #1 50%", "%2F", "Zoë ✓", "\u0430"]),
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def step(tmp_path: Path, yaml_step: str) -> Step:
    """One step, loaded and validated as converge loads any scenario."""
    file = tmp_path / "critical" / "s.yaml"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("name: S\nsteps:\n" + textwrap.indent(textwrap.dedent(yaml_step), "  "))
    names = {"v": "--var", "w": "--var", "next": "--var"}
    (scenario,) = load_file(file, tmp_path, LoadOptions(variables=names))
    return scenario.steps[0]


@pytest.fixture
def transport() -> Iterator[Transport]:
    with Transport() as sender:
        yield sender


def send(
    server: TestServer, transport: Transport, one: Step, variables: dict[str, Any]
) -> StepResult:
    result, _ = run_step(
        one, transport, ApiOrigin(server.url), variables, default_timeout=10, secrets=set()
    )
    return result


def test_a_template_in_a_path_is_one_segment_whatever_its_value(
    http_server: TestServer, transport: Transport, tmp_path: Path
) -> None:
    one = step(tmp_path, "- path: /v1/items/{{v}}/tail\n")

    @PROPERTY
    @given(VALUES)
    def check(value: str) -> None:
        before = len(http_server.requests)
        result = send(http_server, transport, one, {"v": value})
        assert result.error is None, result.error
        received = http_server.requests[before].path
        # No query, no fragment, no extra or removed segment: the value is the third segment.
        assert "?" not in received and "#" not in received
        segments = received.split("/")
        assert segments[:3] == ["", "v1", "items"] and segments[4:] == ["tail"], received
        assert unquote(segments[3]) == value

    check()


def test_query_and_form_values_reach_the_server_as_they_were(
    http_server: TestServer, transport: Transport, tmp_path: Path
) -> None:
    one = step(tmp_path, """\
        - method: POST
          path: /v1/search?fixed=1
          query: {q: "{{v}}", "w&=": "{{w}}", tag: [a, "{{v}}"]}
          form: {name: "{{v}}", "k&=": "{{w}}"}
    """)

    @PROPERTY
    @given(VALUES, VALUES)
    def check(value: str, other: str) -> None:
        before = len(http_server.requests)
        result = send(http_server, transport, one, {"v": value, "w": other})
        assert result.error is None, result.error
        received = http_server.requests[before]
        path, query = received.path.split("?", 1)
        assert path == "/v1/search" and "#" not in query
        assert parse_qsl(query, keep_blank_values=True) == [
            ("fixed", "1"), ("q", value), ("w&=", other), ("tag", "a"), ("tag", value)
        ]
        form = parse_qsl(received.body.decode("ascii"), keep_blank_values=True)
        assert form == [("name", value), ("k&=", other)]

    check()


def test_a_whole_template_path_never_leaves_the_api(
    http_server: TestServer, transport: Transport, tmp_path: Path
) -> None:
    one = step(tmp_path, "- path: \"{{next}}\"\n")
    here = http_server.url
    links = st.one_of(
        VALUES,
        st.builds(lambda head, tail: head + tail,
                  st.sampled_from(["/", "//", "///", "/\\", here, here + "/", here + "@",
                                   "http://127.0.0.2:9/", "https:" + here[5:], "\\\\"]),
                  VALUES),
    )

    @PROPERTY
    @given(links)
    def check(link: str) -> None:
        before = len(http_server.requests)
        result = send(http_server, transport, one, {"next": link})
        arrived = len(http_server.requests) - before
        # Sent to this server, or not sent at all with the reason: never anywhere else.
        if arrived:
            assert result.error is None, result.error
        else:
            assert result.error is not None and result.error.startswith("not sent"), (
                link, result.error
            )

    check()


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("/v1/x", "/v1/x?q=1"),
        ("/v1/x?a=2", "/v1/x?a=2&q=1"),
        ("/v1/x?", "/v1/x?q=1"),
        ("/v1/x?a=2&", "/v1/x?a=2&q=1"),
        ("/v1/x#top", "/v1/x?q=1#top"),
        ("/v1/x?a=2#top", "/v1/x?a=2&q=1#top"),
    ],
)
def test_query_follows_the_paths_own_query_and_comes_before_a_fragment(
    tmp_path: Path, path: str, sent: str
) -> None:
    one = step(tmp_path, f"- path: \"{path}\"\n  query: {{q: 1}}\n")
    assert request.build(one, {}, "http://127.0.0.1:9").path == sent


def test_a_fragment_in_the_path_is_not_sent_and_the_query_still_is(
    http_server: TestServer, transport: Transport, tmp_path: Path
) -> None:
    one = step(tmp_path, "- path: \"{{next}}\"\n  query: {q: \"{{v}}\"}\n")
    result = send(http_server, transport, one, {"next": "/v1/items?page=2#top", "v": "a b"})
    assert result.error is None
    assert http_server.requests[-1].path == "/v1/items?page=2&q=a%20b"


@pytest.mark.parametrize("value", [".", "..", "..."])
def test_dots_in_a_path_template_stay_a_segment_of_their_own(
    http_server: TestServer, transport: Transport, tmp_path: Path, value: str
) -> None:
    one = step(tmp_path, "- path: /v1/items/{{v}}\n")
    assert urlsplit(request.build(one, {"v": value}, "http://h").path).path == (
        "/v1/items/" + "%2E" * len(value)
    )
    send(http_server, transport, one, {"v": value})
    assert http_server.requests[-1].path == "/v1/items/" + value
