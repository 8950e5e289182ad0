"""The README's commands and user-facing test snippet are the real ones."""

from __future__ import annotations

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
