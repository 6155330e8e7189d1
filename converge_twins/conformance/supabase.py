"""The Supabase behaviours: what an app sees of GoTrue (``/auth/v1``) and PostgREST (``/rest/v1``).

Each behaviour is a short story through the official ``supabase`` client (raw HTTP where the
client hides what matters: a status, a header, an exact body). Every GoTrue answer is checked
against GoTrue's OpenAPI document (:mod:`.gotrue_spec`) and every PostgREST error against
errors.rst (:mod:`.postgrest_errors`: its shape, a documented code, the status the document gives
that code); the problems found are the fact ``response problems``.

Rows (for the fidelity table):

- ``auth operations``: one behaviour per operation of GoTrue's OpenAPI document (59). It holds
  when the answer is one the document gives that operation, valid against its schema; an
  operation answered 501 (not implemented) or 404 (not found) does not hold, and neither does
  the answer of a feature a new project has off when the document does not list its status.
- ``auth behaviours``: what GoTrue's source and documentation promise an app (error codes and
  shapes, the x-sb-error-code header, logout scopes, token rotation, one-time codes, ...).
- ``PostgREST filters``: one behaviour per filter operator of PostgREST's documentation (30).
- ``PostgREST behaviours``: the documented behaviour of reads, writes, embedding and ``/rpc``.

Against a real project: a throwaway project with e-mail confirmation off (Authentication >
Sign In / Providers > Email > "Confirm email"), the tables and functions of
``supabase_schema.sql`` (next to this file) created in its SQL editor, and its keys in
``SUPABASE_ANON_KEY`` and ``SUPABASE_SERVICE_ROLE_KEY``. What the suite creates is tagged with
a run id (the ``run`` column of its rows, its users' e-mail addresses), so earlier runs do not
disturb the checks; addresses are at ``CONFORMANCE_SUPABASE_EMAIL_DOMAIN`` (default
``example.com``; a hosted project may want a domain that accepts mail). Behaviours that need
the twin's control plane (its mailbox, its clock, its settings) run only against twins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from itertools import count
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from postgrest.exceptions import APIError
from postgrest.types import CountMethod
from supabase import Client, ClientOptions, create_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from converge_twins.conformance.fidelity import FidelityRow, suite_rows
from converge_twins.conformance.gotrue_spec import PREFIX, gotrue_spec, published_operations
from converge_twins.conformance.postgrest_errors import from_gateway, postgrest_errors
from converge_twins.conformance.recording import RecordingTransport
from converge_twins.conformance.suite import (
    Behaviour,
    Credential,
    Exchange,
    Expectation,
    Observation,
    Outcome,
    Recorder,
    Suite,
    behaviour,
)

# The twin's keys: signed with the suite's secret, valid until 2100 like real project keys.
TWIN_SECRET = "conformance-secret-that-is-at-least-32-characters"
_CLAIMS = {"iss": "supabase", "iat": 1700000000, "exp": 4102444800}
TWIN_ANON = jwt.encode({**_CLAIMS, "role": "anon"}, TWIN_SECRET, algorithm="HS256")
TWIN_SERVICE = jwt.encode({**_CLAIMS, "role": "service_role"}, TWIN_SECRET, algorithm="HS256")
PASSWORD = "Conformance-secret-1"
NIL = "00000000-0000-4000-8000-000000000000"
ITEMS = "conformance_items"
AUTHORS = "conformance_authors"
BOOKS = "conformance_books"


@dataclass
class Project:
    """What a behaviour works with: the project's URL and keys, clients, and the recorder."""

    base_url: str
    anon: str
    service: str
    recorder: Recorder
    http: httpx.Client
    run: str
    domain: str
    numbers: Any = field(default_factory=count)
    seeded: bool = False

    def email(self, label: str) -> str:
        return f"{label}.{self.run}.{next(self.numbers)}@{self.domain}".lower()

    def client(self, key: str | None = None) -> Client:
        transport: Any = RecordingTransport(httpx.HTTPTransport(), self.recorder)
        options = ClientOptions(
            httpx_client=httpx.Client(transport=transport, timeout=60),
            auto_refresh_token=False,
            flow_type="implicit",
        )
        return create_client(self.base_url, key or self.anon, options)

    def admin(self) -> Any:
        return self.client(self.service).auth.admin

    def signed_in(self, label: str = "user") -> tuple[Client, str]:
        """A new user, signed up (the project confirms e-mail addresses at once)."""
        client = self.client()
        email = self.email(label)
        client.auth.sign_up({"email": email, "password": PASSWORD})
        return client, email

    def token(self, client: Client) -> str:
        session = client.auth.get_session()
        assert session is not None, "no session: is e-mail confirmation off on the project?"
        return session.access_token

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> Exchange:
        data = (
            content
            if content is not None
            else (json.dumps(body).encode() if body is not None else None)
        )
        sent = {"content-type": "application/json", **(headers or {})}
        response = self.http.request(
            method, f"{self.base_url}{path}", content=data, params=params, headers=sent
        )
        response.read()
        exchange = self.recorder.last
        assert exchange is not None
        return exchange

    def auth(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        bearer: str | None = None,
        key: str | None = None,
        versioned: bool = True,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Exchange:
        sent = {"apikey": key or self.anon, **(headers or {})}
        if bearer is not None:
            sent["authorization"] = f"Bearer {bearer}"
        if versioned:
            sent["x-supabase-api-version"] = "2024-01-01"
        return self.send(method, f"{PREFIX}{path}", body=body, params=params, headers=sent)

    def admin_call(self, method: str, path: str, body: Any = None, **options: Any) -> Exchange:
        return self.auth(method, path, body, bearer=self.service, key=self.service, **options)

    def rest(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> Exchange:
        sent = {"apikey": self.service, "authorization": f"Bearer {self.service}",
                **(headers or {})}  # fmt: skip
        return self.send(
            method, f"/rest/v1/{path}", body=body, params=params, headers=sent, content=content
        )

    def control(self, path: str, body: Any, method: str = "POST") -> None:
        """Use the twin's control plane (only behaviours marked ``needs_control`` do)."""
        answer = httpx.request(method, f"{self.base_url}/_twin{path}", json=body, timeout=10)
        answer.raise_for_status()

    def mail(self, **query: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.base_url}/_twin/supabase/messages", params=query, timeout=10)
        answer.raise_for_status()
        messages: list[dict[str, Any]] = answer.json()["messages"]
        return messages

    def db(self) -> Client:
        return self.client(self.service)

    def seed(self) -> None:
        """The rows the PostgREST behaviours read, tagged with this run."""
        if self.seeded:
            return
        self.seeded = True
        self.db().table(ITEMS).insert([{**row, "run": self.run} for row in ITEM_ROWS]).execute()
        authors = self.db().table(AUTHORS).insert(
            [{"run": self.run, "name": name, "email": f"{name.lower()}.{self.run}@{self.domain}"}
             for name in ("Ada", "Bo", "Cy")]
        ).execute().data  # fmt: skip
        ids = {row["name"]: row["id"] for row in rows_of(authors)}
        self.db().table(BOOKS).insert(
            [
                {"run": self.run, "title": "Alpha", "author_id": ids["Ada"],
                 "editor_id": ids["Bo"], "pages": 100},
                {"run": self.run, "title": "Beta", "author_id": ids["Ada"], "editor_id": None,
                 "pages": 300},
                {"run": self.run, "title": "Gamma", "author_id": ids["Bo"],
                 "editor_id": ids["Ada"], "pages": 200},
            ]
        ).execute()  # fmt: skip


ITEM_ROWS: list[dict[str, Any]] = [
    {"name": "Apple pie", "qty": 5, "price": 2.5, "active": True, "tags": ["food", "sweet"],
     "data": {"color": "red", "size": 3, "labels": ["a"]}, "body": "The fat cats ate the rats",
     "span": "[1,5)", "seen_at": "2025-01-01T10:00:00+00:00"},
    {"name": "banana", "qty": 12, "price": 0.25, "active": False, "tags": ["food"],
     "data": {"color": "yellow", "size": 10}, "body": "A quick brown fox jumping over dogs",
     "span": "[5,10)", "seen_at": "2025-03-01T10:00:00+00:00"},
    {"name": "Cherry, dark", "qty": None, "price": 7, "active": None, "tags": [],
     "data": {"color": "red", "size": 1, "labels": ["a", "b"]}, "body": "Rats and cats in a hat",
     "span": "[20,30)", "seen_at": None},
]  # fmt: skip


def connect(base_url: str, credentials: Mapping[str, str], recorder: Recorder) -> Project:
    transport: Any = RecordingTransport(httpx.HTTPTransport(), recorder)
    return Project(
        base_url=base_url,
        anon=credentials["anon_key"],
        service=credentials["service_role_key"],
        recorder=recorder,
        http=httpx.Client(transport=transport, timeout=60, follow_redirects=False),
        run=uuid.uuid4().hex[:10],
        domain=os.environ.get("CONFORMANCE_SUPABASE_EMAIL_DOMAIN") or "example.com",
    )


def validate(exchange: Exchange) -> list[str]:
    """GoTrue's answers against its OpenAPI document; PostgREST's errors against errors.rst."""
    path = urlsplit(exchange.url).path
    if path.startswith(PREFIX):
        # The request's API version is not recorded; the body says which error shape it is.
        versioned = exchange.status >= 400 and b'"message"' in exchange.body
        return [
            str(v)
            for v in gotrue_spec().check(
                method=exchange.method,
                path=path,
                status=exchange.status,
                body=exchange.body,
                content_type=exchange.headers.get("content-type", ""),
                request_headers={"x-supabase-api-version": "2024-01-01"} if versioned else {},
            )
        ]
    if path.startswith("/rest/v1") and exchange.status >= 400 and exchange.body:
        if from_gateway(exchange.body):
            return []
        return postgrest_errors().check(exchange.method, path, exchange.status, exchange.body)
    return []


# --- facts and expectations -----------------------------------------------------------------------


def auth_error(call: Callable[[], Any]) -> dict[str, Any]:
    """Run a client call that should fail: which exception, which status, which code."""
    try:
        call()
    except AuthWeakPasswordError as exc:
        return {"sdk": type(exc).__name__, "status": exc.status, "code": exc.code,
                "reasons": sorted(exc.reasons)}  # fmt: skip
    except AuthApiError as exc:
        return {"sdk": type(exc).__name__, "status": exc.status, "code": exc.code}
    return {"sdk": "no error"}


def rest_error(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        call()
    except APIError as exc:
        return {"sdk": "APIError", "code": exc.code, "message": exc.message}
    return {"sdk": "no error"}


def rows_of(data: Any) -> list[dict[str, Any]]:
    """What the client's ``.data`` holds for a read of rows."""
    return list(data)


def body(exchange: Exchange) -> Any:
    return exchange.decoded()


def code_of(exchange: Exchange) -> Any:
    """The error code of a GoTrue or PostgREST answer, in whichever shape it came."""
    found = body(exchange)
    if not isinstance(found, dict):
        return None
    if isinstance(found.get("error_code"), str):
        return found["error_code"]
    return found.get("code")


def expect(
    facts: Mapping[str, Any] | None = None,
    *,
    status: int | tuple[int, ...] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Expectation:
    """The status, the headers (value or "present"), no response problems, and these facts."""
    allowed = status if isinstance(status, tuple) or status is None else (status,)

    def check(seen: Observation) -> list[str]:
        if seen.error:
            return [f"could not run: {seen.detail or seen.error}"]
        problems = []
        if allowed is not None and seen.status not in allowed:
            problems.append(f"status {seen.status}, expected {' or '.join(map(str, allowed))}")
        for name, wanted in (headers or {}).items():
            got = seen.headers.get(name)
            if got is None or wanted not in ("present", got):
                problems.append(f"header {name}: {got!r}, expected {wanted!r}")
        problems += [f"spec: {p}" for p in seen.facts.get("response problems", [])]
        for name, wanted in (facts or {}).items():
            if seen.facts.get(name) != wanted:
                problems.append(f"{name}: {seen.facts.get(name)!r}, expected {wanted!r}")
        return problems

    return check


# What a GoTrue answers for a route it does not have (and the twin for one it lacks).
ABSENT = frozenset({"not_found", "not_implemented"})


def documented(method: str, template: str) -> Expectation:
    """An operation is reproduced when it answers as GoTrue's document says it may."""
    operation = gotrue_spec().operation(
        method, f"{PREFIX}{template.replace('{', '').replace('}', '')}"
    )
    statuses = tuple(
        int(code) for code in (operation.responses if operation else {}) if code.isdigit()
    )
    base = expect()

    def check(seen: Observation) -> list[str]:
        problems = base(seen)
        if problems:
            return problems
        if seen.facts.get("code") in ABSENT:
            return [f"no such operation: {seen.status} {seen.facts['code']}"]
        redirect = seen.status is not None and 300 <= seen.status < 400
        if seen.status not in statuses and not (redirect and any(300 <= s < 400 for s in statuses)):
            return [
                f"status {seen.status}, not one the document gives "
                f"{method} {template} ({', '.join(map(str, statuses))})"
            ]
        return []

    return check


# --- auth operations (one per operation of GoTrue's document) -------------------------------------


def totp(secret: str, at: float | None = None) -> str:
    """An authenticator's code for a base32 secret (RFC 6238), from this machine's clock."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int(time.time() if at is None else at) // 30
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    start = digest[-1] & 0x0F
    return str((struct.unpack(">I", digest[start : start + 4])[0] & 0x7FFFFFFF) % 10**6).zfill(6)


def _link(p: Project, kind: str, email: str, **extra: Any) -> dict[str, Any]:
    """An action link and its code, made by an administrator (nothing is e-mailed)."""
    answer = p.admin_call("POST", "/admin/generate_link", {"type": kind, "email": email, **extra})
    found = body(answer)
    assert answer.status == 200, f"generate_link: {answer.status} {found}"
    return found  # type: ignore[no-any-return]


def op_token(p: Project) -> Outcome:
    _, email = p.signed_in()
    return Outcome({}, p.auth("POST", "/token", {"email": email, "password": PASSWORD},
                              params={"grant_type": "password"}))  # fmt: skip


def op_logout(p: Project) -> Outcome:
    client, _ = p.signed_in()
    return Outcome({}, p.auth("POST", "/logout", bearer=p.token(client)))


def op_verify_get(p: Project) -> Outcome:
    _, email = p.signed_in()
    link = _link(p, "magiclink", email)
    return Outcome({}, p.send("GET", urlsplit(link["action_link"]).path + "?"
                              + urlsplit(link["action_link"]).query))  # fmt: skip


def op_verify_post(p: Project) -> Outcome:
    _, email = p.signed_in()
    link = _link(p, "magiclink", email)
    return Outcome({}, p.auth("POST", "/verify", {"type": "magiclink", "email": email,
                                                  "token": link["email_otp"]}))  # fmt: skip


def op_signup(p: Project) -> Outcome:
    return Outcome({}, p.auth("POST", "/signup", {"email": p.email("signup"),
                                                  "password": PASSWORD}))  # fmt: skip


def op_recover(p: Project) -> Outcome:
    return Outcome({}, p.auth("POST", "/recover", {"email": p.email("nobody")}))


def op_resend(p: Project) -> Outcome:
    return Outcome({}, p.auth("POST", "/resend", {"type": "signup", "email": p.email("nobody")}))


def op_magiclink(p: Project) -> Outcome:
    return Outcome({}, p.auth("POST", "/magiclink", {"email": p.email("magic")}))


def op_otp(p: Project) -> Outcome:
    return Outcome({}, p.auth("POST", "/otp", {"email": p.email("otp")}))


def op_user_get(p: Project) -> Outcome:
    client, _ = p.signed_in()
    return Outcome({}, p.auth("GET", "/user", bearer=p.token(client)))


def op_user_put(p: Project) -> Outcome:
    client, _ = p.signed_in()
    return Outcome({}, p.auth("PUT", "/user", {"data": {"plan": "pro"}}, bearer=p.token(client)))


def op_reauthenticate(p: Project) -> Outcome:
    client, _ = p.signed_in()
    return Outcome({}, p.auth("POST", "/reauthenticate", bearer=p.token(client)))


def op_unlink_identity(p: Project) -> Outcome:
    client, _ = p.signed_in()
    token = p.token(client)
    identities = body(p.auth("GET", "/user", bearer=token)).get("identities") or [{}]
    identity = identities[0].get("identity_id", NIL)
    return Outcome({}, p.auth("DELETE", f"/user/identities/{identity}", bearer=token))


def _enrolled(p: Project) -> tuple[str, dict[str, Any]]:
    client, _ = p.signed_in("mfa")
    token = p.token(client)
    enrolled = p.auth("POST", "/factors", {"factor_type": "totp", "friendly_name": "app"},
                      bearer=token)  # fmt: skip
    found = body(enrolled)
    assert enrolled.status == 200, f"enroll: {enrolled.status} {found}"
    return token, found


def op_factors(p: Project) -> Outcome:
    client, _ = p.signed_in("mfa")
    return Outcome({}, p.auth("POST", "/factors", {"factor_type": "totp"}, bearer=p.token(client)))


def op_factor_challenge(p: Project) -> Outcome:
    token, factor = _enrolled(p)
    return Outcome({}, p.auth("POST", f"/factors/{factor['id']}/challenge", {}, bearer=token))


def op_factor_verify(p: Project) -> Outcome:
    token, factor = _enrolled(p)
    challenge = body(p.auth("POST", f"/factors/{factor['id']}/challenge", {}, bearer=token))
    code = totp(factor["totp"]["secret"])
    return Outcome(
        {},
        p.auth(
            "POST",
            f"/factors/{factor['id']}/verify",
            {"challenge_id": challenge["id"], "code": code},
            bearer=token,
        ),
    )


def op_factor_delete(p: Project) -> Outcome:
    token, factor = _enrolled(p)
    return Outcome({}, p.auth("DELETE", f"/factors/{factor['id']}", bearer=token))


def op_invite(p: Project) -> Outcome:
    return Outcome({}, p.admin_call("POST", "/invite", {"email": p.email("invited")}))


def op_generate_link(p: Project) -> Outcome:
    _, email = p.signed_in()
    return Outcome({}, p.admin_call("POST", "/admin/generate_link",
                                    {"type": "recovery", "email": email}))  # fmt: skip


def op_audit(p: Project) -> Outcome:
    return Outcome({}, p.admin_call("GET", "/admin/audit", params={"per_page": "5"}))


def op_admin_users(p: Project) -> Outcome:
    return Outcome({}, p.admin_call("GET", "/admin/users", params={"per_page": "5"}))


def _created(p: Project) -> dict[str, Any]:
    answer = p.admin_call("POST", "/admin/users", {"email": p.email("admin"),
                                                   "email_confirm": True})  # fmt: skip
    found = body(answer)
    assert answer.status == 200, f"create user: {answer.status} {found}"
    return found  # type: ignore[no-any-return]


def op_admin_user_get(p: Project) -> Outcome:
    return Outcome({}, p.admin_call("GET", f"/admin/users/{_created(p)['id']}"))


def op_admin_user_put(p: Project) -> Outcome:
    user = _created(p)
    return Outcome({}, p.admin_call("PUT", f"/admin/users/{user['id']}",
                                    {"user_metadata": {"plan": "pro"}}))  # fmt: skip


def op_admin_user_delete(p: Project) -> Outcome:
    return Outcome({}, p.admin_call("DELETE", f"/admin/users/{_created(p)['id']}"))


def _admin_factor(p: Project) -> tuple[str, str]:
    token, factor = _enrolled(p)
    user = body(p.auth("GET", "/user", bearer=token))
    return user["id"], factor["id"]


def op_admin_factors(p: Project) -> Outcome:
    user_id, _ = _admin_factor(p)
    return Outcome({}, p.admin_call("GET", f"/admin/users/{user_id}/factors"))


def op_admin_factor_put(p: Project) -> Outcome:
    user_id, factor_id = _admin_factor(p)
    return Outcome({}, p.admin_call("PUT", f"/admin/users/{user_id}/factors/{factor_id}",
                                    {"friendly_name": "renamed"}))  # fmt: skip


def op_admin_factor_delete(p: Project) -> Outcome:
    user_id, factor_id = _admin_factor(p)
    return Outcome({}, p.admin_call("DELETE", f"/admin/users/{user_id}/factors/{factor_id}"))


def op_health(p: Project) -> Outcome:
    return Outcome({}, p.auth("GET", "/health"))


def op_settings(p: Project) -> Outcome:
    return Outcome({}, p.auth("GET", "/settings"))


def raw_operation(
    method: str,
    path: str,
    body_: Any = None,
    who: str = "anon",
    params: Mapping[str, str] | None = None,
) -> Callable[[Project], Outcome]:
    """An operation called plainly, as an app would first try it."""

    def run(p: Project) -> Outcome:
        if who == "admin":
            return Outcome({}, p.admin_call(method, path, body_, params=params))
        if who == "user":
            client, _ = p.signed_in()
            return Outcome({}, p.auth(method, path, body_, bearer=p.token(client), params=params))
        return Outcome({}, p.auth(method, path, body_, params=params))

    return run


# How each operation of the document is exercised: (method, template) -> the behaviour's run.
OPERATIONS: dict[tuple[str, str], Callable[[Project], Outcome]] = {
    ("POST", "/token"): op_token,
    ("POST", "/logout"): op_logout,
    ("GET", "/verify"): op_verify_get,
    ("POST", "/verify"): op_verify_post,
    ("GET", "/authorize"): raw_operation("GET", "/authorize", params={"provider": "github",
                                                                      "scopes": "email"}),
    ("POST", "/signup"): op_signup,
    ("POST", "/recover"): op_recover,
    ("POST", "/resend"): op_resend,
    ("POST", "/magiclink"): op_magiclink,
    ("POST", "/otp"): op_otp,
    ("GET", "/user"): op_user_get,
    ("PUT", "/user"): op_user_put,
    ("GET", "/user/identities/authorize"): raw_operation(
        "GET", "/user/identities/authorize", who="user",
        params={"provider": "github", "scopes": "email"}),
    ("DELETE", "/user/identities/{identityId}"): op_unlink_identity,
    ("GET", "/user/oauth/grants"): raw_operation("GET", "/user/oauth/grants", who="user"),
    ("DELETE", "/user/oauth/grants"): raw_operation(
        "DELETE", "/user/oauth/grants", who="user", params={"client_id": NIL}),
    ("POST", "/reauthenticate"): op_reauthenticate,
    ("POST", "/factors"): op_factors,
    ("POST", "/factors/{factorId}/challenge"): op_factor_challenge,
    ("POST", "/factors/{factorId}/verify"): op_factor_verify,
    ("DELETE", "/factors/{factorId}"): op_factor_delete,
    ("GET", "/callback"): raw_operation("GET", "/callback"),
    ("POST", "/callback"): raw_operation("POST", "/callback"),
    ("POST", "/sso"): raw_operation("POST", "/sso", {"domain": "example.com",
                                                     "skip_http_redirect": True}),
    ("GET", "/saml/metadata"): raw_operation("GET", "/saml/metadata"),
    ("POST", "/saml/acs"): raw_operation("POST", "/saml/acs"),
    ("POST", "/invite"): op_invite,
    ("POST", "/admin/generate_link"): op_generate_link,
    ("GET", "/admin/audit"): op_audit,
    ("GET", "/admin/users"): op_admin_users,
    ("GET", "/admin/users/{userId}"): op_admin_user_get,
    ("PUT", "/admin/users/{userId}"): op_admin_user_put,
    ("DELETE", "/admin/users/{userId}"): op_admin_user_delete,
    ("GET", "/admin/users/{userId}/factors"): op_admin_factors,
    ("PUT", "/admin/users/{userId}/factors/{factorId}"): op_admin_factor_put,
    ("DELETE", "/admin/users/{userId}/factors/{factorId}"): op_admin_factor_delete,
    ("GET", "/admin/sso/providers"): raw_operation("GET", "/admin/sso/providers", who="admin"),
    ("POST", "/admin/sso/providers"): raw_operation(
        "POST", "/admin/sso/providers", {"type": "saml", "metadata_url":
                                         "https://idp.example.com/metadata"}, who="admin"),
    ("GET", "/admin/sso/providers/{ssoProviderId}"): raw_operation(
        "GET", f"/admin/sso/providers/{NIL}", who="admin"),
    ("PUT", "/admin/sso/providers/{ssoProviderId}"): raw_operation(
        "PUT", f"/admin/sso/providers/{NIL}", {"domains": ["example.com"]}, who="admin"),
    ("DELETE", "/admin/sso/providers/{ssoProviderId}"): raw_operation(
        "DELETE", f"/admin/sso/providers/{NIL}", who="admin"),
    ("GET", "/admin/oauth/clients"): raw_operation("GET", "/admin/oauth/clients", who="admin"),
    ("POST", "/admin/oauth/clients"): raw_operation(
        "POST", "/admin/oauth/clients", {"client_name": "conformance",
                                         "redirect_uris": ["https://app.example.com/cb"]},
        who="admin"),
    ("GET", "/admin/oauth/clients/{client_id}"): raw_operation(
        "GET", f"/admin/oauth/clients/{NIL}", who="admin"),
    ("PUT", "/admin/oauth/clients/{client_id}"): raw_operation(
        "PUT", f"/admin/oauth/clients/{NIL}", {"client_name": "renamed"}, who="admin"),
    ("DELETE", "/admin/oauth/clients/{client_id}"): raw_operation(
        "DELETE", f"/admin/oauth/clients/{NIL}", who="admin"),
    ("POST", "/admin/oauth/clients/{client_id}/regenerate_secret"): raw_operation(
        "POST", f"/admin/oauth/clients/{NIL}/regenerate_secret", who="admin"),
    ("GET", "/admin/custom-providers"): raw_operation(
        "GET", "/admin/custom-providers", who="admin"),
    ("POST", "/admin/custom-providers"): raw_operation(
        "POST", "/admin/custom-providers", {"provider_type": "oauth2",
                                            "identifier": "custom:conformance",
                                            "name": "Conformance", "client_id": "x"},
        who="admin"),
    ("GET", "/admin/custom-providers/{identifier}"): raw_operation(
        "GET", "/admin/custom-providers/custom:conformance", who="admin"),
    ("PUT", "/admin/custom-providers/{identifier}"): raw_operation(
        "PUT", "/admin/custom-providers/custom:conformance", {"name": "Renamed"}, who="admin"),
    ("DELETE", "/admin/custom-providers/{identifier}"): raw_operation(
        "DELETE", "/admin/custom-providers/custom:conformance", who="admin"),
    ("POST", "/oauth/clients/register"): raw_operation(
        "POST", "/oauth/clients/register", {"client_name": "conformance",
                                            "redirect_uris": ["https://app.example.com/cb"]}),
    ("POST", "/oauth/token"): raw_operation("POST", "/oauth/token", {"grant_type":
                                                                     "authorization_code"}),
    ("GET", "/oauth/authorize"): raw_operation("GET", "/oauth/authorize",
                                               params={"client_id": NIL,
                                                       "response_type": "code"}),
    ("GET", "/oauth/authorizations/{authorization_id}"): raw_operation(
        "GET", f"/oauth/authorizations/{NIL}", who="user"),
    ("POST", "/oauth/authorizations/{authorization_id}/consent"): raw_operation(
        "POST", f"/oauth/authorizations/{NIL}/consent", {"action": "approve"}, who="user"),
    ("GET", "/health"): op_health,
    ("GET", "/settings"): op_settings,
}  # fmt: skip


# --- auth behaviours ------------------------------------------------------------------------------


def b_error_header(p: Project) -> Outcome:
    _, email = p.signed_in()
    answer = p.auth("POST", "/token", {"email": email, "password": "wrong-password"},
                    params={"grant_type": "password"})  # fmt: skip
    return Outcome({"code": code_of(answer)}, answer)


def b_versioned_error_shape(p: Project) -> Outcome:
    answer = p.auth("POST", "/token", {"email": p.email("nobody"), "password": "x"},
                    params={"grant_type": "password"})  # fmt: skip
    found = body(answer)
    return Outcome({"keys": sorted(found), "code": found.get("code")}, answer)


def b_original_error_shape(p: Project) -> Outcome:
    answer = p.auth("POST", "/token", {"email": p.email("nobody"), "password": "x"},
                    params={"grant_type": "password"}, versioned=False)  # fmt: skip
    found = body(answer)
    return Outcome({"keys": sorted(found), "code": found.get("code"),
                    "error_code": found.get("error_code")}, answer)  # fmt: skip


def b_delete_answers_empty(p: Project) -> Outcome:
    answer = p.admin_call("DELETE", f"/admin/users/{_created(p)['id']}")
    return Outcome({"body": body(answer)}, answer)


def b_user_id_not_uuid(p: Project) -> Outcome:
    answer = p.admin_call("GET", "/admin/users/not-a-uuid")
    return Outcome({"code": code_of(answer)}, answer)


def b_unknown_user(p: Project) -> Outcome:
    answer = p.admin_call("GET", f"/admin/users/{NIL}")
    return Outcome({"code": code_of(answer)}, answer)


def b_unknown_logout_scope(p: Project) -> Outcome:
    client, _ = p.signed_in()
    token = p.token(client)
    answer = p.auth("POST", "/logout", bearer=token, params={"scope": "everywhere"})
    still = p.auth("GET", "/user", bearer=token).status
    return Outcome({"code": code_of(answer), "session kept": still == 200}, answer)


def b_admin_created_never_signed_in(p: Project) -> Outcome:
    answer = p.admin_call("POST", "/admin/users", {"email": p.email("created")})
    found = body(answer)
    return Outcome({"last_sign_in_at" : "last_sign_in_at" in found,
                    "email_confirmed_at": "email_confirmed_at" in found}, answer)  # fmt: skip


def b_repeated_sign_up(p: Project) -> Outcome:
    _, email = p.signed_in()
    return Outcome(
        auth_error(lambda: p.client().auth.sign_up({"email": email, "password": PASSWORD}))
    )


def b_weak_password(p: Project) -> Outcome:
    return Outcome(
        auth_error(lambda: p.client().auth.sign_up({"email": p.email("weak"), "password": "123"}))
    )


def b_invalid_credentials(p: Project) -> Outcome:
    _, email = p.signed_in()
    return Outcome(auth_error(lambda: p.client().auth.sign_in_with_password(
        {"email": email, "password": "not-the-password"})))  # fmt: skip


def b_logout_ends_the_session(p: Project) -> Outcome:
    client, _ = p.signed_in()
    token = p.token(client)
    p.auth("POST", "/logout", bearer=token, params={"scope": "local"})
    answer = p.auth("GET", "/user", bearer=token)
    return Outcome({"code": code_of(answer)}, answer)


def b_logout_others(p: Project) -> Outcome:
    _, email = p.signed_in()
    first, second = p.client(), p.client()
    for client in (first, second):
        client.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    p.auth("POST", "/logout", bearer=p.token(first), params={"scope": "others"})
    mine = p.auth("GET", "/user", bearer=p.token(first)).status
    theirs = p.auth("GET", "/user", bearer=p.token(second)).status
    return Outcome({"mine": mine, "theirs": theirs})


def _session(p: Project) -> dict[str, Any]:
    answer = p.auth("POST", "/signup", {"email": p.email("refresh"), "password": PASSWORD})
    found = body(answer)
    assert "refresh_token" in found, "no session: is e-mail confirmation off on the project?"
    return found  # type: ignore[no-any-return]


def _refresh(p: Project, token: str) -> Exchange:
    return p.auth("POST", "/token", {"refresh_token": token},
                  params={"grant_type": "refresh_token"})  # fmt: skip


def b_refresh_rotates(p: Project) -> Outcome:
    first = _session(p)["refresh_token"]
    answer = _refresh(p, first)
    return Outcome({"new token": body(answer).get("refresh_token") not in (None, first)}, answer)


def b_refresh_reuse_interval(p: Project) -> Outcome:
    first = _session(p)["refresh_token"]
    second = body(_refresh(p, first)).get("refresh_token")
    again = _refresh(p, first)
    return Outcome({"answers the current token": body(again).get("refresh_token") == second},
                   again)  # fmt: skip


def b_refresh_reuse_after_interval(p: Project) -> Outcome:
    first = _session(p)["refresh_token"]
    _refresh(p, first)
    p.control("/clock", {"advance": 11})
    answer = _refresh(p, first)
    return Outcome({"code": code_of(answer)}, answer)


def b_refresh_unknown(p: Project) -> Outcome:
    answer = _refresh(p, "no-such-token")
    return Outcome({"code": code_of(answer)}, answer)


def b_no_bearer(p: Project) -> Outcome:
    answer = p.auth("GET", "/user")
    return Outcome({"code": code_of(answer)}, answer)


def b_forged_bearer(p: Project) -> Outcome:
    forged = jwt.encode({"sub": NIL, "role": "authenticated", "exp": 4102444800},
                        "not-the-project-secret-not-the-project-secret")  # fmt: skip
    answer = p.auth("GET", "/user", bearer=forged)
    return Outcome({"code": code_of(answer)}, answer)


def b_not_admin(p: Project) -> Outcome:
    client, _ = p.signed_in()
    answer = p.auth("GET", "/admin/users", bearer=p.token(client))
    return Outcome({"code": code_of(answer)}, answer)


def b_used_code(p: Project) -> Outcome:
    _, email = p.signed_in()
    link = _link(p, "magiclink", email)
    params = {"type": "magiclink", "email": email, "token": link["email_otp"]}
    p.auth("POST", "/verify", params)
    answer = p.auth("POST", "/verify", params)
    return Outcome({"code": code_of(answer)}, answer)


def b_code_rate_limit(p: Project) -> Outcome:
    _, email = p.signed_in()
    p.auth("POST", "/recover", {"email": email})
    answer = p.auth("POST", "/recover", {"email": email})
    return Outcome({"code": code_of(answer)}, answer)


def b_email_taken(p: Project) -> Outcome:
    client, _ = p.signed_in()
    _, other = p.signed_in("other")
    answer = p.auth("PUT", "/user", {"email": other}, bearer=p.token(client))
    return Outcome({"code": code_of(answer)}, answer)


def b_same_password(p: Project) -> Outcome:
    client, _ = p.signed_in()
    answer = p.auth("PUT", "/user", {"password": PASSWORD}, bearer=p.token(client))
    return Outcome({"code": code_of(answer)}, answer)


def b_anonymous_off(p: Project) -> Outcome:
    return Outcome(auth_error(p.client().auth.sign_in_anonymously))


def b_admin_pagination(p: Project) -> Outcome:
    _created(p)
    _created(p)
    answer = p.admin_call("GET", "/admin/users", params={"page": "1", "per_page": "1"})
    return Outcome({"one user": len(body(answer).get("users", [])) == 1}, answer)


def b_wrong_totp(p: Project) -> Outcome:
    token, factor = _enrolled(p)
    challenge = body(p.auth("POST", f"/factors/{factor['id']}/challenge", {}, bearer=token))
    answer = p.auth(
        "POST",
        f"/factors/{factor['id']}/verify",
        {"challenge_id": challenge["id"], "code": "000000"},
        bearer=token,
    )
    return Outcome({"code": code_of(answer)}, answer)


def b_totp_raises_aal(p: Project) -> Outcome:
    token, factor = _enrolled(p)
    challenge = body(p.auth("POST", f"/factors/{factor['id']}/challenge", {}, bearer=token))
    answer = p.auth("POST", f"/factors/{factor['id']}/verify",
                    {"challenge_id": challenge["id"], "code": totp(factor["totp"]["secret"])},
                    bearer=token)  # fmt: skip
    claims = jwt.decode(body(answer)["access_token"], options={"verify_signature": False})
    return Outcome(
        {"aal": claims.get("aal"), "amr": [entry.get("method") for entry in claims.get("amr", [])]},
        answer,
    )


def b_generate_link_signs_up(p: Project) -> Outcome:
    email = p.email("new")
    answer = p.admin_call("POST", "/admin/generate_link", {"type": "magiclink", "email": email})
    found = body(answer)
    return Outcome({"verification_type": found.get("verification_type"),
                    "email": found.get("email") == email}, answer)  # fmt: skip


def b_email_not_confirmed(p: Project) -> Outcome:
    p.control("/supabase/project", {"auth": {"mailer_autoconfirm": False}}, method="PATCH")
    try:
        email = p.email("unconfirmed")
        p.auth("POST", "/signup", {"email": email, "password": PASSWORD})
        answer = p.auth("POST", "/token", {"email": email, "password": PASSWORD},
                        params={"grant_type": "password"})  # fmt: skip
    finally:
        p.control("/supabase/project", {"auth": {"mailer_autoconfirm": True}}, method="PATCH")
    return Outcome({"code": code_of(answer)}, answer)


def b_pkce_wrong_verifier(p: Project) -> Outcome:
    _, email = p.signed_in()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).decode().rstrip("=")
    p.auth("POST", "/recover", {"email": email, "code_challenge": challenge,
                                "code_challenge_method": "s256"})  # fmt: skip
    link = p.mail(to=email, type="recovery")[-1]["link"]
    followed = p.send("GET", urlsplit(link).path + "?" + urlsplit(link).query)
    code = parse_qs(urlsplit(followed.headers["location"]).query)["code"][0]
    answer = p.auth("POST", "/token", {"auth_code": code, "code_verifier": "w" * 43},
                    params={"grant_type": "pkce"})  # fmt: skip
    return Outcome({"code": code_of(answer)}, answer)


# --- PostgREST filters ----------------------------------------------------------------------------


def names(p: Project, **params: str) -> Outcome:
    """The names of the run's items a filter keeps, sorted."""
    p.seed()
    answer = p.rest("GET", ITEMS, params={"select": "name", "run": f"eq.{p.run}", **params})
    found = body(answer)
    rows = sorted(row["name"] for row in found) if isinstance(found, list) else found
    return Outcome({"names": rows}, answer)


def filtering(**params: str) -> Callable[[Project], Outcome]:
    return lambda p: names(p, **params)


APPLE, BANANA, CHERRY = "Apple pie", "banana", "Cherry, dark"
# operator -> (query parameters, the names it keeps)
FILTERS: dict[str, tuple[dict[str, str], list[str]]] = {
    "eq": ({"qty": "eq.5"}, [APPLE]),
    "neq": ({"qty": "neq.5"}, [BANANA]),
    "gt": ({"qty": "gt.5"}, [BANANA]),
    "gte": ({"qty": "gte.5"}, [APPLE, BANANA]),
    "lt": ({"price": "lt.2.5"}, [BANANA]),
    "lte": ({"price": "lte.2.5"}, [APPLE, BANANA]),
    "like": ({"name": "like.*pie"}, [APPLE]),
    "ilike": ({"name": "ilike.APPLE*"}, [APPLE]),
    "match": ({"name": "match.^[A-Z]"}, [APPLE, CHERRY]),
    "imatch": ({"name": "imatch.^B"}, [BANANA]),
    "in": ({"name": 'in.(banana,"Cherry, dark")'}, [BANANA, CHERRY]),
    "is": ({"qty": "is.null"}, [CHERRY]),
    "isdistinct": ({"qty": "isdistinct.5"}, [BANANA, CHERRY]),
    "fts": ({"body": "fts.cat & rat"}, [APPLE, CHERRY]),
    "plfts": ({"body": "plfts.fat cats"}, [APPLE]),
    "phfts": ({"body": "phfts.brown fox"}, [BANANA]),
    "wfts": ({"body": 'wfts."brown fox" or hat'}, [BANANA, CHERRY]),
    "cs": ({"tags": "cs.{food}"}, [APPLE, BANANA]),
    "cd": ({"tags": "cd.{food}"}, [BANANA, CHERRY]),
    "ov": ({"tags": "ov.{sweet,salty}"}, [APPLE]),
    "sl": ({"span": "sl.[5,8)"}, [APPLE]),
    "sr": ({"span": "sr.[10,15)"}, [CHERRY]),
    "nxr": ({"span": "nxr.[0,10)"}, [APPLE, BANANA]),
    "nxl": ({"span": "nxl.[4,40)"}, [BANANA, CHERRY]),
    "adj": ({"span": "adj.[10,20)"}, [BANANA, CHERRY]),
    "not": ({"qty": "not.eq.5"}, [BANANA]),
    "or": ({"or": "(qty.lt.6,price.gt.5)"}, [APPLE, CHERRY]),
    "and": ({"and": "(name.ilike.*a*,or(qty.is.null,qty.eq.12))"}, [BANANA, CHERRY]),
    "any": ({"qty": "eq(any).{5,12}"}, [APPLE, BANANA]),
    "all": ({"name": "like(all).{*a*,*n*}"}, [BANANA]),
}


# --- PostgREST behaviours -------------------------------------------------------------------------


def r_select_alias_cast(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("GET", ITEMS, params={"select": "label:name,qty::text", "run": f"eq.{p.run}",
                                          "name": "eq.banana"})  # fmt: skip
    return Outcome({"rows": body(answer)}, answer)


def r_json_paths(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("GET", ITEMS, params={
        "select": "name,data->color,shade:data->>color", "run": f"eq.{p.run}",
        "data->>color": "eq.red", "order": "data->size.desc"})  # fmt: skip
    return Outcome({"rows": body(answer)}, answer)


def r_order_nulls(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("GET", ITEMS, params={"select": "name", "run": f"eq.{p.run}",
                                          "order": "qty.desc.nullslast"})  # fmt: skip
    return Outcome({"names": [r["name"] for r in body(answer)]}, answer)


def r_range_header(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("GET", ITEMS, params={"select": "name", "run": f"eq.{p.run}", "order": "id"},
                    headers={"Range": "0-1", "Prefer": "count=exact"})  # fmt: skip
    return Outcome({"names": [r["name"] for r in body(answer)]}, answer)


def r_limit_offset_count(p: Project) -> Outcome:
    p.seed()
    query = p.db().table(ITEMS).select("name", count=CountMethod.exact).eq("run", p.run)
    page = query.order("id").range(1, 2).execute()
    return Outcome({"count": page.count, "names": [r["name"] for r in rows_of(page.data)]})


def r_range_beyond(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("GET", ITEMS, params={"run": f"eq.{p.run}", "offset": "10"},
                    headers={"Prefer": "count=exact"})  # fmt: skip
    return Outcome({"code": code_of(answer)}, answer)


def r_insert_minimal(p: Project) -> Outcome:
    answer = p.rest("POST", AUTHORS, body={"run": p.run, "name": "Minimal"})
    return Outcome({"empty": answer.body == b""}, answer)


def r_insert_representation(p: Project) -> Outcome:
    answer = p.rest("POST", AUTHORS, body=[{"run": p.run, "name": "Rep1"},
                                           {"run": p.run, "name": "Rep2"}],
                    headers={"Prefer": "return=representation,count=exact"})  # fmt: skip
    return Outcome({"names": [r["name"] for r in body(answer)]}, answer)


def r_insert_headers_only(p: Project) -> Outcome:
    answer = p.rest("POST", AUTHORS, body={"run": p.run, "name": "Located"},
                    headers={"Prefer": "return=headers-only"})  # fmt: skip
    location = answer.headers.get("location", "")
    return Outcome({"location": location.startswith(f"/{AUTHORS}?id=eq.")}, answer)


def r_upsert_merge(p: Project) -> Outcome:
    email = f"merge.{p.run}@{p.domain}"
    db = p.db()
    db.table(AUTHORS).insert({"run": p.run, "name": "Old", "email": email}).execute()
    merged = db.table(AUTHORS).upsert({"run": p.run, "name": "New", "email": email},
                                      on_conflict="email").execute()  # fmt: skip
    return Outcome({"names": [r["name"] for r in rows_of(merged.data)]})


def r_upsert_ignore(p: Project) -> Outcome:
    email = f"ignore.{p.run}@{p.domain}"
    p.rest("POST", AUTHORS, body={"run": p.run, "name": "Kept", "email": email})
    answer = p.rest(
        "POST",
        AUTHORS,
        params={"on_conflict": "email"},
        body={"run": p.run, "name": "Ignored", "email": email},
        headers={"Prefer": "resolution=ignore-duplicates,return=representation"},
    )
    return Outcome({"rows": body(answer)}, answer)


def r_update_minimal(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("PATCH", BOOKS, params={"run": f"eq.{p.run}", "title": "eq.Alpha"},
                    body={"pages": 101})  # fmt: skip
    return Outcome({"empty": answer.body == b""}, answer)


def r_delete_representation(p: Project) -> Outcome:
    p.rest("POST", AUTHORS, body={"run": p.run, "name": "Doomed"})
    answer = p.rest("DELETE", AUTHORS, params={"run": f"eq.{p.run}", "name": "eq.Doomed"},
                    headers={"Prefer": "return=representation"})  # fmt: skip
    return Outcome({"names": [r["name"] for r in body(answer)]}, answer)


def r_single_pgrst116(p: Project) -> Outcome:
    p.seed()
    return Outcome(rest_error(lambda: p.db().table(ITEMS).select("name").eq("run", p.run)
                              .single().execute()))  # fmt: skip


def r_single_one(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("GET", ITEMS, params={"select": "name", "run": f"eq.{p.run}",
                                          "qty": "eq.5"},
                    headers={"Accept": "application/vnd.pgrst.object+json"})  # fmt: skip
    return Outcome({"body": body(answer)}, answer)


def r_csv(p: Project) -> Outcome:
    p.seed()
    answer = p.rest(
        "GET",
        ITEMS,
        params={"select": "name,qty,active", "run": f"eq.{p.run}", "order": "id"},
        headers={"Accept": "text/csv"},
    )
    return Outcome({"text": answer.body.decode()}, answer)


def r_nulls_stripped(p: Project) -> Outcome:
    p.seed()
    answer = p.rest(
        "GET",
        ITEMS,
        params={"select": "name,qty", "run": f"eq.{p.run}", "name": "eq.Cherry, dark"},
        headers={"Accept": "application/vnd.pgrst.array+json;nulls=stripped"},
    )
    return Outcome({"rows": body(answer)}, answer)


def r_unknown_table(p: Project) -> Outcome:
    answer = p.rest("GET", "conformance_itemz")
    return Outcome({"code": code_of(answer), "hint": body(answer).get("hint")}, answer)


def r_invalid_json(p: Project) -> Outcome:
    answer = p.rest("POST", AUTHORS, content=b"{nope")
    return Outcome({"code": code_of(answer)}, answer)


def r_keys_must_match(p: Project) -> Outcome:
    answer = p.rest(
        "POST",
        AUTHORS,
        body=[{"run": p.run, "name": "A"}, {"run": p.run, "name": "B", "email": None}],
    )
    return Outcome({"code": code_of(answer), "message": body(answer).get("message")}, answer)


def r_parse_error(p: Project) -> Outcome:
    answer = p.rest("GET", ITEMS, params={"qty": "equals.5"})
    return Outcome({"code": code_of(answer)}, answer)


def r_unknown_column(p: Project) -> Outcome:
    answer = p.rest("GET", ITEMS, params={"select": "nme"})
    return Outcome({"code": code_of(answer)}, answer)


def r_unknown_column_write(p: Project) -> Outcome:
    answer = p.rest("POST", AUTHORS, body={"run": p.run, "name": "X", "nickname": "x"})
    return Outcome({"code": code_of(answer)}, answer)


def r_not_null(p: Project) -> Outcome:
    answer = p.rest("POST", AUTHORS, body={"run": p.run})
    return Outcome({"code": code_of(answer)}, answer)


def r_unique(p: Project) -> Outcome:
    email = f"unique.{p.run}@{p.domain}"
    p.rest("POST", AUTHORS, body={"run": p.run, "name": "A", "email": email})
    answer = p.rest("POST", AUTHORS, body={"run": p.run, "name": "B", "email": email})
    return Outcome({"code": code_of(answer)}, answer)


def r_foreign_key(p: Project) -> Outcome:
    answer = p.rest("POST", BOOKS, body={"run": p.run, "title": "Orphan", "author_id": -1})
    return Outcome({"code": code_of(answer)}, answer)


def r_invalid_input(p: Project) -> Outcome:
    answer = p.rest("GET", ITEMS, params={"qty": "eq.many"})
    return Outcome({"code": code_of(answer)}, answer)


def r_media_type(p: Project) -> Outcome:
    answer = p.rest("GET", ITEMS, params={"run": f"eq.{p.run}"},
                    headers={"Accept": "application/vnd.pgrst.plan+text"})  # fmt: skip
    return Outcome({"code": code_of(answer)}, answer)


def r_aggregates(p: Project) -> Outcome:
    answer = p.rest("GET", ITEMS, params={"select": "count()"})
    return Outcome({"code": code_of(answer)}, answer)


def r_safe_update(p: Project) -> Outcome:
    answer = p.rest("DELETE", BOOKS)
    return Outcome({"code": code_of(answer)}, answer)


def r_max_affected(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("PATCH", BOOKS, params={"run": f"eq.{p.run}"}, body={"pages": 1},
                    headers={"Prefer": "handling=strict, max-affected=1"})  # fmt: skip
    return Outcome({"code": code_of(answer)}, answer)


def r_head_count(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("HEAD", ITEMS, params={"run": f"eq.{p.run}"},
                    headers={"Prefer": "count=exact"})  # fmt: skip
    return Outcome({"empty": answer.body == b""}, answer)


def r_embed_to_one(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("GET", BOOKS, params={
        "select": "title,author:conformance_authors!author_id(name)", "run": f"eq.{p.run}",
        "order": "title"})  # fmt: skip
    return Outcome({"rows": body(answer)}, answer)


def r_embed_to_many(p: Project) -> Outcome:
    p.seed()
    answer = p.rest(
        "GET",
        AUTHORS,
        params={
            "select": "name,conformance_books!author_id(title)",
            "run": f"eq.{p.run}",
            "name": "in.(Ada,Bo,Cy)",
            "order": "name",
            "conformance_books.order": "title",
        },
    )
    return Outcome({"rows": body(answer)}, answer)


def r_embed_inner(p: Project) -> Outcome:
    p.seed()
    answer = p.rest("GET", AUTHORS, params={
        "select": "name,conformance_books!author_id!inner(title)", "run": f"eq.{p.run}",
        "conformance_books.title": "eq.Gamma"})  # fmt: skip
    return Outcome({"rows": body(answer)}, answer)


def r_embed_ambiguous(p: Project) -> Outcome:
    answer = p.rest("GET", BOOKS, params={"select": "title,conformance_authors(name)"})
    return Outcome({"code": code_of(answer)}, answer)


def r_embed_none(p: Project) -> Outcome:
    answer = p.rest("GET", ITEMS, params={"select": "*,conformance_authors(*)"})
    return Outcome({"code": code_of(answer)}, answer)


def r_embed_not_selected(p: Project) -> Outcome:
    answer = p.rest("GET", AUTHORS, params={"select": "name",
                                            "conformance_books.pages": "gt.1"})  # fmt: skip
    return Outcome({"code": code_of(answer)}, answer)


def r_rpc_scalar(p: Project) -> Outcome:
    return Outcome({"sum": p.db().rpc("conformance_add", {"a": 2, "b": 3}).execute().data})


def r_rpc_rows(p: Project) -> Outcome:
    p.seed()
    rows = p.db().rpc("conformance_items_of", {"p_run": p.run}).select("name") \
        .gt("qty", 1).order("name").execute()  # fmt: skip
    return Outcome({"names": [r["name"] for r in rows_of(rows.data)]})


def r_rpc_raise(p: Project) -> Outcome:
    return Outcome(
        rest_error(lambda: p.db().rpc("conformance_refuse", {"reason": "closed"}).execute())
    )


def r_rpc_unknown(p: Project) -> Outcome:
    answer = p.rest("POST", "rpc/conformance_ad", body={"a": 1, "b": 2})
    return Outcome({"code": code_of(answer), "hint": body(answer).get("hint")}, answer)


def r_rpc_method(p: Project) -> Outcome:
    answer = p.rest("PUT", "rpc/conformance_add", body={"a": 1, "b": 2})
    return Outcome({"code": code_of(answer)}, answer)


def r_rpc_read_only(p: Project) -> Outcome:
    answer = p.rest("GET", "rpc/conformance_touch", params={"p_run": p.run})
    return Outcome({"code": code_of(answer)}, answer)


def r_rpc_void(p: Project) -> Outcome:
    answer = p.rest("POST", "rpc/conformance_touch", body={"p_run": p.run})
    return Outcome({"empty": answer.body == b""}, answer)


# --- the suite ------------------------------------------------------------------------------------


_b = behaviour  # short: the tables below call it once a row


def code(value: str, status: int, **facts: Any) -> Expectation:
    return expect({"code": value, **facts}, status=status, headers={"x-sb-error-code": value})


def rest_code(value: str, status: int, **facts: Any) -> Expectation:
    return expect({"code": value, **facts}, status=status,
                  headers={"proxy-status": f"PostgREST; error={value}"})  # fmt: skip


def _operation(method: str, template: str) -> Behaviour[Project]:
    run = OPERATIONS[(method, template)]

    def measured(p: Project) -> Outcome:
        outcome = run(p)
        exchange = outcome.exchange or p.recorder.last
        code = code_of(exchange) if exchange is not None else None
        return Outcome({**outcome.facts, "code": code}, exchange)

    return _b(f"{method} {template}", measured, "auth operations", documented(method, template))


RED = [{"name": APPLE, "color": "red", "shade": "red"},
       {"name": CHERRY, "color": "red", "shade": "red"}]  # fmt: skip
BEHAVIOURS: list[Behaviour[Project]] = [
    *(_operation(method, template) for method, template in published_operations()),
    # auth behaviours
    _b("errors name their code in x-sb-error-code", b_error_header, "auth behaviours",
       expect({"code": "invalid_credentials"}, status=400,
              headers={"x-sb-error-code": "invalid_credentials"})),
    _b("the 2024-01-01 error shape", b_versioned_error_shape, "auth behaviours",
       expect({"keys": ["code", "message"], "code": "invalid_credentials"}, status=400,
              headers={"x-supabase-api-version": "2024-01-01"})),
    _b("the original error shape", b_original_error_shape, "auth behaviours",
       expect({"keys": ["code", "error_code", "msg"], "code": 400,
               "error_code": "invalid_credentials"}, status=400)),
    _b("deleting a user answers {}", b_delete_answers_empty, "auth behaviours",
       expect({"body": {}}, status=200)),
    _b("a user id that is not a UUID is 404 validation_failed", b_user_id_not_uuid,
       "auth behaviours", code("validation_failed", 404)),
    _b("an unknown user is 404 user_not_found", b_unknown_user, "auth behaviours",
       code("user_not_found", 404)),
    _b("an unknown logout scope is 400", b_unknown_logout_scope, "auth behaviours",
       code("validation_failed", 400, **{"session kept": True})),
    _b("a user an administrator creates has not signed in", b_admin_created_never_signed_in,
       "auth behaviours",
       expect({"last_sign_in_at": False, "email_confirmed_at": False}, status=200)),
    _b("a repeated sign-up is user_already_exists", b_repeated_sign_up, "auth behaviours",
       expect({"sdk": "AuthApiError", "status": 422, "code": "user_already_exists"})),
    _b("a short password is weak_password with its reasons", b_weak_password,
       "auth behaviours",
       expect({"sdk": "AuthWeakPasswordError", "status": 422, "code": "weak_password",
               "reasons": ["length"]})),
    _b("a wrong password is invalid_credentials", b_invalid_credentials, "auth behaviours",
       expect({"sdk": "AuthApiError", "status": 400, "code": "invalid_credentials"})),
    _b("after logout the session is gone", b_logout_ends_the_session, "auth behaviours",
       code("session_not_found", 403)),
    _b("logout of the others keeps this session", b_logout_others, "auth behaviours",
       expect({"mine": 200, "theirs": 403})),
    _b("refresh tokens rotate", b_refresh_rotates, "auth behaviours",
       expect({"new token": True}, status=200)),
    _b("a used refresh token answers within the reuse interval", b_refresh_reuse_interval,
       "auth behaviours", expect({"answers the current token": True}, status=200)),
    _b("a used refresh token past the reuse interval is refused",
       b_refresh_reuse_after_interval, "auth behaviours",
       code("refresh_token_already_used", 400), control=True),
    _b("an unknown refresh token is refresh_token_not_found", b_refresh_unknown,
       "auth behaviours", code("refresh_token_not_found", 400)),
    _b("no bearer token is 401 no_authorization", b_no_bearer, "auth behaviours",
       code("no_authorization", 401)),
    _b("a forged token is 403 bad_jwt", b_forged_bearer, "auth behaviours",
       code("bad_jwt", 403)),
    _b("a user is not an administrator", b_not_admin, "auth behaviours", code("not_admin", 403)),
    _b("a used one-time code is otp_expired", b_used_code, "auth behaviours",
       code("otp_expired", 403)),
    _b("codes go out at most once a minute", b_code_rate_limit, "auth behaviours",
       code("over_email_send_rate_limit", 429)),
    _b("an address taken is email_exists", b_email_taken, "auth behaviours",
       code("email_exists", 422)),
    _b("the same password again is same_password", b_same_password, "auth behaviours",
       code("same_password", 422)),
    _b("anonymous sign-ins are off unless enabled", b_anonymous_off, "auth behaviours",
       expect({"sdk": "AuthApiError", "status": 422, "code": "anonymous_provider_disabled"})),
    _b("the user listing counts and links its pages", b_admin_pagination, "auth behaviours",
       expect({"one user": True}, status=200,
              headers={"x-total-count": "present", "link": "present"})),
    _b("a wrong TOTP code is mfa_verification_failed", b_wrong_totp, "auth behaviours",
       code("mfa_verification_failed", 422)),
    _b("a TOTP code raises the session to aal2", b_totp_raises_aal, "auth behaviours",
       expect({"aal": "aal2", "amr": ["totp", "password"]}, status=200)),
    _b("a magic link for a new address signs it up", b_generate_link_signs_up,
       "auth behaviours", expect({"verification_type": "signup", "email": True}, status=200)),
    _b("an unconfirmed address cannot sign in", b_email_not_confirmed, "auth behaviours",
       code("email_not_confirmed", 400), control=True),
    _b("a PKCE exchange checks the verifier", b_pkce_wrong_verifier, "auth behaviours",
       code("bad_code_verifier", 400), control=True),
    # PostgREST filters
    *(_b(f"filter {operator}", filtering(**params), "PostgREST filters",
         expect({"names": sorted(kept)}, status=200))
      for operator, (params, kept) in FILTERS.items()),
    # PostgREST behaviours
    _b("select with aliases and casts", r_select_alias_cast, "PostgREST behaviours",
       expect({"rows": [{"label": "banana", "qty": "12"}]}, status=200)),
    _b("JSON paths in select, filters and order", r_json_paths, "PostgREST behaviours",
       expect({"rows": RED}, status=200)),
    _b("order with nulls last", r_order_nulls, "PostgREST behaviours",
       expect({"names": [BANANA, APPLE, CHERRY]}, status=200)),
    _b("the Range header and Content-Range", r_range_header, "PostgREST behaviours",
       expect({"names": [APPLE, BANANA]}, status=206, headers={"content-range": "0-1/3"})),
    _b("limit, offset and an exact count", r_limit_offset_count, "PostgREST behaviours",
       expect({"count": 3, "names": [BANANA, CHERRY]})),
    _b("a range past the rows is 416 PGRST103", r_range_beyond, "PostgREST behaviours",
       rest_code("PGRST103", 416)),
    _b("an insert answers 201 with no body and Content-Range */*", r_insert_minimal,
       "PostgREST behaviours",
       expect({"empty": True}, status=201, headers={"content-range": "*/*"})),
    _b("return=representation and count=exact", r_insert_representation,
       "PostgREST behaviours",
       expect({"names": ["Rep1", "Rep2"]}, status=201,
              headers={"content-range": "*/2",
                       "preference-applied": "return=representation, count=exact"})),
    _b("return=headers-only gives a Location", r_insert_headers_only, "PostgREST behaviours",
       expect({"location": True}, status=201)),
    _b("an upsert merges on a unique key", r_upsert_merge, "PostgREST behaviours",
       expect({"names": ["New"]})),
    _b("an upsert can ignore duplicates", r_upsert_ignore, "PostgREST behaviours",
       expect({"rows": []}, status=201)),
    _b("an update answers 204", r_update_minimal, "PostgREST behaviours",
       expect({"empty": True}, status=204, headers={"content-range": "0-0/*"})),
    _b("a delete returns what it deleted", r_delete_representation, "PostgREST behaviours",
       expect({"names": ["Doomed"]}, status=200)),
    _b("a single object of many rows is PGRST116", r_single_pgrst116, "PostgREST behaviours",
       expect({"sdk": "APIError", "code": "PGRST116",
               "message": "Cannot coerce the result to a single JSON object"})),
    _b("a single object", r_single_one, "PostgREST behaviours",
       expect({"body": {"name": APPLE}}, status=200)),
    _b("CSV", r_csv, "PostgREST behaviours",
       expect({"text": 'name,qty,active\nApple pie,5,t\nbanana,12,f\n"Cherry, dark",,'},
              status=200, headers={"content-type": "text/csv"})),
    _b("nulls stripped", r_nulls_stripped, "PostgREST behaviours",
       expect({"rows": [{"name": CHERRY}]}, status=200)),
    _b("an unknown table is 404 PGRST205", r_unknown_table, "PostgREST behaviours",
       rest_code("PGRST205", 404, hint="Perhaps you meant the table 'public.conformance_items'")),
    _b("a body that is not JSON is PGRST102", r_invalid_json, "PostgREST behaviours",
       rest_code("PGRST102", 400)),
    _b("rows with different keys are PGRST102", r_keys_must_match, "PostgREST behaviours",
       rest_code("PGRST102", 400, message="All object keys must match")),
    _b("a filter it cannot parse is PGRST100", r_parse_error, "PostgREST behaviours",
       rest_code("PGRST100", 400)),
    _b("an unknown column is 42703", r_unknown_column, "PostgREST behaviours",
       rest_code("42703", 400)),
    _b("writing an unknown column is PGRST204", r_unknown_column_write, "PostgREST behaviours",
       rest_code("PGRST204", 400)),
    _b("a missing required value is 23502", r_not_null, "PostgREST behaviours",
       rest_code("23502", 400)),
    _b("a duplicate key is 23505", r_unique, "PostgREST behaviours", rest_code("23505", 409)),
    _b("a missing referenced row is 23503", r_foreign_key, "PostgREST behaviours",
       rest_code("23503", 409)),
    _b("a value of the wrong type is 22P02", r_invalid_input, "PostgREST behaviours",
       rest_code("22P02", 400)),
    _b("an unavailable media type is PGRST107", r_media_type, "PostgREST behaviours",
       rest_code("PGRST107", 406)),
    _b("aggregates are disabled", r_aggregates, "PostgREST behaviours",
       rest_code("PGRST123", 400)),
    _b("a delete without a filter is refused", r_safe_update, "PostgREST behaviours",
       rest_code("21000", 400)),
    _b("max-affected with strict handling", r_max_affected, "PostgREST behaviours",
       rest_code("PGRST124", 400)),
    _b("HEAD counts without a body", r_head_count, "PostgREST behaviours",
       expect({"empty": True}, status=200, headers={"content-range": "0-2/3"})),
    _b("an embedded to-one resource", r_embed_to_one, "PostgREST behaviours",
       expect({"rows": [{"title": "Alpha", "author": {"name": "Ada"}},
                        {"title": "Beta", "author": {"name": "Ada"}},
                        {"title": "Gamma", "author": {"name": "Bo"}}]}, status=200)),
    _b("an embedded to-many resource", r_embed_to_many, "PostgREST behaviours",
       expect({"rows": [
           {"name": "Ada", "conformance_books": [{"title": "Alpha"}, {"title": "Beta"}]},
           {"name": "Bo", "conformance_books": [{"title": "Gamma"}]},
           {"name": "Cy", "conformance_books": []}]}, status=200)),
    _b("!inner keeps the parents with a match", r_embed_inner, "PostgREST behaviours",
       expect({"rows": [{"name": "Bo", "conformance_books": [{"title": "Gamma"}]}]},
              status=200)),
    _b("two relationships are ambiguous: PGRST201", r_embed_ambiguous, "PostgREST behaviours",
       rest_code("PGRST201", 300)),
    _b("no relationship is PGRST200", r_embed_none, "PostgREST behaviours",
       rest_code("PGRST200", 400)),
    _b("a filter on an embed not selected is PGRST108", r_embed_not_selected,
       "PostgREST behaviours", rest_code("PGRST108", 400)),
    _b("/rpc answers a function's value", r_rpc_scalar, "PostgREST behaviours",
       expect({"sum": 5})),
    _b("/rpc rows take filters, select and order", r_rpc_rows, "PostgREST behaviours",
       expect({"names": [APPLE, BANANA]})),
    _b("a function's RAISE is its error", r_rpc_raise, "PostgREST behaviours",
       expect({"sdk": "APIError", "code": "P0001", "message": "refused: closed"})),
    _b("an unknown function is PGRST202", r_rpc_unknown, "PostgREST behaviours",
       rest_code("PGRST202", 404,
                 hint="Perhaps you meant to call the function public.conformance_add")),
    _b("only GET and POST reach functions", r_rpc_method, "PostgREST behaviours",
       rest_code("PGRST101", 405)),
    _b("a function called with GET runs read-only", r_rpc_read_only, "PostgREST behaviours",
       rest_code("25006", 405)),
    _b("a void function answers 204", r_rpc_void, "PostgREST behaviours",
       expect({"empty": True}, status=204)),
]  # fmt: skip

SUITE: Suite[Project] = Suite(
    service="supabase",
    twin_app="converge_twins.mock_supabase.app:create_app",
    credentials={
        "anon_key": Credential("SUPABASE_ANON_KEY", TWIN_ANON, "the project's anon key"),
        "service_role_key": Credential(
            "SUPABASE_SERVICE_ROLE_KEY", TWIN_SERVICE, "the project's service_role key"
        ),
    },
    connect=connect,
    behaviours=BEHAVIOURS,
    header_rules={
        "content-type": "media-type",
        "x-sb-error-code": "value",
        "x-supabase-api-version": "value",
        "content-range": "value",
        "preference-applied": "value",
        "proxy-status": "value",
        "location": "present",
        "x-total-count": "present",
        "link": "present",
    },
    twin_env={
        "TWIN_SEED": "conformance",
        "JWT_SECRET": TWIN_SECRET,
        "TWIN_SUPABASE_PROJECT": "converge_twins.conformance:supabase_project.yaml",
    },
    validate=validate,
)


# The operations of GoTrue's document an app like Gravix calls (issue 12's list: sign-up, the
# password and refresh grants, the user, logout, recovery, one-time codes and their
# verification, administering users, the settings), measured as their own row.
APP_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("POST", "/signup"),
    ("POST", "/token"),
    ("GET", "/user"),
    ("PUT", "/user"),
    ("POST", "/logout"),
    ("POST", "/recover"),
    ("POST", "/otp"),
    ("GET", "/verify"),
    ("POST", "/verify"),
    ("GET", "/admin/users"),
    ("GET", "/admin/users/{userId}"),
    ("PUT", "/admin/users/{userId}"),
    ("DELETE", "/admin/users/{userId}"),
    ("GET", "/settings"),
)
APP_OPERATIONS_ROW = "auth operations an app like Gravix uses"


def fidelity(urls: Mapping[str, str]) -> list[FidelityRow]:
    """The Supabase rows of the fidelity table, measured against the twin at ``urls``."""
    rows: list[FidelityRow] = []
    for measured in suite_rows(SUITE, urls["supabase"], "Supabase auth"):
        postgrest = measured.row.startswith("PostgREST")
        row = replace(measured, twin="PostgREST") if postgrest else measured
        rows.append(row)
        if row.row == "auth operations":
            names = {f"{method} {template}" for method, template in APP_OPERATIONS}
            failing = tuple(f for f in row.failures if f.partition(": ")[0] in names)
            rows.append(
                FidelityRow(
                    row.twin,
                    APP_OPERATIONS_ROW,
                    len(names) - len(failing),
                    len(names),
                    failing,
                )
            )
    return rows
