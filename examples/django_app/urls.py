"""Django's routes. /api/orga-client-secrets is not here: OrgaMiddleware serves it (asgi.py)."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [path("login", views.login)]
