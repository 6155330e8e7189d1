"""How much does converge's runner cost over the floor of a raw ``requests.Session`` loop?

Both sides send the same requests (same methods, paths, headers and JSON bodies) to the same
local HTTP server on 127.0.0.1, in the same process, one connection each, alternating rounds (and
which side goes first) so that neither gets a warmer machine. The result is a ratio (converge time
/ raw time), not an absolute time: absolute times depend on the machine, the ratio on converge.

Two modes: ``runner`` times :func:`converge.runner.run_all` on scenarios loaded beforehand (the
per-request path); ``engine`` times the whole :func:`converge.engine.execute` of ``converge run``
(loading and validating every file, running, scoring, building and redacting the report, the
table, and writing the JSON, Markdown and JUnit files).

    python bench/bench_runner.py [--mode both] [--scenarios 20] [--steps 5] [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from converge.engine import RunOptions, execute
from converge.runner import RunnerConfig, run_all
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
    parser.add_argument("--mode", choices=("runner", "engine", "both"), default="both")
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    scenarios_n, steps_n, rounds = (
        min(args.scenarios, 500), min(args.steps, 50), min(args.rounds, 50)  # bounded loops
    )
    modes = ("runner", "engine") if args.mode == "both" else (args.mode,)

    server = TestServer()
    payload = {"ok": True, "items": [{"id": "x-1"}, {"id": "x-2"}], "count": 2}
    for i in range(steps_n):
        server.route("POST", f"/v1/items/{i}", Reply(json=payload))
    server.start()
    measured: dict[str, tuple[list[float], list[float]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp, "scenarios")
            write_scenarios(root, scenarios_n, steps_n)
            scenarios = load_dir(root)
            config = RunnerConfig(api_url=server.url, workers=1)
            options = RunOptions(
                scenarios_dir=root,
                api_url=server.url,
                workers=1,
                report_file=Path(tmp, "out", "report.json"),
                markdown_file=Path(tmp, "out", "report.md"),
                junit_file=Path(tmp, "out", "report.xml"),
            )

            def converge_side(mode: str) -> float:
                server.requests.clear()
                started = time.perf_counter()
                if mode == "runner":
                    results = run_all(scenarios, config)
                    elapsed = time.perf_counter() - started
                    assert all(runs[0].all_passed for runs in results), "bench scenarios must pass"
                else:
                    code = execute(options, io.StringIO(), io.StringIO())
                    elapsed = time.perf_counter() - started
                    assert code == 0, "bench scenarios must pass"
                return elapsed

            def raw_side() -> float:
                server.requests.clear()
                with requests.Session() as session:
                    session.trust_env = False  # as converge: nothing from the environment
                    started = time.perf_counter()
                    raw_loop(session, server.url, scenarios_n, steps_n)
                    return time.perf_counter() - started

            for mode in modes:
                converge_times: list[float] = []
                raw_times: list[float] = []
                for round_number in range(rounds):
                    if round_number % 2:
                        raw_times.append(raw_side())
                        converge_times.append(converge_side(mode))
                    else:
                        converge_times.append(converge_side(mode))
                        raw_times.append(raw_side())
                measured[mode] = (converge_times, raw_times)
    finally:
        server.stop()

    print_ratios(measured, scenarios_n, steps_n, rounds)


def print_ratios(
    measured: dict[str, tuple[list[float], list[float]]], scenarios: int, steps: int, rounds: int
) -> None:
    requests_n = scenarios * steps
    print(f"requests per round: {requests_n} ({scenarios} scenarios x {steps} steps), "
          f"{rounds} rounds, 127.0.0.1")
    for mode, (converge_times, raw_times) in measured.items():
        ratios = [c / r for c, r in zip(converge_times, raw_times, strict=True)]
        converge_median = statistics.median(converge_times)
        raw_median = statistics.median(raw_times)
        overhead_us = (converge_median - raw_median) / requests_n * 1e6
        label = "converge runner:" if mode == "runner" else "engine.execute:"
        print(f"[{mode}] raw requests.Session: {raw_median * 1000:.1f} ms per round (median)")
        print(f"[{mode}] {label:21s} {converge_median * 1000:.1f} ms per round (median)")
        print(f"[{mode}] ratio {mode}/raw:{' ' * (13 - len(mode))}{statistics.median(ratios):.2f} "
              f"(min {min(ratios):.2f}, max {max(ratios):.2f}); "
              f"overhead ~{overhead_us:.0f} us per request")

if __name__ == "__main__":
    main()
