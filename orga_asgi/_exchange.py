"""Moved to :mod:`orga_asgi._upstream`; this shim goes once nothing imports it."""

from __future__ import annotations

from ._upstream.attempts import UpstreamAttempt
from ._upstream.exchange import Exchange
from ._upstream.replies import ClientSecrets, parse_ice_servers, parse_token

__all__ = ["ClientSecrets", "Exchange", "UpstreamAttempt", "parse_ice_servers", "parse_token"]
