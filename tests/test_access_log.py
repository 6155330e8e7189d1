"""The stack's access logs never hold a secret sent in a query string (or a JWT in a path).

The last test sends a freshly minted built-in token in a query string to every service of the
real reference stack (process backend) and reads the logs as `invoke twins.logs` shows them and
as the log files hold them.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import httpx

from converge import tokens
from converge._process_backend import LOG_DIR
from converge_twins.access_log import HIDDEN, HideQueryValues, without_secrets
from tests.support.stack import ReferenceStack


def test_query_values_and_jwt_segments_are_hidden_and_the_rest_kept():
    jwt = "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"
    assert without_secrets(f"/v1/me?token={jwt}&page=2&flag") == (
        f"/v1/me?token={HIDDEN}&page={HIDDEN}&{HIDDEN}"
    )
    assert without_secrets(f"/v1/verify/{jwt}/done") == f"/v1/verify/{HIDDEN}/done"
    assert without_secrets(f"/v1/x?{jwt}") == f"/v1/x?{HIDDEN}"
    assert without_secrets("/health") == "/health"


def test_the_filter_rewrites_uvicorns_access_record_and_keeps_it():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/v1/me?token=sekret-123", "1.1", 200), None,
    )
    assert HideQueryValues().filter(record)
    assert record.getMessage() == f'127.0.0.1:5 - "GET /v1/me?token={HIDDEN} HTTP/1.1" 200'


def test_no_service_of_the_stack_logs_a_token_sent_in_a_query_string(
    reference_stack: ReferenceStack,
):
    token = tokens.builtin_variables(
        tokens.DEFAULT_JWT_SECRET, reference_stack.api_url, uuid.uuid4().hex[:12],
        names={"pro_user_token"},
    )["pro_user_token"]
    opaque = f"opaque-{uuid.uuid4().hex}"
    marker = f"/leak-{uuid.uuid4().hex[:8]}"
    for status in reference_stack.statuses:
        assert status.url is not None
        httpx.get(f"{status.url}{marker}?access_token={token}&session={opaque}", timeout=10)
        httpx.get(f"{status.url}{marker}/{token}", timeout=10)

    shown = reference_stack.backend.logs(None, tail=10_000)
    files = "".join(
        path.read_text(errors="replace")
        for path in (Path(reference_stack.config.state_dir) / LOG_DIR).iterdir()
    )
    for text in (shown, files):
        assert text.count(f"{marker}?access_token={HIDDEN}&session={HIDDEN}") == len(
            reference_stack.statuses
        ), "every service logged the request, with its query values hidden"
        assert token not in text and opaque not in text
