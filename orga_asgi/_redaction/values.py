"""Secrets in structured values: mappings, sequences, objects, and logging's ``args``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .text import REDACTED, redact

__all__ = ["is_sensitive_key", "mask_sensitive", "redact_args", "redact_value", "scrub"]

_MAX_DEPTH = 16  # deeper (or cyclic) structures are judged by their repr
_SCALARS = frozenset({str, int, float, bool, type(None)})
_SIZED = (str, bytes, bytearray, list, tuple, dict, set, frozenset)
# Keys are compared lowercased with `-` as `_`; a suffix match covers `set_cookie`,
# `x_api_key`, `ephemeral_token`, `ephemeraltoken`, `client_secret`, `turn_username`...
# and each has its plural (`cookies`, `tokens`, `secrets`): a mapping of cookies is a secret
# as a whole.
_WORDS = (
    *("authorization", "cookie", "api_key", "apikey", "token", "username", "credential"),
    *("password", "passwd", "passphrase", "secret", "private_key", "privatekey"),
    "instructions",
)
_SENSITIVE_SUFFIXES = (*_WORDS, *(w + "s" for w in _WORDS))


def is_sensitive_key(key: object) -> bool:
    """Whether a mapping key or attribute name says its value is a secret."""
    if isinstance(key, (bytes, bytearray)):
        key = bytes(key).decode("latin-1")
    return isinstance(key, str) and key.lower().replace("-", "_").endswith(_SENSITIVE_SUFFIXES)


def mask_sensitive(key: object, value: object) -> object:
    """The value of sensitive ``key``: masked, whatever its type.

    ``None`` and empty values (``""``, ``{}``, ``[]``) hide nothing, and keep "the token was
    missing" visible in logs;
    numbers under a ``*tokens`` key are usage counts (``max_tokens``, ``total_tokens``).
    """
    if value is None or (isinstance(value, _SIZED) and not value):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and _counts(key):
        return value
    return REDACTED.encode() if isinstance(value, (bytes, bytearray)) else REDACTED


def _counts(key: object) -> bool:
    if isinstance(key, (bytes, bytearray)):
        key = bytes(key).decode("latin-1")
    return isinstance(key, str) and key.lower().endswith("tokens")


def redact_value(value: object) -> object:
    """Return ``value`` with secrets masked, recursively; the same object when nothing changed.

    Strings are scrubbed with :func:`redact` (bytes too, keeping their type). In mappings, the
    values of sensitive keys (``authorization``, ``cookie``, ``set-cookie``, ``*api_key``,
    ``*token``, ``username``, ``credential``, ``password``, ``*secret``..., and their plurals;
    any case, ``-`` or ``_``) become ``"[REDACTED]"``, whole, even when they are mappings or
    lists themselves; so does the second item of a ``(name, value)`` tuple such as an ASGI
    header. Lists, tuples and sets are recursed into. Any other object is judged by its
    ``str()`` and ``repr()``: when either shows a secret, the scrubbed text replaces it.
    Containers are copied only when something inside them changed; nothing is mutated.
    """
    return scrub(value, 0, True)


def scrub(value: object, depth: int, objects: bool) -> object:
    """:func:`redact_value` at ``depth``; ``objects``: also judge other objects by their text."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("latin-1")  # latin-1 round-trips any byte
        clean = redact(text)
        return value if clean is text else clean.encode("latin-1")
    if depth >= _MAX_DEPTH:
        return _scrub_object(value) if objects else value
    if isinstance(value, Mapping):
        changed = False
        out: dict[object, object] = {}
        for key, item in value.items():
            new_key = redact(key) if isinstance(key, str) else key
            if is_sensitive_key(key):
                new_item = mask_sensitive(key, item)
            else:
                new_item = scrub(item, depth + 1, objects)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value
    if isinstance(value, tuple) and len(value) == 2 and is_sensitive_key(value[0]):
        masked = mask_sensitive(value[0], value[1])
        return value if masked is value[1] else (value[0], masked)
    if isinstance(value, (list, tuple, set, frozenset)):
        new = [scrub(item, depth + 1, objects) for item in value]
        if all(a is b for a, b in zip(new, value, strict=True)):
            return value
        if isinstance(value, list):
            return new
        if isinstance(value, tuple):
            make = getattr(value, "_make", None)  # a named tuple keeps its type
            return make(new) if make is not None else tuple(new)
        return set(new) if isinstance(value, set) else frozenset(new)
    return _scrub_object(value) if objects else value


def redact_args(args: tuple[object, ...] | Mapping[str, object]) -> Any:
    """A log record's ``args`` with secrets masked; the same object when nothing changed."""
    # Element by element: the args tuple itself is not a (name, value) pair, and masking a
    # number would break a `%d` in the format string. Objects are left to the render check.
    if isinstance(args, Mapping):
        return scrub(args, 0, False)
    texts: list[str] = []
    for arg in args:
        if isinstance(arg, str):
            texts.append(arg)
        elif type(arg) not in _SCALARS:
            break
    else:
        # Only strings and numbers, the common case: one scan over all the strings ("\0"
        # keeps most patterns from spanning two arguments) instead of one scan per argument.
        joined = "\0".join(texts)
        if redact(joined) is joined:
            return args
    new = tuple(scrub(arg, 1, False) for arg in args)
    return args if all(a is b for a, b in zip(new, args, strict=True)) else new


def _scrub_object(value: object) -> object:
    # str() too, for secret wrappers whose repr is safe but whose str is the raw value.
    for render in (str, repr):
        text = _render(render, value)
        if text is not None:
            clean = redact(text)
            if clean is not text:
                return clean
    return value


def _render(render: Callable[[object], str], value: object) -> str | None:
    try:
        return render(value)
    except Exception:  # a broken __str__ is the formatter's problem to report, not ours
        return None
