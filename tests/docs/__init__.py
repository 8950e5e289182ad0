"""The docs site's snippets, run as a reader would (nox -s docs)."""
