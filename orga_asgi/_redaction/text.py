"""Secret patterns over free text, each linear in the length of the text.

Python's ``re`` backtracks, and Python 3.10 has neither atomic groups nor possessive
quantifiers, so every pattern (in :mod:`.patterns`) keeps to three rules:

1. No repeat is nested in, or adjacent to, another repeat over overlapping characters: a
   failed attempt backtracks over each character once.
2. A repeat that may scan far either always succeeds there (the match then consumes what it
   scanned) or is taken atomically, ``(?=(?P<x>...))(?P=x)`` (a lookahead is never
   backtracked into), so no later attempt scans the same text again. 0.1.0's JWT pattern
   broke this rule: on ``"eyJ" * n`` every ``eyJ`` rescanned the rest of the text.
3. Work a regex cannot do in linear time (balancing the brackets of a dict or list value,
   decoding Basic credentials) is done in Python, on what the regex found, with a bound;
   so is the work per match (:data:`MAX_SPANS`). Those finders are in :mod:`.finders`.

Each pattern (a "family") scans the text on its own and the masked spans are united, so a
match of one family never hides what another would find (a key whose bare value swallows
the ``Bearer`` of the credential after it, say). The families scan the lowercased text,
case-sensitively: literal first characters let the regex engine skip ahead, and offsets in
the lowercased text are offsets in the original (see :func:`_lower`).
``tests/security/test_redaction_linear.py`` times every family on adversarial inputs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import NamedTuple

from . import patterns as p
from .finders import MAX_SPANS, Finder, Span, basic, groups, jwts, key_values, structures

__all__ = ["FAMILIES", "MAX_SPANS", "REDACTED", "REDACTED_JWT", "Family", "redact"]

REDACTED = "[REDACTED]"
REDACTED_JWT = "[REDACTED_JWT]"


class Family(NamedTuple):
    """One kind of secret: the texts that may hold it, and how to find its spans."""

    name: str
    triggers: frozenset[str]  # one of these is in the lowercased text wherever it matches
    pattern: re.Pattern[str]  # over the lowercased text
    find: Finder  # (pattern, lowercased text, original text) -> spans to mask
    jwt: bool = False  # masked as [REDACTED_JWT] rather than [REDACTED]
    needs: tuple[str, ...] = ()  # for each string, one of its characters is in the text
    # The pattern for just the key words a text holds (the triggers present), if it has one.
    specialized: Callable[[frozenset[str]], re.Pattern[str]] | None = None

    def spans(self, text: str) -> list[Span]:
        """The spans of ``text`` this family masks (what :func:`redact` unites), found with
        the full pattern: the one to time, since it is never faster than a specialized one."""
        return self.find(self.pattern, _lower(text), text)


def _family(
    name: str,
    triggers: tuple[str, ...],
    source: str,
    find: Finder,
    *,
    jwt: bool = False,
    needs: tuple[str, ...] = (),
) -> Family:
    return Family(name, frozenset(triggers), re.compile(source), find, jwt, needs)


def _key_family(
    name: str, build: Callable[[tuple[p.KeyWord, ...]], str], find: Finder, needs: tuple[str, ...]
) -> Family:
    @functools.lru_cache(maxsize=64)
    def specialized(present: frozenset[str]) -> re.Pattern[str]:
        words = tuple(word for word in p.KEY_WORDS if not present.isdisjoint(word[0]))
        return re.compile(build(words))

    triggers = frozenset(t for word in p.KEY_WORDS for t in word[0])
    return Family(name, triggers, re.compile(build(p.KEY_WORDS)), find, False, needs, specialized)


FAMILIES: tuple[Family, ...] = (
    _family("api_key", ("sk_orga_ai_",), r"sk_orga_ai_(?P<v>[a-z0-9_-]+)", groups("v")),
    _family("jwt", ("eyj",), p.JWT, jwts, jwt=True),
    _family("url_password", ("://",), p.URL_PASSWORD, groups("v")),
    _key_family(
        "quoted_key", lambda w: p.quoted_key(w) + p.QUOTED_SEP + p.VALUE, key_values, ("\"'",)
    ),
    _key_family("bare_key", lambda w: p.bare_key(w) + p.BARE_SEP + p.VALUE, key_values, ("=:%",)),
    _key_family("structure", p.structure, structures, ("[{(", "=:,%")),
    _family(
        "header",
        ("authorization", "cookie", "x-api-key"),
        p.HEADER,
        groups("v"),
        needs=(":",),
    ),
    _family("bearer", ("bearer",), p.BEARER, groups("v")),
    _family("basic", ("basic",), r"basic[ \t]+(?P<v>[a-z0-9+/]+=*)", basic),
)
_TRIGGERS = tuple(dict.fromkeys(t for family in FAMILIES for t in family.triggers))


@functools.lru_cache(maxsize=128)
def _gate(present: frozenset[str]) -> re.Pattern[str]:
    return re.compile(p.gate(present))


def _lower(text: str) -> str:
    """``text`` lowercased, one character for one, so offsets in it are offsets in ``text``."""
    lowered = text.lower()
    if len(lowered) != len(text):
        # Only U+0130 (I with dot above) lowercases to two characters.
        lowered = text.replace("\u0130", "i").lower()
        if len(lowered) != len(text):  # a future Unicode version: one character at a time
            lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return lowered


def redact(text: str) -> str:
    """Return ``text`` with every secret pattern masked; the same object when nothing matched."""
    lowered = _lower(text)
    for trigger in _TRIGGERS:  # clean text, the common case: a few memchr-speed scans
        if trigger in lowered:
            break
    else:
        return text
    present = frozenset(trigger for trigger in _TRIGGERS if trigger in lowered)
    if _gate(present).search(lowered) is None:  # trigger words, but nothing a secret starts
        return text
    spans: list[tuple[int, ...]] = []
    found = 0
    for family in FAMILIES:
        if family.triggers.isdisjoint(present):
            continue
        if not all(any(c in lowered for c in chars) for chars in family.needs):
            continue
        pattern = family.pattern if family.specialized is None else family.specialized(present)
        more = family.find(pattern, lowered, text)
        if more:
            found += 1
            # JWT spans are the 3-tuples: they read [REDACTED_JWT] unless merged with others.
            spans.extend([(*span, 1) for span in more] if family.jwt else more)
    if not found:
        return text
    if found > 1:
        spans.sort()
    return _apply(text, spans)


def _apply(text: str, spans: list[tuple[int, ...]]) -> str:
    parts: list[str] = []
    append = parts.append
    pos, start, end, jwt = 0, spans[0][0], spans[0][1], len(spans[0]) == 3
    for span in spans:
        if span[0] < end:  # overlapping spans of two families become one mask
            if span[1] > end:
                end = span[1]
            jwt = jwt and len(span) == 3
            continue
        append(text[pos:start])
        append(REDACTED_JWT if jwt else _mask(text[start:end]))
        pos, start, end, jwt = end, span[0], span[1], len(span) == 3
    append(text[pos:start])
    append(REDACTED_JWT if jwt else _mask(text[start:end]))
    append(text[end:])
    return "".join(parts)


_QUOTED_MASKS = {'"': f'"{REDACTED}"', "'": f"'{REDACTED}'"}


def _mask(value: str) -> str:
    # Keep the quoting so scrubbed JSON and reprs still read (and parse) as before.
    first = value[0]
    if first in _QUOTED_MASKS and len(value) >= 2 and value[-1] == first:
        return _QUOTED_MASKS[first]
    if first == "\\" and len(value) >= 4 and value.startswith('\\"') and value.endswith('\\"'):
        return f'\\"{REDACTED}\\"'
    return REDACTED
