"""Request-side pieces of the connect flow shared by the pages and the JSON API."""

from __future__ import annotations

import secrets

from django.http import HttpRequest
from django.urls import reverse

from integrations.klaviyo.config import klaviyo_config

BROWSER_NONCE_SESSION_KEY = "klaviyo_oauth_nonce"


def browser_nonce(request: HttpRequest) -> str:
    """A random value kept in this browser's session; connect attempts are bound to it."""
    nonce = request.session.get(BROWSER_NONCE_SESSION_KEY)
    if not nonce:
        nonce = secrets.token_urlsafe(32)
        request.session[BROWSER_NONCE_SESSION_KEY] = nonce
    return nonce


def redirect_uri_for(request: HttpRequest) -> str:
    """The exact redirect URI registered with Klaviyo: configured, or derived from the request."""
    return klaviyo_config().redirect_uri or request.build_absolute_uri(
        reverse("integrations:klaviyo_callback")
    )
