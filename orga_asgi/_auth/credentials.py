"""The hooks reading a credential from the request and handing it to ``verify``.

A request without the credential, or with one that cannot be well-formed, is refused here
without calling ``verify``: the refusal path costs next to nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from orga_asgi._principal import AuthHook, Principal

from .verify import Verify, checked

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["Bearer", "Cookie"]

# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class Bearer(AuthHook):
    """``Authorization: Bearer <token>``, the token checked by ``verify``."""

    www_authenticate = "Bearer"

    def __init__(self, verify: Verify) -> None:
        self._check = verify

    async def __call__(self, request: Request) -> Principal | None:
        # The raw ASGI header, not request.headers: this runs on every request, and the
        # refusal path should cost next to nothing.
        raw = b""
        for name, value in request.scope["headers"]:  # a loop: no generator frame
            if name == b"authorization":
                raw = value
                break
        scheme, _, token = raw.decode("latin-1").partition(" ")
        token = token.strip(" ")
        if scheme.lower() != "bearer" or not _B64TOKEN.fullmatch(token):
            return None
        return await checked(self._check, token)


class Cookie(AuthHook):
    """The session cookie ``name``, its value checked by ``verify``."""

    def __init__(self, name: str, verify: Verify) -> None:
        self._name = name
        self._check = verify

    async def __call__(self, request: Request) -> Principal | None:
        value = request.cookies.get(self._name)
        if not value:
            return None
        return await checked(self._check, value)
