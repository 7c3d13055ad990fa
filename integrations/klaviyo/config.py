"""Klaviyo settings, read in one place: `klaviyo_config()` returns them as a frozen value.

Everything else in this package takes a `KlaviyoConfig` argument instead of reading Django
settings, so the client can be tested (and used from scripts) without settings at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

DEFAULT_AUTHORIZE_URL = "https://www.klaviyo.com/oauth/authorize"
DEFAULT_BASE_URL = "https://a.klaviyo.com"
DEFAULT_REVISION = "2026-07-15"
# Least privilege for what the client calls: accounts (who connected), lists (one per party),
# profiles (bulk import, upsert, lookup) and subscriptions (email marketing consent).
DEFAULT_SCOPES: tuple[str, ...] = (
    "accounts:read",
    "lists:read",
    "lists:write",
    "profiles:read",
    "profiles:write",
    "subscriptions:write",
)
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_RETRY_WAIT = 30.0


@dataclass(frozen=True)
class KlaviyoConfig:
    """How to reach Klaviyo as our OAuth app.

    `max_retries` counts retries after the first attempt (3 means at most 4 requests), and
    `max_retry_wait` is the longest single Retry-After or backoff we sleep inside one call:
    a longer wait is the caller's to schedule, so we raise instead of blocking a worker.
    """

    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str = DEFAULT_AUTHORIZE_URL
    base_url: str = DEFAULT_BASE_URL
    revision: str = DEFAULT_REVISION
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    redirect_uri: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT

    @property
    def token_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/oauth/token"

    @property
    def revoke_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/oauth/revoke"

    @property
    def api_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/api"


def _scopes(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(scope for item in value for scope in item.split())


def klaviyo_config() -> KlaviyoConfig:
    """The configuration from Django settings, read on every call so tests can override it."""
    return KlaviyoConfig(
        client_id=getattr(settings, "KLAVIYO_CLIENT_ID", "") or "",
        client_secret=getattr(settings, "KLAVIYO_CLIENT_SECRET", "") or "",
        authorize_url=getattr(settings, "KLAVIYO_AUTHORIZE_URL", DEFAULT_AUTHORIZE_URL),
        base_url=getattr(settings, "KLAVIYO_BASE_URL", DEFAULT_BASE_URL).rstrip("/"),
        revision=getattr(settings, "KLAVIYO_REVISION", DEFAULT_REVISION),
        scopes=_scopes(getattr(settings, "KLAVIYO_SCOPES", DEFAULT_SCOPES)),
        redirect_uri=getattr(settings, "KLAVIYO_REDIRECT_URI", None) or None,
        timeout=float(getattr(settings, "KLAVIYO_HTTP_TIMEOUT", DEFAULT_TIMEOUT)),
        max_retries=int(getattr(settings, "KLAVIYO_MAX_RETRIES", DEFAULT_MAX_RETRIES)),
        max_retry_wait=float(getattr(settings, "KLAVIYO_MAX_RETRY_WAIT", DEFAULT_MAX_RETRY_WAIT)),
    )
