"""mock-anthropic's answers by run seed and variability, on a real uvicorn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from converge_twins.mock_anthropic.app import create_app
from converge_twins.mock_anthropic.replies import analyse
from converge_twins.mock_anthropic.variation import parse_variability, sentiment_of
from tests.support.asgi import serve_asgi

HEADERS = {"x-api-key": "sk-ant-converge-test", "anthropic-version": "2023-06-01"}
ANGRY = "Terrible support, the app crashed twice and the refund never came. Awful, broken."
MIXED = "The glue held well but the cap broke and the smell was bad; good price though."


@pytest.fixture
def url() -> Iterator[str]:
    with serve_asgi(create_app({"TWIN_SEED": "variation-tests"})) as base:
        yield base


def answer(url: str, text: str, seed: int | None = None) -> dict[str, Any]:
    headers = dict(HEADERS)
    if seed is not None:
        headers["baggage"] = f"tenant=a,converge-seed={seed}"
    response = httpx.post(
        f"{url}/v1/messages",
        headers=headers,
        json={
            "model": "claude-haiku-4-5",
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": f"<text>{text}</text>"}],
        },
    )
    response.raise_for_status()
    result: dict[str, Any] = json.loads(response.json()["content"][0]["text"])
    return result


def assert_valid(result: dict[str, Any], text: str) -> None:
    """Valid for gravix's analysis prompt: the shape, the ranges, a sentiment that fits."""
    canonical = analyse(text)
    assert set(result) == {"summary", "sentiment", "score", "keywords", "categories"}
    assert 0 <= result["score"] <= 1
    assert result["sentiment"] == sentiment_of(result["score"])
    assert sorted(result["keywords"]) == sorted(canonical["keywords"])
    assert sorted(result["categories"]) == sorted(canonical["categories"])
    assert abs(result["score"] - canonical["score"]) <= 0.25 + 1e-9
    assert isinstance(result["summary"], str) and result["summary"]


def test_without_a_seed_or_variability_the_answer_is_the_canonical_one(url):
    assert answer(url, MIXED) == analyse(MIXED)
    assert answer(url, MIXED) == answer(url, MIXED)


def test_the_wording_varies_by_seed_and_the_facts_do_not(url):
    results = [answer(url, MIXED, seed) for seed in range(1, 13)]
    assert len({r["summary"] for r in results}) > 1
    canonical = analyse(MIXED)
    for result in results:
        assert {k: v for k, v in result.items() if k != "summary"} == {
            k: v for k, v in canonical.items() if k != "summary"
        }


def test_a_scoped_reset_replays_a_seeds_answers(url):
    httpx.post(f"{url}/_twin/variability", json={"level": 1}).raise_for_status()
    first = [answer(url, MIXED, 77) for _ in range(3)]
    assert httpx.post(f"{url}/_twin/reset", json={"seed": "77"}).status_code == 200
    assert [answer(url, MIXED, 77) for _ in range(3)] == first
    # Without the reset the seed's stream goes on: the next answers are not the first ones.
    assert [answer(url, MIXED, 77) for _ in range(3)] != first


def test_variability_gives_different_but_valid_answers(url):
    httpx.post(f"{url}/_twin/variability", json={"level": 1}).raise_for_status()
    mixed = [answer(url, MIXED, seed) for seed in range(1, 31)]
    for result in mixed:
        assert_valid(result, MIXED)
    assert len({r["score"] for r in mixed}) > 5
    assert len({r["sentiment"] for r in mixed}) > 1  # a borderline text flips
    angry = [answer(url, ANGRY, seed) for seed in range(1, 31)]
    for result in angry:
        assert_valid(result, ANGRY)
    assert {r["sentiment"] for r in angry} == {"negative"}  # a clear one keeps its sentiment


def test_variability_without_a_seed_still_varies(url):
    httpx.post(f"{url}/_twin/variability", json={"level": 1}).raise_for_status()
    results = [answer(url, MIXED) for _ in range(12)]
    assert len({json.dumps(r) for r in results}) > 1


def test_a_full_reset_restores_the_configured_level(url):
    assert httpx.post(f"{url}/_twin/variability", json={"level": 0.5}).json() == {
        "level": 0.5,
        "configured": 0.0,
    }
    httpx.post(f"{url}/_twin/reset").raise_for_status()
    assert httpx.get(f"{url}/_twin/variability").json() == {"level": 0.0, "configured": 0.0}


@pytest.mark.parametrize("body", [{"level": 2}, {"level": "much"}, {"level": True}, {}, [0.5]])
def test_an_unusable_level_is_refused(url, body):
    response = httpx.post(f"{url}/_twin/variability", json=body)
    assert response.status_code == 400
    assert httpx.get(f"{url}/_twin/variability").json()["level"] == 0.0


def test_the_level_comes_from_the_environment():
    with serve_asgi(create_app({"TWIN_ANTHROPIC_VARIABILITY": "0.3"})) as base:
        assert httpx.get(f"{base}/_twin/variability").json() == {
            "level": 0.3,
            "configured": 0.3,
        }


def test_an_unusable_level_in_the_environment_stops_the_twin_with_its_name():
    with pytest.raises(SystemExit, match="TWIN_ANTHROPIC_VARIABILITY"):
        create_app({"TWIN_ANTHROPIC_VARIABILITY": "1.5"})


@pytest.mark.parametrize("value", ["0", "1", "0.25", 0.5, 1])
def test_levels_from_0_to_1_are_accepted(value):
    assert 0 <= parse_variability(value) <= 1
