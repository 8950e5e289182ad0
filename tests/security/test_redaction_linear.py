"""Redaction runs in linear time: every pattern, on inputs built to make a backtracking
engine slow (hardening issue, defect 1: 0.1.0's JWT pattern was quadratic on ``"eyJ" * n``).

The one kind of timed test the suite allows: it measures CPU time of this thread (not wall
time, so a loaded machine does not fail it), the median of a few runs, and asserts

- a 4x longer input costs less than 8x the time (quadratic would be ~16x), and
- 64 KiB of the worst input of each pattern takes less than 20 ms, and less than 50 ms
  through ``redact()``, which runs every pattern whose trigger the text holds.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

import pytest

from orga_asgi._redaction.text import _TRIGGERS, FAMILIES, Family, _gate
from orga_asgi.redaction import redact

KIB = 1024
BOUND_S = 0.020  # per pattern, on 64 KiB
WHOLE_BOUND_S = 0.050  # redact(): all the patterns a text triggers, together
RATIO = 8.0
RUNS = 5
# Timings below this are noise: the ratio is then judged on no evidence, only the bound.
FLOOR_S = 0.0005

# Repeated units that stress each pattern: its trigger without what must follow, long runs
# its repeats scan before failing, nested and unclosed quotes and brackets. A unit named
# for one pattern is run against every pattern and against redact() as a whole.
UNITS: dict[str, tuple[str, ...]] = {
    "api_key": ("sk_orga_ai_", "sk_orga_ai_.", "sk_orga_ai_a "),
    "jwt": ("eyJ", "eyJ.", "eyJ ", "aeyJ", "eyJa.b ", "eyJ-", "eyJ..", "eyJa.b.c "),
    "url_password": ("://", "://a:", "://:b", "://@:", "://a:b@", "://:@/"),
    "quoted_key": ('"', "'a", '"aaaa', '"token": "', "'token': '", '\\"token\\": \\"', '"a"'),
    "bare_key": (
        *("token=", 'token="', "token='", "token: ", "token=[", "cookies={'a':", "tokens=9"),
        *("token%3d", "token=a[", "token=\\", "token=b'", "token = ", "[", "['", '{"'),
    ),
    "structure": ("cookies=[", "tokens: (", "'cookies', {", "token=\n[", "token= [{(", "token=["),
    "header": ("authorization", "cookie: ", "cookie ", "set-cookie:", "authorization:\t"),
    "bearer": ("bearer ", "Bearer", "bearer bearer ", "bearer\t"),
    "basic": ("basic ", "basic YWJj", "basic dTpw ", "basic ===="),
    "any": (" ", "a", "\\", "\n", "token=\"x password='y ", "İ"),
}
# Single long runs after a trigger: the shape of 0.1.0's failure.
TAILS = {
    "a*n+eyJ": lambda n: "a" * n + "eyJ",
    "eyJ+a*n": lambda n: "eyJ" + "a" * n,
    'token="+a*n': lambda n: 'token="' + "a" * n,
    "cookies=[+a*n": lambda n: "cookies=[" + "a" * n,
    "long quoted key": lambda n: '"' + "a" * n + '": 1',
    "token= + spaces": lambda n: "token=" + " " * n,
    "bearer + spaces": lambda n: "bearer" + " " * n,
    "://a: + b*n": lambda n: "://a:" + "b" * n,
    "İ + eyJ*n": lambda n: "İ" + "eyJ" * (n // 3),
}


def build(name: str, size: int) -> str:
    if name in TAILS:
        return TAILS[name](size)
    unit = name.split("|", 1)[1]
    return (unit * (size // len(unit) + 1))[:size]


INPUTS = [f"{family}|{unit}" for family, units in UNITS.items() for unit in units] + list(TAILS)


def cpu_time(run: Callable[[str], object], text: str) -> float:
    """Median CPU seconds of ``run(text)``; stops early when one run is far over the bound."""
    times: list[float] = []
    # The pattern's time, not the collector's: late in a long session one full collection
    # of the suite's heap can take longer than the bound (seen: 575 ms for a 1 ms run).
    gc.collect()
    gc.disable()
    try:
        for _ in range(RUNS):
            start = time.thread_time()
            run(text)
            times.append(time.thread_time() - start)
            if times[-1] > 10 * WHOLE_BOUND_S:  # already failing by far (0.1.0 takes seconds)
                break
    finally:
        gc.enable()
    return statistics.median(times)


def assert_linear(run: Callable[[str], object], name: str, bound: float = BOUND_S) -> None:
    # Up to three tries: a quadratic pattern fails every one of them (16x, seconds), while
    # a busy machine can spoil a single measurement.
    failures: list[str] = []
    for _ in range(3):
        large = cpu_time(run, build(name, 64 * KIB))
        if large < FLOOR_S:
            return  # too fast to judge a ratio on, and far within the bound
        small = cpu_time(run, build(name, 16 * KIB))
        ratio = large / max(small, FLOOR_S / 4)
        if large < bound and ratio < RATIO:
            return
        failures.append(f"64 KiB: {large * 1000:.1f} ms, 4x the input: {ratio:.1f}x the time")
        if large > 10 * bound:
            break
    pytest.fail(f"{name!r} is not linear: " + "; ".join(failures))


@pytest.mark.parametrize("name", INPUTS)
def test_redact_is_linear(name: str) -> None:
    assert_linear(redact, name, WHOLE_BOUND_S)


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
@pytest.mark.parametrize("name", INPUTS)
def test_every_pattern_is_linear(family: Family, name: str) -> None:
    assert_linear(family.spans, name)


@pytest.mark.parametrize("name", INPUTS)
def test_the_gate_pattern_is_linear(name: str) -> None:
    # The one search that lets most texts with a trigger word but no secret through.
    gate = _gate(frozenset(_TRIGGERS))
    assert_linear(lambda text: gate.search(text.lower()), name)


def test_every_pattern_has_adversarial_inputs() -> None:
    # A new pattern must come with inputs aimed at it.
    assert {f.name for f in FAMILIES} <= set(UNITS)


def test_adversarial_inputs_are_still_redacted() -> None:
    # Linear, and still doing its job on the same shapes.
    assert redact("x " + "eyJ" * 4000 + ".a.b") == "x [REDACTED_JWT]"
    assert "hunter2" not in redact("token=" + " " * 5000 + "hunter2")
    assert redact("cookies=[" + "[" * 10_000 + "'sid'") == "cookies=[REDACTED]"
