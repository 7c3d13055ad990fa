"""Scope drift: after every code exchange and refresh, the scopes Klaviyo granted are compared
with those the product needs (KLAVIYO_SCOPES); a missing list scope means needs-reconnect, with
a reason naming it, shown on the Integrations page (missing event scopes only hold lifecycle
events back: tests/integrations/test_event_scopes.py).

RFC 6749 section 5.1: the response's `scope` is "OPTIONAL, if identical to the scope requested
by the client; otherwise, REQUIRED", so a narrower grant is always stated.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from integrations import attempts, notifications, services, tokens
from integrations.errors import ConnectionUnusable
from integrations.klaviyo.config import DEFAULT_SCOPES, KlaviyoConfig
from integrations.models import ConnectionStatus, EventKind, KlaviyoConnection
from klaviyo_sandbox import testing
from tests.support.connect_flow import consent, path_of, start_connect

CONFIG = KlaviyoConfig(
    client_id="client", client_secret="secret", base_url="https://klaviyo.test", timeout=2
)
TOKEN_URL = "https://klaviyo.test/oauth/token"
SETTINGS_URL = reverse("integrations:settings")
NARROW = "accounts:read lists:read lists:write profiles:read"


def token_body(scope: str) -> str:
    return json.dumps(
        {
            "access_token": "access-token-2",
            "refresh_token": "refresh-token-2",
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": scope,
        }
    )


def notices_queued(kind: str) -> int:
    return DBTaskResult.objects.filter(
        task_path=notifications.send_connection_health_email.module_path,
        args_kwargs__kwargs__kind=kind,
    ).count()


@pytest.mark.django_db
@responses.activate
def test_a_refresh_granting_fewer_scopes_turns_the_connection_needs_reconnect(make_connection):
    connection = make_connection()
    responses.post(TOKEN_URL, body=token_body(NARROW))

    with pytest.raises(ConnectionUnusable):
        tokens.refresh_now(connection=connection, config=CONFIG)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert "profiles:write, subscriptions:write" in connection.last_error
    assert connection.scopes == NARROW.split()
    # The rotated tokens are kept (the old refresh token is dead at Klaviyo now).
    assert connection.refresh_token == "refresh-token-2"
    assert connection.refresh_lease_expires_at is None
    kinds = set(connection.events.values_list("kind", flat=True))
    assert {EventKind.REFRESHED, EventKind.NEEDS_RECONNECT} <= kinds
    assert notices_queued(notifications.NEEDS_RECONNECT) == 1
    # Work pauses: nobody gets a token from it until it is reconnected.
    with pytest.raises(ConnectionUnusable):
        tokens.get_access_token(connection=connection, config=CONFIG)


@pytest.mark.django_db
@responses.activate
def test_a_refresh_granting_every_needed_scope_keeps_the_connection_active(make_connection):
    connection = make_connection()
    responses.post(TOKEN_URL, body=token_body(" ".join([*DEFAULT_SCOPES, "segments:read"])))

    assert tokens.refresh_now(connection=connection, config=CONFIG) == "access-token-2"

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.last_error == ""
    assert notices_queued(notifications.NEEDS_RECONNECT) == 0


@pytest.mark.django_db
@responses.activate
def test_a_refresh_without_scope_is_checked_against_the_stored_grant(make_connection):
    """A refresh response may leave `scope` out when unchanged: the stored grant decides."""
    connection = make_connection()
    KlaviyoConnection.objects.filter(pk=connection.pk).update(scopes=NARROW.split())
    responses.post(
        TOKEN_URL,
        json={"access_token": "access-token-2", "token_type": "Bearer", "expires_in": 3600},
    )

    with pytest.raises(ConnectionUnusable):
        tokens.refresh_now(connection=connection, config=CONFIG)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert "profiles:write, subscriptions:write" in connection.last_error


@pytest.mark.django_db
@responses.activate
def test_a_code_exchange_granting_fewer_scopes_saves_the_connection_needs_reconnect(owner):
    attempt = attempts.attempt_prepare(
        membership=owner, redirect_uri="https://partyline.test/callback/", browser_nonce="n" * 32
    )
    responses.post(TOKEN_URL, body=token_body(NARROW))
    responses.get(
        "https://klaviyo.test/api/accounts/",
        json={
            "data": [
                {
                    "type": "account",
                    "id": "AbC123",
                    "attributes": {"contact_information": {"organization_name": "Acme"}},
                }
            ]
        },
    )

    result = services.connection_complete(
        user=owner.user,
        browser_nonce="n" * 32,
        state_value=attempt.state,
        code="the-code",
        config=CONFIG,
    )

    connection = result.connection
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert "profiles:write, subscriptions:write" in connection.last_error
    assert connection.events.filter(kind=EventKind.NEEDS_RECONNECT).count() == 1
    assert notices_queued(notifications.NEEDS_RECONNECT) == 1


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_sandbox_installed_with_fewer_scopes_turns_needs_reconnect_on_refresh(
    sandbox, owner, login
):
    app = testing.install_app(scopes=NARROW)
    connection = KlaviyoConnection.objects.create(
        organization=owner.organization,
        klaviyo_account_id=app.account_id,
        klaviyo_organization_name="Acme Pets",
        # Stored as granted before the app's scopes changed at Klaviyo.
        scopes=list(DEFAULT_SCOPES),
        access_token=app.access_token,
        refresh_token=app.refresh_token,
        access_token_expires_at=timezone.now() + timedelta(seconds=20),
    )

    with pytest.raises(ConnectionUnusable):
        tokens.get_access_token(connection=connection)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert "missing: profiles:write, subscriptions:write" in connection.last_error
    page = login(owner).get(SETTINGS_URL)
    assert "Needs reconnect" in page.text
    assert "missing: profiles:write, subscriptions:write" in page.text


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_consent_granting_fewer_scopes_is_reported_at_the_callback(sandbox, owner, login):
    client = login(owner)
    authorize_url = start_connect(client)
    params = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
    code = testing.authorization_code(
        code_challenge=params["code_challenge"], redirect_uri=params["redirect_uri"], scopes=NARROW
    )

    response = client.get(
        path_of(f"{params['redirect_uri']}?code={code}&state={params['state']}"), follow=True
    )

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == f"{SETTINGS_URL}?error=klaviyo_scopes_missing"
    assert "cannot be used yet" in response.text
    assert "missing: profiles:write, subscriptions:write" in response.text
    connection = KlaviyoConnection.objects.get()
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_reconnecting_with_every_scope_recovers(sandbox, owner, login):
    client = login(owner)
    authorize_url = start_connect(client)
    params = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
    code = testing.authorization_code(
        code_challenge=params["code_challenge"], redirect_uri=params["redirect_uri"], scopes=NARROW
    )
    client.get(path_of(f"{params['redirect_uri']}?code={code}&state={params['state']}"))
    connection = KlaviyoConnection.objects.get()

    reconnect = client.post(reverse("integrations:klaviyo_reconnect", args=[connection.pk]))
    client.get(path_of(consent(client, reconnect.url)))

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.last_error == ""
    assert set(connection.scopes) >= set(DEFAULT_SCOPES)
    assert notices_queued(notifications.NEEDS_RECONNECT) == 1
    assert notices_queued(notifications.RECONNECTED) == 1
