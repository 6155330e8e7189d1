"""A step's request, built from its compiled parts and one run's variables.

Everything here was compiled when the scenario was loaded; building a request renders the
templates and encodes what they gave: the path (each template's value percent-encoded), the query
string, the Authorization header of ``auth``, and the body as JSON, a urlencoded form or text.
The runner sends what :func:`build` returns; the origin check stays in the runner.

Decisions where the scenario format is silent (the README repeats them):

- ``query`` and ``form`` values are written as text the way templates write them (``true``,
  ``3``, JSON text for objects); ``null`` leaves the key out and a list repeats it, skipping its
  nulls. The query string encodes a space as ``%20`` (read the same by every server; ``+`` is
  not, outside forms); a form encodes it as ``+``, as HTML forms do.
- ``query`` adds to a query string the path already has (``&``), before a fragment the path
  may end with (a fragment is never sent).
- A ``path`` that is exactly one template must render a path starting with ``/`` (but not
  ``//``, a link to another host), or an absolute URL under the API's base URL (a ``next`` link
  as many APIs give it), which is taken as the path after that base URL.
- ``auth: basic`` encodes ``username:password`` as UTF-8 (RFC 7617); a username holding ``:``
  cannot be sent.
- A form or text body gets a Content-Type unless the step's headers set one (in any case).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

from converge.model import Auth, Step
from converge.template import is_whole_template, text_of

FORM_TYPE = "application/x-www-form-urlencoded"
TEXT_TYPE = "text/plain; charset=utf-8"


class NotSent(ValueError):
    """The request cannot be built from these values; the message says why, in the user's terms."""


@dataclass(frozen=True)
class Outgoing:
    """What to send: ``path`` (with its query string) goes through the runner's origin check."""

    path: str
    headers: dict[str, str]
    json: Any = None  # a JSON body, serialised by the HTTP client as before (None: not JSON)
    data: bytes | None = None  # a form or text body, already encoded
    secrets: tuple[str, ...] = ()  # credentials this request carries beyond its headers


def build(step: Step, variables: Mapping[str, Any], base_url: str) -> Outgoing:
    """The request of ``step`` with ``variables``; :class:`NotSent` or
    :class:`~converge.template.UndefinedVariable` when it cannot be built."""
    path = text_of(step.path.render(variables))
    if is_whole_template(step.path.source):
        path = _link_path(path, base_url)
    if step.query is not None:
        query = urlencode(_pairs(step.query.render(variables)), quote_via=quote)
        if query:
            path = _with_query(path, query)
    headers = {
        str(name): text_of(value)
        for name, value in (step.headers.render(variables) or {}).items()
        if value is not None
    }
    secrets: tuple[str, ...] = ()
    if step.auth is not None:
        headers["Authorization"], secrets = _authorization(step.auth, variables)
    if step.body is None:
        return Outgoing(path, headers, secrets=secrets)
    rendered = step.body.render(variables)
    if step.body_kind == "json":
        return Outgoing(path, headers, json=rendered, secrets=secrets)
    if step.body_kind == "form":
        data = urlencode(_pairs(rendered), quote_via=quote_plus).encode("ascii")
        content_type = FORM_TYPE
    else:
        data = text_of(rendered).encode("utf-8")
        content_type = TEXT_TYPE
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = content_type
    return Outgoing(path, headers, data=data, secrets=secrets)


def _with_query(path: str, query: str) -> str:
    """``path`` with ``query`` added to its query string, before any fragment (a fragment is
    never sent, and a query after it would not be either)."""
    before, hash_sign, fragment = path.partition("#")
    separator = "" if before.endswith(("?", "&")) else "&" if "?" in before else "?"
    return before + separator + query + hash_sign + fragment


def _link_path(value: str, base_url: str) -> str:
    if value.startswith("//"):
        raise NotSent(
            f"the path is the value {value!r}, a link to another host (//host/...), "
            "not a path of the API"
        )
    if value.startswith("/"):
        return value
    if value.startswith(base_url) and value[len(base_url) : len(base_url) + 1] in ("/", "?"):
        rest = value[len(base_url) :]
        return rest if rest.startswith("/") else "/" + rest
    raise NotSent(
        f"the path is the value {value!r}, which is neither a path starting with '/' nor a URL "
        f"under the API's {base_url}"
    )


def _pairs(mapping: Any) -> list[tuple[str, str]]:
    """(name, text) pairs of a query or form mapping: null leaves a key out, a list repeats it."""
    pairs: list[tuple[str, str]] = []
    if not isinstance(mapping, dict):
        raise NotSent(f"expected a mapping of names to values, got {text_of(mapping)!r}")
    for name, value in mapping.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((str(name), text_of(item)))
    return pairs


def _authorization(auth: Auth, variables: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    credentials = auth.credentials.render(variables)
    if auth.scheme == "bearer":
        return f"Bearer {text_of(credentials)}", ()
    username = text_of(credentials["username"])
    password = text_of(credentials["password"])
    if ":" in username:
        raise NotSent("auth.basic.username holds ':', which Basic authentication cannot carry")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}", (password,)
