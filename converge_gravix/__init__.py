"""The reference Gravix API: the default system under test for converge.

A small but real service that uses its three dependencies the way the product does: it verifies
Supabase JWTs, asks Anthropic for an analysis, keeps its records in Supabase's REST tables and
starts upgrades through Stripe. In converge's stack those dependencies are the digital twins.
"""

from __future__ import annotations

from converge_gravix.app import create_app
from converge_gravix.config import Settings

__all__ = ["Settings", "create_app"]
