"""The regular expressions behind :mod:`.text`, over lowercased text; each says why it is
linear where that is not plain (the rules are in :mod:`.text`)."""

from __future__ import annotations

__all__ = [
    "BARE_SEP",
    "BEARER",
    "HEADER",
    "JWT",
    "KEY_WORDS",
    "QUOTED_SEP",
    "URL_PASSWORD",
    "VALUE",
    "KeyWord",
    "bare_key",
    "gate",
    "quoted_key",
    "structure",
]

# Key spellings: any prefix (`csrftoken`, `client_secret`, `x-api-key`), a plural `s`
# (`cookies=`, `tokens:`), and `_`/`-` percent-encoded as URLs carry them (`api%5Fkey`).
# Each row: the triggers that announce the word, its unquoted form, its quoted spellings.
# The key patterns are built for the words a text holds (see `text._specialized`): with one
# word the pattern has a literal prefix, which the regex engine finds at memchr speed.
_J = r"(?:[_-]|%5f|%2d)?"
KeyWord = tuple[tuple[str, ...], str, tuple[str, ...]]
KEY_WORDS: tuple[KeyWord, ...] = (
    (("authoriz",), "authorization", ("authorization",)),
    (("cookie",), "cookie", ("cookie",)),
    (("api_key", "api-key", "apikey", "api%"), f"api{_J}key", ("api_key", "api-key", "apikey")),
    (("token",), "token", ("token",)),
    (("username",), "username", ("username",)),
    (("credential",), "credential", ("credential",)),
    (("passw",), "passw(?:or)?d", ("password", "passwd")),
    (("passphrase",), "passphrase", ("passphrase",)),
    (("secret",), "secret", ("secret",)),
    (("private",), f"private{_J}key", ("private_key", "private-key", "privatekey")),
    (("instructions",), "instructions", ("instructions",)),
)


def bare_key(words: tuple[KeyWord, ...] = KEY_WORDS) -> str:
    """A sensitive word as a key, unanchored on the left, plural or not."""
    return f"(?P<k>(?:{'|'.join(bare for _, bare, _ in words)})s?)"


def quoted_key(words: tuple[KeyWord, ...] = KEY_WORDS) -> str:
    """A quoted key ending in a sensitive word.

    The key is taken whole and atomically, then must end in a sensitive word: one pass over
    the key, whatever its length, instead of a lazy scan retried at every character. One
    lookbehind per spelling, grouped by last letter so most keys fail on one check.
    """
    by_last: dict[str, list[str]] = {}
    for _, _, spellings in words:
        for word in (*spellings, *(w + "s" for w in spellings)):
            by_last.setdefault(word[-1], []).append(f"(?<={word})")
    lasts = "".join(sorted(by_last))
    ends = "|".join(f"(?<={last})(?:{'|'.join(ws)})" for last, ws in sorted(by_last.items()))
    return rf"""(?P<q>"|'|\\")(?=(?P<k>[a-z0-9_-]*))(?P=k)(?<=[{lasts}])(?:{ends})(?P=q)"""


# `=` and `:` may come percent-encoded, once or twice (a URL inside a query parameter).
# Whitespace before a value is taken atomically: no value starts with a space.
QUOTED_SEP = r"\s*[:=,](?=(?P<ws>\s*))(?P=ws)"
BARE_SEP = r"[ \t]*(?:[=:]|%3d|%3a|%253d|%253a)(?=(?P<ws>[ \t]*))(?P=ws)"
# A value: quoted three ways (JSON/repr, repr, JSON inside a JSON string) or bare (a dict,
# list or tuple value is the `structure` family's). A bytes repr's `b` stays outside the mask. The
# first lookahead makes a second pass over scrubbed text a no-op. A closing quote is not
# consumed (the mask takes it in Python): in garbled text such as `token="{"cookies": ...`
# it is also the opening quote of the next key.
VALUE = (
    r"""(?!b?(?:\\?["'])?\[redacted)(?:b(?=["']))?(?P<v>"""
    r"""(?:(?:bearer|basic)[ \t]+)?(?:"[^"\\\n]*(?:\\.[^"\\\n]*)*(?=")"""
    r"""|'[^'\\\n]*(?:\\.[^'\\\n]*)*(?=')"""
    r'|\\"[^"\\\n]*(?:\\[^"\n][^"\\\n]*)*(?=\\")'
    r"""|["']?(?:(?:bearer|basic)[ \t]+)?[^\s"'\\,;&<>(){}\[\]][^\s"',;&<>(){}\[\]]*))"""
)


def structure(words: tuple[KeyWord, ...] = KEY_WORDS) -> str:
    """A dict, list or tuple after a sensitive key (`cookies={...}`, `"tokens": [...]`,
    `('cookies', {...})`); only its opening bracket, balanced in Python.

    Found apart from the other key patterns so that none of their matches can hide it
    (`token='tokens=['x']`).
    """
    separator = r"""(?:(?:["']|\\")\s*[:=,]|[ \t]*(?:[=:]|%3d|%3a|%253d|%253a))"""
    return bare_key(words) + separator + r"\s*(?P<v>[\[{(])"


def gate(present: frozenset[str]) -> str:
    """What every match of every family starts with, for the triggers ``present``.

    One search for it tells most texts that hold a trigger word but no secret
    (``token_fingerprint=...``, "minted a token") from the rest, which then meet every
    family. It must match wherever any family would: keep it in step with them.
    """
    words = tuple(word for word in KEY_WORDS if not present.isdisjoint(word[0]))
    starts = [
        *(["sk_orga_ai_[a-z0-9_-]"] if "sk_orga_ai_" in present else []),
        *(["eyj"] if "eyj" in present else []),
        *(["://[^\\s/@:]*:"] if "://" in present else []),
        *(["bearer[ \\t]"] if "bearer" in present else []),
        *(["basic[ \\t]"] if "basic" in present else []),
    ]
    # Keys, quoted or not, with any separator (header names are among the words): one
    # alternative per word, each starting with a literal, so the engine skips ahead to the
    # characters they start with.
    separator = r"""s?(?:["']|\\")?\s*(?:[=:,]|%3d|%3a|%253d|%253a)"""
    starts += [bare + separator for _, bare, _ in words]
    return "|".join(starts) or "(?!)"


HEADER = (
    r"(?:proxy-authorization|authorization|set-cookie|cookie|x-api-key)[ \t]*:"
    r"(?=(?P<ws>[ \t]*))(?P=ws)(?P<v>(?!\[redacted)\S[^\r\n]*)"
)
# `eyJ`, the rest of its run of token characters taken atomically, then two to four more
# dot-separated segments. When the segments are missing, the second alternative takes the
# run anyway: later `eyJ`s of a run that is no JWT cannot start one either, and retrying at
# each of them is what made 0.1.0's pattern quadratic on `"eyJ" * n`.
JWT = r"eyj(?=(?P<run>[a-z0-9_-]*))(?P=run)(?:\.[a-z0-9_-]*){2,4}|eyj[a-z0-9_-]*"
# The value of `Bearer`: up to a delimiter, or to another `Bearer ` glued on (`xBearer y`:
# both values are masked), and never a scheme word itself (`bearer Bearer x`: take `x`).
BEARER = r"bearer[ \t]+(?P<v>(?!\[redacted|basic[ \t])(?:(?!bearer[ \t])[^\s\"'\\,;<>])+)"
# `://user:password@`: the password may hold `@` and `:` (the last `@` of the word ends it,
# which may mask a host too: safe). It may hold `/` (a raw one is invalid in a URL, but
# people write them), unless what follows the `:` reads as a port and a path
# (`https://host:8080/a@b`), and not `//`, where another URL may start (excluding it keeps
# one attempt from scanning into the next one's text).
URL_PASSWORD = r"://(?P<v>[^\s/@:]*:(?![0-9]{1,5}/)(?:[^\s/]|/(?!/))+)@"  # noqa: S105
