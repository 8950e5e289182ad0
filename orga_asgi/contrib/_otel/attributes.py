"""The attributes of one upstream attempt: its CLIENT span's and its duration point's.

Built once per distinct attempt shape (route, status, error, retry number) and reused: the
SDK copies a span's attributes and hashes a measurement's on every call, so reusing costs
it nothing more, and the kit builds no dictionary per event. The number of shapes is small
(two routes, a handful of statuses and error types, a few retries); past
:data:`CACHE_LIMIT` of them (a misbehaving upstream inventing statuses) they are built per
event instead of growing without bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from opentelemetry.util.types import Attributes

    from orga_asgi._upstream import UpstreamAttempt

__all__ = ["CACHE_LIMIT", "AttemptAttributes", "server_attributes"]

CACHE_LIMIT = 256
_Shape = tuple[str, str, "int | None", "str | None", int]


def server_attributes(method: str, url: str) -> dict[str, str | int]:
    """The semconv attributes of a call: method, ``url.full`` without userinfo, address,
    port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if "@" in parts.netloc:  # never the case for base_url (refused), but never a password
        url = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return {"http.request.method": method, "server.address": host, "server.port": port,
            "url.full": url}  # fmt: skip


class AttemptAttributes:
    """The (span, measurement) attribute dicts of attempts, one pair per attempt shape."""

    __slots__ = ("_pairs",)

    def __init__(self) -> None:
        self._pairs: dict[_Shape, tuple[Attributes, Attributes]] = {}

    def __call__(self, attempt: UpstreamAttempt) -> tuple[Attributes, Attributes]:
        """The attributes of ``attempt``'s CLIENT span and of its duration measurement.

        The span's are all given at its start (samplers see them): method, server, URL,
        status, ``error.type``, ``http.request.resend_count`` on retries. The measurement's
        are the bounded ones (no URL, no retry number), as the conventions advise.
        """
        shape = (attempt.method, attempt.url, attempt.status, attempt.error_type,
                 attempt.resend_count)  # fmt: skip
        found = self._pairs.get(shape)
        if found is None:
            found = _build(attempt)
            if len(self._pairs) < CACHE_LIMIT:
                self._pairs[shape] = found
        return found


def _build(attempt: UpstreamAttempt) -> tuple[Attributes, Attributes]:
    span = server_attributes(attempt.method, attempt.url)
    point = {k: v for k, v in span.items() if k != "url.full"}
    if attempt.status is not None:
        span["http.response.status_code"] = point["http.response.status_code"] = attempt.status
    if attempt.error_type is not None:
        span["error.type"] = point["error.type"] = attempt.error_type
    if attempt.resend_count:
        span["http.request.resend_count"] = attempt.resend_count
    return span, point
