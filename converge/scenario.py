"""Scenario files in, validated :class:`~converge.model.Scenario` objects out.

Each file is read once, parsed once (``yaml.compose`` keeps every node's line; the same nodes are
then constructed into plain values), validated once against ``schemas/scenario.schema.json`` and
then checked for what a schema cannot say: tier folders, regexes, field paths, templates and the
order in which variables are captured. Every problem of every file is collected and raised
together as one :class:`~converge.errors.ScenarioError`, each located as
``file:LINE: $.pointer: message``; nothing else escapes for bad input.

The stages live in their own modules: :mod:`converge._yaml` (YAML 1.2 reading and the node
inspection), the schema (here), :mod:`converge._rules` (what the schema cannot say) and
:mod:`converge._build` (the model, from values that passed all of it).

Decisions where the contract is silent (documented here so the README can repeat them):

- Files and folders whose name starts with "." are skipped (a git checkout's ``.github/`` holds
  ``*.yml`` files that are not scenarios).
- The tier folder is the first folder under the scenarios directory; a directory that is itself
  named after a tier (``converge validate holdouts/critical``) names the tier of its files.
- A variable captured by a step is available to the *later* steps only, not to the same step's
  request nor to its expectations: the capture happens after the checks are judged.
- Scalars follow YAML 1.2: only ``true``/``false`` are booleans (``country: NO`` stays text), dates
  stay text, ``010`` is ten and ``1:30`` is text. Values must be plain JSON: other YAML tags,
  non-text keys, ``.nan``/``.inf`` and recursive aliases are reported.
- ``body: null`` sends no body. A step without a name is named "METHOD path".
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import re
import signal
import stat
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import Node

from converge import _gc, _schemas, interrupt
from converge._build import Builder
from converge._compiled_schema import Predicate, compile_schema
from converge._rules import Rules
from converge._schema_errors import PathSegments, describe, kind_of
from converge._yaml import Loader, NodeInspector, construct_plain, line_of
from converge.errors import ConvergeError, NoScenariosError, Problem, ScenarioError
from converge.model import DEFAULT_TIMEOUT, TIERS, Priority, Scenario

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 1_000_000  # a long scenario is a few kB; 13 MB took 6 s and 400 MB to refuse
# Levels of nesting in a value. Templates, checks and the report walk values recursively, so a
# deeper body would end the run in a RecursionError instead of a located problem.
MAX_DEPTH = 100
# From this many files, `converge validate` checks them in worker processes, one per core (at
# most MAX_PROCESSES): below it, starting the workers costs more than they save.
PARALLEL_FILES = 400
MAX_PROCESSES = 8
# From this many files, `converge run` reads them in worker processes while the first scenarios
# already run (:func:`streamed`). A forked reader costs a few milliseconds; reading a file,
# most of one millisecond.
STREAM_FILES = 32
FIRST_CHUNK, LAST_CHUNK = 4, 64  # files per message from a reading process
ORPHAN_CHECK_SECONDS = 0.2  # how often a worker process looks whether converge is still there

# --- the schema -----------------------------------------------------------------------------


@cache
def _schema() -> dict[str, Any]:
    # Once per process: loading a thousand files must not re-read the schema each time.
    schema = _schemas.load(_schemas.SCENARIO)
    inlined: dict[str, Any] = _inline_refs(schema, schema.get("$defs", {}))
    return inlined


@cache
def _compiled() -> Predicate | None:
    """The schema as one Python predicate: a valid file (nearly every file) is judged without
    jsonschema's walk, which was 40% of loading one, and without importing jsonschema at all."""
    return compile_schema(_schema())


@cache
def _validator() -> Draft202012Validator:
    """jsonschema's validator, for the messages of a file the predicate calls invalid."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema())


def _schema_errors(data: Any) -> Iterator[Any]:
    """jsonschema's errors of ``data``: none without asking it when the predicate says valid."""
    valid = _compiled()
    if valid is not None and valid(data):
        return iter(())
    errors: Iterator[Any] = _validator().iter_errors(data)
    return errors


def _inline_refs(node: Any, defs: Mapping[str, Any], inside: tuple[str, ...] = ()) -> Any:
    """The schema with each lone ``{"$ref": "#/$defs/x"}`` replaced by ``x`` itself.

    Same rules, same errors (messages, instance paths and keywords); but jsonschema no longer
    resolves a reference for every step, check and name of every file: a third of validating.
    A definition that refers to itself (none does today) keeps its reference.
    """
    if isinstance(node, list):
        return [_inline_refs(item, defs, inside) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if len(node) == 1 and isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in defs and name not in inside:
            return _inline_refs(defs[name], defs, (*inside, name))
    return {
        key: value if key in ("$defs", "enum", "const", "default", "examples")
        else _inline_refs(value, defs, inside)
        for key, value in node.items()
    }


# --- entry points ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadOptions:
    """What validation needs to know about the run: the user variables supplied (name -> where
    the value comes from, for messages) and the run's default step timeout (a retry's worst
    case is judged with it)."""

    variables: Mapping[str, str] = field(default_factory=dict)
    default_timeout: float = DEFAULT_TIMEOUT


FileRead = Callable[[int, str], None]
"""Told of each file read by :func:`load_dir`: (the number of files, the file as shown)."""


def load_dir(
    directory: Path, options: LoadOptions | None = None, on_file: FileRead | None = None
) -> list[Scenario]:
    """Every scenario under ``directory`` (``*.yaml``/``*.yml``, recursively, sorted by path),
    a file with ``parameters`` giving one scenario per entry.

    Raises :class:`NoScenariosError` when the directory is missing or holds no scenario file, and
    one :class:`ScenarioError` listing every problem of every file when any file is invalid.
    """
    directory = Path(directory)
    return _load_files(_files_of(directory), directory, options or LoadOptions(), on_file)


def _load_files(
    files: Sequence[Path], directory: Path, options: LoadOptions, on_file: FileRead | None
) -> list[Scenario]:
    loaded: list[_Result] = []
    with _gc.paused():
        for file in files:
            loaded.append(_load(file, directory, options))
            if on_file is not None:
                on_file(len(files), loaded[-1].file)
    _raise_problems(loaded)
    return [scenario for result in loaded for scenario in result.scenarios]


@dataclass(frozen=True)
class Tally:
    """What `converge validate` says of one valid scenario."""

    priority: Priority
    checks_total: int


def check_dir(directory: Path, options: LoadOptions | None = None) -> list[Tally]:
    """As :func:`load_dir`, for validation: the same problems in the same order, but only the
    tier and the number of checks of each valid scenario. Many files are checked in worker
    processes, one per core: a scenario (with its compiled templates) does not travel between
    processes, its tally does."""
    directory = Path(directory)
    files = _files_of(directory)
    options = options or LoadOptions()
    processes = _processes_for(len(files))
    if processes > 1:
        with _readers(processes) as pool:
            chunk = max(1, len(files) // (processes * 8))
            checked = list(pool.map(
                _tallied, files, [directory] * len(files), [options] * len(files),
                chunksize=chunk,
            ))
    else:
        with _gc.paused():
            checked = [_tallied(file, directory, options) for file in files]
    _raise_problems(checked)
    return [tally for result in checked for tally in result.tallies]


class Stream:
    """The scenarios of a folder as they are read (see :func:`streamed`): iterate over it."""

    def __init__(self, expected: int, scenarios: Iterator[Scenario], reading: bool) -> None:
        # Whether files are still being read as the scenarios come; then ``expected`` is the
        # number of files (a file may hold several scenarios), else of scenarios.
        self.reading = reading
        self.expected = expected
        self._scenarios = scenarios

    def __iter__(self) -> Iterator[Scenario]:
        return self._scenarios


@contextmanager
def streamed(
    directory: Path, options: LoadOptions | None = None, on_file: FileRead | None = None
) -> Iterator[Stream]:
    """As :func:`load_dir`, but when there are many files and the cores for them, the scenarios
    come one file at a time, in the same order, while the later files are still being read in
    worker processes: reading then costs the run almost nothing. Otherwise every file is read
    here, first (``on_file`` is told of each).

    Iterating raises what :func:`load_dir` raises, with the same problems in the same order,
    once every file is read. No scenario comes after the first file with a problem (or a name
    already taken): what ran before it is for the caller to throw away. Leaving the block stops
    the reading and ends the worker processes.
    """
    directory = Path(directory)
    files = _files_of(directory)
    options = options or LoadOptions()
    processes = _readers_for(len(files))
    if processes == 0:
        scenarios = _load_files(files, directory, options, on_file)
        yield Stream(len(scenarios), iter(scenarios), reading=False)
        return
    stopping = multiprocessing.get_context("fork").Event()
    with _readers(processes, quiet=True, stopping=stopping) as pool:
        read_all: list[bool] = []
        try:
            chunks = [
                pool.submit(_load_many, chunk, directory, options) for chunk in _chunks(files)
            ]

            def loaded() -> Iterator[_Result]:
                for chunk in chunks:
                    yield from chunk.result()
                read_all.append(True)

            yield Stream(len(files), _in_order(loaded()), reading=True)
        finally:
            if not read_all:
                # Left early (a signal, a problem, a crash): the rest is not wanted. The readers
                # stop after the file at hand, so the wait for them is short; and it is not cut
                # by a second signal, which would leave a reader blocked on a result nobody
                # takes and converge waiting for it at exit.
                stopping.set()
            with interrupt.held():
                pool.shutdown(wait=True, cancel_futures=True)


def _chunks(files: Sequence[Path]) -> Iterator[Sequence[Path]]:
    """The files in chunks that grow from FIRST_CHUNK to LAST_CHUNK: the first scenario runs as
    soon as its file is read, and then each chunk that arrives interrupts the runs only once
    (a message costs this process a wake-up and a share of the GIL while the runs go on)."""
    size, start = FIRST_CHUNK, 0
    while start < len(files):
        yield files[start:start + size]
        start += size
        size = min(size * 2, LAST_CHUNK)


def _load_many(paths: Sequence[Path], root: Path, options: LoadOptions) -> list[_Result]:
    loaded = []
    for path in paths:
        if _stopping and _stopping[0].is_set():
            break  # the parent left early: what is read no longer matters
        loaded.append(_load(path, root, options))
    return loaded


# In a reading process: the event the parent sets when it wants no more of what is read.
_stopping: list[Any] = []


def _in_order(results: Iterable[_Result]) -> Iterator[Scenario]:
    loaded: list[_Result] = []
    names: set[str] = set()
    clean = True
    for result in results:
        loaded.append(result)
        clean = clean and not result.problems and result.name not in names
        if result.name is not None:
            names.add(result.name)
        if clean:
            yield from result.scenarios
        result.scenarios = []  # the caller has them; the problems and names are kept
    _raise_problems(loaded)


@contextmanager
def _readers(
    processes: int, *, quiet: bool = False, stopping: Any = None
) -> Iterator[ProcessPoolExecutor]:
    """Worker processes that read files. One that ends before its work is done (killed, or out
    of memory) is an exit 2 that says so, never a traceback."""
    with ProcessPoolExecutor(
        processes, mp_context=multiprocessing.get_context("fork"),
        initializer=_reader_started, initargs=(os.getpid(), quiet, stopping),
    ) as pool:
        try:
            yield pool
        except BrokenProcessPool:
            raise ConvergeError(
                "a process reading the scenario files ended before it was done (killed, or "
                "the machine ran out of memory?)"
            ) from None


def _reader_started(parent: int, quiet: bool, stopping: Any) -> None:
    """In a worker process that reads files:

    - no garbage to collect in a short life;
    - Ctrl-C, which reaches the whole process group, is the parent's to handle (it ends the
      workers when it stops, and no worker prints a traceback of its own); SIGTERM ends a
      worker, which is how the pool ends one that must stop at once;
    - a parent that is killed (SIGKILL, the out-of-memory killer) cannot end them: each one
      ends itself once its parent is gone, where the pool's pipes would keep it waiting;
    - the frames of the parent's call stack, copied by fork, are dead weight: the recursion
      limit is raised by as many, so a deeply nested file reads here as in the parent;
    - ``quiet``: Python's warnings about a pattern are left to the parent, which compiles it
      again to run it (else they would be shown twice);
    - ``stopping`` (an event the parent sets) ends the chunk at hand after its current file.
    """
    _stopping[:] = [stopping] if stopping is not None else []
    gc.disable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    depth = 0
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    sys.setrecursionlimit(sys.getrecursionlimit() + depth)
    if quiet:
        warnings.simplefilter("ignore", FutureWarning)


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os._exit(1)


def _readers_for(files: int) -> int:
    """Worker processes that read ``files`` files while the scenarios run: 0 (read here) for
    few files, on one core, or where processes cannot be forked; else one core fewer than
    this process may use, the other one being the runner's."""
    if files < STREAM_FILES or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    cores = _cores()
    return 0 if cores < 2 else min(cores - 1, MAX_PROCESSES)


def _tallied(path: Path, root: Path, options: LoadOptions) -> _Result:
    result = _load(path, root, options)
    result.tallies = [Tally(s.priority, s.checks_total) for s in result.scenarios]
    result.scenarios = []
    return result


def _processes_for(files: int) -> int:
    """Worker processes for checking ``files`` files: 1 (this one) for few files, or where
    processes cannot be forked; else one per core this process may use."""
    if files < PARALLEL_FILES or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(_cores(), MAX_PROCESSES))


def _cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every system
        return os.cpu_count() or 1


def _files_of(directory: Path) -> list[Path]:
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise NoScenariosError(f"scenarios directory {_display(directory)} {what}")
    files = list(_scenario_files(directory))
    if not files:
        raise NoScenariosError(
            f"no scenario files (*.yaml, *.yml) in {_display(directory)}"
        )
    return files


def _raise_problems(results: Sequence[_Result]) -> None:
    _check_duplicate_names(results)
    problems = [problem for result in results for problem in result.problems]
    if problems:
        raise ScenarioError(problems)


def load_file(
    path: Path, root: Path | None = None, options: LoadOptions | None = None
) -> list[Scenario]:
    """The scenarios of one file (one, or one per ``parameters`` entry). ``root`` is its
    scenarios directory (default: the file's folder)."""
    path = Path(path)
    result = _load(path, path.parent if root is None else Path(root), options or LoadOptions())
    if result.problems or not result.scenarios:
        raise ScenarioError(result.problems)
    return result.scenarios


def _scenario_files(directory: Path) -> Iterator[Path]:
    found: list[Path] = []
    for folder, subfolders, names in os.walk(directory):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        found.extend(
            Path(folder, name)
            for name in names
            if name.endswith(SUFFIXES) and not name.startswith(".")
        )
        # os.walk does not enter a linked folder; listed here, it is reported, never skipped
        # silently (a linked critical/ would otherwise leave no critical scenario to fail).
        linked = (Path(folder, name) for name in subfolders)
        found.extend(path for path in linked if path.is_symlink())
    yield from sorted(found, key=lambda file: file.relative_to(directory).as_posix())


# --- one file -------------------------------------------------------------------------------


@dataclass
class _Result:
    file: str  # as shown to the user
    problems: list[Problem] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)  # empty while the file has problems
    name: str | None = None  # the scenario's name when it is a string, for the duplicate check
    name_line: int = 0
    tallies: list[Tally] = field(default_factory=list)  # check_dir's, in place of scenarios


def _load(path: Path, root: Path, options: LoadOptions) -> _Result:
    result = _Result(file=_display(path))
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:
        relative = path.name
    link_problem = _link_problem(path, root)
    if link_problem is not None:
        result.problems.append(Problem(result.file, 0, "$", link_problem))
        return result
    checker = _FileChecker(result, relative, _folder_tier(relative, root), options)
    checker.run(path)
    result.problems = sorted(dict.fromkeys(result.problems), key=lambda p: p.line)
    return result


def _link_problem(path: Path, root: Path) -> str | None:
    """Why a symbolic link is not read: a folder link, or a file outside the scenarios directory.

    Messages quote what a file holds; a link to ``~/.env`` must not print its keys into the log.
    """
    if not path.is_symlink():
        return None
    if path.is_dir():
        return "a symbolic link to a folder: converge does not follow it (copy the scenarios in)"
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        inside = False
    if not inside:
        return "a symbolic link to a file outside the scenarios directory: not read"
    return None


def _folder_tier(relative: str, root: Path) -> Priority | None:
    parts = relative.split("/")
    if len(parts) > 1 and parts[0] in TIERS:
        return parts[0]
    if root.name in TIERS:
        return root.name
    return None


class _FileChecker:
    """Reads, parses, validates and builds one scenario, adding every problem to ``result``."""

    def __init__(
        self,
        result: _Result,
        relative: str,
        folder_tier: Priority | None,
        options: LoadOptions | None = None,
    ) -> None:
        self.options = options or LoadOptions()
        self.result = result
        self.relative = relative
        self.folder_tier = folder_tier
        self.root: Node | None = None
        self.digest = ""

    # -- reporting --

    def problem(self, line: int, where: PathSegments, message: str) -> None:
        self.result.problems.append(Problem(self.result.file, line, _pointer(where), message))

    def problem_at(self, where: PathSegments, message: str, key: str | None = None) -> None:
        """A problem located at ``where`` (or at the key ``key`` of the mapping at ``where``)."""
        self.problem(self.line_of(where, key), where, message)

    def line_of(self, where: PathSegments, key: str | None = None) -> int:
        return line_of(self.root, where, key)

    # -- the stages --

    def run(self, path: Path) -> None:
        text = self.read(path)
        if text is None:
            return
        data = self.parse(text)
        if data is None:
            return
        if not isinstance(data, dict):
            self.problem(
                1,
                (),
                "a scenario file must be a mapping with name, priority and steps; "
                f"this one holds {kind_of(data)}",
            )
            return
        before = len(self.result.problems)
        if isinstance(data.get("name"), str):
            self.result.name = data["name"]
            self.result.name_line = self.line_of(("name",))
        for error in _schema_errors(data):
            for where, key, message in describe(error):
                self.problem_at(where, message, key)
        Rules(
            self, self.folder_tier, self.options.variables, self.options.default_timeout
        ).check(data)
        if len(self.result.problems) == before:
            builder = Builder(self.relative, self.folder_tier, self.line_of)
            self.result.scenarios = [
                replace(scenario, digest=self.digest) for scenario in builder.build(data)
            ]

    def read(self, path: Path) -> str | None:
        try:
            # A FIFO would block the open until a writer came, and a device never ends: only a
            # regular file is read (a link inside the folder is followed to what it points at).
            if not stat.S_ISREG(path.stat().st_mode):
                self.problem(0, (), "not a regular file (a FIFO, a device or a socket): not read")
                return None
            with path.open("rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)  # bounded: parsing costs ~30x the size
        except OSError as error:
            self.problem(0, (), f"cannot read the file: {error.strerror or error}")
            return None
        if len(raw) > MAX_FILE_BYTES:
            self.problem(0, (), f"too large: a scenario file holds at most {MAX_FILE_BYTES} bytes")
            return None
        self.digest = hashlib.sha256(raw).hexdigest()
        try:
            # utf-8-sig: a byte-order mark written by some editors is not a problem.
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = raw.count(b"\n", 0, error.start) + 1
            self.problem(
                line,
                (),
                f"not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start}); "
                "save the file as UTF-8",
            )
            return None

    def parse(self, text: str) -> Any:
        """Compose once (nodes keep their lines), inspect the nodes, construct from them."""
        loader: Loader | None = None
        try:
            loader = Loader(text)  # the reader rejects non-printable characters right here
            node = loader.get_single_node()
            if node is None:
                self.problem(1, (), "the file is empty: a scenario needs a name and steps")
                return None
            self.root = node
            inspector = NodeInspector(self.problem)
            if not inspector.inspect(node):
                return None
            data = None if inspector.aliased or inspector.merged else _plain(node)
            if data is None:
                data = loader.construct_document(node)
            if data is None:
                # "~" or "null" alone: as empty as an empty file, never a scenario less in silence
                self.problem(1, (), "the file holds only null: a scenario needs a name and steps")
                return None
            too_deep = _beyond_depth(data, MAX_DEPTH)
            if too_deep is not None:
                # Located at the value that holds it: a hundred-level pointer helps nobody.
                self.problem_at(
                    too_deep[:6], f"nested too deeply (more than {MAX_DEPTH} levels)"
                )
                return None
            return data
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else 1
            detail = error.problem or "invalid YAML"
            if "maximum nesting depth" in detail:
                # libyaml (from 0.2.5) stops deep nesting itself; say it as the pure-Python
                # parser's RecursionError below is said, but with the line libyaml knows.
                self.problem(line, (), "the YAML is nested too deeply")
                return None
            if error.context and detail.startswith("but "):
                detail = f"{error.context}, {detail}"  # "expected X, but found Y"
            elif error.context:
                detail = f"{detail} ({error.context})"
            self.problem(line, (), f"YAML syntax error: {detail}")
        except yaml.reader.ReaderError as error:
            line = text.count("\n", 0, error.position) + 1
            # libyaml gives the character's code, the pure-Python reader the character itself.
            char = error.character
            code = char if isinstance(char, int) else ord(char[:1] or "\0")
            self.problem(line, (), f"YAML syntax error: character U+{code:04X} is not allowed")
        except yaml.YAMLError as error:
            self.problem(1, (), f"YAML error: {error}")
        except RecursionError:
            self.problem(1, (), "the YAML is nested too deeply")
        except (ValueError, TypeError, LookupError, AttributeError) as error:
            # A last line of defence: PyYAML's constructors raise plain Python errors on some
            # malformed input the inspector did not foresee; for converge it is still bad input.
            self.problem(1, (), f"YAML value error: {error}")
        finally:
            if loader is not None:
                loader.dispose()
        return None


# --- small helpers --------------------------------------------------------------------------

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _plain(node: Node) -> Any:
    """The document built directly, or None for PyYAML's constructor to build: one nested more
    deeply than a recursive walk goes (reported as too deep, where the place is known)."""
    try:
        return construct_plain(node)
    except RecursionError:
        return None


def _beyond_depth(value: Any, limit: int) -> PathSegments | None:
    """The first place nested deeper than ``limit``, or None (iterative: deep is the problem)."""
    stack: list[tuple[Any, PathSegments]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if len(where) > limit:
            return where
        if isinstance(item, dict):
            stack.extend((child, (*where, str(key))) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (*where, index)) for index, child in enumerate(item))
    return None



def _check_duplicate_names(results: Sequence[_Result]) -> None:
    """Reports key on scenario names, so two files may not share one."""
    first: dict[str, str] = {}
    for result in results:
        if result.name is None:
            continue
        if result.name in first:
            result.problems.append(
                Problem(
                    result.file,
                    result.name_line,
                    "$.name",
                    f"scenario name {result.name!r} is already used by {first[result.name]}",
                )
            )
            result.problems.sort(key=lambda p: p.line)
            result.scenarios = []
        else:
            first[result.name] = result.file


def _pointer(where: PathSegments) -> str:
    out = ["$"]
    for segment in where:
        if isinstance(segment, int):
            out.append(f"[{segment}]")
        elif _IDENTIFIER.fullmatch(segment):
            out.append(f".{segment}")
        else:
            out.append(f"[{segment!r}]")
    return "".join(out)


def _display(path: Path) -> str:
    """A path as the user should see it: relative to the working directory when inside it."""
    # abspath, not resolve(): a symlinked file is shown where the user put it, not its target.
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(os.curdir)).as_posix()  # noqa: PTH100
    except (ValueError, OSError):
        return str(path)
