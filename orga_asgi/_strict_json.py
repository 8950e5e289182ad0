"""Strict JSON (RFC 8259) for bodies someone else wrote: UTF-8, no NaN or Infinity, no
repeated key in an object (two parsers, a proxy's and ours, may pick different values for
it).

``json`` reports repeated keys only through ``object_pairs_hook``, and that path costs more
than the rest of the parse (the mint's two small bodies: about 46,000 instructions against
33,000, 1.2% of a whole mint). So the bodies every mint reads are parsed without it
(:func:`parse`), and :func:`unique_keys` then proves from the text that no key repeats,
or parses it again with the hook when it cannot:

* with no backslash in the text, every ``"`` delimits a string, and a key is a string
  followed by ``:``; with no whitespace right after any string either, each key ends in
  exactly one ``":``, and the only other ``":`` is a string that starts with ``:``;
* so ``text.count('":')`` is at least the number of keys in the text, which is at least
  the number of distinct keys in the objects the caller counted; if the two are equal,
  no key repeats anywhere (and no object went uncounted).

Every scan is a linear ``str`` search.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Callable
from typing import Any, NoReturn, cast

__all__ = ["loads", "parse", "unique_keys"]


def _no_constant(name: str) -> NoReturn:
    raise ValueError("NaN and Infinity are not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("duplicate key")
    return data


def _scanner(decoder: json.JSONDecoder) -> Callable[[str, int], tuple[Any, int]]:
    # The decoder's C scanner (json.scanner's public make_scanner), called directly:
    # JSONDecoder.decode() adds two passes of a regular expression and two Python frames,
    # over a third of the scan's own cost on a mint's bodies.
    return json.scanner.make_scanner(cast("Any", decoder))


_strict_scan = _scanner(
    json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constant)
)
_scan = _scanner(json.JSONDecoder(parse_constant=_no_constant))
_WHITESPACE = " \t\n\r"  # JSON's (RFC 8259 section 2), which the scanners skip inside
_NOTHING = object()
# A string followed by JSON's whitespace (RFC 8259 section 2): that may be a key spaced from
# its colon (any run of whitespace), which the count would miss.
_SPACED = ('" ', '"\t', '"\n', '"\r')


def loads(body: bytes) -> Any:
    """``body`` as strict JSON.

    Raises:
        ValueError: not strict JSON (invalid UTF-8, NaN, a repeated key, an integer past
            the 4,300-digit limit); RecursionError: nested too deeply.
    """
    # Strict UTF-8 (RFC 8259 section 8.1): json.loads(bytes) would accept UTF-16 and let
    # lone surrogates through, which some JSON encoders downstream refuse.
    return _strict(body.decode("utf-8").strip(_WHITESPACE))


def _strict(text: str) -> Any:
    """``text`` (no whitespace around it) as one JSON value, repeated keys refused."""
    return _one_value(_strict_scan, text)


def _one_value(scan: Callable[[str, int], tuple[Any, int]], text: str) -> Any:
    """``text`` (no whitespace around it) as exactly one value, read by ``scan``."""
    try:
        value, end = scan(text, 0)
    except StopIteration:  # the scanner's "no value here"
        value, end = _NOTHING, -1
    if end != len(text):  # nothing, or something after the value
        raise ValueError("not one JSON value")
    return value


def parse(body: bytes) -> tuple[Any, str]:
    """``body`` as JSON, and its text: strict but for repeated keys, which the caller rules
    out with :func:`unique_keys` once it has counted the keys of the objects it read.

    Raises:
        ValueError, RecursionError: as :func:`loads`, repeated keys aside.
    """
    text = body.decode("utf-8").strip(_WHITESPACE)  # the same object when there is none
    return _one_value(_scan, text), text


def unique_keys(text: str, keys: int) -> bool:
    """Whether no object in ``text`` (as :func:`parse` returned it) repeats a key;
    ``keys``: the number of keys of the objects :func:`parse` gave that the caller counted
    (``len()`` of each, never more than there are)."""
    if "\\" not in text and text.count('":') == keys:
        for spaced in _SPACED:
            if spaced in text:
                break
        else:
            return True  # proven from the text
    try:  # not proven: parse it the strict way
        _strict(text)
    except (ValueError, RecursionError):  # a key repeats (the rest parsed already)
        return False
    return True
