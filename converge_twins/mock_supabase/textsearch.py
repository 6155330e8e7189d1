"""Full-text search for the ``fts``, ``plfts``, ``phfts`` and ``wfts`` filters.

A document becomes lexemes with positions as ``to_tsvector`` makes them: words lower-cased,
and for the ``english`` configuration (Supabase's default) stop words dropped and suffixes
stemmed (a light stemmer: ``cats`` and ``cat``, ``jumping`` and ``jump`` meet; it is not
Snowball, so rare forms may stem differently). ``simple`` keeps every word as it is. Queries
follow ``to_tsquery`` (``&``, ``|``, ``!``, ``<->``, ``:*`` prefixes, parentheses),
``plainto_tsquery`` (all words), ``phraseto_tsquery`` (the words in a row) and
``websearch_to_tsquery`` (``"a phrase"``, ``or``, ``-word``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# PostgreSQL's english stop words (a list written as text, which is how it reads best).
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves
    out over own same she should so some such than that the their theirs them themselves then
    there these they this those through to too under until up very was we were what when where
    which while who whom why will with you your yours yourself yourselves""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[\w']+", re.UNICODE)
Lexemes = dict[str, list[int]]


def stem(word: str) -> str:
    for suffix, keep in (
        ("sses", "ss"),
        ("ies", "i"),
        ("ied", "i"),
        ("ing", ""),
        ("edly", ""),
        ("ed", ""),
        ("ly", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: len(word) - len(suffix)] + keep
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # running -> runn -> run
    return word


def normalize(word: str, config: str) -> str | None:
    word = word.lower().strip("'")
    if not word:
        return None
    if config == "simple":
        return word
    if word in STOP_WORDS:
        return None
    return stem(word)


def to_tsvector(text: str, config: str) -> Lexemes:
    lexemes: Lexemes = {}
    for position, word in enumerate(_WORD.findall(text), start=1):
        lexeme = normalize(word, config)
        if lexeme is not None:
            lexemes.setdefault(lexeme, []).append(position)
    return lexemes


# a query is a small tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    lexeme: str
    prefix: bool = False


@dataclass(frozen=True)
class Not:
    child: Query


@dataclass(frozen=True)
class Both:
    left: Query
    right: Query
    kind: str  # "&", "|" or "<N>" (followed by, N positions apart)


@dataclass(frozen=True)
class Always:
    """A query of nothing but stop words: matches nothing, as PostgreSQL's empty query."""


Query = Term | Not | Both | Always


def _positions(query: Query, lexemes: Lexemes) -> list[int] | None:
    """Where a phrase part matches (its last word's positions), or None where it does not."""
    if isinstance(query, Term):
        found = [
            pos
            for lexeme, places in lexemes.items()
            if lexeme == query.lexeme or (query.prefix and lexeme.startswith(query.lexeme))
            for pos in places
        ]
        return sorted(found) or None
    if isinstance(query, Both) and query.kind.startswith("<"):
        distance = int(query.kind[1:-1])
        left, right = _positions(query.left, lexemes), _positions(query.right, lexemes)
        if not left or not right:
            return None
        hits = [pos for pos in right if pos - distance in left]
        return hits or None
    return [0] if matches(query, lexemes) else None


def matches(query: Query, lexemes: Lexemes) -> bool:
    if isinstance(query, Always):
        return False
    if isinstance(query, Not):
        return not matches(query.child, lexemes)
    if isinstance(query, Both) and query.kind == "&":
        return matches(query.left, lexemes) and matches(query.right, lexemes)
    if isinstance(query, Both) and query.kind == "|":
        return matches(query.left, lexemes) or matches(query.right, lexemes)
    return _positions(query, lexemes) is not None


def _join(parts: list[Query], kind: str) -> Query:
    kept = [p for p in parts if not isinstance(p, Always)]
    if not kept:
        return Always()
    result = kept[0]
    for part in kept[1:]:
        result = Both(result, part, kind)
    return result


def _terms(text: str, config: str) -> list[Query]:
    found: list[Query] = []
    for word in _WORD.findall(text):
        lexeme = normalize(word, config)
        if lexeme is not None:
            found.append(Term(lexeme))
    return found


def plainto_tsquery(text: str, config: str) -> Query:
    return _join(_terms(text, config), "&")


def phraseto_tsquery(text: str, config: str) -> Query:
    return _join(_terms(text, config), "<1>")


def websearch_to_tsquery(text: str, config: str) -> Query:
    alternatives: list[list[Query]] = [[]]
    for match in re.finditer(r'(-?)"([^"]*)"|(-?)(\S+)', text):
        negate = bool(match.group(1) or match.group(3))
        if match.group(2) is not None:
            part = phraseto_tsquery(match.group(2), config)
        elif match.group(4).lower() == "or":
            alternatives.append([])
            continue
        else:
            part = plainto_tsquery(match.group(4), config)
        if not isinstance(part, Always):
            alternatives[-1].append(Not(part) if negate else part)
    return _join([_join(group, "&") for group in alternatives], "|")


def to_tsquery(text: str, config: str) -> Query:
    tokens: list[str] = re.findall(r"<\d+>|<->|[&|!()]|[^\s&|!()<]+", text)
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        position += 1
        return tokens[position - 1]

    def expression(operators: tuple[str, ...], lower: Callable[[], Query]) -> Query:
        left = lower()
        while peek() in operators or (operators == ("<->",) and (peek() or "").startswith("<")):
            kind = take()
            right = lower()
            kind = "<1>" if kind == "<->" else kind
            left = _join([left, right], kind) if kind in ("&", "|") else Both(left, right, kind)
        return left

    def unary() -> Query:
        token = peek()
        if token == "!":
            take()
            return Not(unary())
        if token == "(":
            take()
            inner = either()
            if peek() == ")":
                take()
            return inner
        if token is None:
            return Always()
        word = take()
        prefix = word.endswith(":*")
        word = word.removesuffix(":*").strip("'")
        lexeme = normalize(word, config) if not prefix else word.lower()
        return Term(lexeme, prefix) if lexeme else Always()

    def phrase() -> Query:
        return expression(("<->",), unary)

    def both() -> Query:
        return expression(("&",), phrase)

    def either() -> Query:
        return expression(("|",), both)

    return either()


PARSERS = {
    "fts": to_tsquery,
    "plfts": plainto_tsquery,
    "phfts": phraseto_tsquery,
    "wfts": websearch_to_tsquery,
}


def search(operator: str, document: str, query: str, language: str | None) -> bool:
    config = (language or "english").lower()
    return matches(PARSERS[operator](query, config), to_tsvector(document, config))
