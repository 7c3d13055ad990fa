"""Project-level endpoints that belong to no app, and the error handlers (config/urls.py)."""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from core.api import API_PREFIX
from core.api import error as api_error

logger = logging.getLogger(__name__)


def _is_api(request: HttpRequest) -> bool:
    """The JSON API answers every error in JSON, even those none of its views handled."""
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_error(400, "Bad request.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_error(403, "Forbidden.")
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_error(404, "Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # The exception is in the server log (django.request); the caller learns nothing of it.
    if _is_api(request):
        return api_error(500, "Internal server error. The operator has the details.")
    return defaults.server_error(request)


@require_safe
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico whatever the pages link to: send them to the icon.

    The unhashed static name, so the permanent redirect browsers keep survives a deploy that
    changes the file (WhiteNoise serves both names).
    """
    return HttpResponsePermanentRedirect(f"{settings.STATIC_URL}favicon.svg")


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness for load balancers: 200 when the database answers, 503 if not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("Health check failed: the database did not answer", exc_info=True)
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
