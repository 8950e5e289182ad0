"""The endpoint, as production would run it, for a separate uvicorn process.

``python -m uvicorn _load_app:app``: ``OrgaMiddleware`` around an empty Starlette app, the
endpoint with its default aiohttp transport against ``ORGA_REL_UPSTREAM``. Behind a trusted
loopback proxy (callers send ``X-Forwarded-Proto: https``), limits generous enough that a load
round measures the server rather than the limiter. ``ORGA_REL_STORAGE`` sets ``storage_uri``;
``ORGA_REL_TIMEOUT``/``ORGA_REL_DEADLINE`` the upstream timeouts.
"""

from __future__ import annotations

import logging
import os

from starlette.applications import Starlette

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, allow_anonymous
from orga_asgi.testing import FAKE_API_KEY

# WARNING and up on stderr, tracebacks included: the tests read stderr for tracebacks and
# "Unclosed ..." reports.
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")

endpoint = OrgaClientSecrets(
    authorize=allow_anonymous,
    api_key=FAKE_API_KEY,
    base_url=os.environ["ORGA_REL_UPSTREAM"],
    trusted_proxies=["127.0.0.1"],
    rate_limits=("1000000/minute",),
    ip_rate_limits=("1000000/minute",),
    max_in_flight_per_principal=None,
    storage_uri=os.environ.get("ORGA_REL_STORAGE", "memory://"),
    timeout=float(os.environ.get("ORGA_REL_TIMEOUT", "10")),
    deadline=float(os.environ.get("ORGA_REL_DEADLINE", "15")),
    audit_log=False,
)
app = OrgaMiddleware(Starlette(), endpoint=endpoint)
