"""How the JSON API answers: every path under `API_PREFIX` answers in JSON, errors included
(the project's error handlers in config/views.py use these too)."""

from __future__ import annotations

from django.http import JsonResponse

from core.wording import wait_text

API_PREFIX = "/api/"


def error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"success": False, "error": message}, status=status)


def too_many_requests(retry_after: int, *, limit: str) -> JsonResponse:
    """429 with `Retry-After`; `limit` says which limit in words ("50/m per token")."""
    response = JsonResponse(
        {
            "success": False,
            "error": f"Too many API requests (limit {limit}). Retry in {wait_text(retry_after)}.",
            "retryAfter": retry_after,
        },
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response
