"""Moved to :mod:`orga_asgi._upstream.slots`; this shim goes once nothing imports it."""

from __future__ import annotations

from ._upstream.slots import UpstreamSlots

__all__ = ["UpstreamSlots"]
