"""Property tests in pairs: a quick one for every run, a ``slow`` twin that ``nox -s soak``
runs with many more examples (the same body and strategies)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

SOAK = 3000


def twins(body: Callable[..., None], *strategies: Any, quick: int, **named: Any) -> tuple[Any, Any]:
    """``(quick test, soak test)`` of ``body`` over ``strategies`` (``given``'s arguments)."""

    def make(n: int) -> Any:
        return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))(
            given(*strategies, **named)(body)
        )

    return make(quick), pytest.mark.timeout(1800)(pytest.mark.slow(make(SOAK)))
