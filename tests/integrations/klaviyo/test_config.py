"""`klaviyo_config()`: settings are read in one place, with the documented defaults."""

from __future__ import annotations

import pytest

from integrations.klaviyo.config import (
    DATA_PRIVACY_SCOPES,
    DEFAULT_SCOPES,
    EVENT_SCOPES,
    LIST_SCOPES,
    KlaviyoConfig,
    klaviyo_config,
)
from integrations.klaviyo.ratelimits import RATE_LIMITS
from klaviyo_sandbox import spec

# The operations of `integrations.klaviyo.client_events`: lifecycle events and the flows panel.
EVENT_OPERATIONS = (
    "create_event",
    "bulk_create_events",
    "get_events",
    "get_metrics",
    "query_metric_aggregates",
    "get_flows_triggered_by_metric",
    "get_flow",
)


def test_klaviyo_config_reads_django_settings(settings):
    settings.KLAVIYO_CLIENT_ID = "app-id"
    settings.KLAVIYO_CLIENT_SECRET = "app-secret"
    settings.KLAVIYO_AUTHORIZE_URL = "https://auth.example/oauth/authorize"
    settings.KLAVIYO_BASE_URL = "https://api.example/"
    settings.KLAVIYO_REVISION = "2026-10-15"
    settings.KLAVIYO_SCOPES = ["accounts:read", "lists:read"]
    settings.KLAVIYO_REDIRECT_URI = "https://partyline.example/callback/"
    settings.KLAVIYO_HTTP_TIMEOUT = 4
    settings.KLAVIYO_MAX_RETRIES = 1
    settings.KLAVIYO_MAX_RETRY_WAIT = 5

    assert klaviyo_config() == KlaviyoConfig(
        client_id="app-id",
        client_secret="app-secret",
        authorize_url="https://auth.example/oauth/authorize",
        base_url="https://api.example",
        revision="2026-10-15",
        scopes=("accounts:read", "lists:read"),
        redirect_uri="https://partyline.example/callback/",
        timeout=4.0,
        max_retries=1,
        max_retry_wait=5.0,
    )


def test_klaviyo_config_accepts_space_separated_scopes(settings):
    settings.KLAVIYO_SCOPES = "accounts:read  lists:write"

    assert klaviyo_config().scopes == ("accounts:read", "lists:write")


def test_klaviyo_config_falls_back_to_design_defaults(settings):
    for name in (
        "KLAVIYO_AUTHORIZE_URL",
        "KLAVIYO_BASE_URL",
        "KLAVIYO_REVISION",
        "KLAVIYO_SCOPES",
        "KLAVIYO_REDIRECT_URI",
        "KLAVIYO_HTTP_TIMEOUT",
        "KLAVIYO_MAX_RETRIES",
        "KLAVIYO_MAX_RETRY_WAIT",
    ):
        if hasattr(settings, name):
            delattr(settings, name)

    config = klaviyo_config()

    assert config.authorize_url == "https://www.klaviyo.com/oauth/authorize"
    assert config.base_url == "https://a.klaviyo.com"
    assert config.revision == "2026-07-15"
    assert config.scopes == DEFAULT_SCOPES
    assert " ".join(config.scopes) == (
        "accounts:read lists:read lists:write profiles:read profiles:write subscriptions:write "
        "events:write events:read metrics:read flows:read"
    )
    assert config.redirect_uri is None
    assert (config.timeout, config.max_retries, config.max_retry_wait) == (10.0, 3, 30.0)


def test_endpoint_urls_hang_off_the_base_url():
    config = KlaviyoConfig(
        client_id="id", client_secret="secret", base_url="https://a.klaviyo.com/"
    )

    assert config.token_url == "https://a.klaviyo.com/oauth/token"
    assert config.revoke_url == "https://a.klaviyo.com/oauth/revoke"
    assert config.api_url == "https://a.klaviyo.com/api"


def test_config_repr_hides_the_client_secret():
    config = KlaviyoConfig(client_id="id", client_secret="s3cr3t-value")

    assert "s3cr3t-value" not in repr(config)


@pytest.mark.parametrize("operation", sorted(RATE_LIMITS))
def test_each_operation_the_client_calls_needs_scopes_of_its_group(operation):
    """The `x-klaviyo-scopes` of each operation in the vendored spec: an event operation needs
    only event scopes (so lacking them never stops the lists), the profile deletion only the
    data-privacy scope, a list one only list scopes."""
    group = LIST_SCOPES
    if operation in EVENT_OPERATIONS:
        group = EVENT_SCOPES
    elif operation == "request_profile_deletion":
        group = DATA_PRIVACY_SCOPES

    assert set(spec.operation(operation).scopes) <= set(group)


def test_the_scopes_are_exactly_those_the_client_calls_need():
    needed = {scope for operation in RATE_LIMITS for scope in spec.operation(operation).scopes}

    assert set(DEFAULT_SCOPES + DATA_PRIVACY_SCOPES) == needed
    assert len(DEFAULT_SCOPES) == len(set(DEFAULT_SCOPES))
    assert DEFAULT_SCOPES == LIST_SCOPES + EVENT_SCOPES
    # Asked per organization, never by default: it deletes from the whole Klaviyo account.
    assert DATA_PRIVACY_SCOPES == ("data-privacy:write",)
    assert not set(DATA_PRIVACY_SCOPES) & set(DEFAULT_SCOPES)
    assert set(EVENT_OPERATIONS) <= set(RATE_LIMITS)
