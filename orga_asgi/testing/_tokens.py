"""Ephemeral-token minting and bookkeeping behind :class:`orga_asgi.testing.FakeOrga`.

Private: the public surface is ``FakeOrga``. Kept apart so the ASGI plumbing and the token
lifecycle can be read (and tuned for load runs) separately.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from collections import OrderedDict
from typing import NamedTuple

__all__ = ["Grant", "TokenStore"]


def _b64url(raw: bytes) -> bytes:
    # JWTs use unpadded base64url (RFC 7515, section 2).
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _text(raw: bytes) -> str:
    return _b64url(raw).decode("ascii")


_JWT_HEADER = _b64url(b'{"alg":"HS256","typ":"JWT"}')
# A reused encoder: ``json.dumps`` with non-default arguments builds a new one per call.
_dumps = json.JSONEncoder(separators=(",", ":")).encode


class Grant(NamedTuple):
    """What one minted token is good for: its expiry and its own TURN credentials."""

    expires_at: float
    username: str
    credential: str
    key: str | None = None
    """The fingerprint of the API key that minted the token."""


class TokenStore:
    """Tokens minted by one fake, bounded so long load runs keep a flat memory profile."""

    __slots__ = ("_grants", "_max_tokens", "_secret")

    def __init__(self, max_tokens: int) -> None:
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        self._max_tokens = max_tokens
        # Per-instance key: a token minted by one fake is never valid at another.
        self._secret = secrets.token_bytes(32)
        # OrderedDict, not dict: popping the oldest entry is O(1) here, whereas
        # ``next(iter(dict))`` rescans deleted slots and turns pruning quadratic.
        self._grants: OrderedDict[str, Grant] = OrderedDict()

    def __len__(self) -> int:
        return len(self._grants)

    def secrets(self) -> set[str]:
        """Every live token and TURN credential: what a leak check must never find."""
        found = set(self._grants)
        for grant in self._grants.values():
            found.update((grant.username, grant.credential))
        return found

    def mint(self, now: float, lifetime: int, key: str | None = None) -> str:
        """Mint a unique HS256 JWT valid for ``lifetime`` seconds from ``now``, by the key
        of fingerprint ``key``."""
        grants = self._grants
        # Expiry mostly follows insertion order, so expired tokens sit at the front; the
        # cap bounds whatever a runtime ``ttl`` change leaves out of order.
        while grants:
            oldest = next(iter(grants.values()))
            if oldest.expires_at > now and len(grants) < self._max_tokens:
                break
            grants.popitem(last=False)
        # One urandom call for jti and the TURN credentials: mint is on the load-test hot path.
        raw = os.urandom(52)
        iat = int(now)
        claims = {
            "sub": "fake-orga-user",
            "iat": iat,
            "exp": iat + lifetime,
            "jti": _text(raw[:16]),
        }
        signing_input = _JWT_HEADER + b"." + _b64url(_dumps(claims).encode())
        signature = hmac.digest(self._secret, signing_input, "sha256")
        token = (signing_input + b"." + _b64url(signature)).decode("ascii")
        # ``exp`` is the expiry a JWT reader sees, so the fake enforces exactly that.
        grants[token] = Grant(float(iat + lifetime), _text(raw[16:28]), _text(raw[28:]), key)
        return token

    def lookup(self, token: str, now: float) -> Grant | None:
        """Return the grant of a live token, or ``None`` if unknown or expired."""
        grant = self._grants.get(token)
        if grant is None:
            return None
        if now >= grant.expires_at:  # RFC 7519: not accepted on or after ``exp``.
            del self._grants[token]
            return None
        return grant

    def clear(self) -> None:
        """Forget every token."""
        self._grants.clear()
