"""How mock-anthropic's answers differ from one run to the next, as a real model's do.

A real model does not answer the same prompt the same way twice; a gate that is green only
because the twin always says the same thing proves little. Two knobs:

- A **run seed** (converge sends one per scenario run in the ``baggage`` header, and an API that
  propagates baggage hands it on): the wording of the analysis summary is chosen by the seed, so
  different runs read differently and a replay of one run reads the same.
- **Variability** (``TWIN_ANTHROPIC_VARIABILITY``, a number from 0 to 1, default 0; changed at
  run time with ``POST /_twin/variability {"level": 0.3}``): the chance that each part of an
  answer departs from the canonical analysis while staying valid for the analysis prompt: the
  score moves by up to 0.25 (and the sentiment follows it, so borderline texts flip between
  neutral and a side, while clear ones keep theirs), the keywords and categories come in another
  order. The JSON shape and value ranges never change.

Without a run seed and with variability above 0 the twin draws from one stream of its own
(seeded by ``TWIN_SEED``): answers still vary, but a run cannot be replayed exactly.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

VARIABILITY_ENV = "TWIN_ANTHROPIC_VARIABILITY"
SCORE_SPREAD = 0.25  # the most a varied score moves from the canonical one, either way

# Ways to say the same summary; the first is the canonical one (no seed, no variability).
SUMMARIES = (
    "A {sentiment} text ({words} words) about {topic}.",
    "{Sentiment} overall: {words} words, mostly about {topic}.",
    "About {topic}; the tone is {sentiment} ({words} words).",
    "The text ({words} words) reads as {sentiment}. Main topics: {topic}.",
    "{Sentiment} in tone, {words} words long, on {topic}.",
)


def parse_variability(value: object) -> float:
    """A variability level from text or a number; ValueError naming the allowed range."""
    if isinstance(value, bool):
        raise ValueError("variability is a number from 0 to 1")
    try:
        level = float(value) if isinstance(value, int | float | str) else float("nan")
    except ValueError:
        level = float("nan")
    if not 0 <= level <= 1:
        raise ValueError(f"variability is a number from 0 to 1, got {value!r}")
    return level


def variability_from(env: Mapping[str, str]) -> float:
    text = env.get(VARIABILITY_ENV, "").strip()
    return parse_variability(text) if text else 0.0


def sentiment_of(score: float) -> str:
    return "positive" if score >= 0.6 else "negative" if score <= 0.4 else "neutral"


@dataclass
class Variation:
    """One answer's draws: from the run seed's stream, or the twin's own."""

    rng: random.Random
    level: float

    def vary(
        self, score: float, keywords: list[str], categories: list[str]
    ) -> tuple[float, list[str], list[str]]:
        """The score, keywords and categories of a different but valid answer."""
        if self.rng.random() < self.level:
            moved = score + self.rng.uniform(-SCORE_SPREAD, SCORE_SPREAD)
            score = round(min(1.0, max(0.0, moved)), 2)
        if self.rng.random() < self.level:
            keywords = self.rng.sample(keywords, len(keywords))
        if self.rng.random() < self.level:
            categories = self.rng.sample(categories, len(categories))
        return score, keywords, categories

    def summary(self, sentiment: str, words: int, topic: str) -> str:
        template = self.rng.choice(SUMMARIES)
        return template.format(
            sentiment=sentiment, Sentiment=sentiment.capitalize(), words=words, topic=topic
        )
