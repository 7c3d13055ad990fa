"""Operators' admin: connections with token presence only, and the two actions."""

import pytest
import responses
from django.urls import reverse

from integrations.models import ConnectionStatus, EventKind

TOKEN_URL = "https://klaviyo.test/oauth/token"
REVOKE_URL = "https://klaviyo.test/oauth/revoke"


@pytest.fixture
def staff_client(client, make_user, settings):
    settings.KLAVIYO_BASE_URL = "https://klaviyo.test"
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["klaviyoconnection", "oauthstate", "connectionevent"])
def test_operators_see_integrations_models(staff_client, make_connection, model):
    make_connection()

    assert staff_client.get(reverse(f"admin:integrations_{model}_changelist")).status_code == 200


@pytest.mark.django_db
def test_connection_page_shows_tokens_only_as_present(staff_client, make_connection):
    connection = make_connection(
        access_token="secret-access-abc", refresh_token="secret-refresh-abc"
    )

    page = staff_client.get(
        reverse("admin:integrations_klaviyoconnection_change", args=[connection.pk])
    )

    assert page.status_code == 200
    assert "secret-access-abc" not in page.text
    assert "secret-refresh-abc" not in page.text
    assert "Access token" in page.text


@pytest.mark.django_db
@responses.activate
def test_refresh_token_now_action(staff_client, make_connection):
    connection = make_connection()
    responses.post(
        TOKEN_URL,
        json={
            "access_token": "fresh",
            "refresh_token": "fresh-r",
            "expires_in": 3600,
            "token_type": "Bearer",
        },
    )

    staff_client.post(
        reverse("admin:integrations_klaviyoconnection_changelist"),
        {"action": "refresh_token_now", "_selected_action": [connection.pk]},
    )

    connection.refresh_from_db()
    assert connection.access_token == "fresh"
    assert connection.events.filter(kind=EventKind.REFRESHED).exists()


@pytest.mark.django_db
@responses.activate
def test_revoke_and_disconnect_action(staff_client, make_connection):
    connection = make_connection()
    responses.post(REVOKE_URL, json={})

    staff_client.post(
        reverse("admin:integrations_klaviyoconnection_changelist"),
        {"action": "revoke_and_disconnect", "_selected_action": [connection.pk]},
    )

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED
    assert connection.refresh_token is None
    assert len(responses.calls) == 1
