"""``orga_asgi._strict_json``: the mint's bodies are parsed without ``object_pairs_hook`` and
proven free of repeated keys from their text. The proof must agree with the strict parser
on every text: a repeated key is refused however it is spelled (escaped, spaced before its
colon, deep in an object nobody reads), and a text with none is accepted.

Generated texts are JSON written by hand (``json.dumps`` cannot repeat a key), with keys
drawn from a few spellings of the same names, whitespace anywhere JSON allows it, and
strings that start with or hold ``":``. ``nox -s soak`` runs the ``slow`` twin with many
more examples.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import strategies as st

from orga_asgi._strict_json import loads, parse, unique_keys
from tests._properties import twins

WS = st.sampled_from(["", "", " ", "\t", "\n", "\r\n "])
# Spellings that collide after decoding: "a" and "\u0061", ":" and "\u003a".
KEYS = st.sampled_from(['"a"', '"b"', '"\\u0061"', '":"', '"\\u003a"', '"a:"', '""', '":a"'])
STRINGS = st.sampled_from(['"x"', '":"', '":x"', '"a\\":"', '"\\\\"', '"stun:s.example:3478"'])
LEAVES = st.one_of(STRINGS, st.sampled_from(["1", "-2.5", "true", "false", "null"]))


def _array(items: list[str], ws: str) -> str:
    return "[" + ws + ("," + ws).join(items) + ws + "]"


def _object(pairs: list[tuple[str, str, str, str]]) -> str:
    # (key, space before the colon, space after it, value)
    return "{" + ",".join(f"{k}{before}:{after}{v}" for k, before, after, v in pairs) + "}"


texts = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(_array, st.lists(inner, max_size=3), WS),
        st.builds(_object, st.lists(st.tuples(KEYS, WS, WS, inner), max_size=4)),
    ),
    max_leaves=12,
)


def keys_in(value: Any) -> int:
    """Every key of every object in a parsed value (what a caller that read all counts)."""
    if isinstance(value, dict):
        return len(value) + sum(keys_in(v) for v in value.values())
    if isinstance(value, list):
        return sum(keys_in(v) for v in value)
    return 0


def strictly_valid(text: str) -> bool:
    try:
        loads(text.encode())
    except ValueError:
        return False
    return True


def the_proof_agrees_with_the_strict_parser(text: str, fewer: int) -> None:
    value, same = parse(text.encode())
    assert same == text.strip(" \t\n\r")
    counted = keys_in(value)
    # The caller counts every key, or only those of the objects it read (fewer, never more).
    for keys in {counted, max(0, counted - fewer)}:
        assert unique_keys(text, keys) is strictly_valid(text), (text, keys)


test_the_proof_agrees_with_the_strict_parser, test_the_proof_soak = twins(
    the_proof_agrees_with_the_strict_parser,
    texts,
    st.integers(min_value=0, max_value=40),
    quick=600,
)


REPEATS = {
    "plain": '{"a":1,"a":2}',
    "escaped": '{"a":1,"\\u0061":2}',
    "spaced-before-the-colon": '{"a":1,"a" :2}',
    "tab-before-the-colon": '{"a":1,"a"\t:2}',
    "newline-before-the-colon": '{"a":1,"a"\n:2}',
    "in-a-nested-object": '{"a":{"b":1,"b":2}}',
    "hidden-by-a-colon-string": '{"a":":","a" :1}',
    "in-an-array": '{"iceServers":[{"urls":"stun:a","urls":"javascript:x"}]}',
}


@pytest.mark.parametrize("text", list(REPEATS.values()), ids=list(REPEATS))
def test_a_repeated_key_is_refused_however_it_is_written(text: str) -> None:
    value, _ = parse(text.encode())
    for keys in range(keys_in(value) + 1):  # whatever a caller counted, up to all
        assert not unique_keys(text, keys)


DISTINCT = [
    '{"a":":x","b":"stun:s:1"}',  # strings that start with or hold a colon
    '{"a" : 1, "b"\t:2}',  # spaced colons: the strict parse decides
    '{"a":"\\"b\\":"}',  # an escaped quote before a colon
    '{"iceServers":[{"urls":["stun:a:1","turn:b"],"username":"u","credential":"c"}]}',
]


@pytest.mark.parametrize("text", DISTINCT)
def test_distinct_keys_are_accepted(text: str) -> None:
    value, _ = parse(text.encode())
    assert unique_keys(text, keys_in(value))


def test_nan_and_infinity_are_refused_by_both_parsers() -> None:
    for literal in ("NaN", "Infinity", "-Infinity"):
        text = '{"a":' + literal + "}"
        with pytest.raises(ValueError):
            parse(text.encode())
        with pytest.raises(ValueError):
            loads(text.encode())
