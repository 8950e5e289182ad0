"""The suite's leak guard fails tests that leak; proven on deliberately leaky tests."""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).parents[1]


@pytest.fixture
def leaky(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # A subprocess: the inner test's log records must not reach this test's own guard.
    pytester.makeconftest((TESTS / "conftest.py").read_text())
    monkeypatch.setenv("PYTHONPATH", str(TESTS.parent))  # for ``tests._support``
    return pytester


def test_a_logged_api_key_fails_the_test(leaky: pytest.Pytester) -> None:
    leaky.makepyfile(
        """
        import logging

        def test_leaky():
            logging.getLogger("orga_asgi.unfiltered").warning("key %s", "sk_orga_ai_test")
        """
    )
    result = leaky.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["leak guard:", "*log line leaks*"])


def test_a_token_in_an_error_body_fails_the_test(leaky: pytest.Pytester) -> None:
    leaky.makepyfile(
        """
        import pytest
        from starlette.responses import JSONResponse
        from tests._support import caller, fake_client
        from orga_asgi.testing import FakeOrga

        @pytest.mark.anyio
        async def test_leaky():
            fake = FakeOrga()
            async with fake_client(fake) as upstream:
                minted = await upstream.post(
                    "/v1/realtime/client-secrets",
                    headers={"Authorization": "Bearer sk_orga_ai_test"},
                )
            token = minted.json()["ephemeralToken"]
            app = JSONResponse({"error": "oops", "debug": token}, status_code=500)
            async with caller(app) as client:
                await client.get("/")
        """
    )
    result = leaky.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["leak guard:", "*500 body leaks a secret*"])


def test_redacted_lines_pass(leaky: pytest.Pytester) -> None:
    leaky.makepyfile(
        """
        from orga_asgi._log import get_logger

        def test_clean():
            get_logger("orga_asgi.clean").warning("key %s", "sk_orga_ai_test")
        """
    )
    leaky.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
