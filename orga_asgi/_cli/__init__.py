"""The command line's parts: settings as flags, hooks by name, the sidecar, the server run.

:mod:`orga_asgi.cli` holds the parser and the entry point; everything it needs beyond
that lives here, so each subcommand stays a few lines there.
"""
