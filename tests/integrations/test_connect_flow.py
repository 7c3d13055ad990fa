"""The whole connection lifecycle through the real views, against the sandbox Klaviyo."""

from __future__ import annotations

import logging
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import connection as db_connection
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from integrations import attempts
from integrations.models import (
    ConnectionEvent,
    ConnectionStatus,
    EventKind,
    KlaviyoConnection,
    OAuthState,
)
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import Installation
from tests.support.accounts import PASSWORD
from tests.support.connect_flow import connect_through_sandbox, consent, path_of, start_connect

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])
SETTINGS_URL = "/settings/integrations/"


def test_connect_consent_callback_and_settings_page(login, owner, sandbox):
    client = login(owner)

    response = connect_through_sandbox(client, label="Main store")

    assert response.status_code == 302
    assert response.url == f"{SETTINGS_URL}?connected=klaviyo"
    connection = KlaviyoConnection.objects.get()
    assert connection.organization == owner.organization
    assert connection.klaviyo_account_id == testing.ACME
    assert connection.klaviyo_organization_name == "Acme Pets"
    assert connection.label == "Main store"
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.connected_by == owner.user
    assert set(connection.scopes) >= {"accounts:read", "lists:write", "subscriptions:write"}
    page = client.get(response.url)
    assert "Connected Acme Pets" in page.text
    assert "Acme Pets" in page.text
    assert "Active" in page.text
    assert connection.events.filter(kind=EventKind.CONNECTED).count() == 1
    assert testing.call_count("GET", "/api/accounts") == 1


def test_klaviyo_whoami_prints_the_account(login, owner, sandbox):
    connect_through_sandbox(login(owner))
    connection = KlaviyoConnection.objects.get()
    out = StringIO()
    testing.advance(1)  # GET /api/accounts allows one call per second

    call_command("klaviyo_whoami", str(connection.pk), stdout=out)

    assert testing.ACME in out.getvalue()
    assert "Acme Pets" in out.getvalue()


def test_klaviyo_refresh_command_rotates_tokens(login, owner, sandbox):
    connect_through_sandbox(login(owner))
    connection = KlaviyoConnection.objects.get()
    before = connection.refresh_token

    call_command("klaviyo_refresh", str(connection.pk), stdout=StringIO())

    connection.refresh_from_db()
    assert connection.refresh_token != before
    assert testing.call_count("POST", "/oauth/token") == 2


def test_disconnect_revokes_at_the_sandbox(login, owner, sandbox):
    client = login(owner)
    connect_through_sandbox(client)
    connection = KlaviyoConnection.objects.get()
    disconnect_url = reverse("integrations:klaviyo_disconnect", args=[connection.pk])

    confirmation = client.get(disconnect_url)
    assert "Acme Pets" in confirmation.text
    response = client.post(disconnect_url)

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED
    assert connection.access_token is None
    assert connection.refresh_token is None
    assert not Installation.objects.using("sandbox").filter(uninstalled_at__isnull=True).exists()
    assert "Disconnected Acme Pets" in client.get(SETTINGS_URL).text
    assert connection.events.filter(kind=EventKind.DISCONNECTED).exists()


def test_disconnect_when_revoke_fails_still_erases_tokens_and_says_so(login, owner, sandbox):
    client = login(owner)
    connect_through_sandbox(client)
    connection = KlaviyoConnection.objects.get()
    testing.start_outage(60)

    response = client.post(reverse("integrations:klaviyo_disconnect", args=[connection.pk]))

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED
    assert connection.access_token is None
    assert connection.events.filter(kind=EventKind.REVOKE_FAILED).exists()
    assert "could not confirm" in client.get(response.url).text


def test_reconnecting_the_same_account_keeps_the_connection_id(login, owner, sandbox):
    client = login(owner)
    connect_through_sandbox(client)
    first = KlaviyoConnection.objects.get()

    response = connect_through_sandbox(client)

    assert response.status_code == 302
    assert KlaviyoConnection.objects.count() == 1
    assert KlaviyoConnection.objects.get().pk == first.pk
    assert "Reconnected Acme Pets" in client.get(response.url).text


def test_an_organization_may_connect_several_accounts(login, owner, sandbox):
    client = login(owner)
    connect_through_sandbox(client, account=testing.ACME)
    connect_through_sandbox(client, account=testing.BARK)

    assert set(KlaviyoConnection.objects.values_list("klaviyo_account_id", flat=True)) == {
        testing.ACME,
        testing.BARK,
    }


def test_uninstalled_app_turns_needs_reconnect_and_reconnect_restores_it(login, owner, sandbox):
    client = login(owner)
    connect_through_sandbox(client)
    connection = KlaviyoConnection.objects.get()
    installation = Installation.objects.using("sandbox").get(uninstalled_at__isnull=True)
    testing.uninstall(installation)

    with pytest.raises(CommandError, match="needs reconnect"):
        call_command("klaviyo_refresh", str(connection.pk), stdout=StringIO())

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    page = client.get(SETTINGS_URL)
    assert "Needs reconnect" in page.text
    assert reverse("integrations:klaviyo_reconnect", args=[connection.pk]) in page.text

    authorize_url = client.post(reverse("integrations:klaviyo_reconnect", args=[connection.pk])).url
    response = client.get(path_of(consent(client, authorize_url)))

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert KlaviyoConnection.objects.get().pk == connection.pk
    assert connection.events.filter(kind=EventKind.RECONNECTED).exists()


# --- Every failure ends on the right page, with no connection and no 500 --------------------------


def assert_failed(client: Client, response, error_code: str, text: str) -> None:
    assert response.status_code == 302
    assert response.url == f"{SETTINGS_URL}?error={error_code}"
    assert text in client.get(response.url).text
    assert not KlaviyoConnection.objects.exists()


def test_denied_consent_shows_a_friendly_page(login, owner, sandbox):
    client = login(owner)
    callback_url = consent(client, start_connect(client), allow=False)
    assert "error=access_denied" in callback_url

    response = client.get(path_of(callback_url))

    assert response.status_code == 200
    assert "You declined" in response.text
    assert "Try again" in response.text
    assert response["Referrer-Policy"] == "no-referrer"
    assert not KlaviyoConnection.objects.exists()


def test_replayed_callback_is_rejected(login, owner, sandbox):
    """RFC 9700 §4.7.1: state is single-use; a replayed callback must not connect twice."""
    client = login(owner)
    callback_url = consent(client, start_connect(client))
    client.get(path_of(callback_url))
    KlaviyoConnection.objects.all().delete()

    response = client.get(path_of(callback_url))

    assert_failed(client, response, "klaviyo_connection_failed", "no longer valid")


def test_two_callbacks_that_read_the_state_at_once_use_it_only_once(login, owner, sandbox):
    """The conditional UPDATE is what makes the state single-use when two callbacks both
    read it before either marks it used (a double click, a replay racing the original)."""
    from unittest import mock

    client = login(owner)
    start_connect(client)
    attempt = OAuthState.objects.get()
    seen_unused = OAuthState.objects.get(pk=attempt.pk)  # what the racing callback read
    attempts.attempt_consume(
        state_value=attempt.state, user=owner.user, browser_nonce=attempt.browser_nonce
    )

    stale_lookup = mock.MagicMock()
    stale_lookup.return_value.filter.return_value.first.return_value = seen_unused
    with (
        mock.patch.object(OAuthState.objects, "select_related", stale_lookup),
        pytest.raises(attempts.ConnectAttemptInvalid) as raised,
    ):
        attempts.attempt_consume(
            state_value=attempt.state, user=owner.user, browser_nonce=attempt.browser_nonce
        )

    assert raised.value.reason == attempts.ConnectAttemptInvalid.USED


def test_expired_state_is_rejected(login, owner, sandbox):
    client = login(owner)
    callback_url = consent(client, start_connect(client))
    OAuthState.objects.update(expires_at="2000-01-01T00:00:00Z")

    assert_failed(
        client, client.get(path_of(callback_url)), "klaviyo_connection_failed", "no longer valid"
    )


def test_state_from_another_browser_session_is_rejected(login, owner, sandbox):
    client = login(owner)
    callback_url = consent(client, start_connect(client))
    other_browser = login(owner, Client())

    response = other_browser.get(path_of(callback_url))

    assert_failed(other_browser, response, "klaviyo_connection_failed", "no longer valid")


def test_unknown_state_and_missing_code_are_rejected(login, owner, sandbox):
    client = login(owner)
    callback_url = consent(client, start_connect(client))
    query = parse_qs(urlsplit(callback_url).query)

    unknown = client.get("/integrations/klaviyo/callback/?code=abc&state=not-a-state")
    assert_failed(client, unknown, "klaviyo_connection_failed", "no longer valid")
    missing = client.get(f"/integrations/klaviyo/callback/?state={query['state'][0]}")
    assert_failed(client, missing, "klaviyo_connection_failed", "no longer valid")


def test_pkce_mismatch_ends_on_start_again(login, owner, sandbox):
    client = login(owner)
    callback_url = consent(client, start_connect(client))
    attempt = OAuthState.objects.get()
    attempt.code_verifier = "x" * 64  # not the verifier the challenge was made from
    attempt.save()

    assert_failed(
        client, client.get(path_of(callback_url)), "klaviyo_connection_failed", "start again"
    )


def test_invalid_client_is_reported_as_misconfiguration(login, owner, sandbox, settings, caplog):
    client = login(owner)
    callback_url = consent(client, start_connect(client))
    settings.KLAVIYO_CLIENT_SECRET = "wrong-secret"

    with caplog.at_level(logging.ERROR):
        response = client.get(path_of(callback_url))

    assert_failed(client, response, "klaviyo_misconfigured", "misconfigured")
    assert "KLAVIYO_CLIENT_SECRET" in caplog.text
    assert "wrong-secret" not in caplog.text


def test_klaviyo_unreachable_says_try_again_later(login, owner, sandbox):
    client = login(owner)
    callback_url = consent(client, start_connect(client))
    testing.start_outage(60)

    response = client.get(path_of(callback_url))

    assert_failed(client, response, "klaviyo_unavailable", "try again in a few minutes")


def test_logged_out_callback_logs_in_first_then_continues(owner, sandbox, login):
    client = login(owner)
    callback_url = consent(client, start_connect(client))
    client.post("/accounts/logout/")  # the session ended while they were on Klaviyo

    redirect = client.get(path_of(callback_url))
    assert redirect.status_code == 302
    assert redirect.url.startswith("/accounts/login/?next=")
    login_page = client.post(redirect.url, {"username": owner.user.email, "password": PASSWORD})
    assert login_page.status_code == 302
    assert login_page.url == path_of(callback_url)

    response = client.get(login_page.url)

    assert response.url == f"{SETTINGS_URL}?connected=klaviyo"
    assert KlaviyoConnection.objects.get().organization == owner.organization


def test_install_link_asks_a_logged_out_user_to_log_in_then_offers_connect(owner, client):
    response = client.get(reverse("integrations:klaviyo_install"))
    assert response.status_code == 302
    client.post(response.url, {"username": owner.user.email, "password": PASSWORD})

    page = client.get(reverse("integrations:klaviyo_install"))

    assert page.status_code == 200
    assert f"Connect Klaviyo to {owner.organization.name}" in page.text
    assert reverse("integrations:klaviyo_connect") in page.text


# --- Roles and tenants ----------------------------------------------------------------------------


def test_members_see_the_page_read_only(login, make_member, owner, make_connection):
    make_connection(owner.organization)
    member = make_member(role=Role.MEMBER, organization=owner.organization)
    client = login(member)

    page = client.get(SETTINGS_URL)

    assert page.status_code == 200
    assert "Only owners and admins" in page.text
    assert client.post(reverse("integrations:klaviyo_connect")).status_code == 403


def test_empty_state_explains_connecting_and_permissions(login, owner):
    page = login(owner).get(SETTINGS_URL)

    assert "Connecting lets Partyline create a Klaviyo list" in page.text
    assert "subscriptions:write" in page.text


@pytest.mark.parametrize(
    ("method", "url_name"),
    [
        ("get", "integrations:connection_detail"),
        ("get", "integrations:klaviyo_disconnect"),
        ("post", "integrations:klaviyo_disconnect"),
        ("post", "integrations:klaviyo_reconnect"),
    ],
)
def test_another_organizations_connection_is_404(login, owner, make_connection, method, url_name):
    foreign = make_connection()

    response = getattr(login(owner), method)(reverse(url_name, args=[foreign.pk]))

    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == ConnectionStatus.ACTIVE


# --- Secrets stay secret --------------------------------------------------------------------------


def test_no_plaintext_token_or_verifier_in_rows_logs_or_pages(login, owner, sandbox, caplog):
    client = login(owner)
    with caplog.at_level(logging.DEBUG):
        callback_url = consent(client, start_connect(client))
        verifier = OAuthState.objects.get().code_verifier
        connect_through_sandbox(client)
        connection = KlaviyoConnection.objects.get()
        call_command("klaviyo_refresh", str(connection.pk), stdout=StringIO())
        connection.refresh_from_db()
        pages = [
            client.get(SETTINGS_URL).text,
            client.get(reverse("integrations:connection_detail", args=[connection.pk])).text,
            client.get("/api/oauth/accounts").text,
        ]
    secrets = [connection.access_token, connection.refresh_token, verifier]
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT * FROM integrations_klaviyoconnection")
        rows = repr(cursor.fetchall())
        cursor.execute("SELECT * FROM integrations_oauthstate")
        rows += repr(cursor.fetchall())
        cursor.execute("SELECT * FROM integrations_connectionevent")
        rows += repr(cursor.fetchall())
    for secret in secrets:
        assert secret not in rows
        assert secret not in caplog.text
        for page in pages:
            assert secret not in page
    assert callback_url  # the flow ran
    assert ConnectionEvent.objects.exists()


def test_two_callbacks_racing_for_a_new_account_end_in_one_connection(
    login, owner, sandbox, monkeypatch
):
    from django.db import IntegrityError

    from integrations import services

    real_upsert = services._connection_upsert
    calls = []

    def racing_upsert(**kwargs):
        calls.append(1)
        if len(calls) == 1:  # the other callback commits its row first
            KlaviyoConnection.objects.create(
                organization=owner.organization, klaviyo_account_id=testing.ACME
            )
            raise IntegrityError("duplicate key value violates unique constraint")
        return real_upsert(**kwargs)

    monkeypatch.setattr(services, "_connection_upsert", racing_upsert)
    client = login(owner)

    response = connect_through_sandbox(client)

    assert response.url == f"{SETTINGS_URL}?connected=klaviyo"
    assert KlaviyoConnection.objects.count() == 1
    assert KlaviyoConnection.objects.get().klaviyo_organization_name == "Acme Pets"
