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

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
django_application = get_asgi_application()  # sets Django up: settings are usable below

SessionStore = import_module(settings.SESSION_ENGINE).SessionStore


async def verify_session(session_key: str) -> Principal | None:
    # Load the session the way Django does; the engine may query the database, so it runs
    # in Django's sync thread. (With django.contrib.auth, read auth.SESSION_KEY instead.)
    session = SessionStore(session_key=session_key)
    user_id = await sync_to_async(session.get)("user_id")
    return Principal(id=str(user_id)) if user_id else None


# No key: the sandbox, an in-process fake Orga (fake tokens, plain http from this machine;
# dev only). With ORGA_API_KEY (and ORGA_BASE_URL, if set), real Orga, and only HTTPS is
# served (behind a TLS-terminating proxy, pass trusted_proxies=[...]).
endpoint = OrgaClientSecrets(
    authorize=cookie(settings.SESSION_COOKIE_NAME, verify_session),
    sandbox=not os.environ.get("ORGA_API_KEY"),
)

# Django answers HTTP only; OrgaMiddleware answers the server's lifespan for it, so the
# endpoint (its upstream pool, or the sandbox's client) is closed at shutdown.
application = OrgaMiddleware(django_application, endpoint=endpoint)
