"""A minimal Django project whose ASGI application serves the Orga route (see asgi.py)."""
