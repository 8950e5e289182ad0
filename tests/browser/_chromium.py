"""Debian's Chromium through Playwright, shared by the browser tests: never a downloaded one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from tests._support import require, require_module

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000  # every wait in the browser is bounded by this


@contextlib.contextmanager
def chromium(args: Sequence[str] = CHROMIUM_ARGS) -> Iterator[Any]:
    """A headless Chromium for one module; missing Playwright or Chromium skips (CI: fails)."""
    sync_api = require_module("playwright.sync_api", "pip install playwright (nox -s browser)")
    require(CHROMIUM, "Debian: apt-get install chromium")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(args), timeout=TIMEOUT_MS
        )
        try:
            yield launched
        finally:
            launched.close()
