"""The redactor, and no secret in any output.

The redactor replaces exactly what one regex alternation of its secrets' spellings (longest
first) and the JWT shape would replace: the fast scan must never mask less, nor differently.

Then every leak once found, each planted as a distinctive secret and run through the real CLI
against a real server on 127.0.0.1: no output (stdout, stderr, ``--verbose``, the JSON report,
Markdown, JUnit) holds it, raw or in any escaped spelling.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from converge.errors import ConfigError, guard
from converge.redact import (
    _JWT,
    MASK,
    MIN_SECRET_LENGTH,
    Redactor,
    looks_secret,
    secrets_of_header,
    spellings,
)
from tests.support.servers import Recorded, Reply


def reference(secrets: list[str], text: str) -> str:
    given = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
    known = sorted({form for s in given for form in spellings(s)}, key=len, reverse=True)
    return re.sub("|".join([*(re.escape(s) for s in known), _JWT]), MASK, text)


# Few letters, so that secrets overlap, nest and start alike; the pieces a JWT is made of.
PIECE = st.sampled_from(["a", "b", "e", "y", "J", ".", "-", " ", "(", "é", "\n", "eyJ", "eyJa."])
WORD = st.lists(PIECE, max_size=10).map("".join)


@given(st.lists(WORD, max_size=6), st.lists(st.integers(0, 7), max_size=8), st.data())
def test_text_matches_one_alternation_of_the_secrets(secrets, picks, data):
    pieces = [
        secrets[pick] if pick < len(secrets) else data.draw(WORD) for pick in picks
    ]
    text = "".join(pieces)
    assert Redactor(secrets).text(text) == reference(secrets, text)


def test_longest_secret_wins_and_jwt_shapes_come_after_known_secrets():
    token = "eyJhbGci.eyJzdWIi.c2ln"
    redactor = Redactor([token, f"Bearer {token}", "abcdef", "abcdefgh"])
    assert redactor.text(f"Bearer {token}!") == f"{MASK}!"
    assert redactor.text(f"{token}XYZ") == f"{MASK}XYZ"  # the secret, not the longer JWT shape
    assert redactor.text("xabcdefghx abcdefg") == f"x{MASK}x {MASK}g"
    assert redactor.text("eyJa.eyJb.c and eyJ alone") == f"{MASK} and eyJ alone"


def test_value_redacts_shared_and_repeated_parts_alike():
    steps = [{"path": "/x?key=abcdef", "tags": ("abcdef", 1)}]
    document = {"steps": steps, "runs": [{"steps": steps}], "abcdef": None}
    redacted = Redactor(["abcdef"]).value(document)
    expected_steps = [{"path": f"/x?key={MASK}", "tags": [MASK, 1]}]
    assert redacted == {"steps": expected_steps, "runs": [{"steps": expected_steps}], MASK: None}


def naive_redaction(secrets: list[str], text: str) -> str:
    """Left to right, the longest secret starting here, else a JWT, else the next character."""
    known = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    jwt = re.compile(_JWT)
    out, at = [], 0
    while at < len(text):
        found = next((s for s in known if text.startswith(s, at)), None)
        end = at + len(found) if found else (m.end() if (m := jwt.match(text, at)) else None)
        if end is None:
            out.append(text[at])
            at += 1
        else:
            out.append(MASK)
            at = end
    return "".join(out)


# Few letters: the secrets share their first characters, as a run's tokens do.
@given(
    st.lists(st.text(alphabet="ab-", min_size=6, max_size=10), max_size=30),
    st.text(alphabet="ab- ", max_size=80),
)
def test_secrets_sharing_a_prefix_are_masked_longest_first_as_one_by_one(secrets, text):
    assert Redactor(secrets).text(text) == naive_redaction(secrets, text)


def test_thousands_of_tokens_with_one_prefix_are_masked_each_in_full():
    tokens = [f"tok-u{n}" for n in range(5000)]
    redactor = Redactor([*tokens, *(f"Bearer {t}" for t in tokens)])
    assert redactor.text("sent Bearer tok-u4999 then tok-u12 and tok-u123x") == (
        f"sent {MASK} then {MASK} and {MASK}x"
    )


def naive_value(redactor: Redactor, value: object) -> object:
    if isinstance(value, str):
        return redactor.text(value)
    if isinstance(value, dict):
        return {naive_value(redactor, k): naive_value(redactor, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [naive_value(redactor, item) for item in value]
    return value


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(alphabet="ab-x ", max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.dictionaries(st.text(alphabet="ab-", max_size=8) | st.integers(0, 3), inner, max_size=3),
    max_leaves=20,
)


@given(st.lists(st.text(alphabet="ab-", min_size=6, max_size=8), max_size=5), json_like)
def test_every_string_of_a_value_keys_included_is_redacted(secrets, value):
    redactor = Redactor(secrets)
    assert redactor.value(value) == naive_value(redactor, value)


# --- what is secret -----------------------------------------------------------------------------


def test_every_header_but_the_harmless_ones_is_a_secret():
    assert secrets_of_header("X-Session", "sess-0123") == ("sess-0123",)
    assert secrets_of_header("Authorization", "Bearer abcdefgh") == (
        "Bearer abcdefgh", "abcdefgh"
    )
    assert "c0ffee-cookie" in secrets_of_header("Cookie", "a=1; sid=c0ffee-cookie")
    for plain in ("Accept", "content-type", "User-Agent", "Prefer"):
        assert secrets_of_header(plain, "application/json") == ()


def test_names_that_say_credential_look_secret_and_others_do_not():
    for name in ("session", "access_token", "header.X-Auth-Token", "response.data.apiKey",
                 "csrf", "password", "Set-Cookie"):
        assert looks_secret(name), name
    for name in ("order_id", "author", "response.items[0].id", "header.Location", "count"):
        assert not looks_secret(name), name


def test_a_secret_is_masked_in_every_spelling_and_url_credentials_whole():
    secret = 'pa"t\\s/e c\r\nr'
    redactor = Redactor([secret])
    for form in escaped_forms(secret):
        assert MASK in redactor.text(f"<{form}>"), form
        assert secret not in redactor.text(f"<{form}>")
    assert redactor.text("see https://ada:hunter@2zX9@host/x") == f"see https://{MASK}@host/x"
    assert redactor.text("'https//ada:pw123@host'") == f"'https//{MASK}@host'"
    plain = "mail ada@example.com, path //srv/x"
    assert redactor.text(plain) == plain


# --- no secret in any output: the real CLI against a real server --------------------------------


def escaped_forms(secret: str) -> set[str]:
    """Every spelling a secret may take on its way out (written independently of the code)."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret),
        html.escape(secret),
        " ".join(secret.split()),
    }


def every_output(tmp_path: Path, api_url: str, *extra: str, env: dict[str, str] | None = None):
    """``converge run --verbose`` with every output in tmp_path: (exit code, {name: text})."""
    out = tmp_path / "out"
    environment = {
        k: v for k, v in os.environ.items()
        if k not in ("API_URL", "CONVERGE_JWT_SECRET", "HOLDOUT_PAT")
        and not k.startswith("CONVERGE_VAR_")
    }
    process = subprocess.run(
        [
            sys.executable, "-m", "converge", "run", "--verbose",
            "--scenarios-dir", str(tmp_path / "scenarios"), "--api-url", api_url,
            "--report-file", str(out / "report.json"), "--markdown-file", str(out / "report.md"),
            "--junit-file", str(out / "junit.xml"), *extra,
        ],
        cwd=tmp_path, env={**environment, **(env or {})}, capture_output=True, text=True,
        timeout=120, check=False,
    )
    files = {f.name: f.read_text() for f in out.iterdir()} if out.exists() else {}
    return process.returncode, {"stdout": process.stdout, "stderr": process.stderr, **files}


def leaks(outputs: dict[str, str], *secrets: str) -> list[str]:
    return [
        f"{secret!r} in {name} (as {form!r})"
        for secret in secrets
        for form in escaped_forms(secret)
        for name, text in outputs.items()
        if len(form) >= MIN_SECRET_LENGTH and form in text
    ]


def scenario(tmp_path: Path, text: str) -> None:
    target = tmp_path / "scenarios" / "critical" / "leak.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text))


def echo(request: Recorded) -> Reply:
    """Everything the request carried, back in the body, and a failure so that it is shown."""
    return Reply(status=500, json={"path": request.path, "headers": request.headers})


def test_a_captured_token_sent_in_a_query_or_custom_header_is_redacted(http_server, tmp_path):
    tokens = {"q": "qTok-7Q9zKp", "h": "hTok-3Lm8Rw", "k": "kTok-5Vn2Yd"}
    http_server.json("/login", tokens)
    http_server.route("GET", "/data", echo)
    scenario(tmp_path, """
        name: Session
        steps:
          - path: /login
            capture: {q: response.q, h: response.h, k: response.k}
          - path: /data
            query: {s: "{{q}}"}
            headers: {X-Session: "{{h}}", X-Auth-Token: "{{k}}"}
            expect: {status: 200, body_equals: {headers.X-Session: nope}}
        """)
    code, outputs = every_output(tmp_path, http_server.url)
    assert code == 1
    assert leaks(outputs, *tokens.values()) == []
    assert "/data?s=" + MASK in outputs["report.json"], "the path is shown, the value is not"


def test_a_header_value_written_out_under_a_plain_name_stays_visible(http_server, tmp_path):
    http_server.route("GET", "/data", lambda r: Reply(status=500, json={
        k: v for k, v in r.headers.items() if k.startswith("X-")
    }))
    scenario(tmp_path, """
        name: Written
        parameters: [{tier: quality-tier}]
        steps:
          - path: /data
            headers: {X-Tier: "{{tier}}", X-Client: "{{client}}", X-Region: eu-west-1a,
                      X-Auth-Token: literal-tok-4Rf8, X-Tenant: "{{tenant}}"}
        """)
    code, outputs = every_output(
        tmp_path, http_server.url, "--var", "client=cli-client-77",
        env={"CONVERGE_VAR_tenant": "env-tenant-3Kd9"},
    )
    assert code == 1
    for shown in ("quality-tier", "cli-client-77", "eu-west-1a"):
        assert shown in outputs["report.json"], f"{shown} is written out: not a secret"
    assert leaks(outputs, "literal-tok-4Rf8", "env-tenant-3Kd9") == []


def test_a_capture_named_or_read_like_a_credential_is_redacted_even_unsent(http_server, tmp_path):
    http_server.route("GET", "/login", Reply(
        json={"session_token": "sTok-8Hj4Qe", "order_id": "order-20261130"},
        headers={"X-Auth-Token": "hdrTok-6Pw1Zs"},
    ))
    scenario(tmp_path, """
        name: Capture
        steps:
          - path: /login
            capture: {session_token: response.session_token, t: header.X-Auth-Token,
                      order: response.order_id}
            expect: {status: 201}
        """)
    code, outputs = every_output(tmp_path, http_server.url)
    assert code == 1
    assert leaks(outputs, "sTok-8Hj4Qe", "hdrTok-6Pw1Zs") == []
    assert "order-20261130" in outputs["report.json"], "a plain captured id stays visible"


def test_an_unsendable_header_value_is_never_quoted(http_server, tmp_path):
    http_server.json("/login", {"a": "crTok-4Xb9\r\nX-Evil: 1", "b": " spTok-2Gk7Nu"})
    scenario(tmp_path, """
        name: Unsendable
        steps:
          - path: /login
            capture: {a: response.a, b: response.b}
          - path: /one
            headers: {Authorization: "Bearer {{a}}"}
          - path: /two
            headers: {X-Auth-Token: "{{b}}"}
        """)
    code, outputs = every_output(tmp_path, http_server.url)
    assert code == 1
    assert [r.path for r in http_server.requests if r.path != "/"] == ["/login"]
    assert leaks(outputs, "crTok-4Xb9\r\nX-Evil: 1", "crTok-4Xb9", "spTok-2Gk7Nu") == []


def test_a_secret_with_double_spaces_is_redacted_after_whitespace_collapses(http_server, tmp_path):
    http_server.json("/login", {"t": "dsTok  9Wq  3Ze"})
    http_server.route(
        "GET", "/whoami", lambda r: Reply(body=f"you are {r.headers['Authorization']}")
    )
    scenario(tmp_path, """
        name: Spaces
        steps:
          - path: /login
            capture: {t: response.t}
          - path: /whoami
            headers: {Authorization: "Bearer {{t}}"}
            expect: {body_equals: {user: ada}}
        """)
    code, outputs = every_output(tmp_path, http_server.url)
    assert code == 1
    assert leaks(outputs, "dsTok  9Wq  3Ze") == []
    assert "you are" in outputs["report.json"], "the message is there, masked"


def test_environment_secrets_with_quotes_and_backslashes_are_redacted_escaped(
    http_server, tmp_path
):
    pat = 'ghp_pA"t\\9Kq/2 x'
    jwt_secret = 'jwt-s3cr"et\\with-at-least-32-characters-long!'
    forms = [
        *(form for secret in (pat, jwt_secret) for form in escaped_forms(secret)),
        base64.b64encode(f"x-access-token:{pat}".encode()).decode(),
    ]
    for index, form in enumerate(forms):
        http_server.route("GET", f"/echo/{index}", Reply(status=500, body=f"oops <{form}>"))
    steps = "".join(f"  - path: /echo/{index}\n" for index in range(len(forms)))
    scenario(tmp_path, f"name: Escaped\nsteps:\n{steps}")
    env = {"HOLDOUT_PAT": pat, "CONVERGE_JWT_SECRET": jwt_secret}
    code, outputs = every_output(tmp_path, http_server.url, env=env)
    assert code == 1
    assert leaks(outputs, pat, jwt_secret) == []
    assert [form for form in forms if any(form in text for text in outputs.values())] == []


@pytest.mark.parametrize("api_url", [
    "https//ada:Pw9xQ7zz@127.0.0.1:1/",  # a missing colon: not a URL at all
    "http://ada:hunter@2zX9@[::1",  # a password holding "@", in a URL that cannot be parsed
    "ftp://ada:hunter@2zX9@127.0.0.1/",
])
def test_url_credentials_are_never_shown_even_in_a_mistyped_url(tmp_path, api_url):
    scenario(tmp_path, "name: Any\nsteps: [{path: /}]\n")
    code, outputs = every_output(tmp_path, api_url)
    assert code == 2
    assert "API URL" in outputs["stderr"]
    assert json.loads(outputs["report.json"])["error"]
    for part in ("Pw9xQ7zz", "hunter", "2zX9"):
        assert [name for name, text in outputs.items() if part in text] == []


def test_guard_redacts_what_it_prints(capsys, monkeypatch):
    monkeypatch.setenv("HOLDOUT_PAT", "ghp_guarded1234")
    with pytest.raises(SystemExit), guard():
        raise ConfigError("cannot pull https://x:ghp_guarded1234@host/r (https//ada:pw123456@h)")
    printed = capsys.readouterr().err
    assert "ghp_guarded1234" not in printed and "pw123456" not in printed


def test_a_session_never_takes_a_value_built_for_one_call_for_the_next():
    # The values of a report's checks are built for the call and dropped after it: a new one
    # may get the same id, and must not be answered with the copy made of the one before.
    session = Redactor(["abcdef"]).session()
    copies = [session.value([f"v{n}", {"k": n}]) for n in range(200)]
    assert copies == [[f"v{n}", {"k": n}] for n in range(200)]
    assert session.value(["abcdef"]) == [MASK]


def test_a_secret_holding_a_lone_surrogate_is_redacted_in_every_spelling():
    secret = "tok\ud800en-123"  # as an API's JSON can send it ("\ud800"), and captured
    redactor = Redactor([secret])
    assert redactor.text(f"a {secret} b") == f"a {MASK} b"
    assert redactor.text("a " + json.dumps(secret) + " b") == f'a "{MASK}" b'
    assert redactor.text(f"?v={quote(secret, errors='surrogatepass')}") == f"?v={MASK}"


# --- leaks a hostile API found ------------------------------------------------------------------


def test_a_session_cookie_the_api_set_is_never_shown_when_echoed(http_server, tmp_path):
    http_server.route("GET", "/login", Reply(cookies={"sid": "S3ssionSecret123456"}))
    http_server.route("GET", "/me", lambda r: Reply(status=401, json={"cookie": r.headers.get(
        "Cookie")}))
    scenario(tmp_path, """
        name: Cookie
        steps:
          - path: /login
            expect: {status: 200, header_equals: {Set-Cookie: nope}}
          - path: /me
            expect: {status: 200}
        """)
    code, outputs = every_output(tmp_path, http_server.url)
    assert code == 1
    assert leaks(outputs, "S3ssionSecret123456") == []
    assert "sid=" + MASK in outputs["report.json"]  # the cookie's name stays readable


def test_a_link_taken_as_the_whole_path_keeps_its_query_values_secret(http_server, tmp_path):
    http_server.route("GET", "/authorize", Reply(
        status=302, headers={"Location": "/callback?code=Ax7Kq9Zt2LmN8pRw&state=xyz"}, body=""
    ))
    http_server.route("GET", "/callback", Reply(status=500, json={"oops": True}))
    scenario(tmp_path, """
        name: OAuth
        steps:
          - path: /authorize
            expect: {status: 302}
            capture: {callback: header.Location}
          - path: "{{callback}}"
            expect: {status: 200}
        """)
    code, outputs = every_output(tmp_path, http_server.url)
    assert code == 1
    assert leaks(outputs, "Ax7Kq9Zt2LmN8pRw") == []
    assert "/callback?code=" + MASK in outputs["report.json"]


def test_a_non_ascii_secret_echoed_as_raw_utf8_bytes_is_redacted(http_server, tmp_path):
    password = "pässwort-123"
    mojibake = password.encode("utf-8").decode("latin-1")  # how http.client reads those bytes
    http_server.route("GET", "/a", Reply(headers={"X-Echo": mojibake}, json={}))
    scenario(tmp_path, """
        name: Echo
        steps:
          - path: /a
            auth: {basic: {username: ada, password: "{{pw}}"}}
            expect: {header_equals: {X-Echo: nope}}
        """)
    code, outputs = every_output(tmp_path, http_server.url, env={"CONVERGE_VAR_pw": password})
    assert code == 1
    for name, text in outputs.items():
        assert mojibake not in text and password not in text, name
