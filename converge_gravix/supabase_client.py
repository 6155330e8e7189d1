"""Supabase's PostgREST interface (``/rest/v1/<table>``) with the service-role key.

The API is the only writer of its tables and enforces ownership itself (every query filters on
the caller's ``user_id``), which is why it uses the service-role key rather than the user's JWT.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from converge_gravix.config import Settings
from converge_gravix.errors import UpstreamError
from converge_gravix.upstream import json_body, send

SERVICE = "supabase"

Row = dict[str, Any]


class SupabaseClient:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._base = settings.supabase_url.rstrip("/") + "/rest/v1/"
        key = settings.service_role_key()
        self._headers = {"apikey": key, "Authorization": f"Bearer {key}"}

    async def select(
        self,
        table: str,
        filters: Mapping[str, str],
        *,
        order: str | None = None,
        limit: int | None = None,
        columns: str = "*",
    ) -> list[Row]:
        """``filters`` maps a column to a PostgREST operator expression, e.g. ``"eq.42"``."""
        params: dict[str, str] = {"select": columns, **filters}
        if order:
            params["order"] = order
        if limit is not None:
            params["limit"] = str(limit)
        response = await send(
            self._http,
            SERVICE,
            "GET",
            self._base + table,
            expect=(200,),
            params=params,
            headers=self._headers,
        )
        return _rows(json_body(response, SERVICE))

    async def insert(self, table: str, row: Row) -> Row:
        response = await send(
            self._http,
            SERVICE,
            "POST",
            self._base + table,
            expect=(200, 201),
            json=row,
            headers={**self._headers, "Prefer": "return=representation"},
        )
        rows = _rows(json_body(response, SERVICE))
        if not rows:
            raise UpstreamError(
                SERVICE, f"supabase returned no row for the insert into {table}", unavailable=False
            )
        return rows[0]

    async def update(self, table: str, filters: Mapping[str, str], values: Row) -> list[Row]:
        response = await send(
            self._http,
            SERVICE,
            "PATCH",
            self._base + table,
            expect=(200,),
            params=dict(filters),
            json=values,
            headers={**self._headers, "Prefer": "return=representation"},
        )
        return _rows(json_body(response, SERVICE))


def _rows(body: Any) -> list[Row]:
    if not isinstance(body, list) or not all(isinstance(row, dict) for row in body):
        raise UpstreamError(
            SERVICE, "supabase answered with something other than rows", unavailable=False
        )
    return body
