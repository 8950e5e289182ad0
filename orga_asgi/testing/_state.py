"""What one FakeOrga holds: its accepted keys, the response shape, its tokens, its calls.

Private: the public surface is ``FakeOrga``, which validates what the test sets and hands
this state to the route handlers of :mod:`._routes`.
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Callable
from typing import Literal

from ._recording import RecordedCall
from ._tokens import TokenStore

__all__ = ["DEFAULT_TTL", "TOKEN_KEYS", "FakeState", "TokenField", "check_token_field", "check_ttl"]

TokenField = Literal["both", "ephemeralToken", "ephemeral_token"]

DEFAULT_TTL = 120
# token_field -> the mint response keys carrying the token
TOKEN_KEYS: dict[str, tuple[str, ...]] = {
    "both": ("ephemeral_token", "ephemeralToken"),
    "ephemeralToken": ("ephemeralToken",),
    "ephemeral_token": ("ephemeral_token",),
}


def check_token_field(value: TokenField) -> TokenField:
    """``value``, if it is a token field the mint response can carry.

    Raises:
        ValueError: It is not.
    """
    if value not in TOKEN_KEYS:
        raise ValueError(f"token_field must be one of {tuple(TOKEN_KEYS)}")
    return value


def check_ttl(value: int | None) -> int | None:
    """``value``, if it is a positive number of seconds or ``None``.

    Raises:
        ValueError: It is not.
    """
    if value is not None and (isinstance(value, bool) or value < 1):
        raise ValueError("ttl must be a positive number of seconds or None")
    return value


class FakeState:
    """The mutable state of one FakeOrga, shared by its public methods and its routes."""

    __slots__ = ("calls", "clock", "keys", "token_field", "tokens", "ttl")

    def __init__(
        self,
        keys: list[str],
        token_field: TokenField,
        ttl: int | None,
        clock: Callable[[], float],
        max_tokens: int,
        max_calls: int,
    ) -> None:
        # The key -> its bytes, encoded once: every mint compares against all of them.
        self.keys: dict[str, bytes] = {key: key.encode() for key in keys}
        self.token_field = token_field
        self.ttl = ttl
        self.clock = clock
        self.tokens = TokenStore(max_tokens)
        self.calls: deque[RecordedCall] = deque(maxlen=max_calls)

    def accepts(self, api_key: str | None) -> bool:
        """Whether ``api_key`` is one of the keys accepted now."""
        if api_key is None:
            return False
        given = api_key.encode()
        # Every key compared, in constant time each: which one matched shows in no timing.
        return sum(hmac.compare_digest(given, key) for key in self.keys.values()) > 0
