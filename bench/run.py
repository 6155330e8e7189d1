"""converge's speed and scale, measured against a floor timed the same way in the same run.

    python bench/run.py [--rounds 5] [--quick] [--only throughput,startup,...]   (or: invoke bench)

Starts the benchmark API (``bench/server.py``, its own process on 127.0.0.1), writes the
scenarios into a temporary folder, times whole processes (``python -m converge run`` as a user
runs it, every file loaded and validated afresh each time) and prints a table of ratios. What it
measures:

- **throughput**: the steady-state cost per request, ``(T(400 scenarios) - T(100)) / 900``
  requests (start-up and fixed costs cancel out), with one worker, for converge and for the loops
  of ``bench/loops.py``: the floor (a default ``requests.Session``), a lean use of requests,
  urllib3 alone and a bare ``http.client``; and Tavern when it is installed
  (``--tavern-python`` names another interpreter that has it). The contestants take turns, in
  a rotating order, round after round.
- **start-up**: one scenario of one request, the whole process, against the floor's one request;
  ``converge --help`` and ``converge validate`` of one file beside them.
- **validate**: ``converge validate`` on 10,000 three-step files.
- **workers**: ``--workers 8`` against ``--workers 1`` on 200 scenarios of an API that takes
  50 ms per request, whole processes.
- **scale**: 10,000 scenarios x 3 steps in one run: peak memory, the time from the last scenario
  run to the process's end (scoring, the report and its files), and the longest time without a
  progress line on stderr.
- **stack**: the reference stack (twins and gravix-api as local processes) under ``--workers 8
  --runs 20`` on the fixture: scenario runs per second, and any step that did not get an answer.

The numbers depend on the machine; the ratios much less. It is a benchmark, not a test: nothing
here fails for being slow, only for converge failing a scenario it should pass.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable
SMALL, LARGE = 100, 400  # scenarios in the two runs whose difference is the steady state
MEASURES = ("throughput", "startup", "validate", "workers", "scale", "stack")

# The benchmark scenario: log in and capture a token, then two authenticated requests with
# status, equality, regex and contains checks (3 requests, 11 checks).
SCENARIO = """\
name: bench {n}
steps:
  - name: log in
    method: POST
    path: /login
    body: {{user: u{n}, password: bench}}
    expect:
      status: 200
    capture:
      token: response.token
  - name: read the item
    path: /items/{n}
    headers: {{Authorization: "Bearer {{{{token}}}}"}}
    expect:
      status: 200
      body_equals: {{id: {n}, owner: u{n}}}
      body_matches: {{etag: "^v-[0-9]+-[0-9]+$"}}
      body_contains: [keep-alive]
  - name: add a note
    method: POST
    path: /items/{n}/notes
    headers: {{Authorization: "Bearer {{{{token}}}}"}}
    body: {{text: note {n}}}
    expect:
      status: 201
      body_equals: {{saved: true}}
      body_matches: {{id: "^n-[0-9]+$"}}
      body_contains: ['"saved"']
"""

STARTUP_SCENARIO = """\
name: start-up
steps:
  - path: /items/0
    expect:
      status: 200
"""

TAVERN_TEST = """\
test_name: bench {n}
stages:
  - name: log in
    request:
      url: {url}/login
      method: POST
      json: {{user: u{n}, password: bench}}
    response:
      status_code: 200
      save:
        json:
          token: token
  - name: read the item
    request:
      url: {url}/items/{n}
      method: GET
      headers: {{Authorization: "Bearer {{token}}"}}
    response:
      status_code: 200
      strict: false
      json: {{id: {n}, owner: u{n}}}
  - name: add a note
    request:
      url: {url}/items/{n}/notes
      method: POST
      headers: {{Authorization: "Bearer {{token}}"}}
      json: {{text: note {n}}}
    response:
      status_code: 201
      strict: false
      json: {{saved: true}}
"""


# --- processes ------------------------------------------------------------------------------


class BenchError(Exception):
    """A contestant failed: the measure would mean nothing."""


@dataclass
class Finished:
    seconds: float
    peak_rss_mb: float
    ended: float  # time.time() when the process was reaped
    stderr: list[tuple[float, str]] = field(default_factory=list)  # (seconds from start, line)


# Where the timed processes keep their bytecode: an installed converge has its .pyc files, so
# every contestant runs from bytecode (a shell that sets PYTHONDONTWRITEBYTECODE would have
# converge's own modules compiled afresh in each process, and nothing of the loops'). The
# bench's temporary folder, so the checkout is left as it was; warmed up before timing.
PYCACHE: list[Path] = []


def timed(argv: Sequence[str], *, cwd: Path | None = None, ok: Sequence[int] = (0,)) -> Finished:
    """Run one process to its end: wall time, its own peak RSS, its stderr lines as they came."""
    env = {
        k: v for k, v in os.environ.items()
        if k not in ("API_URL", "FORCE_COLOR", "PYTHONDONTWRITEBYTECODE")
    }
    env["NO_COLOR"] = "1"
    if PYCACHE:
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE[0])
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, errors="replace",
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append((time.perf_counter() - started, line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # os.wait4, not Popen.wait: the rusage of this one child is its own peak memory.
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    ended = time.time()
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=10)
    if process.returncode not in ok:
        tail = "\n".join(line for _, line in lines[-15:])
        raise BenchError(f"{' '.join(argv[:4])}... exited {process.returncode}:\n{tail}")
    return Finished(seconds, usage.ru_maxrss / 1024, ended, lines)


@contextmanager
def bench_server() -> Iterator[str]:
    """The benchmark API in its own process; its base URL."""
    server = subprocess.Popen(
        [PYTHON, str(BENCH / "server.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        assert server.stdin is not None
        server.stdin.close()  # the server's signal to stop
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def converge(*arguments: str) -> list[str]:
    return [PYTHON, "-m", "converge", *arguments]


def converge_run(folder: Path, url: str, report: Path, *more: str) -> list[str]:
    return converge(
        "run", "--scenarios-dir", str(folder), "--api-url", url, "--report-file", str(report),
        "--color", "never", *more,
    )


def loop(kind: str, url: str, count: int, *more: str) -> list[str]:
    return [PYTHON, str(BENCH / "loops.py"), kind, url, str(count), *more]


# --- scenarios ------------------------------------------------------------------------------


def write_scenarios(folder: Path, count: int) -> Path:
    tier = folder / "critical"
    tier.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (tier / f"s{n:05d}.yaml").write_text(SCENARIO.format(n=n), encoding="utf-8")
    return folder


def write_tavern(folder: Path, count: int, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"test_s{n:05d}.tavern.yaml").write_text(
            TAVERN_TEST.format(n=n, url=url), encoding="utf-8"
        )
    return folder


# --- the measures ---------------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    value: str
    ratio: str = ""
    target: str = ""


@dataclass
class Results:
    throughput: list[list[str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def tavern_python(given: str | None) -> str | None:
    """An interpreter that can run Tavern, or None (Tavern is not one of converge's
    dependencies: install it anywhere and name that interpreter with --tavern-python)."""
    candidate = given or PYTHON
    probe = subprocess.run(
        [candidate, "-c", "import tavern"], capture_output=True, check=False
    )
    return candidate if probe.returncode == 0 else None


def warm_up(url: str, tmp: Path) -> None:
    """Each kind of process once, untimed: bytecode written, files in the page cache."""
    folder = write_scenarios(tmp / "warm-up", 2)
    scenario = folder / "critical" / "s00000.yaml"
    timed(converge("--help"))
    timed(converge("validate", str(scenario)))
    timed(converge_run(folder, url, tmp / "warm-up.json", "--workers", "1"))
    for kind in ("requests", "lean", "urllib3", "httpclient"):
        timed(loop(kind, url, 2))


def measure_throughput(
    url: str, tmp: Path, rounds: int, *, tavern: str | None, results: Results, say: Say
) -> None:
    folders = {n: write_scenarios(tmp / f"throughput-{n}", n) for n in (SMALL, LARGE)}
    report = tmp / "throughput.json"
    contestants: dict[str, Callable[[int], list[str]]] = {
        "converge run --workers 1": lambda n: converge_run(
            folders[n], url, report, "--workers", "1"
        ),
        "requests.Session (floor)": lambda n: loop("requests", url, n),
        "lean requests (adapter.send)": lambda n: loop("lean", url, n),
        "urllib3 connection pool": lambda n: loop("urllib3", url, n),
        "http.client keep-alive": lambda n: loop("httpclient", url, n),
    }
    if tavern is not None:
        tavern_folders = {n: write_tavern(tmp / f"tavern-{n}", n, url) for n in (SMALL, LARGE)}
        contestants["Tavern"] = lambda n: [
            tavern, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tavern_folders[n]),
        ]
    else:
        results.notes.append("Tavern: not installed (pip install tavern elsewhere, then "
                             "--tavern-python PATH), so not measured")
    names = list(contestants)
    marginal: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        order = names[round_number % len(names):] + names[: round_number % len(names)]
        times: dict[tuple[str, int], float] = {}
        for size in (SMALL, LARGE):
            for name in order:
                times[name, size] = timed(contestants[name](size)).seconds
        for name in names:
            requests_made = 3 * (LARGE - SMALL)
            marginal[name].append((times[name, LARGE] - times[name, SMALL]) / requests_made)
        say(f"throughput: round {round_number + 1}/{rounds}")
    floors = marginal["requests.Session (floor)"]
    floor = statistics.median(floors)
    for name in names:
        cost = statistics.median(marginal[name])
        # Each round's ratio against the floor timed in that same round: a busy spell of the
        # machine lands on both sides of it, where it would shift one median and not the other.
        paired = statistics.median(f / c for f, c in zip(floors, marginal[name], strict=True))
        results.throughput.append([
            name, f"{cost * 1000:.3f}", f"{1 / cost:,.0f}", f"{floor / cost:.2f}",
            f"{paired:.2f}",
            f"{min(marginal[name]) * 1000:.3f}-{max(marginal[name]) * 1000:.3f}",
        ])


def measure_startup(url: str, tmp: Path, rounds: int, results: Results, say: Say) -> None:
    folder = tmp / "startup"
    (folder / "critical").mkdir(parents=True)
    scenario = folder / "critical" / "startup.yaml"
    scenario.write_text(STARTUP_SCENARIO, encoding="utf-8")
    report = tmp / "startup.json"
    commands = {
        "converge run (1 request)": converge_run(folder, url, report, "--workers", "1"),
        "floor (1 request)": loop("requests", url, 1, "--startup"),
        "converge --help": converge("--help"),
        "converge validate (1 file)": converge("validate", str(scenario)),
        "python (nothing)": [PYTHON, "-c", "pass"],
    }
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for round_number in range(rounds * 2):  # short processes: more rounds for a stable median
        order = names[round_number % len(names):] + names[: round_number % len(names)]
        for name in order:
            seconds[name].append(timed(commands[name]).seconds)
    say("start-up: done")
    floor = statistics.median(seconds["floor (1 request)"])
    for name in names:
        value = statistics.median(seconds[name])
        target = "<= 2.00" if name == "converge run (1 request)" else ""
        results.rows.append(Row(
            f"start-up: {name}", f"{value * 1000:.0f} ms", f"{value / floor:.2f} x floor", target
        ))


def measure_validate(tmp: Path, files: int, rounds: int, results: Results, say: Say) -> Path:
    folder = write_scenarios(tmp / "many", files)
    runs = [timed(converge("validate", str(folder))).seconds for _ in range(max(1, rounds))]
    say("validate: done")
    value = statistics.median(runs)
    results.rows.append(Row(
        f"validate {files:,} three-step files", f"{value:.2f} s",
        f"{value / files * 1e6:.0f} us per file", "< 5 s for 10,000",
    ))
    return folder


def measure_workers(
    url: str, tmp: Path, scenarios: int, *, rounds: int, results: Results, say: Say
) -> None:
    folder = write_scenarios(tmp / "workers", scenarios)
    report = tmp / "workers.json"
    slow = f"{url}/slow"
    counts = ("1", "8", "default")
    seconds: dict[str, list[float]] = {count: [] for count in counts}
    for _ in range(rounds):
        for count in counts:
            more = () if count == "default" else ("--workers", count)
            seconds[count].append(timed(converge_run(folder, slow, report, *more)).seconds)
    say("workers: done")
    one, eight, default = (statistics.median(seconds[count]) for count in counts)
    results.rows.append(Row(
        f"--workers 8 vs 1, {scenarios} scenarios, 50 ms API", f"{one:.1f} s vs {eight:.1f} s",
        f"{one / eight:.2f}x", ">= 7x",
    ))
    results.rows.append(Row(
        "  ...the default worker count vs 1", f"{default:.1f} s", f"{one / default:.2f}x", "",
    ))


def measure_scale(
    url: str, folder: Path, files: int, tmp: Path, *, results: Results, say: Say
) -> None:
    report = tmp / "scale.json"
    finished = timed(converge_run(folder, url, report))
    say("scale: done")
    document = json.loads(report.read_text(encoding="utf-8"))
    runs_ended = datetime.fromisoformat(document["finished_at"]).timestamp()
    progress = [
        at for at, line in finished.stderr
        if "scenario runs" in line or "scenario files read" in line
    ]
    marks = [0.0, *progress, finished.seconds]
    silence = max(later - earlier for earlier, later in itertools.pairwise(marks))
    results.rows.append(Row(
        f"{files:,} scenarios x 3 steps, one run: peak memory", f"{finished.peak_rss_mb:.0f} MB",
        "", "< 400 MB",
    ))
    results.rows.append(Row(
        "  ...from the last scenario run to the end (report written)",
        f"{finished.ended - runs_ended:.2f} s", "", "< 2 s",
    ))
    results.rows.append(Row(
        "  ...longest time without a progress line", f"{silence:.1f} s",
        f"{len(progress)} lines in {finished.seconds:.0f} s", "",
    ))


def measure_stack(tmp: Path, results: Results, say: Say) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from converge import twins
    except ImportError as error:  # pragma: no cover - a broken checkout
        results.notes.append(f"stack: not measured ({error})")
        return
    config = twins.TwinsConfig(backend="process", state_dir=tmp / "state")
    try:
        backend = twins.select_backend(config, lambda _message: None)
        with twins.running(backend) as statuses:
            api = next(s.url for s in statuses if s.name == twins.API_SERVICE and s.url)
            resets = [
                argument
                for s in statuses if s.name != twins.API_SERVICE and s.url
                for argument in ("--twin-url", s.url)
            ]
            report = tmp / "stack.json"
            finished = timed(converge_run(
                ROOT / "holdouts-fixture", api, report, "--workers", "8", "--runs", "20", *resets
            ), ok=(0, 1))
    except Exception as error:  # a missing extra or a port in use: say so, and go on
        results.notes.append(f"stack: not measured ({type(error).__name__}: {error})")
        return
    say("stack: done")
    document = json.loads(report.read_text(encoding="utf-8"))
    runs = sum(len(s["runs"]) for s in document["scenarios"])
    unanswered = sum(
        1 for s in document["scenarios"] for run in s["runs"] for step in run["steps"]
        if step["error"] is not None
    )
    seconds = document["duration_ms"] / 1000
    results.rows.append(Row(
        "reference stack (process), --workers 8 --runs 20",
        f"{runs / seconds:.0f} scenario runs/s",
        f"{runs} runs, {unanswered} steps unanswered, exit {document['exit_code']}",
        "no errors",
    ))
    _ = finished


Say = Callable[[str], None]


def machine() -> str:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load} at the start"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the throughput measure")
    parser.add_argument("--only", default=",".join(MEASURES),
                        help=f"comma-separated measures among {', '.join(MEASURES)}")
    parser.add_argument("--files", type=int, default=10_000,
                        help="files for validate and the scale run (default 10000)")
    parser.add_argument("--scaling", type=int, default=200,
                        help="scenarios of the worker-scaling measure (default 200)")
    parser.add_argument("--quick", action="store_true",
                        help="a smaller run to try the bench: 2 rounds, 1000 files, 40 scenarios")
    parser.add_argument("--tavern-python", help="an interpreter with Tavern installed")
    arguments = parser.parse_args(argv)
    only = [name.strip() for name in arguments.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(MEASURES))
    if unknown:
        parser.error(f"unknown measure(s): {', '.join(unknown)}")
    rounds = max(1, min(arguments.rounds, 50))  # bounded loops
    files = max(10, min(arguments.files, 100_000))
    scaling = max(8, min(arguments.scaling, 10_000))
    if arguments.quick:
        rounds, files, scaling = 2, 1000, 40

    def say(message: str) -> None:
        print(f"bench: {message}", file=sys.stderr, flush=True)

    say(machine())
    results = Results()
    with tempfile.TemporaryDirectory(prefix="converge-bench-") as name, bench_server() as url:
        tmp = Path(name)
        PYCACHE.append(tmp / "pycache")
        warm_up(url, tmp)
        if "throughput" in only:
            measure_throughput(url, tmp, rounds, tavern=tavern_python(arguments.tavern_python),
                               results=results, say=say)
        if "startup" in only:
            measure_startup(url, tmp, rounds, results, say)
        many: Path | None = None
        if "validate" in only:
            many = measure_validate(tmp, files, 2, results, say)
        if "workers" in only:
            measure_workers(url, tmp, scaling, rounds=min(rounds, 3), results=results, say=say)
        if "scale" in only:
            if many is None:
                many = write_scenarios(tmp / "many", files)
            measure_scale(url, many, files, tmp, results=results, say=say)
        if "stack" in only:
            measure_stack(tmp, results, say)
    print(f"machine: {machine()}")
    if results.throughput:
        print(f"\nSteady-state cost per request, one worker: (T({LARGE} scenarios) - "
              f"T({SMALL})) / {3 * (LARGE - SMALL)} requests, whole processes, median of "
              f"{rounds} rounds")
        print(tabulate(
            results.throughput,
            headers=["client", "ms/request", "requests/s", "throughput vs floor",
                     "per round (median)", "range (ms)"],
            tablefmt="github", disable_numparse=True,
        ))
    if results.rows:
        print()
        print(tabulate(
            [[r.measure, r.value, r.ratio, r.target] for r in results.rows],
            headers=["measure", "value", "ratio", "target"], tablefmt="github",
            disable_numparse=True,
        ))
    for note in results.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        raise SystemExit(2) from None
