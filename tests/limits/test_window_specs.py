"""Window specs as operators write them, in code or in environment variables.

The gate parses them itself, in linear time (limits' own expression backtracks: a few hundred
spaces took 0.1.0 tens of seconds to reject), and refuses what limits would silently misread
(``5/0 minutes`` as ``5/minute``) or what no store could hold.
"""

from __future__ import annotations

import gc
import time

import pytest

from orga_asgi._errors import ConfigurationError
from orga_asgi._ratelimit import parse_windows


def specs(value: object) -> list[str]:
    return [w.name for w in parse_windows(value, "rate_limits")]


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("5/minute", ["5-per-minute"]),
        (" 5 / minute ", ["5-per-minute"]),
        ("5/MINUTES", ["5-per-minute"]),
        ("10 per 5 minutes", ["10-per-5-minutes"]),
        ("10/5minutes", ["10-per-5-minutes"]),
        ("100/day; 5/minute", ["5-per-minute", "100-per-day"]),
        ("5/minute,100/day|1000/month", ["5-per-minute", "100-per-day", "1000-per-month"]),
        ("5/minute;", ["5-per-minute"]),  # a trailing separator, as env files often have
        ("5/minute;;\t100/day ;", ["5-per-minute", "100-per-day"]),
        ("5/minute\u00a0;\u2003100/day", ["5-per-minute", "100-per-day"]),  # unicode spaces
        (("5/minute", "100/day; 1/second"), ["1-per-second", "5-per-minute", "100-per-day"]),
        ("05/minute", ["5-per-minute"]),
        ("1/year", ["1-per-year"]),
        (None, []),
        ((), []),
        ([], []),
    ],
)
def test_specs_as_written(value: object, names: list[str]) -> None:
    assert specs(value) == names


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("", "holds no rate limit"),
        (" ; , ", "holds no rate limit"),
        ("5/0 minutes", "spans no time"),  # limits reads it as 5/minute
        ("5 per 00 hour", "spans no time"),
        ("0/minute", "allows nothing"),
        ("-5/minute", "is not a rate limit"),
        ("5/-1 minute", "is not a rate limit"),
        ("5/1.5 minutes", "is not a rate limit"),
        ("5/fortnight", "is not a rate limit"),
        ("5/minute 100/day", "is not a rate limit"),
        ("5/minute:100/day", "is not a rate limit"),
        ("\u0665/minute", "is not a rate limit"),  # Arabic-Indic five
        ("5/m\u00ecnute", "is not a rate limit"),
        ("1000000001/second", "more than 1,000,000,000"),
        ("9" * 5000 + "/second", "is not a rate limit"),  # past int()'s digit limit
        ("5/" + "9" * 20 + " seconds", "is not a rate limit"),
        ("5/13 months", "spans more than a year"),
        ("1/100000000 years", "spans more than a year"),
        ("5/minute; 5 per minute", "listed twice"),
        (b"5/minute", "takes strings"),
        (5, "takes strings"),
        ({"5/minute": 1}, "takes strings"),
        ([5], "takes strings"),
    ],
)
def test_bad_specs_get_a_hint(value: object, hint: str) -> None:
    with pytest.raises(ConfigurationError, match=hint) as error:
        parse_windows(value, "rate_limits")
    assert str(error.value).startswith("rate_limits")
    assert len(str(error.value)) < 400  # a huge spec is not echoed whole


@pytest.mark.parametrize(
    "spec",
    [
        "1" + " " * 300 + "per" + " " * 300 + "!",  # 0.1.0 (limits' expression): > 30 s
        "1/" + " " * 20_000,
        "1/second," * 5_000 + "!",
        "1 per " * 10_000,
        " " * 65_536 + "x",
    ],
)
def test_parsing_is_linear_on_adversarial_specs(spec: str) -> None:
    # The parser's CPU time, not the machine's load or a full collection of the suite's heap.
    gc.collect()
    gc.disable()
    try:
        started = time.thread_time()
        with pytest.raises(ConfigurationError):
            parse_windows(spec, "rate_limits")
        elapsed = time.thread_time() - started
    finally:
        gc.enable()
    assert elapsed < 0.5
