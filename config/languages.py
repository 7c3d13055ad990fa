"""The language a page speaks, and that it ends with the request.

The organizer's pages speak English (LANGUAGE_CODE), whatever the browser asks for. A public
page speaks its party's language: the view activates it once it has found the party
(`parties.public_views.party_locale_activate`). Until then, and on a public address that
finds no party or registration at all (a mistyped link, a link that no longer works, a rate
limit met before the lookup), the page can only go by the browser: its Accept-Language,
among LANGUAGES.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import translation
from django.utils.cache import patch_vary_headers

from config.not_found import PUBLIC_PREFIXES


class PageLanguageMiddleware:
    """Activate the browser's language on public addresses (the view may then switch to its
    party's), and deactivate whatever was activated once the response is made: a thread's
    next request, an organizer's page perhaps, starts in English."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        public = request.path_info.startswith(PUBLIC_PREFIXES)
        if public:
            translation.activate(translation.get_language_from_request(request))
        try:
            response = self.get_response(request)
            if public:
                # A shared cache must not give one visitor's language to the next.
                patch_vary_headers(response, ("Accept-Language",))
                response.headers.setdefault("Content-Language", translation.get_language())
            return response
        finally:
            translation.deactivate()
