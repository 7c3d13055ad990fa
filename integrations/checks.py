"""System checks guarding the Klaviyo settings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register()
def klaviyo_settings_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    redirect_uri = settings.KLAVIYO_REDIRECT_URI
    if redirect_uri and not settings.DEBUG and urlsplit(redirect_uri).scheme != "https":
        messages.append(
            Error(
                "KLAVIYO_REDIRECT_URI must use https outside DEBUG.",
                hint="Klaviyo sends the authorization code to this address.",
                id="integrations.E001",
            )
        )
    if not settings.KLAVIYO_SANDBOX and not settings.DEBUG and not redirect_uri:
        messages.append(
            Warning(
                "KLAVIYO_REDIRECT_URI is not set: it is derived from each request's host.",
                hint="Set it to the exact callback URL allowlisted in your Klaviyo app.",
                id="integrations.W001",
            )
        )
    return messages
