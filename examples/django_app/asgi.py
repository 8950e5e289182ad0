"""Django's ASGI application with the Orga route in front, authorized by the Django session.

Run it from the repository root (a sandbox upstream unless ORGA_API_KEY is set)::

    uvicorn examples.django_app.asgi:application

Then log in (Django wants its CSRF token on the POST) and ask for credentials::

    curl -c jar http://127.0.0.1:8000/login      # {"csrfToken": "..."}
    curl -b jar -c jar -X POST -H 'X-CSRFToken: <csrfToken>' http://127.0.0.1:8000/login
    curl -b jar http://127.0.0.1:8000/api/orga-client-secrets

Needs ``pip install 'orga-asgi[server]' django``.
"""

from __future__ import annotations

import os
from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.asgi import get_asgi_application

from orga_asgi import OrgaClientSecrets, OrgaMiddleware, Principal
from orga_asgi.auth import cookie
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, sandbox_client

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
django_application = get_asgi_application()  # sets Django up: settings are usable below

SessionStore = import_module(settings.SESSION_ENGINE).SessionStore


async def verify_session(session_key: str) -> Principal | None:
    # Load the session the way Django does; the engine may query the database, so it runs
    # in Django's sync thread. (With django.contrib.auth, read auth.SESSION_KEY instead.)
    session = SessionStore(session_key=session_key)
    user_id = await sync_to_async(session.get)("user_id")
    return Principal(id=str(user_id)) if user_id else None


authorize = cookie(settings.SESSION_COOKIE_NAME, verify_session)
sandbox = None if os.environ.get("ORGA_API_KEY") else sandbox_client()
if sandbox is None:
    # Real Orga: ORGA_API_KEY (and ORGA_BASE_URL, if set) come from the environment, and
    # only HTTPS is served (behind a TLS-terminating proxy, pass trusted_proxies=[...]).
    endpoint = OrgaClientSecrets(authorize=authorize)
else:
    # No key: an in-process sandbox upstream, and plain http from this machine (dev only).
    endpoint = OrgaClientSecrets(
        authorize=authorize,
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=sandbox,
        allow_insecure_loopback=True,
    )


# Django answers HTTP only; OrgaMiddleware answers the server's lifespan for it, so the
# endpoint's upstream pool is closed at shutdown. (The sandbox client holds no sockets.)
application = OrgaMiddleware(django_application, endpoint=endpoint)
