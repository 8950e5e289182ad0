"""Quart: users logged in with quart-auth get Orga realtime credentials. Run, from the root:

    hypercorn examples.quart_app:app --bind 127.0.0.1:8000

(needs ``pip install -e . -e 'integrations/quart[auth]'``). Without ``ORGA_API_KEY`` it
talks to the built-in sandbox upstream; with it, to Orga. Open http://127.0.0.1:8000, or:

    curl -c jar -X POST http://127.0.0.1:8000/login
    curl -b jar -X POST http://127.0.0.1:8000/api/orga-client-secrets
"""

from __future__ import annotations

import os
import secrets

from orga_asgi_quart import OrgaQuart, quart_auth_user
from quart import Quart, redirect
from quart_auth import AuthUser, QuartAuth, login_user, logout_user
from werkzeug.wrappers import Response

app = Quart(__name__)
app.secret_key = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(32)
app.config["QUART_AUTH_COOKIE_SECURE"] = False  # plain HTTP on this machine; True behind HTTPS
QuartAuth(app)
# Without ORGA_API_KEY, the sandbox: an in-process fake Orga, no account needed. With it,
# Orga itself (ORGA_API_KEY and ORGA_BASE_URL are read from the environment).
app.config["ORGA_SANDBOX"] = not os.environ.get("ORGA_API_KEY")

# Serves GET/POST /api/orga-client-secrets to quart-auth's current_user (logged out: 401),
# and closes the endpoint in after_serving. allow_insecure_loopback: plain HTTP from this
# machine only, with a real key too, for local development.
OrgaQuart(app, authorize=quart_auth_user, allow_insecure_loopback=True)

PAGE = """<!doctype html><title>Orga credentials from Quart</title>
<form method="post" action="/login"><button>Log in as demo-user</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
<button id="mint">Get credentials</button><pre id="out"></pre>
<script>
document.getElementById("mint").onclick = async () => {
  const response = await fetch("/api/orga-client-secrets", {method: "POST"});
  document.getElementById("out").textContent = response.status + " " + await response.text();
};
</script>"""


@app.get("/")
async def index() -> str:
    return PAGE


@app.post("/login")
async def login() -> Response:
    login_user(AuthUser("demo-user"))  # stands in for your password or OAuth check
    return redirect("/")


@app.post("/logout")
async def logout() -> Response:
    logout_user()
    return redirect("/")
