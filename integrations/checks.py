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


@register()
def site_url_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Emails sent by workers (a connection needing reconnect) link to SITE_URL."""
    host = urlsplit(settings.SITE_URL).hostname or ""
    if settings.DEBUG or settings.KLAVIYO_SANDBOX or host not in {"127.0.0.1", "localhost", "::1"}:
        return []
    return [
        Warning(
            f"SITE_URL is {settings.SITE_URL}: links in emails would point at this machine.",
            hint="Set SITE_URL to the address people reach Partyline at, e.g. "
            "https://partyline.example.com (or set KLAVIYO_REDIRECT_URI, whose origin it uses).",
            id="integrations.W002",
        )
    ]
