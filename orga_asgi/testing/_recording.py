"""What the fakes saw and handed out: :class:`RecordedCall` and :func:`recording_secrets`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["RecordedCall", "recording", "recording_secrets", "remember"]


@dataclass(frozen=True, slots=True, repr=False)
class RecordedCall:
    """One request FakeOrga received, verbatim.

    Attributes:
        method: HTTP method, e.g. ``"POST"``.
        path: Request path, e.g. ``"/v1/realtime/client-secrets"``.
        query_string: Raw query string without ``?`` (``""`` when absent).
        authorization: Raw ``Authorization`` header, or ``None``. Kept so tests can assert
            the key was sent; :meth:`__repr__` redacts it.
        body: Request body bytes.
        key_fingerprint: On a ``client-secrets`` call, the fingerprint of the API key it
            presented (:func:`orga_asgi.keys.fingerprint`, accepted or not); else ``None``.
    """

    method: str
    path: str
    query_string: str
    authorization: str | None
    body: bytes
    key_fingerprint: str | None = None

    def __repr__(self) -> str:
        auth = self.authorization
        if auth is not None:
            # The scheme is not secret and helps debugging; the credentials are.
            scheme, sep, _ = auth.partition(" ")
            auth = f"{scheme} <redacted>" if sep else "<redacted>"
        body = repr(self.body[:64])
        if len(self.body) > 64:  # a 10 MB fault body must not flood a failure report
            body += f"...({len(self.body)} bytes)"
        return (
            f"RecordedCall(method={self.method!r}, path={self.path!r}, "
            f"query_string={self.query_string!r}, authorization={auth!r}, body={body}, "
            f"key_fingerprint={self.key_fingerprint!r})"
        )


# One set per open ``recording_secrets()`` block; empty almost always, so the fakes test
# ``recording()`` before building what they would hand over.
_RECORDERS: list[set[str]] = []


def recording() -> bool:
    """Whether any ``recording_secrets()`` block is open (a leak check is listening)."""
    return bool(_RECORDERS)


def remember(secrets: Iterable[str]) -> None:
    """Tell every open ``recording_secrets()`` block about ``secrets``."""
    values = tuple(secrets)
    for recorder in _RECORDERS:
        recorder.update(values)


@contextlib.contextmanager
def recording_secrets() -> Iterator[set[str]]:
    """Collect every API key, token and TURN credential any FakeOrga uses meanwhile.

    For leak checks: none of what the set holds may appear in a log line, an error body or
    a response header. The set keeps filling until the block ends, even after the fakes
    that minted the secrets are gone::

        with recording_secrets() as secrets:
            ...  # run requests
        assert not any(s in log_text for s in secrets)
    """
    found: set[str] = set()
    _RECORDERS.append(found)
    try:
        yield found
    finally:
        _RECORDERS.remove(found)
