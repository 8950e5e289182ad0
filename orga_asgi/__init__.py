"""orga-asgi: short-lived Orga realtime credentials from any ASGI backend."""

from __future__ import annotations

from ._errors import ConfigurationError, Forbidden, OrgaError

__version__ = "0.1.0"

__all__ = ["ConfigurationError", "Forbidden", "OrgaError", "__version__"]
