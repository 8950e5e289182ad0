"""Validation of the rate limit configuration: windows and the gate's options.

Everything here runs once, at construction, and raises :class:`ConfigurationError` with a
fix hint. Window specs are parsed here, in linear time, and only a canonical spec reaches
``limits`` (:mod:`.backend`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orga_asgi._errors import ConfigurationError

from .backend import limit_shape

__all__ = ["Window", "check_options", "parse_windows"]

_SPEC_HINT = "write it like '5/minute', '100 per day' or '10/5 minutes'"
# One limit once whitespace is collapsed to single spaces: "5/minute", "10 per 5 minutes".
# No two quantifiers can match the same text, so a match is linear in the spec's length
# (limits' own expression backtracks for seconds on a few hundred spaces).
_SPEC = re.compile(r"([0-9]+) ?(?:/|per) ?(?:([0-9]+) ?)?([A-Za-z]+)", re.IGNORECASE)
_SEPARATOR = re.compile(r"[,;|]")
_MAX_AMOUNT = 1_000_000_000
_MAX_EXPIRY = 366 * 86_400  # a year; Redis and the counters need a sane bound
# No glob characters either: reset() scans Redis with the prefix in a pattern.
_KEY_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class Window:
    """One validated rate limit window.

    Attributes:
        spec: the limit as written by limits (``"5 per 1 minute"``), for reprs.
        limit: hits allowed per window.
        expiry: window length in seconds.
        name: the policy name in the RateLimit headers (``"5-per-minute"``).
        multiples: how many units the window spans.
        unit: limits' unit name (``"minute"``).
    """

    spec: str
    limit: int
    expiry: int
    name: str
    multiples: int
    unit: str


def parse_windows(value: object, option: str) -> tuple[Window, ...]:
    """Parse ``("5/minute", "100/day")`` into windows sorted shortest first.

    ``None`` or an empty sequence disables the limit. A string may hold several limits
    separated by ``;``, ``,`` or ``|`` (as an environment variable would); empty pieces
    between separators are skipped, but a string with no limit at all is an error.
    """
    if value is None:
        return ()
    if not isinstance(value, (str, Iterable)) or isinstance(value, (bytes, bytearray, Mapping)):
        raise ConfigurationError(
            f"{option} takes strings such as '5/minute', a list of them, or None to disable it"
        )
    specs = [value] if isinstance(value, str) else list(value)
    windows: list[Window] = []
    for spec in specs:
        if not isinstance(spec, str):
            raise ConfigurationError(
                f"{option} takes strings such as '5/minute'; got {type(spec).__name__}"
            )
        pieces = [" ".join(piece.split()) for piece in _SEPARATOR.split(spec)]
        pieces = [piece for piece in pieces if piece]
        if not pieces:
            raise ConfigurationError(
                f"{option}: {spec[:80]!r} holds no rate limit; {_SPEC_HINT}, or pass None "
                "(or an empty list) to disable it"
            )
        for piece in pieces:
            window = _window(piece, option)
            if any(w.name == window.name for w in windows):
                raise ConfigurationError(f"{option}: {window.spec} is listed twice; keep one")
            windows.append(window)
    # Shortest first: a caller hammering a short window is refused there, before a long
    # window is charged.
    windows.sort(key=lambda w: (w.expiry, w.limit))
    return tuple(windows)


def _window(piece: str, option: str) -> Window:
    match = _SPEC.fullmatch(piece)
    if match is None or len(match[1]) > 10 or len(match[2] or "") > 10:
        raise ConfigurationError(f"{option}: {piece[:80]!r} is not a rate limit; {_SPEC_HINT}")
    amount, multiples = int(match[1]), int(match[2] or 1)
    if amount < 1:
        raise ConfigurationError(f"{option}: {piece!r} allows nothing; use a positive amount")
    if multiples < 1:
        # limits would silently read "5/0 minutes" as "5/minute".
        raise ConfigurationError(f"{option}: {piece!r} spans no time; use '5/minute'")
    if amount > _MAX_AMOUNT:
        raise ConfigurationError(
            f"{option}: {piece!r} allows more than {_MAX_AMOUNT:,} hits; use a smaller "
            "amount, or None to disable the limit"
        )
    shape = limit_shape(amount, multiples, match[3])
    if shape is None:
        raise ConfigurationError(f"{option}: {piece!r} is not a rate limit; {_SPEC_HINT}")
    if shape.expiry > _MAX_EXPIRY:
        raise ConfigurationError(
            f"{option}: {piece!r} spans more than a year; use a window of a year at most"
        )
    per = f"{multiples}-{shape.unit}s" if multiples != 1 else shape.unit
    return Window(
        spec=shape.spec,
        limit=amount,
        expiry=shape.expiry,
        name=f"{amount}-per-{per}",
        multiples=multiples,
        unit=shape.unit,
    )


def check_options(
    *,
    strategy: object,
    on_storage_error: object,
    max_in_flight: object,
    key_prefix: object,
    on_store_state: object,
) -> None:
    """Validate the gate's other options (windows and storage have their own parsers)."""
    if strategy not in ("moving-window", "sliding-window-counter"):
        raise ConfigurationError(
            f"strategy {strategy!r} is not supported; use 'moving-window' (default) or "
            "'sliding-window-counter' (less memory, approximate)"
        )
    if on_storage_error not in ("fallback", "deny", "allow"):
        raise ConfigurationError(
            f"on_storage_error {on_storage_error!r} is not supported; use 'fallback' "
            "(default), 'deny' or 'allow'"
        )
    cap = max_in_flight
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ConfigurationError(
            "max_in_flight_per_principal must be a positive int, or None to disable it"
        )
    if not isinstance(key_prefix, str) or not _KEY_PREFIX.fullmatch(key_prefix):
        raise ConfigurationError(
            "key_prefix must be 1-64 characters among letters, digits and '_.:-'"
        )
    hook = on_store_state
    if hook is None:
        return
    if not callable(hook):
        raise ConfigurationError("on_store_state must be a function taking a bool, or None")
    if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(
        getattr(hook, "__call__", None)  # noqa: B004 - async callable objects
    ):
        raise ConfigurationError(
            "on_store_state must be a plain (not async) function: it runs inside the request "
            "that noticed the change; schedule any I/O from it yourself"
        )
