"""Request-side pieces of the connect flow shared by the pages and the JSON API."""

from __future__ import annotations

import re
import secrets
from typing import TypeVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from integrations.klaviyo.config import klaviyo_config

# Connect attempts are bound to the browser that started them through a random nonce in a
# browser-session cookie (not in Django's session: logging in again after the session ended
# on Klaviyo's side must not lose the attempt). HttpOnly, and SameSite=Lax so it rides along
# on Klaviyo's top-level redirect back to the callback.
BROWSER_NONCE_COOKIE = "partyline_oauth_nonce"
# token_urlsafe's alphabet, at most as long as the column that stores it.
_NONCE_FORMAT = re.compile(r"[A-Za-z0-9_-]{16,128}")

ResponseT = TypeVar("ResponseT", bound=HttpResponse)


def browser_nonce(request: HttpRequest) -> str:
    """This browser's nonce, made up on first use (attach it with `remember_browser_nonce`).

    A cookie that is not one we set (a NUL byte, a huge value) is replaced, not stored.
    """
    nonce = request.COOKIES.get(BROWSER_NONCE_COOKIE, "")
    if not _NONCE_FORMAT.fullmatch(nonce):
        # Made up once per request: the request's cookies hold it from now on, so the attempt
        # and the cookie set on the response carry the same nonce.
        nonce = secrets.token_urlsafe(32)
        request.COOKIES[BROWSER_NONCE_COOKIE] = nonce
    return nonce


def remember_browser_nonce(request: HttpRequest, response: ResponseT) -> ResponseT:
    response.set_cookie(
        BROWSER_NONCE_COOKIE,
        browser_nonce(request),
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )
    return response


def redirect_uri_for(request: HttpRequest) -> str:
    """The exact redirect URI registered with Klaviyo: configured, or derived from the request."""
    return klaviyo_config().redirect_uri or request.build_absolute_uri(
        reverse("integrations:klaviyo_callback")
    )
