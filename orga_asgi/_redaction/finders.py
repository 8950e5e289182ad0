"""How each family of :mod:`.text` turns its pattern's matches into spans to mask.

A finder takes (pattern, lowercased text, original text) and returns the spans to mask, at
most :data:`MAX_SPANS` of them. The bounded work in Python that a regex cannot do in linear
time lives here (rule 3 of :mod:`.text`): balancing the brackets of a structure's value
(:func:`bracket_end`) and decoding what follows ``Basic`` (:func:`is_basic_credential`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Callable

__all__ = [
    "MAX_SPANS",
    "Finder",
    "Span",
    "basic",
    "bracket_end",
    "capped",
    "groups",
    "is_basic_credential",
    "jwts",
    "key_values",
    "structures",
]

Span = tuple[int, int]
Finder = Callable[[re.Pattern[str], str, str], list[Span]]


# More secrets than this in one text is a dump or an attack: the rest of the text is masked,
# which bounds the work done in Python per text whatever its length.
MAX_SPANS = 1024


def groups(group: str) -> Finder:
    """A finder masking one named group of every match (the first :data:`MAX_SPANS`)."""

    def find(pattern: re.Pattern[str], scan: str, text: str) -> list[Span]:
        spans = [m.span(group) for m in itertools.islice(pattern.finditer(scan), MAX_SPANS)]
        return capped(spans, len(scan))

    return find


def capped(spans: list[Span], size: int) -> list[Span]:
    """``spans``, the last one stretched to ``size`` when there are :data:`MAX_SPANS`."""
    if len(spans) >= MAX_SPANS:
        spans[-1] = (spans[-1][0], size)
    return spans


def jwts(pattern: re.Pattern[str], scan: str, text: str) -> list[Span]:
    """Every match of the dotted branch (group 1 took part): the bare ``eyj`` run of the
    other branch only consumes a run that is no JWT, so it is not masked."""
    spans = [m.span() for m in pattern.finditer(scan) if m.start(1) >= 0]
    return capped(spans[:MAX_SPANS], len(scan))


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DIGITS = frozenset("0123456789")


def key_values(pattern: re.Pattern[str], scan: str, text: str) -> list[Span]:
    """The value (``v``) after each secret key (``k``), its closing quote included."""
    key, value = pattern.groupindex["k"], pattern.groupindex["v"]
    spans: list[Span] = []
    for match in pattern.finditer(scan):
        start, end = match.span(value)
        first = scan[start]
        if first in "\"'" and scan.startswith(first, end):
            end += 1  # the closing quote, left for the next key to start at
        elif first == "\\" and scan.startswith('\\"', end):
            end += 2
        if (
            first in _DIGITS
            and match.group(key)[-6:] == "tokens"
            and _NUMBER.fullmatch(scan, start, end)
        ):
            continue  # `max_tokens=5`, `"total_tokens": 12`: usage counts, not secrets
        if scan.startswith("...", start) and end - start == 3:
            continue  # `api_key=...`: a placeholder in a hint, which hides nothing
        spans.append((start, end))
        if end == len(scan) or len(spans) == MAX_SPANS:
            break
    return capped(spans, len(scan))


_BRACKET_EVENTS = re.compile(r"""[\[\](){}"'\\\n]""")
_OPEN, _CLOSE = frozenset("[({"), frozenset("])}")
_MAX_EVENTS = 4096  # more brackets and quotes than that in one value: mask to the end


def bracket_end(scan: str, start: int) -> int:
    """The end of the bracketed value opening at ``start``; the end of ``scan`` if unclosed.

    Brackets inside quoted strings (``'a]b'``, ``\\"a]b\\"``) do not count. A quote left open
    at the end of its line was a stray apostrophe, not a string: reprs and JSON strings never
    span lines. Past ``_MAX_EVENTS`` it gives up and masks the rest: fail closed.
    """
    depth = 0
    quote = ""  # the open string's delimiter: `"`, `'`, `\\"`, or none
    skip = -1  # the position of an escaped character: not an event
    for count, event in enumerate(_BRACKET_EVENTS.finditer(scan, start)):
        if count > _MAX_EVENTS:
            break
        at = event.start()
        if at == skip:
            continue
        char = scan[at]
        if char == "\n":
            quote = ""
        elif quote:
            if char == "\\":
                if quote == '\\"' and scan.startswith('"', at + 1):
                    quote = ""
                skip = at + 1
            elif char == quote:
                quote = ""
        elif char == "\\":
            if scan.startswith('"', at + 1):
                quote, skip = '\\"', at + 1
        elif char in "\"'":
            quote = char
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
            if depth <= 0:
                return at + 1
    return len(scan)


def structures(pattern: re.Pattern[str], scan: str, text: str) -> list[Span]:
    """The whole bracketed value after each secret key, to its balancing bracket."""
    spans: list[Span] = []
    done = 0  # the end of the last structure: keys inside it are masked already
    for match in pattern.finditer(scan):
        start = match.start("v")
        if start < done:
            continue
        done = bracket_end(scan, start)
        spans.append((start, done))
        if done == len(scan) or len(spans) == MAX_SPANS:
            break
    return capped(spans, len(scan))


def basic(pattern: re.Pattern[str], scan: str, text: str) -> list[Span]:
    """The value after ``Basic`` where it decodes as credentials."""
    # "Basic" is also an English word: mask only what decodes as Basic credentials do
    # (`user:password`). Base64 is case-sensitive, so decode the original text.
    matches = itertools.islice(pattern.finditer(scan), MAX_SPANS)
    spans = [m.span("v") for m in matches if is_basic_credential(text[m.start("v") : m.end("v")])]
    return capped(spans, len(scan))


def is_basic_credential(value: str) -> bool:
    """Whether ``value`` is base64 of ``user:password`` (anything with a colon)."""
    raw = value.rstrip("=")
    if len(raw) % 4 == 1:  # no base64 has that length; skip the exception
        return False
    try:
        decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded
