"""What mock-anthropic says: configurable rules first, then a deterministic analysis.

Rules are ``{"match": regex, "reply": text-or-JSON}``, searched (case-insensitively) in the
prompt: the system prompt and the text of every message, joined by newlines. The first rule that
matches wins. A rule may instead answer with a tool call, ``{"match": regex, "tool_use": {...}}``
(the tool's input, a JSON object; ``"tool"`` names the tool, else the one ``tool_choice`` forces,
else the first offered): such a rule only matches a request that offers tools, as a model can
only call a tool it was given.

Without a match the twin answers the way gravix's analysis prompt expects: one JSON object
``{"summary", "sentiment", "score", "keywords", "categories"}`` computed from the text to analyse,
so the same text always gets the same analysis and different texts get plausibly different ones
(a small sentiment lexicon rather than a hash, so a scenario about an angry review sees a
negative sentiment).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from converge_twins.mock_anthropic.variation import SUMMARIES, Variation, sentiment_of


class RuleError(ValueError):
    """A reply rule the twin cannot use; the message names the field."""


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    reply: str | None = None  # the text of the answer, or
    tool_input: dict[str, Any] | None = None  # the input of a tool_use answer
    tool: str | None = None  # which tool it calls (None: the forced one, else the first)

    def describe(self) -> dict[str, Any]:
        if self.tool_input is None:
            return {"match": self.pattern.pattern, "reply": self.reply}
        described = {"match": self.pattern.pattern, "tool_use": self.tool_input}
        return described if self.tool is None else {**described, "tool": self.tool}

    def applies(self, prompt: str, offers_tools: bool) -> bool:
        if self.tool_input is not None and not offers_tools:
            return False
        return self.pattern.search(prompt) is not None


def parse_rules(spec: Any) -> list[Rule]:
    """Rules from JSON: one rule object or a list of them; a non-string reply is sent as JSON."""
    items = spec if isinstance(spec, list) else [spec]
    return [_parse_rule(index, item) for index, item in enumerate(items)]


def _parse_rule(index: int, item: Any) -> Rule:
    if not isinstance(item, dict) or not isinstance(item.get("match"), str):
        raise RuleError(f"rule {index}: needs a string 'match' (a regular expression)")
    unknown = sorted(set(item) - {"match", "reply", "tool_use", "tool"})
    if unknown:
        raise RuleError(f"rule {index}: unknown field {unknown[0]!r}")
    if ("reply" in item) == ("tool_use" in item):
        raise RuleError(
            f"rule {index}: needs a 'reply' (text, or JSON to send as text) or a 'tool_use' "
            "(a tool call's input), not both"
        )
    try:
        pattern = re.compile(item["match"], re.IGNORECASE)
    except re.error as exc:
        raise RuleError(f"rule {index}: match does not compile: {exc}") from exc
    if "reply" in item:
        if "tool" in item:
            raise RuleError(f"rule {index}: 'tool' goes with 'tool_use', not with 'reply'")
        reply = item["reply"]
        return Rule(pattern, reply=reply if isinstance(reply, str) else json.dumps(reply))
    tool_input, tool = item["tool_use"], item.get("tool")
    if not isinstance(tool_input, dict):
        raise RuleError(f"rule {index}: tool_use must be a JSON object (the tool's input)")
    if tool is not None and (not isinstance(tool, str) or not tool):
        raise RuleError(f"rule {index}: tool must be a tool's name")
    return Rule(pattern, tool_input=tool_input, tool=tool)


def choose_rule(rules: list[Rule], prompt: str, offers_tools: bool) -> Rule | None:
    return next((rule for rule in rules if rule.applies(prompt, offers_tools)), None)


def default_reply(subject: str, variation: Variation | None = None) -> str:
    """What the twin says when no rule matches: the analysis of ``subject`` as JSON text."""
    return json.dumps(analyse(subject, variation))


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


POSITIVE = _words(
    "good great love loved excellent happy amazing awesome fast helpful best wonderful like "
    "liked enjoy enjoyed perfect nice recommend easy smooth pleased fantastic reliable friendly "
    "useful impressed satisfied quick works worked beautiful clean thanks"
)
NEGATIVE = _words(
    "bad terrible hate hated awful slow broken worst poor disappointed disappointing angry bug "
    "bugs crash crashes crashed refund problem problems issue issues horrible useless late "
    "expensive confusing annoying failed fails error errors rude never waste missing"
)
NEGATIONS = _words("not no never isn't wasn't don't doesn't didn't can't won't")
STOPWORDS = _words(
    "the and for that this with was were are but have has had you your our they them their "
    "from about into what when which would could should there here then than just very really "
    "also been being its it's i'm i've we're some more most much many only over after before "
    "because while where will shall can did does doing done get got make made one two"
)
CATEGORIES: dict[str, frozenset[str]] = {
    "billing": _words(
        "price pricing payment invoice refund subscription charge charged billing plan cost "
        "expensive cheap money"
    ),
    "performance": _words("slow fast speed latency lag quick loading performance"),
    "support": _words("support help service agent staff team response rude friendly"),
    "shipping": _words("delivery shipping package arrived late courier order"),
    "product": _words("product feature features quality design app device battery screen works"),
    "reliability": _words("bug bugs crash crashes crashed error errors broken reliable"),
}


def analysis_subject(text: str) -> str:
    """The text to analyse: inside ``<text>`` tags or triple quotes when the prompt has them."""
    for pattern in (r"<text>(.*?)</text>", r'"""(.*?)"""', r"```(?:\w*\n)?(.*?)```"):
        found = re.search(pattern, text, re.DOTALL | re.IGNORECASE)
        if found and found.group(1).strip():
            return found.group(1).strip()
    labelled = re.search(r"^\s*text\s*:\s*(.+)", text, re.IGNORECASE | re.MULTILINE | re.DOTALL)
    if labelled:
        return labelled.group(1).strip()
    return text.strip()


def analyse(text: str, variation: Variation | None = None) -> dict[str, Any]:
    words = [word.lower() for word in re.findall(r"[A-Za-z][A-Za-z']*", text)]
    positive = negative = 0
    for index, word in enumerate(words):
        negated = index > 0 and words[index - 1] in NEGATIONS
        if word in POSITIVE:
            negative, positive = (negative + 1, positive) if negated else (negative, positive + 1)
        elif word in NEGATIVE:
            negative, positive = (negative, positive + 1) if negated else (negative + 1, positive)
    total = positive + negative
    score = round(0.5 + 0.45 * (positive - negative) / total, 2) if total else 0.5

    counts = Counter(word for word in words if len(word) >= 4 and word not in STOPWORDS)
    first_seen = {word: index for index, word in reversed(list(enumerate(words)))}
    ranked = sorted(counts, key=lambda word: (-counts[word], first_seen[word]))
    keywords = ranked[:5]
    vocabulary = set(words)
    categories = [name for name, terms in CATEGORIES.items() if vocabulary & terms] or ["general"]
    if variation is not None:
        score, keywords, categories = variation.vary(score, keywords, categories)
    sentiment = sentiment_of(score)

    topic = ", ".join(keywords[:3]) if keywords else "no particular topic"
    if variation is not None:
        summary = variation.summary(sentiment, len(words), topic)
    else:
        summary = SUMMARIES[0].format(sentiment=sentiment, words=len(words), topic=topic)
    return {
        "summary": summary,
        "sentiment": sentiment,
        "score": score,
        "keywords": keywords,
        "categories": categories,
    }
