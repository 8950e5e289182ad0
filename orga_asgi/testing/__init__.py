"""A sandbox Orga upstream for tests, load runs and ``orga-asgi dev``.

:class:`FakeOrga` is a plain ASGI app serving the upstream routes of the Orga wire
contract, with on-demand fault injection and a record of every call it received. Point an
``httpx.ASGITransport`` (or a real server such as uvicorn) at it, or let
:func:`sandbox_client` do it. :func:`recording_secrets` collects every key, token and TURN
credential the fakes hand out, for leak checks.

The pytest fixtures built on these (``fake_orga``, ``fake_orga_client``) are in
:mod:`orga_asgi.pytest_plugin`, registered with pytest when the package is installed. To
run a whole app against a FakeOrga without wiring one, use the endpoint's own sandbox:
``OrgaClientSecrets(..., sandbox=True)`` or ``ORGA_SANDBOX=1``.
"""

from __future__ import annotations

from ._fake import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga
from ._fake import FaultRoute as FaultRoute  # type aliases of the signatures, as in 0.1.0
from ._fake import TokenField as TokenField
from ._recording import RecordedCall, recording_secrets
from ._sandbox import sandbox_client

__all__ = [
    "FAKE_API_KEY",
    "FAKE_BASE_URL",
    "FakeOrga",
    "RecordedCall",
    "recording_secrets",
    "sandbox_client",
]
