"""Suite-wide fixtures. Tests run on asyncio through anyio unless they ask for trio."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
