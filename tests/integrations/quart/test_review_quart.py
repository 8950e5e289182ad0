"""The 0.2 review's Quart check: unknown ORGA_* keys of app.config are named, never valued."""

from __future__ import annotations

import logging

import pytest
import quart
from orga_asgi_quart import OrgaQuart

from orga_asgi import allow_anonymous


def test_unknown_orga_keys_are_named_without_their_values(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "hunter2-not-a-setting-value"
    caplog.set_level(logging.WARNING, "orga_asgi")
    app = quart.Quart(__name__)
    app.config.update({"ORGA_APIKEY": secret, "ORGA_SECRET_TOKEN": secret, "ORGA_SANDBOX": True})
    OrgaQuart(app, authorize=allow_anonymous)
    named = [r.getMessage() for r in caplog.records if "ORGA_APIKEY" in r.getMessage()]
    assert len(named) == 1 and "ORGA_API_KEY" in named[0]  # the did-you-mean
    assert secret not in caplog.text
