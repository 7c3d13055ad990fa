"""The scope policy's two groups: a connection lacking a list scope cannot work (needs
reconnect), one lacking only event scopes stays active, its lists syncing, its lifecycle
events waiting (`integrations.scopes`) until a reconnect grants them, which
`connection_activated` announces. The Integrations page says what waits and offers Reconnect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from accounts.models import Role
from integrations import attempts, notifications, services, tokens
from integrations.errors import ConnectionUnusable
from integrations.klaviyo.config import DEFAULT_SCOPES, EVENT_SCOPES, LIST_SCOPES, KlaviyoConfig
from integrations.models import ConnectionStatus, EventKind, KlaviyoConnection
from integrations.scopes import (
    events_missing_scopes,
    events_missing_scopes_reason,
    list_missing_scopes,
)
from integrations.signals import connection_activated
from klaviyo_sandbox import testing
from tests.support.connect_flow import consent, path_of

pytestmark = pytest.mark.django_db
with_sandbox = pytest.mark.django_db(databases=["default", "sandbox"])

CONFIG = KlaviyoConfig(
    client_id="client", client_secret="secret", base_url="https://klaviyo.test", timeout=2
)
TOKEN_URL = "https://klaviyo.test/oauth/token"
ACCOUNTS_URL = "https://klaviyo.test/api/accounts/"
SETTINGS_URL = reverse("integrations:settings")
# What every connection made before Partyline sent lifecycle events was granted.
LISTS_ONLY = list(LIST_SCOPES)
WAITING = (
    "Lifecycle events wait: Klaviyo has not granted Partyline events:write, events:read, "
    "metrics:read, flows:read. Reconnect to grant them."
)


def token_body(scopes: list[str] | tuple[str, ...] | None) -> str:
    body: dict[str, Any] = {
        "access_token": "access-token-2",
        "refresh_token": "refresh-token-2",
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    if scopes is not None:
        body["scope"] = " ".join(scopes)
    return json.dumps(body)


def reconnect_url(connection: KlaviyoConnection) -> str:
    return reverse("integrations:klaviyo_reconnect", args=[connection.pk])


def detail_url(connection: KlaviyoConnection) -> str:
    return reverse("integrations:connection_detail", args=[connection.pk])


def notices_queued(kind: str) -> int:
    return DBTaskResult.objects.filter(
        task_path=notifications.send_connection_health_email.module_path,
        args_kwargs__kwargs__kind=kind,
    ).count()


@pytest.fixture
def activated() -> Iterator[list[KlaviyoConnection]]:
    """The connections `connection_activated` was sent with, as a listener sees them."""
    sent: list[KlaviyoConnection] = []

    def listen(sender: type, *, connection: KlaviyoConnection, **kwargs: Any) -> None:
        sent.append(connection)

    connection_activated.connect(listen, dispatch_uid="test_event_scopes")
    yield sent
    connection_activated.disconnect(dispatch_uid="test_event_scopes")


# --- The policy, as the events engine calls it -------------------------------------------------


def test_a_connection_granted_every_scope_has_no_event_scope_missing(make_connection):
    assert events_missing_scopes(make_connection()) == []


def test_a_connection_lacking_event_scopes_names_them_in_event_scopes_order(make_connection):
    assert events_missing_scopes(make_connection(scopes=LISTS_ONLY)) == list(EVENT_SCOPES)
    partial = make_connection(scopes=["flows:read", *LISTS_ONLY, "events:write"])
    assert events_missing_scopes(partial) == ["events:read", "metrics:read"]


def test_the_organizers_sentence_names_the_missing_event_scopes():
    assert events_missing_scopes_reason(EVENT_SCOPES) == WAITING


def test_lacking_event_scopes_is_no_list_drift():
    assert list_missing_scopes(granted=LISTS_ONLY, config=CONFIG) == []
    granted = [scope for scope in DEFAULT_SCOPES if scope not in ("lists:write", "events:write")]
    assert list_missing_scopes(granted=granted, config=CONFIG) == ["lists:write"]


# --- A code exchange -----------------------------------------------------------------------------


def complete_with_grant(owner, scopes: list[str]) -> KlaviyoConnection:
    attempt = attempts.attempt_prepare(
        membership=owner, redirect_uri="https://partyline.test/callback/", browser_nonce="n" * 32
    )
    responses.post(TOKEN_URL, body=token_body(scopes))
    responses.get(
        ACCOUNTS_URL,
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
    return services.connection_complete(
        user=owner.user,
        browser_nonce="n" * 32,
        state_value=attempt.state,
        code="the-code",
        config=CONFIG,
    ).connection


@responses.activate
def test_a_grant_lacking_only_event_scopes_saves_the_connection_active(
    owner, activated, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        connection = complete_with_grant(owner, LISTS_ONLY)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.last_error == ""
    assert connection.scopes == LISTS_ONLY
    assert events_missing_scopes(connection) == list(EVENT_SCOPES)
    assert not connection.events.filter(kind=EventKind.NEEDS_RECONNECT).exists()
    assert notices_queued(notifications.NEEDS_RECONNECT) == 0
    # Its list sync may start: it is activated like any working connection.
    assert [sent.pk for sent in activated] == [connection.pk]


@responses.activate
def test_a_grant_lacking_a_list_scope_needs_reconnect_naming_only_it(
    owner, activated, django_capture_on_commit_callbacks
):
    granted = [scope for scope in DEFAULT_SCOPES if scope not in ("lists:write", "events:write")]

    with django_capture_on_commit_callbacks(execute=True):
        connection = complete_with_grant(owner, granted)

    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert "(missing: lists:write)" in connection.last_error
    assert notices_queued(notifications.NEEDS_RECONNECT) == 1
    assert activated == []


# --- Refreshes restating the scopes -------------------------------------------------------------


@responses.activate
def test_a_refresh_restating_fewer_event_scopes_keeps_the_connection_active(
    make_connection, activated, django_capture_on_commit_callbacks
):
    connection = make_connection()
    responses.post(TOKEN_URL, body=token_body([*LISTS_ONLY, "events:write"]))

    with django_capture_on_commit_callbacks(execute=True):
        assert tokens.refresh_now(connection=connection, config=CONFIG) == "access-token-2"

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.last_error == ""
    assert events_missing_scopes(connection) == ["events:read", "metrics:read", "flows:read"]
    assert notices_queued(notifications.NEEDS_RECONNECT) == 0
    assert activated == []


@responses.activate
def test_a_refresh_restating_every_event_scope_activates_the_connection_again(
    make_connection, activated, django_capture_on_commit_callbacks
):
    """Another organization's reconnect widened the app's grant in the Klaviyo account."""
    connection = make_connection(scopes=LISTS_ONLY)
    responses.post(TOKEN_URL, body=token_body(DEFAULT_SCOPES))

    with django_capture_on_commit_callbacks(execute=True):
        tokens.refresh_now(connection=connection, config=CONFIG)

    connection.refresh_from_db()
    assert events_missing_scopes(connection) == []
    [sent] = activated
    assert sent.pk == connection.pk
    # The listener reads the scopes as saved, not those the refresher started with.
    assert events_missing_scopes(sent) == []


@responses.activate
def test_a_connection_deleted_before_the_commit_is_announced_to_nobody(
    make_connection, activated, django_capture_on_commit_callbacks
):
    connection = make_connection(scopes=LISTS_ONLY)
    responses.post(TOKEN_URL, body=token_body(DEFAULT_SCOPES))
    with django_capture_on_commit_callbacks() as callbacks:
        tokens.refresh_now(connection=connection, config=CONFIG)
    KlaviyoConnection.objects.filter(pk=connection.pk).delete()

    for callback in callbacks:
        callback()

    assert activated == []


@responses.activate
def test_a_refresh_of_a_complete_connection_activates_nothing(
    make_connection, activated, django_capture_on_commit_callbacks
):
    connection = make_connection()
    responses.post(TOKEN_URL, body=token_body(DEFAULT_SCOPES))

    with django_capture_on_commit_callbacks(execute=True):
        tokens.refresh_now(connection=connection, config=CONFIG)

    assert activated == []


@responses.activate
def test_a_refresh_not_restating_scopes_keeps_the_waiting_ones(
    make_connection, activated, django_capture_on_commit_callbacks
):
    connection = make_connection(scopes=LISTS_ONLY)
    responses.post(TOKEN_URL, body=token_body(None))

    with django_capture_on_commit_callbacks(execute=True):
        tokens.refresh_now(connection=connection, config=CONFIG)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert connection.scopes == LISTS_ONLY
    assert activated == []


@responses.activate
def test_a_refresh_granting_events_but_dropping_a_list_scope_activates_nothing(
    make_connection, activated, django_capture_on_commit_callbacks
):
    connection = make_connection(scopes=LISTS_ONLY)
    responses.post(
        TOKEN_URL, body=token_body([s for s in DEFAULT_SCOPES if s != "subscriptions:write"])
    )

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ConnectionUnusable):
        tokens.refresh_now(connection=connection, config=CONFIG)

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert "(missing: subscriptions:write)" in connection.last_error
    assert activated == []


# --- The Integrations page -----------------------------------------------------------------------


def row_of(page_text: str, connection: KlaviyoConnection) -> str:
    start = page_text.index(f'id="connection-{connection.pk}"')
    following = page_text.find('id="connection-', start + 1)
    return page_text[start : following if following != -1 else page_text.index("</tbody>")]


def test_an_active_connection_lacking_event_scopes_says_what_waits_and_offers_reconnect(
    login, owner, make_connection
):
    connection = make_connection(owner.organization, scopes=LISTS_ONLY)

    row = row_of(login(owner).get(SETTINGS_URL).text, connection)

    assert "Active" in row
    assert WAITING in row
    assert "the events that start your Klaviyo flows" in row
    assert "signups still reach this account's lists." in row
    assert f'<form method="post" action="{reconnect_url(connection)}">' in row
    assert "csrfmiddlewaretoken" in row
    assert f'aria-describedby="events-waiting-{connection.pk}"' in row
    assert f'id="events-waiting-{connection.pk}"' in row


def test_a_connection_granted_every_scope_shows_no_notice_and_no_reconnect(
    login, owner, make_connection
):
    connection = make_connection(owner.organization)

    client = login(owner)
    row = row_of(client.get(SETTINGS_URL).text, connection)
    detail = client.get(detail_url(connection)).text

    assert "Lifecycle events wait" not in row
    assert reconnect_url(connection) not in row
    assert "Lifecycle events wait" not in detail
    assert reconnect_url(connection) not in detail


@pytest.mark.parametrize("status", [ConnectionStatus.NEEDS_RECONNECT, ConnectionStatus.REVOKED])
def test_a_broken_connection_lacking_event_scopes_tells_only_its_own_problem(
    login, owner, make_connection, status
):
    connection = make_connection(owner.organization, status=status, scopes=LISTS_ONLY)

    row = row_of(login(owner).get(SETTINGS_URL).text, connection)

    assert "Lifecycle events wait" not in row
    assert row.count(f'action="{reconnect_url(connection)}"') == 1


def test_members_read_the_notice_without_a_reconnect_button(
    login, owner, make_member, make_connection
):
    connection = make_connection(owner.organization, scopes=LISTS_ONLY)
    member = make_member(role=Role.MEMBER, organization=owner.organization)

    row = row_of(login(member).get(SETTINGS_URL).text, connection)

    assert WAITING in row
    assert "Ask an owner or admin to reconnect it." in row
    assert reconnect_url(connection) not in row


def test_the_connection_page_and_the_reconnect_page_say_what_waits(login, owner, make_connection):
    connection = make_connection(owner.organization, scopes=LISTS_ONLY)
    client = login(owner)

    detail = client.get(detail_url(connection)).text
    reconnect = client.get(reconnect_url(connection)).text

    assert WAITING in detail
    assert f'action="{reconnect_url(connection)}"' in detail
    assert WAITING in reconnect
    assert "This connection works." not in reconnect


def test_the_reconnect_post_needs_the_csrf_token(login, owner, make_connection):
    connection = make_connection(owner.organization, scopes=LISTS_ONLY)
    client = login(owner, Client(enforce_csrf_checks=True))

    assert client.post(reconnect_url(connection)).status_code == 403


def test_another_organizations_connection_stays_out_of_reach(
    login, owner, make_member, make_connection
):
    connection = make_connection(owner.organization, scopes=LISTS_ONLY)
    outsider = login(make_member(role=Role.OWNER))

    assert WAITING not in outsider.get(SETTINGS_URL).text
    assert outsider.get(detail_url(connection)).status_code == 404
    assert outsider.get(reconnect_url(connection)).status_code == 404
    assert outsider.post(reconnect_url(connection)).status_code == 404


# --- Reconnecting through the sandbox ----------------------------------------------------------


def connection_made_before_events(organization) -> KlaviyoConnection:
    """The sandbox app installed with the list scopes only, as every connection made before
    Partyline sent lifecycle events was."""
    app = testing.install_app(scopes=LISTS_ONLY)
    return KlaviyoConnection.objects.create(
        organization=organization,
        klaviyo_account_id=app.account_id,
        public_api_key=app.account_id,
        klaviyo_organization_name="Acme Pets",
        scopes=app.scope.split(),
        access_token=app.access_token,
        refresh_token=app.refresh_token,
    )


@with_sandbox
def test_reconnecting_grants_the_event_scopes_and_activates_the_connection(
    login, owner, sandbox, activated, django_capture_on_commit_callbacks
):
    connection = connection_made_before_events(owner.organization)
    client = login(owner)

    authorize_url = client.post(reconnect_url(connection)).url
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(path_of(consent(client, authorize_url)))
    page = client.get(response.url).text

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.ACTIVE
    assert set(connection.scopes) == set(DEFAULT_SCOPES)
    assert events_missing_scopes(connection) == []
    [sent] = activated
    assert sent.pk == connection.pk
    assert events_missing_scopes(sent) == []
    assert "Reconnected Acme Pets." in page
    assert "Lifecycle events wait" not in page
    # It never broke: nobody is told it recovered.
    assert notices_queued(notifications.RECONNECTED) == 0


@with_sandbox
def test_choosing_another_account_says_the_waiting_one_still_waits(login, owner, sandbox):
    connection = connection_made_before_events(owner.organization)
    client = login(owner)

    authorize_url = client.post(reconnect_url(connection)).url
    response = client.get(path_of(consent(client, authorize_url, account=testing.BARK)))
    page = client.get(response.url).text

    connection.refresh_from_db()
    assert events_missing_scopes(connection) == list(EVENT_SCOPES)
    assert "Acme Pets is still without the permissions its lifecycle events wait for" in page
