"""How :mod:`orga_asgi.redaction` finds secrets; the public names live there.

- ``text``: the patterns over free text, each linear in time (the module says why), and
  the engine that unites their spans and masks them;
- ``patterns``: the regular expressions; ``finders``: how each turns matches into spans.
- ``values``: structured values (mappings, sequences, objects) and logging args.
- ``exceptions``: masking one known secret everywhere an exception shows text.
"""

from __future__ import annotations

__all__: list[str] = []
