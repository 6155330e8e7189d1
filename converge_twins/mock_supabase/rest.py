"""PostgREST (``/rest/v1``): tables and ``/rpc`` functions, answered as PostgREST 12 does.

Reads (``GET``, ``HEAD``) take the whole query language (:mod:`.query`, :mod:`.reading`);
writes are ``POST`` (insert, or upsert with ``Prefer: resolution=...`` and ``on_conflict``),
``PATCH``, ``DELETE`` and ``PUT`` (one row by its primary key). Status and headers follow
PostgREST: 201 for an insert, 204 for a write without ``return=representation``, 206 for a
counted page short of the total, ``Content-Range`` ``0-9/42`` (``*/*`` for an insert without a
count), ``Location`` for ``return=headers-only``. A write changes all of its rows or none, and
a write asked for as a single object that does not touch exactly one row changes nothing.
There is no row-level security: every valid key or user token sees every row, which is what
the service-role key an API server uses would see anyway. As on Supabase (pg-safeupdate),
``PATCH`` and ``DELETE`` without a filter are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from converge_twins.mock_supabase.errors import PostgrestError
from converge_twins.mock_supabase.functions import Database, Function, call, not_found
from converge_twins.mock_supabase.media import JSON, Media, negotiate, read_body, respond
from converge_twins.mock_supabase.operators import Row, extract
from converge_twins.mock_supabase.prefer import Preferences
from converge_twins.mock_supabase.query import Condition
from converge_twins.mock_supabase.reading import (
    Plan,
    Shaped,
    labels_for,
    order_rows,
    predicate_fields,
    shape,
)
from converge_twins.mock_supabase.tables import Store, Table

READ_METHODS = ("GET", "HEAD")


def content_range(lower: int, count: int, total: int | None) -> str:
    """PostgREST's Content-Range: ``lower-upper/total`` with ``*`` for what is not known."""
    upper = lower + count - 1
    shown_total = "*" if total is None else str(total)
    if total == 0 or lower > upper:
        return f"*/{shown_total}"
    return f"{lower}-{upper}/{shown_total}"


def singular(rows: list[Any]) -> None:
    if len(rows) != 1:
        raise PostgrestError(
            406,
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
            f"The result contains {len(rows)} rows",
        )


class PostgREST:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.functions: Mapping[str, Function] = {}

    # tables -----------------------------------------------------------------------------------

    async def table_endpoint(self, request: Request) -> Response:
        handler = {
            "GET": self.read,
            "HEAD": self.read,
            "POST": self.insert,
            "PATCH": self.update,
            "DELETE": self.delete,
            "PUT": self.put,
        }.get(request.method)
        if handler is None:
            raise PostgrestError(405, "PGRST117", f"Unsupported HTTP method: {request.method}")
        table = self.store.table(request.path_params["table"])
        return await handler(request, table)

    async def read(self, request: Request, table: Table) -> Response:
        media = negotiate(request)
        preferences = Preferences.parse(request)
        plan = Plan.parse(request)
        shaped = shape(self.store, table, table.rows, plan, counting=preferences.counting)
        return self.answer_rows(request, media, shaped, preferences, read=True)

    def answer_rows(
        self,
        request: Request,
        media: Media,
        shaped: Shaped,
        preferences: Preferences,
        *,
        read: bool = False,
        status: int = 200,
        applied: tuple[str, ...] = ("count",),
        extra: dict[str, str] | None = None,
    ) -> Response:
        if media.single:
            singular(shaped.rows)
        if read and shaped.total is not None and len(shaped.rows) < shaped.total:
            status = 206
        headers = {
            "Content-Range": content_range(shaped.offset, len(shaped.rows), shaped.total),
            **preferences.applied(*applied),
            **(extra or {}),
        }
        payload: Any = shaped.rows[0] if media.single else shaped.rows
        response = respond(payload, media, status=status, headers=headers, labels=shaped.labels)
        if request.method == "HEAD":
            response.body = b""
            response.headers["content-length"] = "0"
        return response

    async def insert(self, request: Request, table: Table) -> Response:
        media = negotiate(request)
        preferences = Preferences.parse(request)
        plan = Plan.parse(request)
        rows = self.rows_of(await read_body(request), plan.columns, table, preferences)
        resolution = preferences.get("resolution")
        conflict = None
        if resolution is not None:
            conflict = self.store.conflict_target(table, plan.on_conflict)
        with self.store.transaction():
            written = self.store.insert(
                table, rows, conflict=conflict, merge=resolution == "merge-duplicates"
            )
            if media.single:
                singular(written)
        applied = ("resolution", "missing", "return", "count", "handling")
        return self.written(
            request,
            table,
            written,
            plan,
            media=media,
            preferences=preferences,
            status=201,
            applied=applied,
        )

    def rows_of(
        self, body: Any, columns: tuple[str, ...] | None, table: Table, preferences: Preferences
    ) -> list[Row]:
        """The rows a body carries, as PostgREST's json_populate_recordset would read them."""
        rows = body if isinstance(body, list) else [body]
        if not all(isinstance(row, dict) for row in rows):
            raise PostgrestError(400, "PGRST102", "All object keys must match")
        if columns is not None:
            if table.declared:
                known = table.columns()
                for name in columns:
                    if name not in known:
                        raise PostgrestError(
                            400,
                            "PGRST204",
                            f"Could not find the '{name}' column of '{table.name}' in the "
                            "schema cache",
                        )
            default = preferences.get("missing") == "default"
            return [
                {c: row[c] for c in columns if c in row}
                if default
                else {c: row.get(c) for c in columns}
                for row in rows
            ]
        if isinstance(body, list) and any(set(row) != set(rows[0]) for row in rows):
            raise PostgrestError(400, "PGRST102", "All object keys must match")
        return [dict(row) for row in rows]

    def written(
        self,
        request: Request,
        table: Table,
        rows: list[Row],
        plan: Plan,
        *,
        media: Media,
        preferences: Preferences,
        status: int,
        applied: tuple[str, ...],
    ) -> Response:
        """The answer to a write: 201/204 without a body, or the rows with representation."""
        total = len(rows) if preferences.counting else None
        headers = preferences.applied(*applied)
        if request.method == "POST":
            headers["Content-Range"] = f"*/{'*' if total is None else total}"
        else:
            headers["Content-Range"] = content_range(0, len(rows), total)
        choice = preferences.get("return")
        if choice == "headers-only" and rows and table.schema.primary_key:
            key = table.schema.primary_key
            query = "&".join(f"{c}=eq.{rows[0].get(c)}" for c in key)
            headers["Location"] = f"/{table.name}?{query}"
        if choice != "representation":
            return Response(status_code=201 if status == 201 else 204, headers=headers)
        shaped = shape(self.store, table, rows, plan, counting=False, filtered=True)
        shaped.total = total
        return self.answer_rows(
            request,
            media,
            shaped,
            preferences,
            status=status if status == 201 else 200,
            applied=applied,
            extra=headers,
        )

    def targets(self, request: Request, table: Table, plan: Plan, verb: str) -> list[Row]:
        """The rows a PATCH or DELETE touches: its filters, then ``order`` and ``limit``."""
        if not plan.root:
            raise PostgrestError(400, "21000", f"{verb} requires a WHERE clause")
        table.check_columns(f.name for p in plan.root for f in predicate_fields(p))
        rows = table.matching(plan.root)
        if () in plan.limits:
            terms = plan.orders.get((), ())
            ordered = order_rows(rows, terms, lambda r, t: extract(r, t.field)[0], table.type_of)
            start = plan.offsets.get((), 0)
            rows = ordered[start : start + plan.limits[()]]
        return rows

    def check_affected(self, preferences: Preferences, count: int) -> None:
        limit = preferences.get("max-affected")
        if limit is not None and preferences.get("handling") == "strict" and count > int(limit):
            raise PostgrestError(
                400,
                "PGRST124",
                "Query result exceeds max-affected preference constraint",
                f"The query affects {count} rows",
            )

    async def update(self, request: Request, table: Table) -> Response:
        media = negotiate(request)
        preferences = Preferences.parse(request)
        plan = Plan.parse(request)
        values = await read_body(request)
        if not isinstance(values, dict):
            raise PostgrestError(400, "PGRST102", "Empty or invalid json")
        if plan.columns is not None:
            values = {c: values.get(c) for c in plan.columns}
        rows = self.targets(request, table, plan, "UPDATE")
        self.check_affected(preferences, len(rows))
        if media.single:
            singular(rows)
        with self.store.transaction():
            self.store.update(table, rows, values)
        applied = ("return", "count", "handling", "max-affected")
        return self.written(
            request,
            table,
            rows,
            plan,
            media=media,
            preferences=preferences,
            status=200,
            applied=applied,
        )

    async def delete(self, request: Request, table: Table) -> Response:
        media = negotiate(request)
        preferences = Preferences.parse(request)
        plan = Plan.parse(request)
        rows = self.targets(request, table, plan, "DELETE")
        self.check_affected(preferences, len(rows))
        if media.single:
            singular(rows)
        with self.store.transaction():
            self.store.delete(table, rows)
        applied = ("return", "count", "handling", "max-affected")
        return self.written(
            request,
            table,
            rows,
            plan,
            media=media,
            preferences=preferences,
            status=200,
            applied=applied,
        )

    async def put(self, request: Request, table: Table) -> Response:
        """An upsert of one row named by its whole primary key: ``PUT /t?id=eq.1``."""
        media = negotiate(request)
        preferences = Preferences.parse(request)
        plan = Plan.parse(request)
        if plan.limits or plan.offsets:
            raise PostgrestError(
                400, "PGRST114", "limit/offset querystring parameters are not allowed for PUT"
            )
        key = table.schema.primary_key
        filters = {
            p.field.name: p.operation
            for p in plan.root
            if isinstance(p, Condition) and not p.field.path
        }
        if (
            len(plan.root) != len(key)
            or set(filters) != set(key)
            or any(op.operator != "eq" or op.negated for op in filters.values())
        ):
            raise PostgrestError(
                405,
                "PGRST105",
                "Filters must include all and only primary key columns with 'eq' operators",
            )
        body = await read_body(request)
        if not isinstance(body, dict):
            raise PostgrestError(400, "PGRST102", "Empty or invalid json")
        for column, operation in filters.items():
            if str(body.get(column)) != str(operation.value):
                raise PostgrestError(
                    400, "PGRST115", "Payload values do not match URL in primary key column(s)"
                )
        with self.store.transaction():
            written = self.store.insert(table, [body], conflict=key, merge=True)
        applied = ("return", "count", "handling")
        return self.written(
            request,
            table,
            written,
            plan,
            media=media,
            preferences=preferences,
            status=200,
            applied=applied,
        )

    # functions --------------------------------------------------------------------------------

    async def rpc(self, request: Request) -> Response:
        name = request.path_params["function"]
        if request.method not in ("GET", "HEAD", "POST"):
            raise PostgrestError(405, "PGRST101", f"Cannot use the {request.method} method on RPC")
        media = negotiate(request)
        preferences = Preferences.parse(request)
        read_only = request.method in READ_METHODS
        plan = Plan.parse(request, rpc_read=read_only)
        if read_only:
            arguments: dict[str, Any] = dict(plan.arguments)
        else:
            body = await request.body()
            arguments = await read_body(request) if body.strip() else {}
            if not isinstance(arguments, dict):
                raise PostgrestError(400, "PGRST102", "Empty or invalid json")
        function = self.functions.get(name)
        if function is None or not function.accepts(set(arguments)):
            raise not_found(self.functions, name, list(arguments), post=not read_only)
        database = Database(self.store, read_only=read_only)
        with self.store.transaction():
            result = call(function, arguments, database)
        if result is None and function.void:
            return Response(status_code=204)
        if isinstance(result, list) and all(isinstance(r, dict) for r in result):
            shaped = shape(self.store, None, result, plan, counting=preferences.counting)
            return self.answer_rows(request, media, shaped, preferences, read=True)
        if isinstance(result, dict):
            shaped = shape(self.store, None, [result], plan, counting=False)
            payload: Any = shaped.rows[0] if shaped.rows else None
        else:
            payload = result
        response = respond(
            payload,
            Media(JSON) if media.single else media,
            status=200,
            headers={"Content-Range": "0-0/*"},
            labels=labels_for(plan.select, list(result) if isinstance(result, dict) else []),
        )
        if request.method == "HEAD":
            response.body = b""
            response.headers["content-length"] = "0"
        return response
