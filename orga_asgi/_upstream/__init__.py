"""The upstream side: the exchange with Orga, the HTTP seam under it, the process-wide cap.

- :mod:`.exchange`: :class:`Exchange` runs ``client-secrets`` then ``ice-config`` with
  retries and one deadline, and raises only ``OrgaError``\\ s; :mod:`.attempts` reports
  each HTTP attempt to its observer (:class:`UpstreamAttempt`).
- :mod:`.replies`: validates what came back into :class:`ClientSecrets`.
- :mod:`.base`: :class:`Transport`, THE seam to an HTTP client; :mod:`._aiohttp` (the
  default) and :mod:`._httpx` (a supplied ``httpx.AsyncClient``) implement it, and
  :mod:`.decoding` reads their bodies under one cap. :func:`default_transport` picks one.
- :mod:`.slots`: :class:`UpstreamSlots`, the per-process cap on concurrent exchanges.
"""

from __future__ import annotations

from .attempts import AttemptHook, UpstreamAttempt, UpstreamCall
from .base import (
    MAX_UPSTREAM_BODY,
    BodyTooLarge,
    InvalidBody,
    Transport,
    TransportFailure,
    TransportTimeout,
    UndecodableBody,
    UpstreamReply,
)
from .exchange import Exchange
from .replies import ClientSecrets, parse_ice_servers, parse_token
from .slots import UpstreamSlots
from .transports import AiohttpTransport, HttpxTransport, default_transport

__all__ = [
    "MAX_UPSTREAM_BODY",
    "AiohttpTransport",
    "AttemptHook",
    "BodyTooLarge",
    "ClientSecrets",
    "Exchange",
    "HttpxTransport",
    "InvalidBody",
    "Transport",
    "TransportFailure",
    "TransportTimeout",
    "UndecodableBody",
    "UpstreamAttempt",
    "UpstreamCall",
    "UpstreamReply",
    "UpstreamSlots",
    "default_transport",
    "parse_ice_servers",
    "parse_token",
]
