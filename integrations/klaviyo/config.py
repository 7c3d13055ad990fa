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
# Least privilege for what the client calls, in two groups by what needs them (each scope is
# the `x-klaviyo-scopes` of the operations named beside it in Klaviyo's OpenAPI spec).
# The list pipeline: accounts (who connected: get_accounts), lists (one per party: get_lists,
# create_list, update_list, delete_list, get_profiles_for_list, remove_profiles_from_list),
# profiles (bulk import, upsert, lookup: bulk_import_profiles and its job reads,
# get_profiles) and subscriptions (email marketing consent: bulk_subscribe_profiles). A
# connection lacking one cannot work.
LIST_SCOPES: tuple[str, ...] = (
    "accounts:read",
    "lists:read",
    "lists:write",
    "profiles:read",
    "profiles:write",
    "subscriptions:write",
)
# Lifecycle events and the flows they trigger: create_event and bulk_create_events
# (events:write), get_events (events:read), get_metrics (metrics:read), get_flow (flows:read)
# and get_flows_triggered_by_metric (flows:read and metrics:read). A connection lacking one
# keeps its list sync; only its lifecycle events wait (`integrations.scopes`).
EVENT_SCOPES: tuple[str, ...] = ("events:write", "events:read", "metrics:read", "flows:read")
DEFAULT_SCOPES: tuple[str, ...] = LIST_SCOPES + EVENT_SCOPES
# Erasure asking Klaviyo to delete a person's profile: request_profile_deletion. It deletes
# from the whole account, so it is asked only of organizations that turn the option on
# (`integrations.scopes.connect_scopes`), never as part of KLAVIYO_SCOPES; lacking it only
# keeps erasure from asking Klaviyo.
DATA_PRIVACY_SCOPES: tuple[str, ...] = ("data-privacy:write",)
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
