"""Scenario files in, validated :class:`~converge.model.Scenario` objects out.

Each file is read once, parsed once (``yaml.compose`` keeps every node's line; the same nodes are
then constructed into plain values), validated once against ``schemas/scenario.schema.json`` and
then checked for what a schema cannot say: tier folders, regexes, field paths, templates and the
order in which variables are captured. Every problem of every file is collected and raised
together as one :class:`~converge.errors.ScenarioError`, each located as
``file:LINE: $.pointer: message``; nothing else escapes for bad input.

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

import difflib
import gc
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast

import yaml

# No type stubs for jsonschema are installed (types-jsonschema is not a dependency).
from jsonschema import Draft202012Validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from converge import _schemas, paths
from converge._schema_errors import PathSegments, describe, kind_of
from converge.errors import NoScenariosError, Problem, ScenarioError
from converge.model import TIERS, CheckSpec, Priority, Scenario, Step
from converge.template import TemplateSyntaxError, compile_value, find_variables
from converge.tokens import BUILTIN_VARIABLES

SUFFIXES = (".yaml", ".yml")
MAX_VALUES = 100_000  # values after expanding aliases; beyond this a file is hostile, not a test
MAX_FILE_BYTES = 1_000_000  # a long scenario is a few kB; 13 MB took 6 s and 400 MB to refuse
# Levels of nesting in a value. Templates, checks and the report walk values recursively, so a
# deeper body would end the run in a RecursionError instead of a located problem.
MAX_DEPTH = 100

# --- YAML: a safe loader with YAML 1.2 scalars ---------------------------------------------

_TAG = "tag:yaml.org,2002:"
_BOOL, _INT, _FLOAT, _NULL, _STR = (_TAG + t for t in ("bool", "int", "float", "null", "str"))
_SEQ, _MAP, _MERGE = _TAG + "seq", _TAG + "map", _TAG + "merge"
_PLAIN_TAGS = frozenset({_BOOL, _INT, _FLOAT, _NULL, _STR, _SEQ, _MAP})


# libyaml's parser (shipped in PyYAML's wheels) is about four times faster than the pure-Python
# one, which dominates loading time; both build the same nodes with the same marks.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]  # chosen at import time
    """PyYAML's safe loader, minus the YAML 1.1 scalar surprises (see the module docstring)."""


# Dropped: 1.1 booleans (yes/no/on/off), 1.1 numbers (010 octal, 1:30 sexagesimal, 1_000),
# timestamps (not JSON), and the "=" / "!" value and yaml tags, which have no safe constructor.
_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in {_BOOL, _INT, _FLOAT, _TAG + "timestamp", _TAG + "value", _TAG + "yaml"}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)

_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)

# What each plain tag accepts, checked on every scalar before construction: an explicit tag with
# a malformed value (``!!float abc``, ``!!bool maybe``) would fail inside PyYAML with a bare
# IndexError or KeyError and no line.
_SCALAR_TEXT = {
    _INT: re.compile(r"[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)"),
    _FLOAT: re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"),
    _BOOL: re.compile(r"true|True|TRUE|false|False|FALSE"),
}


def _construct_int(loader: yaml.SafeLoader, node: Node) -> int:
    assert isinstance(node, ScalarNode)
    text = str(loader.construct_scalar(node))
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    base = {"0x": 16, "0o": 8}.get(digits[:2], 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


_Loader.add_constructor(_INT, _construct_int)


# --- the schema -----------------------------------------------------------------------------


@cache
def _validator() -> Draft202012Validator:
    # Compiled once per process: loading a thousand files must not re-read the schema each time.
    schema = _schemas.load(_schemas.SCENARIO)
    return Draft202012Validator(_inline_refs(schema, schema.get("$defs", {})))


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


def load_dir(directory: Path) -> list[Scenario]:
    """Every scenario under ``directory`` (``*.yaml``/``*.yml``, recursively, sorted by path).

    Raises :class:`NoScenariosError` when the directory is missing or holds no scenario file, and
    one :class:`ScenarioError` listing every problem of every file when any file is invalid.
    """
    directory = Path(directory)
    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        raise NoScenariosError(f"scenarios directory {_display(directory)} {what}")
    files = list(_scenario_files(directory))
    if not files:
        raise NoScenariosError(
            f"no scenario files (*.yaml, *.yml) in {_display(directory)}"
        )
    with _cyclic_gc_paused():
        loaded = [_load(file, directory) for file in files]
    _check_duplicate_names(loaded)
    problems = [problem for result in loaded for problem in result.problems]
    if problems:
        raise ScenarioError(problems)
    return [result.scenario for result in loaded if result.scenario is not None]


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Loading makes many small objects that all stay alive (nodes, values, compiled templates)
    and no cyclic garbage; the cyclic collector walked them again and again, a third of the
    loading time of 500 files. Reference counting still frees everything else at once."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_file(path: Path, root: Path | None = None) -> Scenario:
    """One scenario file. ``root`` is its scenarios directory (default: the file's folder)."""
    path = Path(path)
    result = _load(path, path.parent if root is None else Path(root))
    if result.problems or result.scenario is None:
        raise ScenarioError(result.problems)
    return result.scenario


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
    scenario: Scenario | None = None
    name: str | None = None  # the scenario's name when it is a string, for the duplicate check
    name_line: int = 0


def _load(path: Path, root: Path) -> _Result:
    result = _Result(file=_display(path))
    try:
        relative = path.relative_to(root).as_posix()
    except ValueError:
        relative = path.name
    link_problem = _link_problem(path, root)
    if link_problem is not None:
        result.problems.append(Problem(result.file, 0, "$", link_problem))
        return result
    checker = _FileChecker(result, relative, _folder_tier(relative, root))
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

    def __init__(self, result: _Result, relative: str, folder_tier: Priority | None) -> None:
        self.result = result
        self.relative = relative
        self.folder_tier = folder_tier
        self.root: Node | None = None

    # -- reporting --

    def problem(self, line: int, where: PathSegments, message: str) -> None:
        self.result.problems.append(Problem(self.result.file, line, _pointer(where), message))

    def problem_at(self, where: PathSegments, message: str, key: str | None = None) -> None:
        """A problem located at ``where`` (or at the key ``key`` of the mapping at ``where``)."""
        self.problem(self.line_of(where, key), where, message)

    def line_of(self, where: PathSegments, key: str | None = None) -> int:
        node = self.root
        if node is None:
            return 1
        for segment in where:
            child = _child(node, segment)
            if child is None:
                break
            node = child
        if key is not None and isinstance(node, MappingNode):
            key_node = _key_node(node, key)
            if key_node is not None:
                node = key_node
        return node.start_mark.line + 1

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
        for error in _validator().iter_errors(data):
            for where, key, message in describe(error):
                self.problem_at(where, message, key)
        self.check_semantics(data)
        if len(self.result.problems) == before:
            self.result.scenario = self.build(data)

    def read(self, path: Path) -> str | None:
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)  # bounded: parsing costs ~30x the size
        except OSError as error:
            self.problem(0, (), f"cannot read the file: {error.strerror or error}")
            return None
        if len(raw) > MAX_FILE_BYTES:
            self.problem(0, (), f"too large: a scenario file holds at most {MAX_FILE_BYTES} bytes")
            return None
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
        loader: _Loader | None = None
        try:
            loader = _Loader(text)  # the reader rejects non-printable characters right here
            node = loader.get_single_node()
            if node is None:
                self.problem(1, (), "the file is empty: a scenario needs a name and steps")
                return None
            self.root = node
            if not _NodeInspector(self).inspect(node):
                return None
            data = loader.construct_document(node)
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

    # -- what the schema cannot say --

    def check_semantics(self, data: dict[str, Any]) -> None:
        self.check_priority(data)
        steps = data.get("steps")
        if not isinstance(steps, list):
            return
        captures: dict[str, int] = {}  # variable -> index of the first step that captures it
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            capture = step.get("capture")
            if isinstance(capture, dict):
                for name in capture:
                    if isinstance(name, str):
                        captures.setdefault(name, index)
        available = set(BUILTIN_VARIABLES)
        for index, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            self.check_step(step, ("steps", index), available, captures)
            capture = step.get("capture")
            if isinstance(capture, dict):
                available.update(name for name in capture if _is_name(name))

    def check_priority(self, data: dict[str, Any]) -> None:
        priority = data.get("priority")
        if "priority" in data:
            if self.folder_tier is not None and priority in TIERS and priority != self.folder_tier:
                self.problem_at(
                    ("priority",),
                    f"priority {priority!r} contradicts the tier folder "
                    f"'{self.folder_tier}/' (remove it, or move the file)",
                )
        elif self.folder_tier is None:
            self.problem_at(
                (),
                "no priority: add 'priority: critical | important | nice-to-have' "
                "or put the file in a tier folder",
            )

    def check_step(
        self,
        step: dict[str, Any],
        where: PathSegments,
        available: set[str],
        captures: dict[str, int],
    ) -> None:
        index = where[-1]
        sites: list[tuple[PathSegments, str]] = []
        if isinstance(step.get("path"), str):
            sites.append(((*where, "path"), step["path"]))
        if isinstance(step.get("headers"), dict):
            sites.extend(_strings(step["headers"], (*where, "headers")))
        if "body" in step:
            sites.extend(_strings(step["body"], (*where, "body")))
        expect = step.get("expect")
        if isinstance(expect, dict):
            sites.extend(self.check_expect(expect, (*where, "expect")))
        capture = step.get("capture")
        if isinstance(capture, dict):
            self.check_capture(capture, (*where, "capture"))
        for site, text in sites:
            try:
                names = find_variables(text)
            except TemplateSyntaxError as error:
                self.problem_at(site, str(error))
                continue
            for name in sorted(names - available):
                self.problem_at(site, _undefined(name, index, captures, available))

    def check_expect(
        self, expect: dict[str, Any], where: PathSegments
    ) -> list[tuple[PathSegments, str]]:
        sites: list[tuple[PathSegments, str]] = []
        contains = expect.get("body_contains")
        if isinstance(contains, list):
            sites.extend(
                ((*where, "body_contains", i), text)
                for i, text in enumerate(contains)
                if isinstance(text, str)
            )
        for kind in ("body_matches", "body_equals"):
            fields = expect.get(kind)
            if not isinstance(fields, dict):
                continue
            for name, value in fields.items():
                if not isinstance(name, str) or not name:
                    continue  # the schema reports it
                try:
                    paths.parse(name)
                except paths.PathSyntaxError as error:
                    self.problem_at((*where, kind), str(error), key=name)
                if kind == "body_matches" and isinstance(value, str):
                    sites.append(((*where, kind, name), value))
                    if "{{" not in value:  # with templates, only the rendered text is a regex
                        try:
                            re.compile(value)
                        except re.error as error:
                            self.problem_at(
                                (*where, kind, name), f"invalid regular expression: {error}"
                            )
                elif kind == "body_equals":
                    sites.extend(_strings(value, (*where, kind, name)))
        return sites

    def check_capture(self, capture: dict[str, Any], where: PathSegments) -> None:
        for name, source in capture.items():
            if name in BUILTIN_VARIABLES:
                self.problem_at(
                    where,
                    f"{name!r} is a built-in variable; capture the value under another name",
                    key=name,
                )
            if isinstance(source, str) and _CAPTURE.match(source):
                try:
                    _capture_path(source)
                except paths.PathSyntaxError as error:
                    self.problem_at((*where, name), str(error))

    # -- building the model --

    def build(self, data: dict[str, Any]) -> Scenario:
        # check_priority has reported a file with neither, so one of the two is set here.
        priority = cast("Priority", data.get("priority") or self.folder_tier)
        steps = tuple(
            self.build_step(index, step) for index, step in enumerate(data["steps"])
        )
        return Scenario(name=data["name"], priority=priority, file=self.relative, steps=steps)

    def build_step(self, index: int, step: dict[str, Any]) -> Step:
        where: PathSegments = ("steps", index)
        method = str(step.get("method", "GET"))
        path = compile_value(step["path"])
        headers = compile_value(step.get("headers") or {}, as_text=True)
        body = None if step.get("body") is None else compile_value(step["body"])
        checks: list[CheckSpec] = []
        variables = set(path.variables | headers.variables)
        if body is not None:
            variables |= body.variables
        expect = step.get("expect")
        if expect is not None:
            exp: PathSegments = (*where, "expect")
            if "status" in expect:
                status = expect["status"]
                statuses = tuple(int(s) for s in (status if isinstance(status, list) else [status]))
                checks.append(
                    CheckSpec(
                        kind="status",
                        target="status",
                        line=self.line_of(exp, "status"),
                        expected=compile_value(status),
                        statuses=statuses,
                    )
                )
            for i, text in enumerate(expect.get("body_contains", [])):
                template = compile_value(text)
                variables |= template.variables
                checks.append(
                    CheckSpec(
                        kind="body_contains",
                        target=text,
                        line=self.line_of((*exp, "body_contains", i)),
                        expected=template,
                    )
                )
            for kind in ("body_matches", "body_equals"):
                for name, value in expect.get(kind, {}).items():
                    template = compile_value(value)
                    variables |= template.variables
                    checks.append(
                        CheckSpec(
                            kind=kind,
                            target=name,
                            line=self.line_of((*exp, kind), name),
                            expected=template,
                            path=paths.parse(name),
                        )
                    )
        for name, source in (step.get("capture") or {}).items():
            checks.append(
                CheckSpec(
                    kind="capture",
                    target=name,
                    line=self.line_of((*where, "capture"), name),
                    path=_capture_path(source),
                )
            )
        if expect is None and not step.get("capture"):
            # The implicit check: a step that declares nothing must at least answer 2xx.
            checks.append(CheckSpec(kind="status", target="status", line=self.line_of(where)))
        timeout = step.get("timeout")
        return Step(
            index=index,
            name=step.get("name") or f"{method} {step['path']}",
            method=method,
            path=path,
            headers=headers,
            body=body,
            timeout=None if timeout is None else float(timeout),
            checks=tuple(checks),
            variables=frozenset(variables),
            line=self.line_of(where),
        )


# --- inspecting the composed nodes ----------------------------------------------------------


class _NodeInspector:
    """One walk over the composed nodes for what PyYAML would silently accept or choke on:
    duplicate keys (PyYAML keeps the last), non-text keys, non-JSON tags and values, recursive
    aliases, and alias bombs. Shared (aliased) nodes are inspected once."""

    def __init__(self, checker: _FileChecker) -> None:
        self.checker = checker
        self.sizes: dict[int, int] = {}  # node id -> values it expands to
        self.open: set[int] = set()  # nodes being walked: meeting one again is a cycle
        self.fatal = False  # a problem that makes the document unsafe to construct or validate

    def inspect(self, node: Node) -> bool:
        total = self.walk(node, ())
        if total > MAX_VALUES:
            self.report(node, (), f"too large: aliases expand to more than {MAX_VALUES} values")
        return not self.fatal

    def report(self, node: Node, where: PathSegments, message: str, fatal: bool = True) -> None:
        self.fatal = self.fatal or fatal
        self.checker.problem(node.start_mark.line + 1, where, message)

    def walk(self, node: Node, where: PathSegments) -> int:
        key = id(node)
        if key in self.sizes:
            return self.sizes[key]
        if key in self.open:
            self.report(node, where, "recursive alias: a value cannot contain itself")
            return 1
        self.open.add(key)
        size = 1
        if isinstance(node, MappingNode | SequenceNode) and node.tag not in {_MAP, _SEQ}:
            self.report(node, where, f"YAML tag {_short_tag(node.tag)} is not supported here")
        elif isinstance(node, MappingNode):
            size += self.walk_mapping(node, where)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                size += self.walk(item, (*where, index))
                if size > MAX_VALUES:
                    break
        else:
            self.check_scalar(node, where)
        self.open.discard(key)
        self.sizes[key] = size
        return size

    def walk_mapping(self, node: MappingNode, where: PathSegments) -> int:
        size = 0
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                size += self.walk(value_node, where)
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
                shown = key_node.value if isinstance(key_node, ScalarNode) else "a collection"
                self.report(
                    key_node,
                    where,
                    f"key {shown!r} is not text; put it in quotes (JSON keys are strings)",
                )
                continue
            name = key_node.value
            line = key_node.start_mark.line + 1
            if name in seen:
                self.report(
                    key_node,
                    where,
                    f"duplicate key {name!r} (first at line {seen[name]}); "
                    "YAML would silently keep only the last one",
                    fatal=False,  # the rest of the file is still worth checking
                )
            seen.setdefault(name, line)
            size += self.walk(value_node, (*where, name))
            if size > MAX_VALUES:
                break
        return size

    def check_scalar(self, node: Node, where: PathSegments) -> None:
        if node.tag not in _PLAIN_TAGS:
            self.report(
                node,
                where,
                f"YAML tag {_short_tag(node.tag)} is not supported: scenario values are plain "
                "JSON (text, numbers, true/false, null, lists, mappings)",
            )
            return
        text = str(node.value)
        if node.tag == _FLOAT and re.search(r"inf|nan", text, re.IGNORECASE):
            self.report(node, where, f"{text} is not a JSON number")
            return
        pattern = _SCALAR_TEXT.get(node.tag)
        if pattern is not None and not pattern.fullmatch(text):
            self.report(node, where, f"{text!r} is not a valid {_short_tag(node.tag)}")


def _short_tag(tag: str) -> str:
    return tag.replace(_TAG, "!!")


def _child(node: Node, segment: str | int) -> Node | None:
    if isinstance(node, MappingNode) and isinstance(segment, str):
        key_node = _key_node(node, segment)
        if key_node is None:
            return None
        # The last occurrence is the value YAML keeps (after merges, overrides come last).
        for candidate_key, value in reversed(node.value):
            if candidate_key is key_node:
                return value  # type: ignore[no-any-return]
    if isinstance(node, SequenceNode) and isinstance(segment, int):
        return node.value[segment] if 0 <= segment < len(node.value) else None
    return None


def _key_node(node: MappingNode, key: str) -> Node | None:
    for key_node, _value in reversed(node.value):
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node
    return None


# --- small helpers --------------------------------------------------------------------------

_CAPTURE = re.compile(r"\Aresponse(?=[.\[])")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _capture_path(source: str) -> paths.FieldPath:
    rest = source[len("response") :]
    rest = rest.removeprefix(".")
    if not rest:
        raise paths.PathSyntaxError(f"{source!r} needs a field path after 'response.'")
    return paths.parse(rest)


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


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def _strings(value: Any, where: PathSegments) -> Iterator[tuple[PathSegments, str]]:
    """Every string inside a value with its location (keys stay literal, as in templates)."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*where, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*where, str(key)))


def _undefined(
    name: str, index: int | str, captures: Mapping[str, int], available: set[str]
) -> str:
    captured_at = captures.get(name)
    if captured_at == index:
        return (
            f"variable {name!r} is captured by this step; only later steps can use it"
        )
    if captured_at is not None:
        return (
            f"variable {name!r} is used before it is captured "
            f"(by $.steps[{captured_at}])"
        )
    close = difflib.get_close_matches(name, sorted(available | set(captures)), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"undefined variable {name!r}: not a built-in nor captured by an earlier step{hint}"


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
            result.scenario = None
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
