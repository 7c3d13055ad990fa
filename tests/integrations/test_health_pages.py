"""What organizers read about a connection's health: each state in words with its matching
action on Integrations, the needs-reconnect banner on every organizer page, and a Reconnect
that preselects the account on the consent page and says so when another one was chosen."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from core.templatetags.wording import clock
from integrations import selectors
from integrations.models import ConnectionEvent, ConnectionStatus, EventKind, KlaviyoConnection
from integrations.pipelines import pipelines
from klaviyo_sandbox import testing
from tests.support.connect_flow import connect_through_sandbox, consent, path_of

pytestmark = pytest.mark.django_db
with_sandbox = pytest.mark.django_db(databases=["default", "sandbox"])
SETTINGS_URL = reverse("integrations:settings")


def reconnect_url(connection: KlaviyoConnection) -> str:
    return reverse("integrations:klaviyo_reconnect", args=[connection.pk])


def row_of(page_text: str, connection: KlaviyoConnection) -> str:
    """The connection's row and the note row under it."""
    start = page_text.index(f'id="connection-{connection.pk}"')
    following = page_text.find('id="connection-', start + 1)
    return page_text[start : following if following != -1 else page_text.index("</tbody>")]


# --- Each state in words, with its action -----------------------------------------------------


def test_a_working_connection_says_so_and_offers_disconnect(login, owner, make_connection):
    connection = make_connection(owner.organization)

    row = row_of(login(owner).get(SETTINGS_URL).text, connection)

    assert "Active" in row
    assert "Working" in row
    assert reverse("integrations:klaviyo_disconnect", args=[connection.pk]) in row
    assert reconnect_url(connection) not in row


def test_klaviyo_not_answering_says_since_when_and_the_next_try(
    login, owner, make_connection, make_party
):
    connection = make_connection(owner.organization)
    next_try = timezone.now() + timedelta(seconds=10)
    # Two consecutive failures: the engine waited 5 s, then 10 s.
    make_party(connection=connection, sync_failures=2, next_send_at=next_try)

    row = row_of(login(owner).get(SETTINGS_URL).text, connection)

    since = next_try - timedelta(seconds=15)
    assert "Klaviyo unreachable" in row
    assert f"since {clock(since)}, next try {clock(next_try)}" in row
    assert "Signups are kept" in row
    assert reconnect_url(connection) not in row


def test_failing_token_refreshes_date_the_outage_from_the_audit_trail(
    login, owner, make_connection
):
    now = timezone.now()
    connection = make_connection(
        owner.organization,
        last_successful_call_at=now - timedelta(minutes=30),
        last_error="KlaviyoUnavailable: 503",
        last_error_at=now - timedelta(minutes=1),
    )
    first = ConnectionEvent.objects.create(
        organization=owner.organization, connection=connection, kind=EventKind.REFRESH_FAILED
    )
    ConnectionEvent.objects.filter(pk=first.pk).update(created_at=now - timedelta(minutes=12))
    ConnectionEvent.objects.create(
        organization=owner.organization, connection=connection, kind=EventKind.REFRESH_FAILED
    )

    [health] = selectors.connections_health(connections=[connection])

    assert health.kind == selectors.HealthKind.UNREACHABLE
    assert health.since == now - timedelta(minutes=12)
    assert "KlaviyoUnavailable: 503" in row_of(login(owner).get(SETTINGS_URL).text, connection)


def test_a_rate_limited_connection_says_until_when(login, owner, make_connection, make_party):
    connection = make_connection(owner.organization)
    until = timezone.now() + timedelta(seconds=90)
    make_party(connection=connection, next_send_at=until)

    row = row_of(login(owner).get(SETTINGS_URL).text, connection)

    assert "Rate-limited" in row
    assert f"until {clock(until)}" in row


def test_a_connection_needing_reconnect_says_why_and_offers_reconnect(
    login, owner, make_connection
):
    connection = make_connection(
        owner.organization,
        status=ConnectionStatus.NEEDS_RECONNECT,
        last_error="Klaviyo rejected the refresh token: the app was uninstalled.",
    )

    row = row_of(login(owner).get(SETTINGS_URL).text, connection)

    assert "Needs reconnect" in row
    assert "the app was uninstalled" in row
    assert f'action="{reconnect_url(connection)}"' in row
    assert ">Reconnect</button>" in row


def test_a_disconnected_connection_offers_reconnect(login, owner, make_connection):
    connection = make_connection(owner.organization, status=ConnectionStatus.REVOKED)

    row = row_of(login(owner).get(SETTINGS_URL).text, connection)

    assert "Disconnected" in row
    assert f'action="{reconnect_url(connection)}"' in row
    assert reverse("integrations:klaviyo_disconnect", args=[connection.pk]) not in row


@pytest.mark.parametrize("status", [ConnectionStatus.REVOKED, ConnectionStatus.NEEDS_RECONNECT])
def test_members_without_rights_get_no_reconnect_button(
    login, owner, make_member, make_connection, status
):
    connection = make_connection(owner.organization, status=status)
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    page = login(member).get(SETTINGS_URL).text

    assert reconnect_url(connection) not in page
    assert "Ask an owner or admin to reconnect it" in page


def test_connection_page_offers_reconnect_when_disconnected(login, owner, make_connection):
    connection = make_connection(owner.organization, status=ConnectionStatus.REVOKED)

    page = login(owner).get(reverse("integrations:connection_detail", args=[connection.pk]))

    assert f'action="{reconnect_url(connection)}"' in page.text


def test_health_of_many_connections_costs_a_fixed_number_of_queries(
    owner, make_connection, django_assert_num_queries, make_party
):
    connections = []
    for number in range(6):
        connection = make_connection(owner.organization)
        make_party(connection=connection, sync_failures=number % 2, next_send_at=timezone.now())
        connections.append(connection)

    # One query per pipeline (the attendee sync's, the lifecycle events'), whatever the count.
    with django_assert_num_queries(len(pipelines())):
        selectors.connections_health(connections=connections)


# --- The banner -------------------------------------------------------------------------------


def test_every_organizer_page_shows_a_banner_while_a_connection_needs_reconnecting(
    login, owner, make_connection
):
    make_connection(owner.organization, status=ConnectionStatus.NEEDS_RECONNECT)
    client = login(owner)

    for url in (reverse("home"), reverse("parties:party_list")):
        page = client.get(url).text
        banner = page.split('id="reconnect-banner"')[1].split("</div>")[0]
        assert "needs reconnecting" in banner
        assert f'href="{SETTINGS_URL}"' in banner


def test_no_banner_when_connections_work_or_on_integrations_itself(login, owner, make_connection):
    make_connection(owner.organization)
    client = login(owner)
    assert 'id="reconnect-banner"' not in client.get(reverse("parties:party_list")).text

    make_connection(owner.organization, status=ConnectionStatus.NEEDS_RECONNECT)
    assert 'id="reconnect-banner"' not in client.get(SETTINGS_URL).text


def test_no_banner_for_another_organizations_broken_connection(login, owner, make_connection):
    make_connection(status=ConnectionStatus.NEEDS_RECONNECT)  # another organization's

    page = login(owner).get(reverse("parties:party_list"))

    assert 'id="reconnect-banner"' not in page.text


def test_the_banner_tells_members_to_ask_an_owner(login, owner, make_member, make_connection):
    make_connection(owner.organization, status=ConnectionStatus.NEEDS_RECONNECT)
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    page = login(member).get(reverse("parties:party_list"))

    assert "Ask an owner or admin to reconnect" in page.text


# --- Reconnect that does what it says ---------------------------------------------------------


def authorize_params(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


@with_sandbox
def test_reconnect_sends_the_account_as_a_hint_and_the_consent_page_preselects_it(
    login, owner, sandbox
):
    client = login(owner)
    connect_through_sandbox(client, account=testing.BARK)
    connection = KlaviyoConnection.objects.get()
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        status=ConnectionStatus.NEEDS_RECONNECT
    )

    authorize_url = client.post(reconnect_url(connection)).url
    page = client.get(path_of(authorize_url)).text

    assert authorize_params(authorize_url)["account_hint"] == testing.BARK
    checked = re.findall(r"<input[^>]*\bchecked\b[^>]*>", page)
    assert len(checked) == 1
    assert f'value="{testing.BARK}"' in checked[0]


@with_sandbox
def test_a_new_connection_carries_no_hint(login, owner, sandbox):
    client = login(owner)

    authorize_url = client.post(reverse("integrations:klaviyo_connect"), {"label": ""}).url

    assert "account_hint" not in authorize_params(authorize_url)
    assert "checked" not in client.get(path_of(authorize_url)).text


@with_sandbox
@pytest.mark.parametrize("status", [ConnectionStatus.NEEDS_RECONNECT, ConnectionStatus.REVOKED])
def test_choosing_another_account_connects_it_and_says_the_broken_one_is_still_broken(
    login, owner, sandbox, status
):
    client = login(owner)
    connect_through_sandbox(client, account=testing.ACME)
    broken = KlaviyoConnection.objects.get()
    KlaviyoConnection.objects.filter(pk=broken.pk).update(status=status)

    authorize_url = client.post(reconnect_url(broken)).url
    response = client.get(path_of(consent(client, authorize_url, account=testing.BARK)))
    page = client.get(response.url).text

    broken.refresh_from_db()
    assert broken.status == status
    new = KlaviyoConnection.objects.exclude(pk=broken.pk).get()
    assert new.klaviyo_account_id == testing.BARK
    assert new.status == ConnectionStatus.ACTIVE
    still = "disconnected" if status == ConnectionStatus.REVOKED else "broken"
    assert "now connected as a new connection" in page
    assert f"Acme Pets is still {still}" in page
    assert "Reconnected" not in page


@with_sandbox
def test_reconnecting_a_disconnected_connection_with_its_account_restores_it(login, owner, sandbox):
    client = login(owner)
    connect_through_sandbox(client, account=testing.ACME)
    connection = KlaviyoConnection.objects.get()
    client.post(reverse("integrations:klaviyo_disconnect", args=[connection.pk]))
    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.REVOKED

    authorize_url = client.post(reconnect_url(connection)).url
    response = client.get(path_of(consent(client, authorize_url, account=testing.ACME)))

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert KlaviyoConnection.objects.count() == 1
    assert "Reconnected Acme Pets." in client.get(response.url).text
