"""uvicorn's access log without the secrets a query string carries.

uvicorn logs every request line with its whole query string (``GET /v1/me?token=eyJ...``), and
the stack's logs are what ``invoke twins.logs`` shows and what CI keeps: a token a scenario sends
in a query string (a built-in JWT, a captured session id) would sit there in clear. Every service
of the stack (the three twins and the reference gravix-api) calls :func:`hide_query_values` when
uvicorn builds it, so its access log shows each query parameter's name and never its value, and
never a JWT-shaped path segment.
"""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
HIDDEN = "[redacted]"  # as the journal writes a secret header

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_PATH_ARG = 2  # uvicorn's access record: (client, method, path with query, http version, status)


def without_secrets(target: str) -> str:
    """A request target for the log: query values hidden, JWT-shaped path segments too."""
    path, question, query = target.partition("?")
    path = _JWT.sub(HIDDEN, path)
    if not question:
        return path
    # A bare item (``?TOKEN``) is all value: hidden whole.
    pairs = (pair.partition("=") for pair in query.split("&"))
    return path + "?" + "&".join(
        f"{name}={HIDDEN}" if equals else HIDDEN if name else "" for name, equals, _ in pairs
    )


class HideQueryValues(logging.Filter):
    """Rewrites the path of uvicorn's access records; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > _PATH_ARG:
            target = args[_PATH_ARG]
            if isinstance(target, str):
                record.args = (*args[:_PATH_ARG], without_secrets(target), *args[_PATH_ARG + 1 :])
        return True


def hide_query_values() -> None:
    """Install the filter on uvicorn's access logger (once, however many apps are built)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, HideQueryValues) for f in logger.filters):
        logger.addFilter(HideQueryValues())
