"""Media types both ways: what a response may be (``Accept``) and what a body is.

Answers are JSON arrays, a single object (``application/vnd.pgrst.object+json``, 406
``PGRST116`` unless exactly one row), CSV (``text/csv``), or either JSON form with
``;nulls=stripped`` leaving out null values. Any other ``Accept`` (an execution plan, GeoJSON,
HTML without ``*/*``) is 406 ``PGRST107``. Request bodies are JSON, CSV (``text/csv``, a header
line then rows) or a form (``application/x-www-form-urlencoded``, one row); a JSON body that is
not JSON is 400 ``PGRST102``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from converge_twins.mock_supabase.errors import PostgrestError

JSON = "application/json"
OBJECT = "application/vnd.pgrst.object+json"
ARRAY = "application/vnd.pgrst.array+json"
CSV = "text/csv"
_ACCEPTED = {
    "application/json": JSON,
    "application/*": JSON,
    "*/*": JSON,
    "application/vnd.pgrst.object+json": OBJECT,
    "application/vnd.pgrst.object": OBJECT,
    "application/vnd.pgrst.array+json": ARRAY,
    "application/vnd.pgrst.array": ARRAY,
    "text/csv": CSV,
}


@dataclass(frozen=True)
class Media:
    kind: str  # JSON, OBJECT, ARRAY or CSV
    strip_nulls: bool = False

    @property
    def single(self) -> bool:
        return self.kind == OBJECT

    def content_type(self) -> str:
        if self.kind == CSV:
            return "text/csv; charset=utf-8"
        if self.kind == JSON:
            return "application/json; charset=utf-8"
        stripped = ";nulls=stripped" if self.strip_nulls else ""
        return f"{self.kind}{stripped}; charset=utf-8"


def negotiate(request: Request) -> Media:
    header = request.headers.get("accept", "").strip()
    if not header:
        return Media(JSON)
    for offer in header.split(","):
        parts = [p.strip() for p in offer.split(";")]
        kind = _ACCEPTED.get(parts[0].lower())
        if kind is not None:
            return Media(kind, "nulls=stripped" in parts[1:] and kind in (OBJECT, ARRAY))
    raise PostgrestError(406, "PGRST107", f"None of these media types are available: {header}")


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def _csv_cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, list):
        return "{" + ",".join(json.dumps(v) if not isinstance(v, str) else v for v in value) + "}"
    return str(value)


def render_csv(rows: list[dict[str, Any]], labels: list[str]) -> str:
    """PostgreSQL's text output of each row under a header line, NULL as an empty field."""
    out = io.StringIO()
    out.write(",".join(_quote(label) for label in labels))
    for row in rows:
        out.write("\n")
        cells = [_csv_cell(row.get(label)) for label in labels]
        out.write(
            ",".join("" if cell is None else _quote(cell, empty_quoted=True) for cell in cells)
        )
    return out.getvalue()


def _quote(text: str, empty_quoted: bool = False) -> str:
    if (empty_quoted and text == "") or any(c in text for c in ',"\n\r\\') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def respond(
    payload: Any, media: Media, *, status: int, headers: dict[str, str], labels: list[str]
) -> Response:
    if media.kind == CSV:
        rows = payload if isinstance(payload, list) else [payload]
        body = render_csv(rows, labels)
    else:
        body = json.dumps(_strip(payload) if media.strip_nulls else payload, separators=(",", ":"))
    return Response(body, status_code=status, headers=headers, media_type=media.content_type())


async def read_body(request: Request) -> Any:
    """The request body as rows (a list or one object), by its Content-Type."""
    raw = await request.body()
    content_type = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
    if content_type == CSV:
        lines = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
        if not lines:
            raise PostgrestError(400, "PGRST102", "Empty or invalid csv")
        header, *records = lines
        return [
            {
                name: (None if cell == "NULL" else cell)
                for name, cell in zip(header, record, strict=False)
            }
            for record in records
        ]
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise PostgrestError(400, "PGRST102", "Empty or invalid json") from exc
