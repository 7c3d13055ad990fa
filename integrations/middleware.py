"""The net under every page: a stored secret the server's keys cannot open is the operator's
problem to fix, so it is explained (503) rather than shown as a server error (500).

Views that can meet one handle it with a message of their own (the callback, disconnect, the
JSON API); this catches the rest, wherever a token is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.api import API_PREFIX, error
from integrations.fields import OPERATOR_MUST_FIX_KEYS, SecretDecryptionError

logger = logging.getLogger(__name__)


class SecretKeysProblemMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, SecretDecryptionError):
            return None
        logger.error(
            "%s %s: a stored secret cannot be decrypted with SECRET_KEY, SECRET_KEY_FALLBACKS "
            "and SALT_KEY",
            request.method,
            request.path,
            exc_info=exception,
        )
        if request.path.startswith(API_PREFIX):
            return error(503, OPERATOR_MUST_FIX_KEYS)
        return render(
            request,
            "integrations/server_keys.html",
            {"problem": OPERATOR_MUST_FIX_KEYS},
            status=503,
        )
