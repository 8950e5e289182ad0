"""Secret patterns over free text, each linear in the length of the text.

Python's ``re`` backtracks, and Python 3.10 has neither atomic groups nor possessive
quantifiers, so every pattern keeps to three rules:

1. No repeat is nested in, or adjacent to, another repeat over overlapping characters: a
   failed attempt backtracks over each character once.
2. A repeat that may scan far either always succeeds there (the match then consumes what it
   scanned) or starts only where no other attempt of the same pattern scanned. The JWT
   pattern, the one that was quadratic on ``"eyJ" * n``, starts only where a run of token
   characters starts and takes the run atomically, ``(?=(?P<x>...))(?P=x)``: a lookahead is
   never backtracked into.
3. Work a regex cannot do in linear time (balancing the brackets of a dict or list value,
   decoding Basic credentials) is done in Python, on what the regex found, with a bound.

Each pattern (a "family") scans the text on its own and the masked spans are united, so a
match of one family never hides what another would find (a key whose bare value swallows
the ``Bearer`` of the credential after it, say). The families scan the lowercased text,
case-sensitively: literal first characters let the regex engine skip ahead, and offsets in
the lowercased text are offsets in the original (see :func:`_lower`).
``tests/security/test_redaction_linear.py`` times every family on adversarial inputs.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["FAMILIES", "MAX_SPANS", "REDACTED", "REDACTED_JWT", "Family", "redact"]

REDACTED = "[REDACTED]"
REDACTED_JWT = "[REDACTED_JWT]"

Span = tuple[int, int]

# Key spellings: any prefix (`csrftoken`, `client_secret`, `x-api-key`), a plural `s`
# (`cookies=`, `tokens:`), and `_`/`-` percent-encoded as URLs carry them (`api%5Fkey`).
_J = r"(?:[_-]|%5f|%2d)?"
_BARE_KEY = (
    rf"(?P<k>(?:authorization|cookie|api{_J}key|token|username|credential|passw(?:or)?d"
    rf"|passphrase|secret|private{_J}key|instructions)s?)"
)
_QUOTED_WORDS = (
    *("authorization", "cookie", "api_key", "api-key", "apikey", "token", "username"),
    *("credential", "password", "passwd", "passphrase", "secret", "private_key"),
    *("private-key", "privatekey", "instructions"),
)


def _ends_with_a_word() -> str:
    # One lookbehind per spelling, grouped by last letter so most keys fail on one check.
    by_last: dict[str, list[str]] = {}
    for word in (*_QUOTED_WORDS, *(w + "s" for w in _QUOTED_WORDS)):
        by_last.setdefault(word[-1], []).append(f"(?<={word})")
    lasts = "".join(sorted(by_last))
    branches = "|".join(f"(?<={last})(?:{'|'.join(ws)})" for last, ws in sorted(by_last.items()))
    return f"(?<=[{lasts}])(?:{branches})"


# A quoted key is taken whole and atomically, then must end in a sensitive word: one pass
# over the key, whatever its length, instead of a lazy scan retried at every character.
_QUOTED_KEY = rf"""(?P<q>"|'|\\")(?=(?P<k>[a-z0-9_-]*))(?P=k)(?:{_ends_with_a_word()})(?P=q)"""
# `=` and `:` may come percent-encoded, once or twice (a URL inside a query parameter).
# Whitespace before a value is taken atomically: no value starts with a space.
_QUOTED_SEP = r"\s*[:=,](?=(?P<ws>\s*))(?P=ws)"
_BARE_SEP = r"[ \t]*(?:[=:]|%3d|%3a|%253d|%253a)(?=(?P<ws>[ \t]*))(?P=ws)"
# A value: quoted three ways (JSON/repr, repr, JSON inside a JSON string), bare, or opening a
# bracket (the rest is balanced in Python). A bytes repr's `b` stays outside the mask. The
# first lookahead makes a second pass over scrubbed text a no-op.
_VALUE = (
    r"""(?!b?(?:\\?["'])?\[redacted)(?:b(?=["']))?(?P<v>[\[{(]"""
    r"""|(?:(?:bearer|basic)[ \t]+)?(?:"[^"\\\n]*(?:\\.[^"\\\n]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'"""
    r'|\\"[^"\\\n]*(?:\\[^"\n][^"\\\n]*)*\\"'
    r"""|["']?(?:(?:bearer|basic)[ \t]+)?[^\s"'\\,;&<>(){}\[\]][^\s"',;&<>(){}\[\]]*))"""
)
_HEADER = (
    r"(?:proxy-authorization|authorization|set-cookie|cookie|x-api-key)[ \t]*:"
    r"(?=(?P<ws>[ \t]*))(?P=ws)(?P<v>(?!\[redacted)\S[^\r\n]*)"
)
# `eyJ`, the rest of its run of token characters taken atomically, then two to four more
# dot-separated segments. When the segments are missing, the second alternative takes the
# run anyway: later `eyJ`s of a run that is no JWT cannot start one either, and retrying at
# each of them is what made 0.1.0's pattern quadratic on `"eyJ" * n`.
_JWT = r"eyj(?=(?P<run>[a-z0-9_-]*))(?P=run)(?:\.[a-z0-9_-]*){2,4}|eyj[a-z0-9_-]*"
# The value of `Bearer`, unless that is another scheme word (`bearer Bearer x`: take `x`).
_BEARER = r"bearer[ \t]+(?P<v>(?!\[redacted|(?:bearer|basic)[ \t])[^\s\"'\\,;<>]+)"
# `://user:password@`: the password may hold `@` and `:` (the last `@` ends it), not `/`.
_URL_PASSWORD = r"://(?P<v>[^\s/@:]*:[^\s/]+)@"  # noqa: S105 - a pattern, not a password


Finder = Callable[[re.Pattern[str], str, str], list[Span]]


class Family(NamedTuple):
    """One kind of secret: the texts that may hold it, and how to find its spans."""

    name: str
    triggers: tuple[str, ...]  # one of these is in the lowercased text wherever it matches
    pattern: re.Pattern[str]  # over the lowercased text
    find: Finder  # (pattern, lowercased text, original text) -> spans to mask
    jwt: bool = False  # masked as [REDACTED_JWT] rather than [REDACTED]

    def spans(self, text: str) -> list[Span]:
        """The spans of ``text`` this family masks (what :func:`redact` unites)."""
        return self.find(self.pattern, _lower(text), text)


# More secrets than this in one text is a dump or an attack: the rest of the text is masked,
# which bounds the work done in Python per text whatever its length.
MAX_SPANS = 1024


def _groups(group: str) -> Finder:
    def find(pattern: re.Pattern[str], scan: str, text: str) -> list[Span]:
        spans = [m.span(group) for m in itertools.islice(pattern.finditer(scan), MAX_SPANS)]
        return _capped(spans, len(scan))

    return find


def _capped(spans: list[Span], size: int) -> list[Span]:
    if len(spans) >= MAX_SPANS:
        spans[-1] = (spans[-1][0], size)
    return spans


def _jwts(pattern: re.Pattern[str], scan: str, text: str) -> list[Span]:
    spans = [m.span() for m in pattern.finditer(scan) if m.start(1) >= 0]
    return _capped(spans[:MAX_SPANS], len(scan))


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DIGITS = frozenset("0123456789")


def _key_values(pattern: re.Pattern[str], scan: str, text: str) -> list[Span]:
    key, value = pattern.groupindex["k"], pattern.groupindex["v"]
    spans: list[Span] = []
    done = 0  # the end of the last bracketed value: matches inside it are already masked
    for match in pattern.finditer(scan):
        start, end = match.span(value)
        if start < done:
            continue
        first = scan[start]
        if first in "[{(":
            end = done = _bracket_end(scan, start)
        elif scan.startswith(_OPENERS, end):  # `token=cookies={...}`: the value goes on
            end = done = _bracket_end(scan, end)
        elif (
            first in _DIGITS
            and match.group(key)[-6:] == "tokens"
            and _NUMBER.fullmatch(scan, start, end)
        ):
            continue  # `max_tokens=5`, `"total_tokens": 12`: usage counts, not secrets
        spans.append((start, end))
        if end == len(scan) or len(spans) == MAX_SPANS:
            break
    return _capped(spans, len(scan))


_BRACKET_EVENTS = re.compile(r"""[\[\](){}"'\\\n]""")
_OPEN, _CLOSE = frozenset("[({"), frozenset("])}")
_OPENERS = ("[", "(", "{")
_MAX_EVENTS = 4096  # more brackets and quotes than that in one value: mask to the end


def _bracket_end(scan: str, start: int) -> int:
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


def _basic(pattern: re.Pattern[str], scan: str, text: str) -> list[Span]:
    # "Basic" is also an English word: mask only what decodes as Basic credentials do
    # (`user:password`). Base64 is case-sensitive, so decode the original text.
    matches = itertools.islice(pattern.finditer(scan), MAX_SPANS)
    spans = [m.span("v") for m in matches if _is_basic_credential(text[m.start("v") : m.end("v")])]
    return _capped(spans, len(scan))


def _is_basic_credential(value: str) -> bool:
    raw = value.rstrip("=")
    if len(raw) % 4 == 1:  # no base64 has that length; skip the exception
        return False
    try:
        decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def _family(
    name: str,
    triggers: tuple[str, ...],
    source: str,
    find: Finder,
    *,
    jwt: bool = False,
) -> Family:
    return Family(name, triggers, re.compile(source), find, jwt)


_KEY_TRIGGERS = (
    *("authoriz", "cookie", "api_key", "api-key", "apikey", "api%", "token", "username"),
    *("credential", "passw", "passphrase", "secret", "private", "instructions"),
)
FAMILIES: tuple[Family, ...] = (
    _family("api_key", ("sk_orga_ai_",), r"sk_orga_ai_(?P<v>[a-z0-9_-]+)", _groups("v")),
    _family("jwt", ("eyj",), _JWT, _jwts, jwt=True),
    _family("url_password", ("://",), _URL_PASSWORD, _groups("v")),
    _family("quoted_key", _KEY_TRIGGERS, _QUOTED_KEY + _QUOTED_SEP + _VALUE, _key_values),
    _family("bare_key", _KEY_TRIGGERS, _BARE_KEY + _BARE_SEP + _VALUE, _key_values),
    _family("header", ("authorization", "cookie", "x-api-key"), _HEADER, _groups("v")),
    _family("bearer", ("bearer",), _BEARER, _groups("v")),
    _family("basic", ("basic",), r"basic[ \t]+(?P<v>[a-z0-9+/]+=*)", _basic),
)
_TRIGGERS = tuple(dict.fromkeys(t for family in FAMILIES for t in family.triggers))


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
    spans: list[tuple[int, ...]] = []
    found = 0
    for family in FAMILIES:
        for trigger in family.triggers:
            if trigger in lowered:
                break
        else:
            continue
        more = family.find(family.pattern, lowered, text)
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
