"""Product matching: which adhesives in the catalog fit a described job.

The catalog is built in and fixed, so a query always gives the same ranking (holdout scenarios
can rely on it). Free users see the top few matches; paid tiers see more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from converge_gravix import payload
from converge_gravix.auth import authenticate
from converge_gravix.tiers import MATCH_LIMITS

MAX_QUERY = 500


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str
    substrates: tuple[str, ...]
    tags: tuple[str, ...]

    def keywords(self) -> frozenset[str]:
        words = [self.name, self.category, *self.substrates, *self.tags]
        return frozenset(token for word in words for token in tokens(word))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "substrates": list(self.substrates),
            "tags": list(self.tags),
        }


CATALOG: tuple[Product, ...] = (
    Product(
        "gx-epoxy-100",
        "Gravix Epoxy 100",
        "epoxy",
        ("metal", "steel", "aluminum", "concrete"),
        ("structural", "high strength", "heat"),
    ),
    Product(
        "gx-epoxy-220",
        "Gravix Epoxy 220 Flex",
        "epoxy",
        ("metal", "composite", "glass"),
        ("structural", "flexible", "impact", "vibration"),
    ),
    Product(
        "gx-cyano-10",
        "Gravix Instant 10",
        "cyanoacrylate",
        ("plastic", "rubber", "metal"),
        ("fast", "instant", "small parts"),
    ),
    Product(
        "gx-cyano-40",
        "Gravix Instant 40 Gel",
        "cyanoacrylate",
        ("wood", "leather", "porous", "ceramic"),
        ("fast", "gel", "vertical"),
    ),
    Product(
        "gx-pu-300",
        "Gravix Polyurethane 300",
        "polyurethane",
        ("wood", "plastic", "composite"),
        ("flexible", "outdoor", "waterproof"),
    ),
    Product(
        "gx-silicone-50",
        "Gravix Silicone 50",
        "silicone",
        ("glass", "ceramic", "metal"),
        ("sealant", "heat", "waterproof", "flexible"),
    ),
    Product(
        "gx-acrylic-500",
        "Gravix MMA Acrylic 500",
        "acrylic",
        ("plastic", "metal", "composite"),
        ("structural", "low surface energy", "fast"),
    ),
    Product(
        "gx-hotmelt-7",
        "Gravix Hot Melt 7",
        "hot melt",
        ("cardboard", "paper", "wood", "fabric"),
        ("packaging", "fast"),
    ),
    Product(
        "gx-uv-900",
        "Gravix UV Cure 900",
        "uv cure",
        ("glass", "plastic"),
        ("optical", "clear", "fast", "medical"),
    ),
    Product(
        "gx-anaerobic-62",
        "Gravix Threadlock 62",
        "anaerobic",
        ("metal", "steel"),
        ("threadlocker", "vibration", "fasteners"),
    ),
    Product(
        "gx-contact-12",
        "Gravix Contact 12",
        "contact",
        ("rubber", "leather", "laminate", "fabric"),
        ("flexible", "large area"),
    ),
    Product(
        "gx-tape-vhb",
        "Gravix Bonding Tape VHB",
        "tape",
        ("metal", "glass", "plastic", "painted"),
        ("clean", "no cure", "outdoor"),
    ),
)


def tokens(text: str) -> list[str]:
    return [word for word in re.findall(r"[a-z0-9]+", text.lower()) if len(word) > 1]


def match(query: str, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """Products sharing words with the query, best first (ties by id); with the total found."""
    wanted = set(tokens(query))
    scored: list[tuple[float, Product]] = []
    for product in CATALOG:
        found = wanted & product.keywords()
        if found:
            scored.append((round(len(found) / len(wanted), 2), product))
    scored.sort(key=lambda pair: (-pair[0], pair[1].id))
    items = [{**product.to_json(), "score": score} for score, product in scored[:limit]]
    return len(scored), items


async def match_products(request: Request) -> Response:
    user = await authenticate(request)
    if request.method == "POST":
        body = await payload.json_object(request)
        query = payload.required_text(body, "query", max_length=MAX_QUERY)
        requested: object = body.get("limit")
    else:
        query = payload.required_text(dict(request.query_params), "q", max_length=MAX_QUERY)
        requested = request.query_params.get("limit")
    if not tokens(query):
        raise payload.invalid("the query must contain at least one word", "query")
    allowed = MATCH_LIMITS[user.tier]
    limit = allowed if requested is None else _limit(requested, allowed)
    total, items = match(query, limit)
    return JSONResponse(
        {
            "query": query,
            "tier": user.tier,
            "limit": limit,
            "max_limit": allowed,
            "total": total,
            "count": len(items),
            "items": items,
        }
    )


def _limit(value: object, allowed: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if isinstance(value, bool) or number < 1:
        raise payload.invalid("limit must be a positive integer", "limit")
    # Asking for more than the tier allows is not an error: the tier caps it.
    return min(number, allowed)


async def list_catalog(request: Request) -> Response:
    await authenticate(request)
    return JSONResponse({"count": len(CATALOG), "items": [p.to_json() for p in CATALOG]})


routes = [
    Route("/v1/products", list_catalog, methods=["GET"]),
    Route("/v1/products/match", match_products, methods=["GET", "POST"]),
]
