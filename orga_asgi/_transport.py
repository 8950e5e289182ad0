"""Moved to :mod:`orga_asgi._upstream`; this shim goes once nothing imports it."""

from __future__ import annotations

from ._upstream.base import (
    MAX_UPSTREAM_BODY,
    BodyTooLarge,
    Transport,
    TransportFailure,
    TransportTimeout,
    UpstreamReply,
)
from ._upstream.transports import AiohttpTransport, HttpxTransport, default_transport

__all__ = [
    "MAX_UPSTREAM_BODY",
    "AiohttpTransport",
    "BodyTooLarge",
    "HttpxTransport",
    "Transport",
    "TransportFailure",
    "TransportTimeout",
    "UpstreamReply",
    "default_transport",
]
