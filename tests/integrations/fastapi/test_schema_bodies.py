"""The adapter documents the route with the core's body types (one shape, in orga_asgi.schema)."""

from __future__ import annotations

import orga_asgi_fastapi

import orga_asgi.schema


def test_the_adapter_documents_the_cores_bodies() -> None:
    for name in ("ClientSecretsBody", "ErrorBody", "IceServer"):
        assert getattr(orga_asgi_fastapi, name) is getattr(orga_asgi.schema, name)
