"""``--instructions``: what uvicorn itself spends on each row's answer, in instructions.

A refusal answers with every header the issues require (Cache-Control, Pragma, HSTS, the
request id, RateLimit, Retry-After, ...), the floor with two of its own. uvicorn checks each
header in Python (two regular expressions over the name and the value, ``lower()``, three
comparisons) before writing it, so its cost grows with the headers' count and bytes. This counts it
apart from the app: the row's real answer (status, headers, body length, as captured from
the server) replayed through uvicorn's own ``send`` (``apps/uvicorn_send.py``) under valgrind,
two counts of calls, the difference per call; and timed in-process, as µs (warm caches:
valgrind counts no kernel time and no cache miss, and the timing sees only a hot loop, so both
are lower bounds of what a loaded server pays).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

_SCRIPT = Path(__file__).resolve().parent / "apps" / "uvicorn_send.py"
COLLECTED = re.compile(rb"Collected : (\d+)")  # valgrind's total, for _instructions.py too
SHORT, LONG = 1000, 6000
TIMED = 10_000  # answers per timed round


def _total(n: int, answer: dict[str, Any]) -> int:
    with tempfile.TemporaryDirectory(prefix="orga-bench-send.") as tmp:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out",
             sys.executable, str(_SCRIPT), str(n)],
            input=json.dumps(answer).encode(), capture_output=True, timeout=600, check=False,
        )  # fmt: skip
    found = COLLECTED.findall(done.stderr)
    if done.returncode or not found:
        raise RuntimeError(f"uvicorn_send.py under valgrind: {done.stderr[-300:]!r}")
    return int(found[-1])


def per_answer(answer: dict[str, Any]) -> float:
    """Instructions uvicorn spends sending ``answer`` once (start and body)."""
    return (_total(LONG, answer) - _total(SHORT, answer)) / (LONG - SHORT)


def timed(*answers: dict[str, Any]) -> list[float]:
    """µs uvicorn spends sending each answer once, timed in-process side by side (warm: a
    lower bound)."""
    done = subprocess.run(
        [sys.executable, str(_SCRIPT), str(TIMED), "--time"],
        input=json.dumps(list(answers)).encode(), capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"uvicorn_send.py --time: {done.stderr[-300:]!r}")
    return [float(x) for x in json.loads(done.stdout)]


def describe(answer: dict[str, Any]) -> str:
    """``10 headers, 386 bytes`` (names and values, uvicorn's own included)."""
    headers = answer["headers"]
    size = sum(len(k) + len(v) for k, v in headers)
    return f"{len(headers)} headers, {size} bytes"


__all__ = ["COLLECTED", "describe", "per_answer", "timed"]
