"""Settings of the example project: sessions live in signed cookies, so no database."""

from __future__ import annotations

import os

from django.core.management.utils import get_random_secret_key

# The key signs the session cookies. A fresh one per process logs everyone out on
# restart; set DJANGO_SECRET_KEY to keep sessions (and never commit a real one).
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or get_random_secret_key()
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "examples.django_app.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
# Any session engine works with the authorize hook in asgi.py; this one needs no tables.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
