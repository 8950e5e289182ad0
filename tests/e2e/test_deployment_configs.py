"""docs/deployment.md run for real: nginx and Caddy in front of the sidecar and the page's
Express app, on real sockets, with TLS.

The proxy configurations, the sidecar's command and the Express code are taken from the
page itself, so the page and the test cannot drift apart; only ports, certificate paths (a
throwaway CA for ``example.com``) and Caddy's global options (no ACME, no admin API) are
substituted, each checked to be there. Everything listens on 127.0.0.1; the test's callers
connect from other loopback addresses (127.0.0.2...) so that "the real client" and "the
proxy" differ, as they do in production. The Dockerfile, several workers and users' own
uvicorn/gunicorn: ``test_deployment_processes.py``.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from orga_asgi.testing import FakeOrga
from tests._node import node_project
from tests._support import free_port, require, require_module, uvicorn_server
from tests._tls import write_tls
from tests.e2e._deployment import ROUTE, SECRET, fenced, sidecar, sign, started, substitute

HOST = "example.com"
pytestmark = [pytest.mark.servers, pytest.mark.timeout(180)]
require_module("cryptography", "pip install cryptography (the redis extra has it)")

# The reader's own authentication, which the page's server.js requires as ./auth.
AUTH_JS = """'use strict';
exports.authenticate = (req, _res, next) => {
  const found = /(?:^|;\\s*)session=([a-z0-9]+)-session(?:;|$)/.exec(req.headers.cookie || '');
  if (found) req.user = { id: found[1] };
  next();
};
"""


def session(user: str) -> str:
    """The cookie the test's stand-in authentication takes for ``user``.

    One user per request: a user's header is the same for a whole second (it is signed over
    the unix time), so a second request within it would be refused as a replay.
    """
    return f"session={user}-session"


# --- the parts: TLS, upstream, the page's Express app --------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A throwaway CA and its certificate for example.com: (ca, cert, key) PEM files."""
    return write_tls(tmp_path_factory.mktemp("tls"), HOST)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with uvicorn_server(FakeOrga()) as url:
        yield url


@pytest.fixture(scope="module")
def express(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The page's orga-principal.js and server.js under Node, with the test's ./auth."""
    project = node_project()
    folder = tmp_path_factory.mktemp("express")
    (folder / "orga-principal.js").write_text(fenced("js", "// orga-principal.js\n"))
    (folder / "server.js").write_text(fenced("js", "// server.js\n"))
    (folder / "auth.js").write_text(AUTH_JS)
    port = free_port()
    env = project.env(PORT=str(port), ORGA_SIDECAR_SECRET=SECRET)
    argv = project.command(folder / "server.js")
    with started(argv, ports=[port], log=folder / "node.log", cwd=folder, env=env):
        yield port


# --- the proxies, configured from the page ---------------------------------------------------


@dataclass
class Edge:
    name: str
    https: int
    http: int
    sidecar: int
    ca: Path

    def get(
        self, path: str = ROUTE, *, source: str = "127.0.0.2", **headers: str
    ) -> httpx.Response:
        """``GET https://example.com<path>`` through the proxy, from the ``source`` address."""
        transport = httpx.HTTPTransport(
            verify=ssl.create_default_context(cafile=str(self.ca)), local_address=source
        )
        with httpx.Client(transport=transport, timeout=10) as client:
            return client.get(
                f"https://127.0.0.1:{self.https}{path}",
                headers={"Host": HOST, **headers},
                extensions={"sni_hostname": HOST},
            )

    def direct(self, **headers: str) -> httpx.Response:
        """Straight to the sidecar, as the proxy would call it (127.0.0.1 is trusted)."""
        url = f"http://127.0.0.1:{self.sidecar}{ROUTE}"
        return httpx.get(url, headers={"X-Forwarded-Proto": "https", **headers}, timeout=10)


def nginx_conf(folder: Path, tls: tuple[Path, Path, Path], ports: dict[str, int]) -> Path:
    site = substitute(
        fenced("nginx"),
        {
            "listen 80;": f"listen 127.0.0.1:{ports['http']};",
            "listen 443 ssl;": f"listen 127.0.0.1:{ports['https']} ssl;",
            "/etc/letsencrypt/live/example.com/fullchain.pem": str(tls[1]),
            "/etc/letsencrypt/live/example.com/privkey.pem": str(tls[2]),
            "127.0.0.1:8001": f"127.0.0.1:{ports['sidecar']}",
            "127.0.0.1:3000": f"127.0.0.1:{ports['app']}",
        },
    )
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temps = "".join(f"{kind}_temp_path {folder / kind};\n" for kind in kinds)
    conf = folder / "nginx.conf"
    conf.write_text(
        # One process in the foreground: no privileges dropped, nothing left behind.
        f"daemon off;\nmaster_process off;\npid {folder / 'nginx.pid'};\n"
        f"events {{ worker_connections 128; }}\n"
        f"http {{\naccess_log off;\n{temps}{site}\n}}\n"
    )
    return conf


def caddyfile(folder: Path, tls: tuple[Path, Path, Path], ports: dict[str, int]) -> Path:
    site = substitute(
        fenced("caddyfile"),
        {
            # In place of the certificate ACME would get for the real name.
            f"{HOST} {{\n": f"{HOST} {{\n\ttls {tls[1]} {tls[2]}\n",
            "127.0.0.1:8001": f"127.0.0.1:{ports['sidecar']}",
            "127.0.0.1:3000": f"127.0.0.1:{ports['app']}",
        },
    )
    options = (
        f"{{\n\tadmin off\n\tdefault_bind 127.0.0.1\n\thttp_port {ports['http']}\n"
        f"\thttps_port {ports['https']}\n\tauto_https disable_certs\n\tskip_install_trust\n"
        f"\tstorage file_system {folder / 'data'}\n}}\n"
    )
    path = folder / "Caddyfile"
    path.write_text(options + site)
    return path


@pytest.fixture(scope="module", params=["nginx", "caddy"])
def edge(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tls: tuple[Path, Path, Path],
    upstream: str,
    express: int,
) -> Iterator[Edge]:
    name: str = request.param
    binary = require(name, f"apt-get install {name}")
    folder = tmp_path_factory.mktemp(name)
    # Its own sidecar per proxy, so the per-IP windows start empty: 3 a minute per address.
    with sidecar(upstream, "--ip-rate-limit", "3/minute", "--rate-limit", "100/minute") as port:
        ports = {"http": free_port(), "https": free_port(), "sidecar": port, "app": express}
        if name == "nginx":
            conf = nginx_conf(folder, tls, ports)
            argv = [binary, "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(conf)]
            env = None
        else:
            conf = caddyfile(folder, tls, ports)
            argv = [binary, "run", "--config", str(conf), "--adapter", "caddyfile"]
            env = {
                "HOME": str(folder),
                "XDG_CONFIG_HOME": str(folder),
                "XDG_DATA_HOME": str(folder),
            }
        log = folder / "proxy.log"
        with started(argv, ports=[ports["https"], ports["http"]], log=log, env=env):
            yield Edge(name, ports["https"], ports["http"], port, tls[0])
        if name == "nginx":
            log.write_text(log.read_text() + (folder / "error.log").read_text())
        assert not re.search(r"\[(emerg|alert|crit)\]|panic", log.read_text()), log.read_text()


# --- what the page claims ------------------------------------------------------------------


def test_a_logged_in_caller_gets_a_token_through_the_proxy(edge: Edge) -> None:
    response = edge.get(Cookie=session("user1"))
    assert response.status_code == 200, response.text
    assert response.json()["ephemeralToken"]
    assert response.headers["cache-control"] == "no-store"
    assert "x-orga-principal" not in response.headers  # the signature stays between the hops


def test_no_caller_sent_principal_ever_reaches_the_sidecar(edge: Edge) -> None:
    # Validly signed, as if one had leaked: alone it must not get in, nor ride along a
    # session (the app's own signature replaces it).
    alone, riding = sign("mallory"), sign("mallory.too")
    assert edge.get(**{"X-Orga-Principal": alone}, source="127.0.0.3").status_code == 401
    with_session = edge.get(
        Cookie=session("user2"), **{"X-Orga-Principal": riding}, source="127.0.0.3"
    )
    assert with_session.status_code == 200, with_session.text
    # The sidecar never saw either: both are still unused (it refuses a header seen before).
    for value, client in ((alone, "198.51.100.1"), (riding, "198.51.100.2")):
        fresh = edge.direct(**{"X-Orga-Principal": value, "X-Forwarded-For": client})
        assert fresh.status_code == 200, fresh.text
    # The app's signing route is for the proxy alone.
    assert edge.get("/internal/orga-principal", Cookie=session("user3")).status_code == 404


def test_plain_http_is_redirected_and_the_sidecar_refuses_it(edge: Edge) -> None:
    url = f"http://127.0.0.1:{edge.http}{ROUTE}"
    redirect = httpx.get(url, headers={"Host": HOST, "Cookie": session("user4")}, timeout=10)
    assert redirect.status_code == (301 if edge.name == "nginx" else 308)
    assert re.fullmatch(rf"https://{HOST}(:{edge.https})?{ROUTE}", redirect.headers["location"])
    # Plain HTTP that reaches the sidecar anyway is refused before any upstream call.
    for headers in ({"X-Forwarded-Proto": "http"}, {}):
        call = f"http://127.0.0.1:{edge.sidecar}{ROUTE}"
        refused = httpx.get(call, headers={"X-Orga-Principal": sign("u"), **headers}, timeout=10)
        assert refused.status_code == 403 and refused.json()["error"] == "https_required"


def test_the_per_ip_limit_counts_the_real_client_not_what_it_claims(edge: Edge) -> None:
    def status(user: str, source: str, **headers: str) -> int:
        return edge.get(Cookie=session(user), source=source, **headers).status_code

    assert [status(f"filler{i}", "127.0.0.5") for i in range(3)] == [200, 200, 200]
    # 127.0.0.5's window is full, whatever address it claims: a believed X-Forwarded-For
    # or a passed-through Forwarded (which the sidecar would reconcile to the proxy's own
    # address) would each count it in a fresh window.
    spoofs = [
        {"X-Forwarded-For": "203.0.113.1"},
        {"Forwarded": "for=203.0.113.2;proto=https"},
        {"X-Forwarded-For": "203.0.113.3", "Forwarded": "for=203.0.113.3;proto=https"},
    ]
    assert [status(f"spoofer{i}", "127.0.0.5", **h) for i, h in enumerate(spoofs)] == [429] * 3
    assert status("neighbour", "127.0.0.6") == 200  # another client has its own window


def test_the_express_route_signs_for_logged_in_users_only(express: int, upstream: str) -> None:
    url = f"http://127.0.0.1:{express}/internal/orga-principal"
    anonymous = httpx.get(url, timeout=10)
    assert anonymous.status_code == 401 and "x-orga-principal" not in anonymous.headers
    signed = httpx.get(url, headers={"Cookie": session("user7")}, timeout=10)
    assert signed.status_code == 204 and signed.headers["cache-control"] == "no-store"
    assert signed.headers["x-orga-principal"].startswith("user7.")
    with sidecar(upstream) as port:
        accepted = httpx.get(
            f"http://127.0.0.1:{port}{ROUTE}",
            headers={
                "X-Orga-Principal": signed.headers["x-orga-principal"],
                "X-Forwarded-Proto": "https",
            },
            timeout=10,
        )
    assert accepted.status_code == 200, accepted.text


def test_healthz_answers_plain_http_without_a_caller(upstream: str) -> None:
    with sidecar(upstream) as port:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        head = httpx.head(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store" and head.status_code == 200
