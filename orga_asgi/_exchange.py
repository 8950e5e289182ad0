"""Moved to :mod:`orga_asgi._upstream`; this shim goes once nothing imports it.

``Exchange`` here still accepts 0.1.0's call shape (``api_key=`` at construction, ``issue()``
without a key) so the endpoint keeps working until it passes the key per call.
"""

from __future__ import annotations

from typing import Any

from ._principal import Secret
from ._upstream.exchange import Exchange as _Exchange
from ._upstream.replies import ClientSecrets, parse_ice_servers, parse_token

__all__ = ["ClientSecrets", "Exchange", "parse_ice_servers", "parse_token"]


class Exchange(_Exchange):
    """:class:`orga_asgi._upstream.Exchange`, with an optional key fixed at construction."""

    def __init__(self, *, api_key: Secret | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fixed_key = api_key

    async def issue(self, api_key: Secret | None = None) -> ClientSecrets:
        key = api_key if api_key is not None else self._fixed_key
        if key is None:
            raise TypeError("issue() needs the API key")
        return await super().issue(key)
