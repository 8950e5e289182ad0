"""``signed_header``: trust a principal id the main backend signed with a shared secret.

The header is ``<id>.<unix time>.<hex HMAC-SHA256 of "<id>.<unix time>">``. It is split
from the right, so ids may hold dots; the id must be a valid :class:`Principal` id. The time
is unix seconds or unix milliseconds (``Date.now()``): a header is good for one use, so with
milliseconds one user's requests within the same second still carry different headers.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from ._errors import ConfigurationError
from ._principal import MAX_ID_LENGTH, AuthHook, Principal

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = ["MIN_SECRET_BYTES", "SignedHeaderHook", "signed_header"]

MIN_SECRET_BYTES = 32
_SIGNATURE_LENGTH = 64  # hex SHA-256
_MAX_TIME_LENGTH = 15  # unix milliseconds for the next 30,000 years
# No time in unix seconds reaches this before the year 5138; a larger stamp is milliseconds.
_MILLISECONDS_FROM = 10**11
# Bounds the replay memory: past this many live signatures, new headers are refused
# (fail closed) until old ones expire, rather than forgetting seen ones.
_MAX_SEEN = 100_000


class SignedHeaderHook(AuthHook):
    """The hook :func:`signed_header` returns. Its repr never shows the secret."""

    def __init__(self, secret: str | bytes, *, header: str, max_skew: float) -> None:
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(key) < MIN_SECRET_BYTES:
            raise ConfigurationError(
                f"signed_header needs a secret of at least {MIN_SECRET_BYTES} bytes, not "
                f"{len(key)}; generate one with: python -c "
                "'import secrets; print(secrets.token_hex(32))'"
            )
        if not header or not header.isascii():
            raise ConfigurationError("signed_header: header must be a non-empty ASCII name")
        if not (isinstance(max_skew, (int, float)) and math.isfinite(max_skew) and max_skew > 0):
            raise ConfigurationError("signed_header: max_skew must be a positive number of seconds")
        self._key = key
        self._header = header.lower().encode("latin-1")
        self._max_skew = float(max_skew)
        self._max_length = MAX_ID_LENGTH * 4 + _MAX_TIME_LENGTH + _SIGNATURE_LENGTH + 2
        # signature -> when it stops mattering (monotonic): insertion order is expiry order
        # because every entry lives exactly 2 * max_skew.
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def __call__(self, request: Request) -> Principal | None:
        raw = next((v for k, v in request.scope["headers"] if k == self._header), None)
        if raw is None or len(raw) > self._max_length:
            return None
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        payload, _, signature = value.rpartition(".")
        principal_id, _, stamp = payload.rpartition(".")
        if (
            len(signature) != _SIGNATURE_LENGTH
            or not signature.isascii()  # compare_digest raises on non-ASCII str
            or not 0 < len(stamp) <= _MAX_TIME_LENGTH
            or not (stamp.isascii() and stamp.isdigit())
            or not principal_id
        ):
            return None
        expected = hmac.new(self._key, payload.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            return None
        signed_at: float = int(stamp)
        if signed_at >= _MILLISECONDS_FROM:
            signed_at /= 1000
        if abs(time.time() - signed_at) > self._max_skew:
            return None
        if not self._first_use(expected):
            return None
        try:
            return Principal(id=principal_id)
        except ValueError:  # signed, but not a usable id (too long, control characters)
            return None

    def _first_use(self, signature: str) -> bool:
        now = time.monotonic()
        seen = self._seen
        while seen:
            oldest, until = next(iter(seen.items()))
            if until > now:
                break
            del seen[oldest]
        if signature in seen or len(seen) >= _MAX_SEEN:
            return False
        # A header is valid for max_skew either side of its time: remember it that long.
        seen[signature] = now + 2 * self._max_skew
        return True

    def __repr__(self) -> str:
        return f"<SignedHeaderHook header={self._header.decode()!r} max_skew={self._max_skew}>"


def signed_header(
    secret: str | bytes, *, header: str = "X-Orga-Principal", max_skew: float = 60.0
) -> SignedHeaderHook:
    """Trust ``header: <id>.<unix time>.<hex HMAC-SHA256 of "<id>.<unix time>">``.

    The time is unix seconds or, so that one caller's requests in the same second differ,
    unix milliseconds (what ``Date.now()`` gives).

    For a sidecar behind a main backend that has already authenticated the caller and
    signs its id with a secret both share. The header is split from the right, so the id
    may hold dots. A missing, malformed or badly signed header, a time more than
    ``max_skew`` seconds from now (either way), or a header already seen (a replay) is a 401.

    Args:
        secret: the shared secret, at least 32 bytes.
        header: the header name.
        max_skew: seconds a signed time may differ from this server's clock.

    Raises:
        ConfigurationError: the secret is too short, or an argument is wrong.
    """
    return SignedHeaderHook(secret, header=header, max_skew=max_skew)
