"""How much does converge's runner cost over the floor of a raw ``requests.Session`` loop?

Both sides send the same requests (same methods, paths, headers and JSON bodies) to the same
local HTTP server on 127.0.0.1, in the same process, one connection each, alternating rounds so
that neither gets a warmer machine. The result is a ratio (runner time / raw time), not an
absolute time: absolute times depend on the machine, the ratio on converge.

    python bench/bench_runner.py [--scenarios 20] [--steps 5] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from converge.runner import RunnerConfig, new_session, run_all
from converge.scenario import load_dir
from converge.tokens import DEFAULT_JWT_SECRET, builtin_variables
from tests.support.servers import Reply, TestServer

STEP = """\
  - name: step {i}
    method: POST
    path: /v1/items/{i}?scenario={n}
    headers: {{Authorization: "Bearer {{{{free_user_token}}}}", X-Trace: "s{n}-{i}"}}
    body: {{index: {i}, tags: [a, b], nested: {{ok: true}}}}
    expect:
      status: 200
      body_contains: ['"ok"']
      body_equals: {{ok: true, items.0.id: "x-1"}}
      body_matches: {{items.1.id: "^x-\\\\d+$"}}
    capture:
      first: response.items.0.id
"""


def write_scenarios(root: Path, scenarios: int, steps: int) -> None:
    folder = root / "critical"
    folder.mkdir(parents=True)
    for n in range(scenarios):
        body = "".join(STEP.format(i=i, n=n) for i in range(steps))
        (folder / f"s{n}.yaml").write_text(f"name: bench {n}\nsteps:\n{body}")


def raw_loop(session: requests.Session, base: str, scenarios: int, steps: int) -> None:
    """The floor: the same requests with nothing around them but reading the body."""
    token = builtin_variables(DEFAULT_JWT_SECRET, base, "raw")["free_user_token"]
    for n in range(scenarios):
        for i in range(steps):
            response = session.post(
                f"{base}/v1/items/{i}?scenario={n}",
                headers={"Authorization": f"Bearer {token}", "X-Trace": f"s{n}-{i}"},
                json={"index": i, "tags": ["a", "b"], "nested": {"ok": True}},
                timeout=10,
                allow_redirects=False,
            )
            response.content  # noqa: B018 (read the body, as the runner does)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    scenarios_n, steps_n, rounds = (
        min(args.scenarios, 500), min(args.steps, 50), min(args.rounds, 50)  # bounded loops
    )

    server = TestServer()
    payload = {"ok": True, "items": [{"id": "x-1"}, {"id": "x-2"}], "count": 2}
    for i in range(steps_n):
        server.route("POST", f"/v1/items/{i}", Reply(json=payload))
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            write_scenarios(Path(tmp), scenarios_n, steps_n)
            scenarios = load_dir(Path(tmp))
            config = RunnerConfig(api_url=server.url, workers=1)
            ratios, runner_times, raw_times = [], [], []
            for _ in range(rounds):
                server.requests.clear()
                started = time.perf_counter()
                results = run_all(scenarios, config)
                runner_time = time.perf_counter() - started
                assert all(runs[0].all_passed for runs in results), "bench scenarios must pass"
                server.requests.clear()
                with new_session() as session:
                    started = time.perf_counter()
                    raw_loop(session, server.url, scenarios_n, steps_n)
                    raw_time = time.perf_counter() - started
                runner_times.append(runner_time)
                raw_times.append(raw_time)
                ratios.append(runner_time / raw_time)
    finally:
        server.stop()

    requests_n = scenarios_n * steps_n
    runner_median, raw_median = statistics.median(runner_times), statistics.median(raw_times)
    overhead_us = (runner_median - raw_median) / requests_n * 1e6
    print(f"requests per round: {requests_n} ({scenarios_n} scenarios x {steps_n} steps), "
          f"{rounds} rounds, 127.0.0.1")
    print(f"raw requests.Session: {raw_median * 1000:.1f} ms per round (median)")
    print(f"converge runner:      {runner_median * 1000:.1f} ms per round (median)")
    print(f"ratio runner/raw:     {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}); "
          f"overhead ~{overhead_us:.0f} us per request")


if __name__ == "__main__":
    main()
