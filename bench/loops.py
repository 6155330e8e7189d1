"""The loops converge is compared with: the benchmark scenario's requests with nothing around them.

Each loop sends, for scenarios 0..N-1, the three requests of the benchmark scenario (log in and
read the token from the answer, read an item, add a note; see ``bench/run.py``) on one keep-alive
connection and reads every body whole, as a run must. They check nothing: they are what the
requests cost, not what a test costs.

- ``requests``: a default :class:`requests.Session`, as anyone would write it. **The floor**
  converge's throughput and start-up are measured against.
- ``lean``: requests without its session layer: requests prepared once each and sent through
  one ``HTTPAdapter`` (no environment lookups, no cookie or redirect machinery).
- ``urllib3``: urllib3 (which requests is built on) alone, through one connection pool: what
  converge's requests would cost if it sent through urllib3 itself, for the hot path.
- ``httpclient``: the standard library's ``http.client``: the bare cost of HTTP in Python.

With ``--startup`` a loop sends one request only: what starting a client costs.

    python bench/loops.py requests|lean|urllib3|httpclient URL N [--startup]

Each loop imports only what it uses, since the whole process is timed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

TIMEOUT = 10.0


def requests_loop(url: str, scenarios: int) -> None:
    import requests

    with requests.Session() as session:
        for n in range(scenarios):
            login = session.post(
                f"{url}/login", json={"user": f"u{n}", "password": "bench"},
                timeout=TIMEOUT, allow_redirects=False,
            )
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            # Each body is read whole, as a run reads it.
            _ = session.get(
                f"{url}/items/{n}", headers=auth, timeout=TIMEOUT, allow_redirects=False
            ).content
            _ = session.post(
                f"{url}/items/{n}/notes", headers=auth, json={"text": f"note {n}"},
                timeout=TIMEOUT, allow_redirects=False,
            ).content


def lean_loop(url: str, scenarios: int) -> None:
    import requests
    from requests.adapters import HTTPAdapter

    adapter = HTTPAdapter()
    try:
        def send(method: str, path: str, **kwargs: object) -> requests.Response:
            prepared = requests.Request(method, url + path, **kwargs).prepare()  # type: ignore[arg-type]
            response = adapter.send(prepared, timeout=TIMEOUT)
            response.content  # noqa: B018
            return response

        for n in range(scenarios):
            login = send("POST", "/login", json={"user": f"u{n}", "password": "bench"})
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            send("GET", f"/items/{n}", headers=auth)
            send("POST", f"/items/{n}/notes", headers=auth, json={"text": f"note {n}"})
    finally:
        adapter.close()


Send = Callable[[str, str, dict[str, str], object], bytes]


def _scenarios(send: Send, scenarios: int) -> None:
    """The benchmark scenario's three requests, for scenarios 0..N-1, through ``send(method,
    path, headers, json_body_or_None)``, which returns the whole body."""
    import json

    for n in range(scenarios):
        login = send("POST", "/login", {}, {"user": f"u{n}", "password": "bench"})
        auth = {"Authorization": f"Bearer {json.loads(login)['token']}"}
        send("GET", f"/items/{n}", auth, None)
        send("POST", f"/items/{n}/notes", auth, {"text": f"note {n}"})


def urllib3_loop(url: str, scenarios: int) -> None:
    import json
    from urllib.parse import urlsplit

    import urllib3

    parts = urlsplit(url)
    base = parts.path.rstrip("/")
    # As a runner would send: no retries, no redirects followed, a timeout, bodies read whole.
    pool = urllib3.HTTPConnectionPool(
        parts.hostname or "", parts.port, maxsize=1, retries=False, timeout=TIMEOUT
    )
    try:
        def send(method: str, path: str, headers: dict[str, str], body: object = None) -> bytes:
            data = None if body is None else json.dumps(body).encode()
            if data is not None:
                headers = {**headers, "Content-Type": "application/json"}
            response = pool.urlopen(
                method, base + path, body=data, headers=headers, redirect=False,
                preload_content=True,
            )
            return bytes(response.data)

        _scenarios(send, scenarios)
    finally:
        pool.close()


def httpclient_loop(url: str, scenarios: int) -> None:
    import http.client
    import json
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT)
    base = parts.path.rstrip("/")
    try:
        def send(method: str, path: str, headers: dict[str, str], body: object = None) -> bytes:
            data = None if body is None else json.dumps(body).encode()
            if data is not None:
                headers = {**headers, "Content-Type": "application/json"}
            connection.request(method, base + path, body=data, headers=headers)
            return connection.getresponse().read()

        _scenarios(send, scenarios)
    finally:
        connection.close()


def startup(kind: str, url: str) -> None:
    """One request: what it costs to start the client and send the first request."""
    if kind == "httpclient":
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT)
        connection.request("GET", parts.path.rstrip("/") + "/items/0")
        connection.getresponse().read()
        connection.close()
        return
    import requests

    with requests.Session() as session:
        session.get(f"{url}/items/0", timeout=TIMEOUT, allow_redirects=False).content  # noqa: B018


LOOPS = {
    "requests": requests_loop,
    "lean": lean_loop,
    "urllib3": urllib3_loop,
    "httpclient": httpclient_loop,
}


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] not in LOOPS:
        sys.exit("usage: python bench/loops.py requests|lean|urllib3|httpclient URL N [--startup]")
    kind, url, count = argv[0], argv[1], min(int(argv[2]), 100_000)  # a bounded loop
    if "--startup" in argv[3:]:
        startup(kind, url)
    else:
        LOOPS[kind](url, count)


if __name__ == "__main__":
    main(sys.argv[1:])
