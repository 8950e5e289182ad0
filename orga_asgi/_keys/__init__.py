"""The key providers behind :mod:`orga_asgi.keys`: one module each, plus the checks and the
one-refresh-at-a-time machinery they share."""
