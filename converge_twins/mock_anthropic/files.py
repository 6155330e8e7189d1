"""Files: upload (multipart), list, retrieve metadata, download, delete.

Uploaded files are not downloadable, as with the API (only files a tool created are; the
control plane's ``POST /_twin/files`` makes one, standing in for such a tool). A download of
an uploaded file is the API's 400 with ``error.details.error_code: file_not_downloadable``.
The list answers in the current API's shape (``data``, ``next_page``, with ``limit`` and the
``page`` cursor) or, for a client sending the files beta header, in the beta's shape
(``data``, ``first_id``, ``last_id``, ``has_more``).
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from converge_twins.mock_anthropic.validation import InvalidRequest

MIN_EXPIRY = 3_600
MAX_EXPIRY = 7_776_000


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class StoredFile:
    id: str
    filename: str
    mime_type: str
    content: bytes
    created: datetime
    order: int
    downloadable: bool = False
    expires: datetime | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "file",
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size_bytes": len(self.content),
            "created_at": _iso(self.created),
            "downloadable": self.downloadable,
            "expires_at": _iso(self.expires) if self.expires else None,
        }


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """The parts of a ``multipart/form-data`` body (a small parser: the twin has no other)."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not found:
        raise InvalidRequest("Content-Type must be multipart/form-data with a boundary")
    boundary = b"--" + found.group(1).encode("latin-1")
    parts: list[Part] = []
    for chunk in body.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        parts.append(
            Part(
                name.group(1) if name else "",
                filename.group(1) if filename else None,
                headers.get("content-type"),
                data,
            )
        )
    return parts


def upload_fields(body: bytes, content_type: str) -> tuple[str, str, bytes, int | None]:
    """(filename, mime type, content, expires_in_seconds) of an upload."""
    parts = {part.name: part for part in parse_multipart(body, content_type)}
    file_part = parts.get("file")
    if file_part is None:
        raise InvalidRequest("file: Field required")
    filename = (file_part.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    mime = (file_part.content_type or "").split(";", 1)[0].strip()
    if not mime or mime == "application/octet-stream":
        mime = mimetypes.guess_type(filename)[0] or mime or "application/octet-stream"
    if not filename:
        filename = "unnamed" + (mimetypes.guess_extension(mime) or "")
    expiry = None
    if "expires_in_seconds" in parts:
        text = parts["expires_in_seconds"].data.decode("utf-8", errors="replace").strip()
        if not text.isdigit() or not MIN_EXPIRY <= int(text) <= MAX_EXPIRY:
            raise InvalidRequest(
                f"expires_in_seconds: must be from {MIN_EXPIRY} to {MAX_EXPIRY} seconds"
            )
        expiry = int(text)
    return filename, mime, file_part.data, expiry


class Files:
    def __init__(self) -> None:
        self.files: dict[str, StoredFile] = {}
        self._order = 0

    def clear(self) -> None:
        self.files.clear()

    def add(
        self,
        file_id: str,
        filename: str,
        mime: str,
        content: bytes,
        now: datetime,
        *,
        expires_in: int | None = None,
        downloadable: bool = False,
    ) -> StoredFile:
        self._order += 1
        expires = None
        if expires_in is not None:
            try:
                expires = now + timedelta(seconds=expires_in)
            except OverflowError:
                expires = None
        stored = StoredFile(
            file_id, filename, mime, content, now, self._order, downloadable, expires
        )
        self.files[file_id] = stored
        return stored

    def live(self, now: datetime) -> list[StoredFile]:
        """Newest first, without the expired ones."""
        return sorted(
            (f for f in self.files.values() if f.expires is None or f.expires > now),
            key=lambda f: f.order,
            reverse=True,
        )

    def get(self, file_id: str, now: datetime) -> StoredFile | None:
        found = self.files.get(file_id)
        if found is None or (found.expires is not None and found.expires <= now):
            return None
        return found
