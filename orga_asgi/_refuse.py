"""How a request of the route ends: one answer, sent once; refusals from the error table.

:class:`Answering` is the state every stage of :class:`~orga_asgi._request.Call` (and the
relay's) reads and sets, and the end of the pipeline: :meth:`Answering.handle` runs it,
turns what it raised into :meth:`Answering.refuse`, and tells the observers. Headers are
assembled once, when the answer is sent, from what the stages recorded (CORS, the RateLimit
headers of the last window checked): none is added and later taken back.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING

import anyio

from ._body import ClientGone
from ._errors import Busy, RequestError
from ._log import get_logger
from ._observers import counting_attempts
from ._request_id import request_id_var, resolve_request_id
from ._responses import error_headers

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._errors import Header
    from ._principal import Principal
    from ._request import Route
    from ._types import Receive, Scope, Send
    from ._upstream import ClientSecrets

__all__ = ["Answering"]

logger = get_logger("orga_asgi")
_WANTED = frozenset(
    {b"x-request-id", b"origin", b"sec-fetch-site", b"host", b"content-length",
     b"transfer-encoding", b"access-control-request-headers"}
)  # fmt: skip
_REQUEST_ID = b"x-request-id"
_LENGTH = b"content-length"


class Answering:
    """The state of one request: read by the stages, set by them, answered once.

    No ``__slots__``: what most requests never set (a refusal sets little) stays a class
    default, so a request pays for the attributes it sets, not for all of them.
    """

    scheme = "http"
    client: str | None = None
    principal: Principal | None = None
    key: str | None = None
    cors: Sequence[Header] = ()
    # The RateLimit headers to report: the last window checked (the principal's over the
    # address's); a 429 reports the window that refused instead.
    limit_headers: Sequence[Header] = ()
    secrets: ClientSecrets | None = None
    status = 500
    outcome = "internal_error"
    upstream_attempts = 0
    answered = False
    # Sealed sessions: the real token's fingerprint (the secrets hold a handle), and the
    # conversation a relay request started.
    token_fingerprint: str | None = None
    conversation_id: str | None = None

    def __init__(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        self.route = route
        self.scope = scope
        self.receive = receive
        self.send = send
        self.started = perf_counter()
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:  # a loop: no comprehension frame (3.11)
            if name in _WANTED:
                found[name] = value
        self.found = found
        self.request_id = resolve_request_id(found.get(_REQUEST_ID))

    async def run(self) -> None:  # pragma: no cover - every request kind has its own
        """The pipeline: stages that answer, or raise what :meth:`refuse` answers."""
        raise NotImplementedError

    async def handle(self) -> None:
        """Run the pipeline; refuse what it raised; tell the observers; reset the id.

        The request id and the request itself are this task's context meanwhile: log
        records carry the id, and the exchange counts its upstream attempts on the request
        (the audit event's ``upstream_attempts``)."""
        token = request_id_var.set(self.request_id)
        counting = counting_attempts.set(self)
        try:
            await self.run()
        except RequestError as exc:
            await self.refuse(exc)
        except ClientGone:
            self.status, self.outcome = 499, "client_disconnected"
        except Exception as exc:
            logger.exception("orga-asgi request failed")
            await self.refuse(exc)
        except BaseException as exc:
            # Cancelled by the server (graceful-shutdown timeout): answer with a JSON error
            # while the connection is still there, then let the cancellation through.
            if self.answered or not isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            with anyio.CancelScope(shield=True):
                await self.refuse(Busy("cancelled by the server"))
            raise
        finally:
            counting_attempts.reset(counting)
            self.route.observers.request_finished(self)  # builds the event only if heard
            request_id_var.reset(token)

    async def refuse(self, exc: BaseException) -> None:
        """Answer ``exc`` from the error table (anything unmapped: 500 ``internal_error``)."""
        refusal = self.route.responses.refusal(exc)
        self.status = refusal.status
        self.outcome = refusal.code
        if self.answered:  # the answer had started: nothing more can be said
            return
        extra = self.limit_headers
        if isinstance(exc, RequestError) and (exc.headers or exc.retry_after is not None):
            extra = error_headers(exc, extra)  # its own headers, Retry-After
        try:
            body = refusal.body(self.request_id, exc)
            await self._send(refusal.status, refusal.blocks, extra, body)
        except Exception:
            logger.debug("could not send the error response", exc_info=True)

    async def _send(
        self,
        status: int,
        blocks: tuple[tuple[Header, ...], tuple[Header, ...]],
        extra: Sequence[Header],
        body: bytes,
    ) -> None:
        # One list, built once: the row's block, then what is this request's own.
        headers = list(blocks[self.scheme == "https"])
        headers.append((_REQUEST_ID, self.request_id.encode("ascii")))
        if self.cors:
            headers += self.cors
        if extra:
            headers += extra
        headers.append((_LENGTH, b"%d" % len(body)))
        self.answered = True
        send = self.send
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
