"""The shipped fixtures work from a user's own tests, whichever async plugin runs them.

Each test writes a small user test file and runs it in a fresh pytest process that has
only the installed package (its plugin comes from the entry point): under anyio alone,
pytest-asyncio in strict and in auto mode, and a plain sync ``TestClient`` test. The user
files are strict as users' suites often are: warnings are errors.
"""

from __future__ import annotations

import textwrap

import pytest

from tests._support import require_module

# What every scenario checks, from inside the user's test: the fixtures give a working
# sandbox (a 503 from the fake is retried once), a fresh fake per test, and a client that
# is closed after its test.
_COMMON = """
import httpx
import pytest

from orga_asgi import OrgaClientSecrets, allow_anonymous
from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga

CLIENTS = []


def endpoint(http_client):
    return OrgaClientSecrets(
        authorize=allow_anonymous,
        api_key=FAKE_API_KEY,
        base_url=FAKE_BASE_URL,
        http_client=http_client,
    )


async def mint_after_one_failure(fake_orga, fake_orga_client):
    assert isinstance(fake_orga, FakeOrga) and fake_orga.calls == []
    CLIENTS.append(fake_orga_client)
    fake_orga.fail("client-secrets", status=503, times=1)
    transport = httpx.ASGITransport(app=endpoint(fake_orga_client))
    async with httpx.AsyncClient(transport=transport, base_url="https://app.test") as client:
        response = await client.get("/")
    assert response.status_code == 200, response.text
    assert response.json()["ephemeralToken"]
    assert len(fake_orga.calls_to("client-secrets")) == 2
"""
# Last in the file, so it runs after the scenario's own tests.
_AFTERWARDS = """

def test_the_previous_clients_were_closed_and_this_fake_is_new(fake_orga):
    assert CLIENTS and all(client.is_closed for client in CLIENTS)
    assert fake_orga.calls == []
"""

_ANYIO = """
@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_mint(fake_orga, fake_orga_client):
    await mint_after_one_failure(fake_orga, fake_orga_client)
"""

_ASYNCIO_STRICT = """
@pytest.mark.asyncio
async def test_mint(fake_orga, fake_orga_client):
    await mint_after_one_failure(fake_orga, fake_orga_client)
"""

_ASYNCIO_AUTO = """
async def test_mint(fake_orga, fake_orga_client):
    await mint_after_one_failure(fake_orga, fake_orga_client)
"""

_TESTCLIENT = """
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient


def test_mint(fake_orga, fake_orga_client):
    CLIENTS.append(fake_orga_client)
    fake_orga.fail("client-secrets", status=503, times=1)
    app = Starlette(routes=[Mount("/orga", app=endpoint(fake_orga_client))])
    # TestClient's default base URL is http; the endpoint serves HTTPS only off loopback.
    with TestClient(app, base_url="https://testserver") as client:
        response = client.post("/orga/")
    assert response.status_code == 200, response.text
    assert len(fake_orga.calls_to("client-secrets")) == 2


def test_the_transport_fixture_reaches_the_same_fake(fake_orga, fake_orga_transport):
    assert fake_orga_transport.app is fake_orga
"""


def _run(pytester: pytest.Pytester, body: str, *args: str, passed: int, ini: str = "") -> None:
    pytester.makeini(f"[pytest]\nfilterwarnings = error\n{textwrap.dedent(ini)}")
    pytester.makepyfile(test_users_app=_COMMON + body + _AFTERWARDS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    outcomes = result.parseoutcomes()
    assert not outcomes.get("failed") and not outcomes.get("errors"), result.stdout.str()
    assert outcomes.get("passed") == passed, result.stdout.str()


def _asyncio_ini(mode: str) -> str:
    require_module("pytest_asyncio", "pip install pytest-asyncio (the plugins nox session)")
    return f"asyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"


def test_anyio_alone_on_asyncio_and_trio(pytester: pytest.Pytester) -> None:
    require_module("trio", "pip install trio")
    _run(pytester, _ANYIO, "-p", "no:asyncio", passed=3)


def test_pytest_asyncio_strict_mode(pytester: pytest.Pytester) -> None:
    _run(pytester, _ASYNCIO_STRICT, passed=2, ini=_asyncio_ini("strict"))


def test_pytest_asyncio_auto_mode(pytester: pytest.Pytester) -> None:
    _run(pytester, _ASYNCIO_AUTO, passed=2, ini=_asyncio_ini("auto"))


def test_a_sync_testclient_test_with_both_plugins_installed(pytester: pytest.Pytester) -> None:
    _run(pytester, _TESTCLIENT, passed=3, ini=_asyncio_ini("strict"))


def test_a_sync_testclient_test_with_anyio_alone(pytester: pytest.Pytester) -> None:
    _run(pytester, _TESTCLIENT, "-p", "no:asyncio", passed=3)
