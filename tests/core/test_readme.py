"""The README's commands and user-facing test snippet are the real ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

README = (Path(__file__).parents[2] / "README.md").read_text()
CI = (Path(__file__).parents[2] / ".ci" / "run").read_text()


def test_the_sandbox_testing_snippet_runs_as_a_users_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = README.split("## Testing your app against the sandbox", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)
    assert snippet is not None
    pytester.makepyfile(test_users_app=snippet.group(1))
    # A fresh process with only the installed package: the plugin comes from its entry point.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    # The snippet is an anyio test; pytest-asyncio, if installed, would warn about its own
    # unset options (tests/plugin runs the fixtures under pytest-asyncio too).
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:asyncio", "-W", "error"
    )
    outcomes = result.parseoutcomes()
    # anyio runs it once per installed backend (asyncio, and trio when present).
    assert outcomes.get("passed", 0) >= 1
    assert not outcomes.get("failed") and not outcomes.get("errors")


def test_readme_has_exactly_the_two_setup_commands_and_ci_runs_the_test_one() -> None:
    commands = re.findall(r"^(python3 -m venv .*)$", README, re.M)
    assert len(commands) == 2
    assert "orga-asgi dev" in commands[0]
    assert commands[1].endswith("nox")
    assert "grep -m1 -E '^python3 -m venv \\.venv-nox '" in CI
    assert commands[1].startswith("python3 -m venv .venv-nox ")


@pytest.mark.anyio
async def test_the_secret_manager_snippet_mints_with_the_key_it_fetches() -> None:
    from orga_asgi.testing import FAKE_API_KEY, FakeOrga
    from tests._support import make_endpoint

    section = README.split("## API keys from a secret manager", 1)[1].split("\n## ", 1)[0]
    snippets = re.findall(r"```python\n(.*?)```", section, re.S)
    [snippet] = [s for s in snippets if "keys.cached(fetch_orga_key" in s]
    namespace: dict[str, object] = {"__name__": "readme_secret_manager"}
    exec(compile(snippet, "README.md", "exec"), namespace)  # our own README, as users copy it
    reads: list[str] = []

    def stand_in() -> str:  # AWS Secrets Manager's answer, without boto3 or the network
        reads.append("read")
        return FAKE_API_KEY

    namespace["read_orga_key"] = stand_in  # what the snippet's fetch_orga_key calls
    snippet_endpoint = namespace["endpoint"]
    provider = snippet_endpoint.config.api_key  # type: ignore[attr-defined]
    fake = FakeOrga()
    async with make_endpoint(fake, api_key=provider) as endpoint:
        await endpoint.issue()
        await endpoint.issue()
    await snippet_endpoint.aclose()  # type: ignore[attr-defined]
    assert reads == ["read"]  # fetched once, then cached
    assert [c.authorization for c in fake.calls_to("client-secrets")] == [
        f"Bearer {FAKE_API_KEY}"
    ] * 2


@pytest.mark.anyio
async def test_the_sealed_sessions_snippet_pins_the_policy_in_the_sandbox() -> None:
    """The README's sealed snippet, run as written against the sandbox upstream."""
    import httpx

    from orga_asgi import OrgaMiddleware
    from orga_asgi.testing import FAKE_API_KEY, FAKE_BASE_URL, FakeOrga, sandbox_client

    section = README.split("## Sealed sessions", 1)[1].split("\n## ", 1)[0]
    [snippet] = re.findall(r"```python\n(.*?)```", section, re.S)
    fake = FakeOrga()
    async with sandbox_client(fake) as upstream:
        code = snippet.replace(
            "session_policy=policy)",
            "session_policy=policy, api_key=FAKE_API_KEY, base_url=FAKE_BASE_URL, "
            "http_client=upstream)",
        )
        assert code != snippet
        space: dict[str, object] = {
            "FAKE_API_KEY": FAKE_API_KEY, "FAKE_BASE_URL": FAKE_BASE_URL, "upstream": upstream
        }  # fmt: skip
        exec(compile(code, "README.md", "exec"), space)
        endpoint = space["endpoint"]
        app = OrgaMiddleware(lambda s, r, send: None, endpoint=endpoint)  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://app.test") as client:
            minted = (await client.get("/api/orga-client-secrets")).json()
            handle = minted["ephemeralToken"]
            assert not fake.minted_with(handle)  # a handle, not an Orga token
            offer = {"sdp": "v=0\r\n", "type": "offer", "candidates": []}
            params = {"voice": "alloy", "temperature": 0.5, "instructions": "be evil"}
            answer = await client.post(
                "/api/orga/v1/realtime/calls",
                json={"offer": offer, "params": params},
                headers={"Authorization": f"Bearer {handle}"},
            )
        await endpoint.aclose()  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.text
    sent = json.loads(fake.calls_to("calls")[-1].body)
    assert sent["params"]["instructions"] == "You are the support agent of Example Inc."
    assert sent["params"]["voice"] == "alloy"
