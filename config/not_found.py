"""The product's own 404 on public pages, even with DEBUG on (as under `make run`)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from config.views import page_not_found

# Where the public lands: party signup links and each attendee's own page. A mistyped link
# there is a guest's to meet, and Django's debug 404 lists every URL pattern of the product.
PUBLIC_PREFIXES = ("/p/", "/a/")


class PublicNotFoundMiddleware:
    """With DEBUG on, a public page that does not exist answers the page visitors see in
    production; every other page keeps Django's debug 404, which developers want. (With
    DEBUG off, Django renders the product's 404 everywhere by itself.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._applies(request):
            # An address no URL pattern matches never reaches a view (nor process_exception).
            try:
                resolve(request.path_info)
            except Resolver404 as missing:
                return page_not_found(request, missing)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Http404) and self._applies(request):
            return page_not_found(request, exception)
        return None

    @staticmethod
    def _applies(request: HttpRequest) -> bool:
        return settings.DEBUG and request.path_info.startswith(PUBLIC_PREFIXES)
