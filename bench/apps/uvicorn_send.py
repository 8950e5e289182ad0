"""uvicorn's own handling of one answer: ``python uvicorn_send.py N [--time] < answer.json``.

Runs the installed uvicorn's real ``RequestResponseCycle.send`` (httptools protocol, what
the table's rows run) N times on the status, headers and body a row answered with (read as
JSON from stdin: ``{"status", "headers": [[name, value], ...], "body_length"}``; uvicorn's own
``date`` and ``server`` are its default headers, as in a server), writing into a transport
that drops the bytes. ``bench/_sendcost.py`` counts its instructions under valgrind for two
N and takes the difference: what uvicorn spends on that answer, start-up cancelled out.
With ``--time`` it reads a list of answers and prints, for each, the fastest of 7 timed rounds
of N (interleaved), in µs per answer: warm caches, so a lower bound of what a busy server pays.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

Header = tuple[bytes, bytes]
_DEFAULTS = {"date", "server"}  # uvicorn adds these itself, to every answer


class _NullTransport(asyncio.Transport):
    """Takes every write and keeps nothing (no socket: this measures uvicorn, not the kernel)."""

    def write(self, data: Any) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


def _parts(answer: dict[str, Any]) -> tuple[list[Header], dict[str, Any], dict[str, Any]]:
    """uvicorn's default headers, and the two ASGI messages of ``answer``."""
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer["headers"]]
    defaults = [h for h in headers if h[0].decode() in _DEFAULTS]
    own = [h for h in headers if h[0].decode() not in _DEFAULTS]
    start = {"type": "http.response.start", "status": int(answer["status"]), "headers": own}
    end = {"type": "http.response.body", "body": b"x" * int(answer["body_length"])}
    return defaults, start, end


async def rounds(n: int, answer: dict[str, Any]) -> None:
    """Send ``answer`` ``n`` times, each on a new cycle, as uvicorn does per request."""
    defaults, start, end = _parts(answer)
    transport = _NullTransport()
    flow = FlowControl(transport)
    log = logging.getLogger("uvicorn.error")
    scope: Any = {"type": "http", "method": "GET", "http_version": "1.1"}
    for _ in range(n):
        cycle = RequestResponseCycle(
            scope, transport, flow, log, log, False, defaults, asyncio.Event(), False, True,
            lambda: None,
        )  # fmt: skip
        await cycle.send(start)
        await cycle.send(end)


async def timed(n: int, answers: list[dict[str, Any]]) -> list[float]:
    """µs per answer of each, the fastest of 7 rounds, the answers' rounds interleaved (so
    a change of the machine's speed meanwhile touches all of them alike)."""
    best = [float("inf")] * len(answers)
    for _ in range(7):
        for i, answer in enumerate(answers):
            began = time.perf_counter()
            await rounds(n, answer)
            best[i] = min(best[i], (time.perf_counter() - began) / n * 1e6)
    return best


if __name__ == "__main__":
    given = json.load(sys.stdin)
    count = int(sys.argv[1])
    if "--time" in sys.argv[2:]:  # a list of answers
        print(json.dumps(asyncio.run(timed(count, given))))
    else:  # one answer
        asyncio.run(rounds(count, given))
