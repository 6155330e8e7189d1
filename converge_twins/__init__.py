"""Digital twins of gravix's third-party services, each a small Starlette app run by uvicorn.

Every twin speaks its real service's wire format closely enough for the official SDK to work
against it unchanged, keeps its state in memory, and shares one control plane under ``/_twin/``
(:mod:`converge_twins.control`): health, reset, journal, faults and a controllable clock. Twins are
configured only by environment variables, so the compose and process backends start them the
same way: ``python -m uvicorn --factory converge_twins.mock_X.app:create_app``.
"""

from __future__ import annotations
