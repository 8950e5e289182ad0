"""The three rules a :class:`~orga_asgi.SessionPolicy` field can hold, and the value checks.

A rule is immutable and validated when it is built; :mod:`.policy` checks that each field
holds a rule that fits its parameter (``Range`` only for numbers, ``modalities`` as a list).
Reprs never show long text: an allowed or pinned system prompt must not reach a log line
through a policy's repr.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

from orga_asgi._errors import ConfigurationError

__all__ = ["OneOf", "Pinned", "Range", "Rule", "is_number", "show"]

T = TypeVar("T")

_SHOWN = 32  # characters of a text value a repr shows; longer ones are only measured


def show(value: object) -> str:
    """A repr of ``value`` that never shows a long text (a prompt): ``<text, N chars>``."""
    if isinstance(value, str) and (len(value) > _SHOWN or not value.isprintable()):
        return f"<text, {len(value)} chars>"
    if isinstance(value, tuple):
        return "(" + ", ".join(show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


@dataclass(frozen=True, slots=True, repr=False)
class Pinned(Generic[T]):
    """Always send ``value``, whatever the browser asked (its value is ignored).

    Example: ``Pinned("You are the support agent of Acme...")`` for ``instructions``,
    ``Pinned(None)`` to start every session without instructions, ``Pinned(("audio",))``
    for an audio-only agent.
    """

    value: T

    def __repr__(self) -> str:
        return f"Pinned({show(self.value)})"


@dataclass(frozen=True, slots=True, init=False, repr=False)
class OneOf(Generic[T]):
    """The browser's value if it is one of ``values``, else 403 ``session_params_refused``.

    When the browser sends no value, the first of ``values`` is sent (so the upstream's own
    default, which may be outside the set, never applies). For ``modalities`` (a list), each
    element the browser lists must be one of ``values``, and the default is all of them.

    Args:
        *values: the allowed values, at least one; the first is the default.

    Raises:
        ConfigurationError: no value, or the same value twice.
    """

    values: tuple[T, ...]

    def __init__(self, *values: T) -> None:
        if not values:
            raise ConfigurationError("OneOf() needs at least one allowed value.")
        if len(set(map(_key, values))) != len(values):
            raise ConfigurationError("OneOf() lists a value twice; list each once.")
        object.__setattr__(self, "values", tuple(values))

    def allows(self, value: object) -> bool:
        """Whether ``value`` is one of the values (``True`` is not ``1`` here)."""
        return any(_key(value) == _key(allowed) for allowed in self.values)

    def __repr__(self) -> str:
        return "OneOf(" + ", ".join(show(v) for v in self.values) + ")"


@dataclass(frozen=True, slots=True, repr=False)
class Range:
    """A number from ``low`` to ``high``, both included; outside it, 403.

    Args:
        low: the smallest value allowed.
        high: the largest value allowed.
        default: sent when the browser sends no value; without one, a request that sends
            no value is refused (the upstream's own default may be outside the range).

    Raises:
        ConfigurationError: a bound is not a finite number, ``low > high``, or ``default``
            is outside the range.
    """

    low: float
    high: float
    default: float | None = None

    def __post_init__(self) -> None:
        for name in ("low", "high", "default"):
            value = getattr(self, name)
            if value is None and name == "default":
                continue
            if not is_number(value):
                raise ConfigurationError(f"Range {name} must be a finite number, not {value!r}.")
        if self.low > self.high:
            raise ConfigurationError(f"Range({self.low!r}, {self.high!r}): low is above high.")
        if self.default is not None and not self.low <= self.default <= self.high:
            raise ConfigurationError(f"Range default {self.default!r} is outside the range.")

    def allows(self, value: object) -> bool:
        """Whether ``value`` is a number within the range."""
        return is_number(value) and self.low <= value <= self.high  # type: ignore[operator]

    def __repr__(self) -> str:
        tail = f", default={self.default!r}" if self.default is not None else ""
        return f"Range({self.low!r}, {self.high!r}{tail})"


Rule = Pinned[T] | OneOf[T] | Range
"""What one field of a policy holds (``None`` in the field: left to the browser)."""


def is_number(value: object) -> bool:
    """An ``int`` or ``float`` that is finite and not a ``bool``."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _key(value: object) -> tuple[str, object]:
    # Python says True == 1 and hash(True) == hash(1); JSON does not: keep them apart.
    if isinstance(value, list):
        value = tuple(value)
    return (type(value).__name__ if isinstance(value, bool) else "", value)
