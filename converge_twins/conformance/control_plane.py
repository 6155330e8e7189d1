"""The control plane's row of the fidelity table: 27 capabilities of WireMock and LocalStack.

Each capability is probed over HTTP against running twins (mock-anthropic for most, all three
where the capability is "on every twin"), and counts when the probe sees it work. The probes
use only what a test or a scenario could send, so the same probes measure an older checkout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from converge_twins.conformance.fidelity import FidelityRow

CLAUDE = {"x-api-key": "sk-ant-conformance-twin", "anthropic-version": "2023-06-01"}
MESSAGE = {"model": "claude-haiku-4-5", "max_tokens": 32,
           "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
Probe = Callable[[Mapping[str, str]], bool]
TIMEOUT = 10.0


def _reset(url: str) -> None:
    httpx.post(f"{url}/_twin/reset", timeout=TIMEOUT)


def _ask(url: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/messages", json=MESSAGE, headers={**CLAUDE, **headers},
                      timeout=TIMEOUT)  # fmt: skip


def _journal(url: str, **params: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/_twin/journal", params=params, timeout=TIMEOUT)
    entries: list[dict[str, Any]] = answer.json().get("entries", []) if answer.is_success else []
    return entries


def _arm(url: str, spec: dict[str, Any]) -> bool:
    return httpx.post(f"{url}/_twin/faults", json=spec, timeout=TIMEOUT).status_code == 201


def health(urls: Mapping[str, str]) -> bool:
    return all(
        httpx.get(f"{u}/_twin/health", timeout=TIMEOUT).json().get("status") == "ok"
        for u in urls.values()
    )


def reset(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _ask(url)
    _reset(url)
    return _journal(url) == []


def scoped_reset(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _ask(url)
    answer = httpx.post(f"{url}/_twin/reset", json={"seed": "7"}, timeout=TIMEOUT)
    return answer.status_code == 200 and len(_journal(url)) == 1


def journal(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _ask(url)
    entries = _journal(url)
    return len(entries) == 1 and entries[0].get("body", {}).get("model") == MESSAGE["model"]


def journal_method_path(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _ask(url)
    httpx.get(f"{url}/v1/models", headers=CLAUDE, timeout=TIMEOUT)
    return len(_journal(url, method="GET", path="/v1/models")) == 1


def journal_header(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _ask(url, **{"x-probe": "yes"})
    _ask(url)
    return len(_journal(url, header="x-probe:yes")) == 1


def journal_query(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    httpx.get(f"{url}/v1/models", params={"limit": "1"}, headers=CLAUDE, timeout=TIMEOUT)
    httpx.get(f"{url}/v1/models", headers=CLAUDE, timeout=TIMEOUT)
    return len(_journal(url, query="limit=1")) == 1


def journal_body(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _ask(url)
    httpx.post(f"{url}/v1/messages", json={**MESSAGE, "max_tokens": 9}, headers=CLAUDE,
               timeout=TIMEOUT)  # fmt: skip
    found = httpx.post(f"{url}/_twin/journal/find",
                       json={"body": {"json": {"max_tokens": 9}}}, timeout=TIMEOUT)  # fmt: skip
    return found.status_code == 200 and found.json().get("count") == 1


def verify_counts(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _ask(url)
    _ask(url)
    request = {"method": "POST", "path": "/v1/messages"}
    held = httpx.post(f"{url}/_twin/journal/verify", json={"request": request, "count": 2},
                      timeout=TIMEOUT)  # fmt: skip
    missed = httpx.post(f"{url}/_twin/journal/verify", json={"request": request, "count": 3},
                        timeout=TIMEOUT)  # fmt: skip
    return held.status_code == 200 and missed.status_code == 409


def unmatched(urls: Mapping[str, str]) -> bool:
    for url in urls.values():
        _reset(url)
        httpx.post(f"{url}/v1/no-such-thing", json={}, timeout=TIMEOUT)
        answer = httpx.get(f"{url}/_twin/journal/unmatched", timeout=TIMEOUT)
        if answer.status_code != 200 or answer.json().get("count") != 1:
            return False
    return True


def bounded(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    big = {**MESSAGE, "messages": [{"role": "user", "content": "x" * 200_000}]}
    httpx.post(f"{url}/v1/messages", json=big, headers=CLAUDE, timeout=TIMEOUT)
    entries = _journal(url)
    capacity = httpx.get(f"{url}/_twin/journal", timeout=TIMEOUT).json().get("capacity")
    return bool(entries) and isinstance(entries[-1].get("body"), str) and bool(capacity)


def redacted(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _ask(url)
    return "sk-ant-conformance-twin" not in httpx.get(f"{url}/_twin/journal", timeout=TIMEOUT).text


def status_fault(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _arm(url, {"path": "/v1/messages", "status": 529})
    answer = _ask(url)
    return answer.status_code == 529 and answer.json()["error"]["type"] == "overloaded_error"


def fault_times_and_regex(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _arm(url, {"method": "POST", "path_regex": "^/v1/mess", "status": 500, "times": 2})
    return [_ask(url).status_code for _ in range(3)] == [500, 500, 200]


def fault_pattern(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _arm(url, {"request": {"headers": {"x-chaos": "on"}}, "status": 503, "times": 5})
    return _ask(url).status_code == 200 and _ask(url, **{"x-chaos": "on"}).status_code == 503


def probabilistic(urls: Mapping[str, str]) -> bool:
    def run() -> list[int]:
        url = urls["anthropic"]
        _reset(url)
        if not _arm(url, {"path": "/v1/models", "status": 500, "probability": 0.5}):
            return []
        return [httpx.get(f"{url}/v1/models", headers=CLAUDE, timeout=TIMEOUT).status_code
                for _ in range(30)]  # fmt: skip

    first = run()
    return bool(first) and set(first) == {200, 500} and run() == first


def fixed_latency(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _arm(url, {"path": "/v1/models", "latency_ms": 200})
    started = time.monotonic()
    httpx.get(f"{url}/v1/models", headers=CLAUDE, timeout=TIMEOUT)
    return time.monotonic() - started >= 0.19


def random_latency(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    if not _arm(url, {"path": "/v1/models", "latency_ms": {"min": 100, "max": 200}}):
        return False
    started = time.monotonic()
    httpx.get(f"{url}/v1/models", headers=CLAUDE, timeout=TIMEOUT)
    return time.monotonic() - started >= 0.09


def dropped(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _arm(url, {"path": "/v1/messages", "drop": True})
    try:
        _ask(url)
    except httpx.TransportError:
        return True
    return False


def malformed(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    if not _arm(url, {"path": "/v1/messages", "body_fault": "malformed"}):
        return False
    answer = _ask(url)
    try:
        answer.json()
    except ValueError:
        return answer.status_code == 200
    return False


def slow_body(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    if not _arm(url, {"path": "/v1/models", "dribble": {"chunks": 3, "total_ms": 300}}):
        return False
    started = time.monotonic()
    answer = httpx.get(f"{url}/v1/models", headers=CLAUDE, timeout=TIMEOUT)
    return answer.status_code == 200 and time.monotonic() - started >= 0.25


def stream_fault(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    if not _arm(url, {"path": "/v1/messages", "stream": {"after_events": 2, "action": "error"}}):
        return False
    with httpx.stream("POST", f"{url}/v1/messages", json={**MESSAGE, "stream": True},
                      headers=CLAUDE, timeout=TIMEOUT) as answer:  # fmt: skip
        events = [line for line in answer.iter_lines() if line.startswith("event:")]
    return events[-1:] == ["event: error"] and len(events) == 3


def retry_after(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    _arm(url, {"path": "/v1/messages", "status": 503, "retry_after": 7})
    return bool(_ask(url).headers.get("retry-after") == "7")


def stubs_everywhere(urls: Mapping[str, str]) -> bool:
    for url in urls.values():
        _reset(url)
        stub = {"request": {"method": "GET", "path": "/v9/probe"}, "response": {"json": {"ok": 1}}}
        created = httpx.post(f"{url}/_twin/stubs", json=stub, timeout=TIMEOUT)
        answer = httpx.get(f"{url}/v9/probe", timeout=TIMEOUT)
        if created.status_code != 201 or answer.status_code != 200:
            return False
    return True


def stub_templates(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    stub = {"request": {"path": "/v9/echo"},
            "response": {"json": {"who": "{{request.query.who}}"}}}  # fmt: skip
    httpx.post(f"{url}/_twin/stubs", json=stub, timeout=TIMEOUT)
    answer = httpx.get(f"{url}/v9/echo", params={"who": "ada"}, timeout=TIMEOUT)
    return answer.status_code == 200 and answer.json() == {"who": "ada"}


def snapshots(urls: Mapping[str, str]) -> bool:
    url = urls["stripe"]
    _reset(url)
    auth = {"authorization": "Bearer sk_test_probe"}
    httpx.post(f"{url}/v1/customers", data={"email": "a@example.com"}, headers=auth,
               timeout=TIMEOUT)  # fmt: skip
    taken = httpx.post(f"{url}/_twin/snapshots", json={"name": "probe"}, timeout=TIMEOUT)
    httpx.post(f"{url}/v1/customers", data={"email": "b@example.com"}, headers=auth,
               timeout=TIMEOUT)  # fmt: skip
    restored = httpx.post(f"{url}/_twin/snapshots/probe/restore", timeout=TIMEOUT)
    listed = httpx.get(f"{url}/v1/customers", headers=auth, timeout=TIMEOUT).json()
    httpx.delete(f"{url}/_twin/snapshots/probe", timeout=TIMEOUT)
    return taken.status_code == 201 and restored.status_code == 200 and (
        len(listed.get("data", [])) == 1)  # fmt: skip


def deterministic(urls: Mapping[str, str]) -> bool:
    url = urls["anthropic"]
    _reset(url)
    first = _ask(url).json().get("id")
    _reset(url)
    again = _ask(url).json().get("id")
    clock = httpx.post(f"{url}/_twin/clock", json={"set": "2030-01-01T00:00:00Z"},
                       timeout=TIMEOUT).json()  # fmt: skip
    _reset(url)
    return first == again and clock.get("frozen") is True


CAPABILITIES: list[tuple[str, Probe]] = [
    ("health and identity on every twin", health),
    ("full reset", reset),
    ("scoped reset (one run's state)", scoped_reset),
    ("request journal", journal),
    ("journal by method and path", journal_method_path),
    ("journal by header", journal_header),
    ("journal by query", journal_query),
    ("journal by body", journal_body),
    ("verify counts", verify_counts),
    ("unmatched requests listed, on every twin", unmatched),
    ("journal bounded in entries and body size", bounded),
    ("secrets never journaled", redacted),
    ("status faults in the service's own error shape", status_fault),
    ("faults by method, path, regex, times", fault_times_and_regex),
    ("faults by header, query and body", fault_pattern),
    ("probabilistic faults, seeded", probabilistic),
    ("fixed latency", fixed_latency),
    ("random latency", random_latency),
    ("dropped connection", dropped),
    ("malformed body", malformed),
    ("slow (dribbled) body", slow_body),
    ("faults inside an SSE stream", stream_fault),
    ("Retry-After injection", retry_after),
    ("generic stubs on every twin", stubs_everywhere),
    ("stub answers templated from the request", stub_templates),
    ("state snapshot and restore", snapshots),
    ("seeded ids and a controllable clock", deterministic),
]


def fidelity(urls: Mapping[str, str]) -> list[FidelityRow]:
    passed: list[str] = []
    failed: list[str] = []
    for name, probe in CAPABILITIES:
        try:
            ok = probe(urls)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            ok = False
        (passed if ok else failed).append(name)
    for url in urls.values():
        _reset(url)
    return [
        FidelityRow(
            "Control plane vs WireMock / LocalStack",
            "capabilities",
            len(passed),
            len(CAPABILITIES),
            tuple(f"{name}: not seen working" for name in failed),
        )
    ]
