"""``{{ name }}`` substitution that keeps JSON types.

A string that is exactly one template becomes the variable's value with its type (``"{{count}}"``
renders the integer 3); a template inside a longer string is replaced by the value's text (strings
as they are, anything else as its JSON text, so ``True`` reads ``true``). Templates are compiled
once, when a scenario is loaded, into small render functions; values without templates render to
themselves at no cost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TEMPLATE = re.compile(r"\{\{\s*(" + NAME + r")\s*\}\}")
_WHOLE = re.compile(r"\A\{\{\s*(" + NAME + r")\s*\}\}\Z")
_ANY_BRACES = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)

Variables = Mapping[str, Any]
How = Literal["value", "text", "path"]  # compile_value, compile_value(as_text=True), compile_path


class TemplateSyntaxError(ValueError):
    """A ``{{ ... }}`` that is not a variable name, or an unclosed ``{{`` (typos would pass)."""


class UndefinedVariable(KeyError):
    """Rendering met a variable that has no value (normally caught by validation first)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"variable {self.name!r} has no value"


@dataclass(frozen=True)
class Template:
    """A compiled value: ``render(variables)`` gives the plain JSON value to send or compare.

    It travels between processes (scenarios are loaded in worker processes) as its source and
    how it was compiled, and is compiled again on arrival: the render function is a closure.
    """

    source: Any
    variables: frozenset[str]
    _render: Callable[[Variables], Any] = field(compare=False)
    how: How = "value"

    @property
    def is_static(self) -> bool:
        return not self.variables

    def render(self, variables: Variables) -> Any:
        return self._render(variables)

    def __reduce__(self) -> tuple[Callable[[Any, How], Template], tuple[Any, How]]:
        return _recompiled, (self.source, self.how)


def compile_value(value: Any, *, as_text: bool = False) -> Template:
    """Compile any YAML value (strings, lists and mappings recursively; keys stay literal).

    ``as_text=True`` makes every string render as text, even one that is exactly one template:
    HTTP header values are text, so ``X-Count: "{{count}}"`` must send ``"3"``, never the int 3.
    """
    render, names = _compile(value, as_text)
    return Template(
        source=value, variables=frozenset(names), _render=render,
        how="text" if as_text else "value",
    )


def compile_path(text: str) -> Template:
    """A request path. Each template's value is percent-encoded (everything but letters, digits
    and ``-._~``), so a value can add no segment, query or fragment: ``/items/{{id}}`` with
    ``id = "a/b c"`` renders ``/items/a%2Fb%20c``. A value of dots only (``.``, ``..``) has its
    dots encoded too (``%2E``): written plainly, the HTTP client would read them as "this
    folder" and "the folder above" and remove segments (it sends them back as plain dots, as
    the segment's own text). A path that is exactly one template renders its value's text
    unencoded: it is a whole path, such as a captured ``next`` link.
    """
    if _WHOLE.match(text):
        render, names = _compile_string(text, as_text=True)
    else:
        render, names = _compile_string(text, as_text=True, escape=_percent_encode)
    return Template(source=text, variables=frozenset(names), _render=render, how="path")


def _recompiled(source: Any, how: How) -> Template:
    """A template unpickled: compiled again from its source, as it was the first time."""
    if how == "path":
        return compile_path(source)
    return compile_value(source, as_text=how == "text")


def is_whole_template(text: Any) -> bool:
    """Whether ``text`` is exactly one template (``"{{ name }}"``)."""
    return isinstance(text, str) and _WHOLE.match(text) is not None


def _percent_encode(text: str) -> str:
    if text and not text.strip("."):
        return "%2E" * len(text)
    return quote(text, safe="")


def find_variables(value: Any) -> set[str]:
    """The names a value refers to, without compiling it (raises on a malformed template)."""
    return set(compile_value(value).variables)


def text_of(value: Any) -> str:
    """How a value reads inside a longer string: strings as they are, the rest as JSON text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _constant(value: Any) -> Callable[[Variables], Any]:
    return lambda _variables: value


def _lookup(variables: Variables, name: str) -> Any:
    try:
        return variables[name]
    except KeyError:
        raise UndefinedVariable(name) from None


def _compile(value: Any, as_text: bool) -> tuple[Callable[[Variables], Any], set[str]]:
    if isinstance(value, str):
        return _compile_string(value, as_text)
    if isinstance(value, list):
        compiled = [_compile(item, as_text) for item in value]
        names = set().union(*(n for _, n in compiled)) if compiled else set()
        if not names:
            return _constant(value), set()
        renders = [r for r, _ in compiled]
        return (lambda variables: [r(variables) for r in renders]), names
    if isinstance(value, dict):
        items = [(key, _compile(item, as_text)) for key, item in value.items()]
        names = set().union(*(n for _, (_, n) in items)) if items else set()
        if not names:
            return _constant(value), set()
        pairs = [(key, r) for key, (r, _) in items]
        return (lambda variables: {key: r(variables) for key, r in pairs}), names
    return _constant(value), set()


def _compile_string(
    text: str, as_text: bool, escape: Callable[[str], str] | None = None
) -> tuple[Callable[[Variables], Any], set[str]]:
    if "{{" not in text:
        return _constant(text), set()
    for inside in _ANY_BRACES.findall(text):
        if not re.fullmatch(r"\s*" + NAME + r"\s*", inside):
            raise TemplateSyntaxError(
                f"'{{{{{inside}}}}}' is not a template: write {{{{ name }}}} with a variable name"
            )
    # An opening "{{" that never closes is almost always a typo ("{{ token }" or "{{token");
    # left alone it would be sent as literal text and the step would fail far from the cause.
    if "{{" in _ANY_BRACES.sub("", text):
        raise TemplateSyntaxError(
            f"unclosed '{{{{' in {text!r}: write {{{{ name }}}} with a variable name"
        )
    whole = _WHOLE.match(text)
    if whole:
        name = whole.group(1)
        if as_text:
            return (lambda variables: text_of(_lookup(variables, name))), {name}
        return (lambda variables: _lookup(variables, name)), {name}
    # Split once into literal text and names; rendering is a join.
    pieces = _TEMPLATE.split(text)  # [literal, name, literal, name, ..., literal]
    literals = pieces[0::2]
    names = pieces[1::2]

    def render(variables: Variables) -> str:
        out = [literals[0]]
        for name, literal in zip(names, literals[1:], strict=True):
            out.append(text_of(_lookup(variables, name)))
            out.append(literal)
        return "".join(out)

    if escape is not None:

        def render_escaped(variables: Variables) -> str:
            out = [literals[0]]
            for name, literal in zip(names, literals[1:], strict=True):
                out.append(escape(text_of(_lookup(variables, name))))
                out.append(literal)
            return "".join(out)

        return render_escaped, set(names)

    return render, set(names)
