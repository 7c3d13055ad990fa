"""`data-privacy:write`, the scope erasure needs to ask Klaviyo to delete a person's profile:
asked only of organizations that turn Klaviyo deletion on, and never a reason to reconnect a
connection that lacks it (only that request waits, `integrations.scopes`)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.core.checks import run_checks
from django.urls import reverse

from accounts.models import Organization, Role
from accounts.signals import klaviyo_deletion_reconnects
from integrations import attempts, checks, services
from integrations.clients import klaviyo_client
from integrations.klaviyo.config import (
    DATA_PRIVACY_SCOPES,
    DEFAULT_SCOPES,
    LIST_SCOPES,
    KlaviyoConfig,
    klaviyo_config,
)
from integrations.models import ConnectionStatus, EventKind, KlaviyoConnection
from integrations.scopes import (
    connect_config,
    list_missing_scopes,
    profile_deletion_missing_scopes,
    profile_deletion_missing_scopes_reason,
)
from klaviyo_sandbox import testing
from tests.support.connect_flow import consent, path_of, start_connect

pytestmark = pytest.mark.django_db
with_sandbox = pytest.mark.django_db(databases=["default", "sandbox"])

CONFIG = KlaviyoConfig(
    client_id="client", client_secret="secret", base_url="https://klaviyo.test", timeout=2
)
TOKEN_URL = "https://klaviyo.test/oauth/token"
ACCOUNTS_URL = "https://klaviyo.test/api/accounts/"
EVERYTHING = (*DEFAULT_SCOPES, *DATA_PRIVACY_SCOPES)


def deletion_on(organization: Organization) -> Organization:
    organization.klaviyo_deletion_enabled = True
    organization.save(update_fields=["klaviyo_deletion_enabled"])
    return organization


def asked_scopes(authorize_url: str) -> list[str]:
    return parse_qs(urlsplit(authorize_url).query)["scope"][0].split()


# --- What connecting asks for ---------------------------------------------------------------------


def test_without_the_option_connecting_asks_the_usual_scopes_only(owner):
    assert connect_config(organization=owner.organization, config=CONFIG).scopes == DEFAULT_SCOPES


def test_with_the_option_connecting_also_asks_data_privacy_write(owner):
    deletion_on(owner.organization)

    assert connect_config(organization=owner.organization, config=CONFIG).scopes == EVERYTHING


def test_klaviyo_scopes_naming_it_does_not_ask_it_of_an_organization_without_the_option(owner):
    config = KlaviyoConfig(client_id="client", client_secret="secret", scopes=EVERYTHING)

    assert connect_config(organization=owner.organization, config=config).scopes == DEFAULT_SCOPES


@pytest.mark.parametrize("enabled", [False, True])
def test_the_authorize_url_asks_data_privacy_write_only_when_the_option_is_on(
    login, owner, enabled
):
    owner.organization.klaviyo_deletion_enabled = enabled
    owner.organization.save()

    authorize_url = start_connect(login(owner))

    assert ("data-privacy:write" in asked_scopes(authorize_url)) is enabled
    assert set(asked_scopes(authorize_url)) >= set(DEFAULT_SCOPES)


def test_reconnecting_asks_it_too_once_the_option_is_on(login, owner, make_connection):
    connection = make_connection(owner.organization)
    deletion_on(owner.organization)
    client = login(owner)

    authorize_url = client.post(reverse("integrations:klaviyo_reconnect", args=[connection.pk])).url
    page = client.get(reverse("integrations:klaviyo_reconnect", args=[connection.pk]))

    assert "data-privacy:write" in asked_scopes(authorize_url)
    assert "Delete a person&#x27;s profile from your whole Klaviyo account" in page.text


def test_the_integrations_page_lists_the_scope_only_when_the_option_is_on(login, owner):
    client = login(owner)
    assert "data-privacy:write" not in client.get(reverse("integrations:settings")).text

    deletion_on(owner.organization)

    assert "data-privacy:write" in client.get(reverse("integrations:settings")).text


# --- A connection lacking it stays usable ---------------------------------------------------------


def test_lacking_data_privacy_write_is_no_list_drift_even_when_klaviyo_scopes_names_it():
    config = KlaviyoConfig(client_id="client", client_secret="secret", scopes=EVERYTHING)

    assert list_missing_scopes(granted=DEFAULT_SCOPES, config=config) == []
    assert list_missing_scopes(granted=EVERYTHING[1:], config=config) == [EVERYTHING[0]]


def token_body(scopes: tuple[str, ...] | None) -> str:
    body: dict[str, object] = {
        "access_token": "access-token-2",
        "refresh_token": "refresh-token-2",
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    if scopes is not None:
        body["scope"] = " ".join(scopes)
    return json.dumps(body)


def complete_with_grant(owner, scopes: tuple[str, ...] | None) -> KlaviyoConnection:
    attempt = attempts.attempt_prepare(
        membership=owner, redirect_uri="https://partyline.test/callback/", browser_nonce="n" * 32
    )
    responses.post(TOKEN_URL, body=token_body(scopes))
    responses.get(
        ACCOUNTS_URL,
        json={"data": [{"type": "account", "id": "AbC123", "attributes": {}}]},
    )
    return services.connection_complete(
        user=owner.user,
        browser_nonce="n" * 32,
        state_value=attempt.state,
        code="the-code",
        config=CONFIG,
    ).connection


@responses.activate
def test_a_grant_of_everything_but_data_privacy_write_saves_the_connection_active(owner):
    deletion_on(owner.organization)

    connection = complete_with_grant(owner, DEFAULT_SCOPES)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.last_error == ""
    assert not connection.events.filter(kind=EventKind.NEEDS_RECONNECT).exists()
    assert profile_deletion_missing_scopes(connection) == ["data-privacy:write"]


@responses.activate
def test_a_grant_not_restating_the_scopes_was_granted_what_the_organization_asked(owner):
    # RFC 6749 section 5.1: the token answer omits `scope` when it is the one requested.
    deletion_on(owner.organization)

    connection = complete_with_grant(owner, None)

    assert connection.scopes == list(EVERYTHING)
    assert profile_deletion_missing_scopes(connection) == []


# --- What the erasure page and the settings page read ---------------------------------------------


def test_a_connection_lacking_it_names_it_and_one_granted_it_names_nothing(make_connection):
    assert profile_deletion_missing_scopes(make_connection()) == ["data-privacy:write"]
    assert profile_deletion_missing_scopes(make_connection(scopes=EVERYTHING)) == []


def test_the_organizers_sentence_says_reconnect_to_grant_it():
    assert profile_deletion_missing_scopes_reason(["data-privacy:write"]) == (
        "Partyline cannot ask Klaviyo to delete profiles: Klaviyo has not granted Partyline "
        "data-privacy:write. Reconnect to grant it."
    )


def test_the_settings_page_learns_which_live_connections_to_reconnect(owner, make_connection):
    organization = owner.organization
    lacking = make_connection(organization)
    make_connection(organization, scopes=EVERYTHING)
    broken = make_connection(organization, status=ConnectionStatus.NEEDS_RECONNECT)
    make_connection(organization, status=ConnectionStatus.REVOKED)
    make_connection()  # another organization's

    named = klaviyo_deletion_reconnects(organization=organization)

    assert sorted(named) == sorted([lacking.display_name, broken.display_name])


# --- The Integrations page offers the reconnect ---------------------------------------------------


def reconnect_url(connection: KlaviyoConnection) -> str:
    return reverse("integrations:klaviyo_reconnect", args=[connection.pk])


REASON = "Partyline cannot ask Klaviyo to delete profiles: Klaviyo has not granted Partyline"


def test_with_the_option_off_a_connection_lacking_it_shows_nothing_to_do(
    login, owner, make_connection
):
    connection = make_connection(owner.organization)
    client = login(owner)

    page = client.get(reverse("integrations:settings")).text
    detail = client.get(reverse("integrations:connection_detail", args=[connection.pk])).text

    for text in (page, detail):
        assert REASON not in text
        assert f'action="{reconnect_url(connection)}"' not in text


def test_with_the_option_on_the_pages_say_so_and_offer_reconnect(login, owner, make_connection):
    connection = make_connection(owner.organization)
    granted = make_connection(owner.organization, scopes=EVERYTHING)
    deletion_on(owner.organization)
    client = login(owner)

    page = client.get(reverse("integrations:settings")).text
    detail = client.get(reverse("integrations:connection_detail", args=[connection.pk])).text
    reconnect = client.get(reconnect_url(connection)).text

    for text in (page, detail):
        assert f"{REASON} data-privacy:write. Reconnect to grant it." in text
        assert f'action="{reconnect_url(connection)}"' in text
        assert f'aria-describedby="deletion-waiting-{connection.pk}"' in text
    assert f'action="{reconnect_url(granted)}"' not in page
    assert page.count(REASON) == 1
    assert f"{REASON} data-privacy:write." in reconnect
    assert "Everything else this connection does works." in reconnect


def test_a_member_is_told_to_ask_an_owner_or_admin(login, owner, make_member, make_connection):
    make_connection(owner.organization)
    deletion_on(owner.organization)
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    page = login(member).get(reverse("integrations:settings")).text

    assert "Everything else this connection does works. Ask an owner or admin" in page


def test_a_connection_lacking_event_scopes_too_names_both_notices(login, owner, make_connection):
    connection = make_connection(owner.organization, scopes=LIST_SCOPES)
    deletion_on(owner.organization)

    page = login(owner).get(reverse("integrations:settings")).text

    assert (
        f'aria-describedby="events-waiting-{connection.pk} deletion-waiting-{connection.pk}"'
        in page
    )


# --- End to end, against the sandbox --------------------------------------------------------------


@with_sandbox
def test_a_connection_made_with_the_option_on_can_ask_klaviyo_to_delete(login, owner, sandbox):
    deletion_on(owner.organization)
    client = login(owner)
    client.get(path_of(consent(client, start_connect(client))))
    connection = KlaviyoConnection.objects.get()
    testing.suppress("sarah@example.com", "UNSUBSCRIBE")  # a profile in the account
    assert testing.profile("sarah@example.com") is not None
    testing.advance(1)

    klaviyo_client(connection=connection).request_profile_deletion(email="sarah@example.com")

    assert set(connection.scopes) == set(EVERYTHING)
    assert testing.profile("sarah@example.com") is None


# --- The system check -----------------------------------------------------------------------------


def test_klaviyo_scopes_naming_data_privacy_write_warns_that_it_changes_nothing(settings):
    settings.KLAVIYO_SCOPES = " ".join(EVERYTHING)

    [message] = run_checks(tags=[checks.SCOPES])

    assert message.id == "integrations.W007"
    assert message.is_serious() is False
    assert "asks only of organizations that turn on Klaviyo deletion" in message.msg
    assert klaviyo_config().scopes == EVERYTHING
