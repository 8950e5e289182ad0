"""Fault injection for FakeOrga: faults queued per route, their answers built once.

Building the response when the fault is queued (not per request) makes a bad argument or
header fail at ``FakeOrga.fail()``, inside the test that asked for it.
"""

from __future__ import annotations

import http
from collections import deque
from collections.abc import Iterable

from orga_asgi._types import Send

from ._asgi import dumps

__all__ = ["Fault", "FaultQueues", "answer", "build_fault"]

Response = tuple[int, list[tuple[bytes, bytes]], bytes]


class Fault:
    """A queued fault: an optional delay, then an optional canned (or dropped) answer."""

    __slots__ = ("delay", "drop", "remaining", "response")

    def __init__(
        self, response: Response | None, delay: float, drop: bool, remaining: int | None
    ) -> None:
        self.response, self.delay, self.drop, self.remaining = response, delay, drop, remaining


def build_fault(
    *,
    status: int | None,
    body: bytes | None,
    headers: dict[str, str] | None,
    delay: float,
    drop: bool,
    times: int | None,
    drop_body: bytes,
) -> Fault:
    """Validate the arguments of ``FakeOrga.fail()`` and build the fault.

    ``drop_body`` is the route's plausible 2xx answer, cut in half by ``drop``.

    Raises:
        ValueError: An out-of-range argument or a fault that does nothing.
    """
    if status is not None and not 200 <= status <= 599:
        raise ValueError("status must be between 200 and 599")
    if delay < 0 or (times is not None and times < 1):
        raise ValueError("delay must be >= 0 and times >= 1 (or None)")
    if headers is not None and status is None and body is None and not drop:
        raise ValueError("headers need status, body or drop")
    answers = status is not None or body is not None or drop
    if not answers and not delay:
        raise ValueError("the fault does nothing: pass status, body, delay or drop")
    response = _response(status, body, headers, drop, drop_body) if answers else None
    return Fault(response, delay, drop, times)


def _response(
    status: int | None,
    body: bytes | None,
    headers: dict[str, str] | None,
    drop: bool,
    drop_body: bytes,
) -> Response:
    status = 200 if status is None else status
    if body is None and status in (204, 304):  # HTTP forbids a body on these.
        body = b""
    elif body is None and status >= 400:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:  # e.g. 599: no standard phrase
            phrase = "Injected fault"
        body = dumps({"error": phrase}).encode()
    elif body is None:
        body = drop_body if drop else b"{}"
    merged = {"content-type": "application/json", "content-length": str(len(body))}
    merged.update((name.lower(), value) for name, value in (headers or {}).items())
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in merged.items()]
    return status, raw, body


class FaultQueues:
    """One queue of faults per route; faults on a route apply in the order queued."""

    __slots__ = ("_queues",)

    def __init__(self, routes: Iterable[str]) -> None:
        self._queues: dict[str, deque[Fault]] = {route: deque() for route in routes}

    def add(self, route: str, fault: Fault) -> None:
        self._queues[route].append(fault)

    def take(self, route: str) -> Fault | None:
        """The fault for this request to ``route`` (counted against its ``times``)."""
        queue = self._queues[route]
        if not queue:
            return None
        fault = queue[0]
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining == 0:
                queue.popleft()
        return fault

    def clear(self) -> None:
        for queue in self._queues.values():
            queue.clear()


async def answer(send: Send, response: Response, drop: bool) -> None:
    """Send a fault's canned answer; ``drop`` cuts it mid-body like a reset socket."""
    status, headers, body = response
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if not drop:
        await send({"type": "http.response.body", "body": body})
        return
    # Announce the full length, send half: the client sees a connection cut mid-body.
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise ConnectionResetError("fake orga dropped the connection")
