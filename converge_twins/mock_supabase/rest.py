"""PostgREST (``/rest/v1/<table>``): GET, POST (insert, upsert), PATCH, DELETE over the tables.

Honoured: ``select``, column filters, ``order``, ``limit``/``offset``, ``on_conflict``; the
``Prefer`` header's ``return=representation|minimal|headers-only``, ``count=exact|planned|
estimated`` (``Content-Range: 0-9/42``) and ``resolution=merge-duplicates|ignore-duplicates``;
``Accept: application/vnd.pgrst.object+json`` for a single object (406 ``PGRST116`` otherwise).
There is no row-level security: every valid key or user token sees every row, which is what the
service-role key gravix uses would see anyway. Like Supabase (pg-safeupdate), PATCH and DELETE
without a filter are refused.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from converge_twins.mock_supabase.tables import (
    RESERVED_PARAMS,
    Filter,
    PostgrestError,
    Row,
    Store,
    apply_order,
    parse_filter,
    parse_order,
    parse_select,
    project,
)

SINGLE_OBJECT = "application/vnd.pgrst.object+json"


def _preferences(request: Request) -> dict[str, str]:
    preferences: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for item in header.split(","):
            key, _, value = item.strip().partition("=")
            if key:
                preferences[key.strip()] = value.strip()
    return preferences


def _filters(request: Request) -> list[Filter]:
    return [
        parse_filter(key, value)
        for key, value in request.query_params.multi_items()
        if key not in RESERVED_PARAMS
    ]


def _integer(request: Request, name: str) -> int | None:
    text = request.query_params.get(name)
    if text is None:
        return None
    if not text.isdigit():
        raise PostgrestError(
            400, "PGRST100", f'"failed to parse {name} ({text})" (line 1, column 1)'
        )
    return int(text)


class PostgREST:
    def __init__(self, store: Store) -> None:
        self.store = store

    def answer(
        self,
        request: Request,
        rows: list[Row],
        *,
        status: int,
        total: int | None = None,
        offset: int = 0,
        always_body: bool = False,
    ) -> Response:
        """Rows as the client asked: a list or one object, with or without a body and a count."""
        preferences = _preferences(request)
        table = request.path_params["table"]
        shown = project(rows, parse_select(request.query_params.get("select"), table))
        end = offset + len(shown) - 1
        known = "*" if total is None else str(total)
        headers = {"Content-Range": f"{offset}-{end}/{known}" if shown else f"*/{known}"}
        if preferences:
            headers["Preference-Applied"] = ", ".join(
                f"{key}={value}" for key, value in preferences.items() if key != "count"
            )
        single = SINGLE_OBJECT in request.headers.get("accept", "")
        if single and len(shown) != 1:
            raise PostgrestError(
                406,
                "PGRST116",
                "JSON object requested, multiple (or no) rows returned",
                f"The result contains {len(shown)} rows",
            )
        if not always_body and preferences.get("return") != "representation":
            return Response(status_code=201 if status == 201 else 204, headers=headers)
        payload: Any = shown[0] if single else shown
        if status == 200 and total is not None and len(shown) < total:
            status = 206
        return JSONResponse(payload, status_code=status, headers=headers)

    async def body(self, request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise PostgrestError(400, "PGRST102", "Empty or invalid json") from exc

    async def read(self, request: Request) -> Response:
        table = self.store.table(request.path_params["table"])
        selection = parse_select(request.query_params.get("select"), table.name)
        if selection.columns is not None:
            table.check_columns(source for _, source in selection.columns)
        rows = table.select(_filters(request))
        order = request.query_params.get("order")
        if order:
            orderings = parse_order(order)
            table.check_columns(o.column for o in orderings)
            rows = apply_order(rows, orderings)
        total = len(rows) if _preferences(request).get("count") else None
        offset = _integer(request, "offset") or 0
        limit = _integer(request, "limit")
        page = rows[offset : None if limit is None else offset + limit]
        return self.answer(request, page, status=200, total=total, offset=offset, always_body=True)

    async def insert(self, request: Request) -> Response:
        table = self.store.table(request.path_params["table"])
        body = await self.body(request)
        rows = body if isinstance(body, list) else [body]
        if not all(isinstance(row, dict) for row in rows):
            raise PostgrestError(400, "PGRST102", "All object keys must match")
        preferences = _preferences(request)
        resolution = preferences.get("resolution")
        conflict = None
        if resolution in ("merge-duplicates", "ignore-duplicates"):
            conflict = (request.query_params.get("on_conflict") or "id").split(",")
        # An insert of several rows is one statement: all of them or none.
        before, next_id = [dict(row) for row in table.rows], table.next_id
        try:
            written = self.store.insert(table, rows, conflict, resolution == "merge-duplicates")
        except PostgrestError:
            table.rows, table.next_id = before, next_id
            raise
        total = len(written) if preferences.get("count") else None
        return self.answer(request, written, status=201, total=total)

    async def update(self, request: Request) -> Response:
        table = self.store.table(request.path_params["table"])
        filters = _filters(request)
        if not filters:
            raise PostgrestError(400, "21000", "UPDATE requires a WHERE clause")
        values = await self.body(request)
        if not isinstance(values, dict):
            raise PostgrestError(400, "PGRST102", "Empty or invalid json")
        rows = table.select(filters)
        for row in rows:
            row.update(values)
        total = len(rows) if _preferences(request).get("count") else None
        return self.answer(request, rows, status=200, total=total)

    async def delete(self, request: Request) -> Response:
        table = self.store.table(request.path_params["table"])
        filters = _filters(request)
        if not filters:
            raise PostgrestError(400, "21000", "DELETE requires a WHERE clause")
        rows = table.select(filters)
        table.rows = [row for row in table.rows if not any(row is gone for gone in rows)]
        total = len(rows) if _preferences(request).get("count") else None
        return self.answer(request, rows, status=200, total=total)

    async def dispatch(self, request: Request) -> Response:
        handler = {
            "GET": self.read,
            "HEAD": self.read,
            "POST": self.insert,
            "PATCH": self.update,
            "DELETE": self.delete,
        }[request.method]
        return await handler(request)
