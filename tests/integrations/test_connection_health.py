"""Connection health for operators (the admin) and the API revision shown to everyone."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations import selectors
from integrations.models import (
    ConnectionEvent,
    ConnectionStatus,
    EventKind,
    KlaviyoConnection,
)
from parties.models import Attendee, Party, SyncState
from tests.support.refresh_budget import MINUTE_START, count_refreshes, refresh_budget_on

CHANGELIST = "admin:integrations_klaviyoconnection_changelist"


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


def add_event(connection: KlaviyoConnection, kind: str, *, ago: timedelta) -> None:
    event = ConnectionEvent.objects.create(
        organization=connection.organization, connection=connection, kind=kind
    )
    # created_at is auto_now_add: move it back in time afterwards.
    ConnectionEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - ago)


class Clock:
    """The refresh budget's clock, half a minute into one of Klaviyo's minutes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.at = MINUTE_START + 30
        refresh_budget_on(monkeypatch, lambda: self.at)


def add_party(connection: KlaviyoConnection, *states: str) -> Party:
    party = Party.objects.create(
        organization=connection.organization,
        connection=connection,
        name="Howl-o-ween",
        starts_at=timezone.now() + timedelta(days=7),
        address="1 Bark Street",
        city="Boston",
        state="MA",
    )
    Attendee.objects.bulk_create(
        Attendee(
            party=party,
            email=f"guest{number}@example.com",
            first_name="Guest",
            consented_at=timezone.now(),
            marketing_consent=True,
            sync_state=state,
        )
        for number, state in enumerate(states)
    )
    return party


def health_of(connection: KlaviyoConnection) -> KlaviyoConnection:
    return selectors.connections_with_health(KlaviyoConnection.objects.filter(pk=connection.pk))[0]


@pytest.mark.django_db
def test_failures_of_the_last_24_hours_are_counted(make_connection):
    connection = make_connection()
    add_event(connection, EventKind.REFRESH_FAILED, ago=timedelta(hours=1))
    add_event(connection, EventKind.NEEDS_RECONNECT, ago=timedelta(hours=23))
    add_event(connection, EventKind.REVOKE_FAILED, ago=timedelta(minutes=5))
    add_event(connection, EventKind.REFRESH_FAILED, ago=timedelta(hours=25))
    add_event(connection, EventKind.REFRESHED, ago=timedelta(hours=1))

    assert health_of(connection).failures_24h == 3


@pytest.mark.django_db
def test_refresh_budget_counts_the_refreshes_of_this_minute(make_connection, monkeypatch):
    connection, other = make_connection(), make_connection()
    clock = Clock(monkeypatch)
    count_refreshes(connection, 4)
    clock.at += 60  # the next minute: those four were the last minute's

    assert health_of(connection).refresh_budget_used == 0
    count_refreshes(connection, 3)
    count_refreshes(other, 2)
    assert health_of(connection).refresh_budget_used == 3
    assert health_of(other).refresh_budget_used == 2


@pytest.mark.django_db
def test_work_waiting_counts_attendees_pending_sending_or_sent(make_connection):
    connection = make_connection()
    other = make_connection()
    add_party(connection, SyncState.PENDING, SyncState.SYNCING, SyncState.SENT, SyncState.SYNCED)
    add_party(connection, SyncState.PENDING, SyncState.FAILED, SyncState.SUPPRESSED)
    add_party(other, SyncState.PENDING)

    assert health_of(connection).work_waiting == 4
    assert health_of(other).work_waiting == 1


@pytest.mark.django_db
def test_changelist_shows_health_columns_and_never_a_token(
    staff_client, make_connection, monkeypatch
):
    connection = make_connection(
        access_token="secret-access-abc",
        refresh_token="secret-refresh-abc",
        last_successful_call_at=timezone.now(),
    )
    add_event(connection, EventKind.REFRESH_FAILED, ago=timedelta(hours=2))
    Clock(monkeypatch)
    count_refreshes(connection, 1)
    add_party(connection, SyncState.PENDING, SyncState.PENDING)

    page = staff_client.get(reverse(CHANGELIST))

    assert page.status_code == 200
    for header in ["Failures (24 h)", "Refresh budget (this minute)", "Waiting to reach Klaviyo"]:
        assert header in page.text
    assert '<td class="field-failures_24h">1</td>' in page.text
    assert '<td class="field-refresh_budget">1 of 10</td>' in page.text
    assert '<td class="field-work_waiting">2</td>' in page.text
    assert "secret-access-abc" not in page.text
    assert "secret-refresh-abc" not in page.text


@pytest.mark.django_db
def test_changelist_of_20_connections_costs_as_many_queries_as_one(
    staff_client, make_connection, monkeypatch
):
    Clock(monkeypatch)

    def changelist_queries() -> int:
        with CaptureQueriesContext(db_connection) as queries:
            assert staff_client.get(reverse(CHANGELIST)).status_code == 200
        return len(queries)

    def add_busy_connection(number: int) -> None:
        connection = make_connection(account_id=f"SHARED{number % 3}")
        add_event(connection, EventKind.REFRESH_FAILED, ago=timedelta(hours=1))
        count_refreshes(connection, 1)
        add_party(connection, SyncState.PENDING, SyncState.SENT)

    add_busy_connection(0)
    one = changelist_queries()
    for number in range(1, 20):
        add_busy_connection(number)
    twenty = changelist_queries()

    assert KlaviyoConnection.objects.count() == 20
    assert twenty == one


@pytest.mark.django_db
def test_same_klaviyo_account_in_two_organizations_is_flagged(
    staff_client, make_connection, make_org
):
    first = make_connection(make_org("Acme East"), account_id="ACME")
    second = make_connection(make_org("Acme West"), account_id="ACME")
    alone = make_connection(make_org("Bark & Co"), account_id="BARK")
    # A disconnected connection shares nothing, and flags nobody.
    make_connection(make_org("Old Bark"), account_id="BARK", status=ConnectionStatus.REVOKED)

    assert health_of(first).shared_with == 1
    assert health_of(second).shared_with == 1
    assert health_of(alone).shared_with == 0

    page = staff_client.get(reverse(CHANGELIST))
    assert "Klaviyo account shared with another organization" in page.text
    assert page.text.count("Shared with 1 other organization") == 2

    shared = staff_client.get(reverse(CHANGELIST), {"shared_account": "yes"})
    assert set(shared.context["cl"].result_list) == {first, second}
    unshared = staff_client.get(reverse(CHANGELIST), {"shared_account": "no"})
    assert alone in unshared.context["cl"].result_list
    assert first not in unshared.context["cl"].result_list

    detail = staff_client.get(
        reverse("admin:integrations_klaviyoconnection_change", args=[first.pk])
    )
    assert "Acme West" in detail.text


def months_ago(months: int) -> str:
    today = timezone.localdate()
    year, month = divmod(today.month - 1 - months, 12)
    return date(today.year + year, month + 1, 1).isoformat()


@pytest.mark.django_db
def test_admin_shows_the_api_revision_and_its_age(staff_client, make_connection, settings):
    connection = make_connection()
    settings.KLAVIYO_REVISION = months_ago(3)

    changelist = staff_client.get(reverse(CHANGELIST))
    detail = staff_client.get(
        reverse("admin:integrations_klaviyoconnection_change", args=[connection.pk])
    )

    for page in (changelist, detail):
        assert f"Klaviyo API revision {months_ago(3)} (3 months old)" in page.text
        assert "should be updated" not in page.text


@pytest.mark.django_db
def test_admin_says_an_old_revision_should_be_updated(staff_client, settings):
    settings.KLAVIYO_REVISION = months_ago(20)

    page = staff_client.get(reverse(CHANGELIST))

    assert "(20 months old)" in page.text
    assert "should be updated" in page.text


@pytest.mark.django_db
def test_integrations_page_footer_shows_the_revision(owner, login, settings):
    settings.KLAVIYO_REVISION = months_ago(5)

    page = login(owner).get(reverse("integrations:settings"))

    assert f"Klaviyo API revision <code>{months_ago(5)}</code> (5 months old)" in page.text
    assert "should be updated" not in page.text


@pytest.mark.django_db
def test_integrations_page_footer_says_an_old_revision_should_be_updated(owner, login, settings):
    settings.KLAVIYO_REVISION = months_ago(19)

    page = login(owner).get(reverse("integrations:settings"))

    assert "(19 months old)" in page.text
    assert "should be updated" in page.text
