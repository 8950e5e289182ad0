"""The project's own views: a demo login that puts a user id in the Django session."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.http import require_http_methods


@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        # Hand out the CSRF token the POST must carry (as the X-CSRFToken header).
        return JsonResponse({"csrfToken": get_token(request)})
    # A real login checks a password (django.contrib.auth); the demo user is alice.
    request.session.cycle_key()
    request.session["user_id"] = "alice"
    return JsonResponse({"user": "alice"})
