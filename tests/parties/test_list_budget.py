"""Klaviyo allows 150 new lists a day per account: a party created once today's are used
says so at once, and its list is asked for only when the next day's budget opens."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import pytest
import responses
from django.conf import settings
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from integrations.klaviyo.ratelimits import DAY
from integrations.models import RateWindow
from parties import services, tasks
from parties.models import ListState, Party
from tests.support.parties import PARTY, PARTY_FORM

pytestmark = pytest.mark.django_db

LISTS_URL = f"{settings.KLAVIYO_BASE_URL}/api/lists/"
MESSAGE = (
    "Klaviyo allows 150 new lists a day for this account; today's are used, so this party's "
    "list will be created tomorrow (after 00:00 UTC)"
)


def spend_todays_lists(account_id: str) -> None:
    """Today's 150 new lists are used in the account, as the budget counted them."""
    RateWindow.objects.create(
        account_id=account_id,
        operation="create_list",
        seconds=DAY,
        start=math.floor(time.time() / DAY) * DAY,
        count=150,
    )


def next_midnight() -> datetime:
    return datetime.fromtimestamp((math.floor(time.time() / DAY) + 1) * DAY, tz=UTC)


def midnight_passes() -> None:
    """The day's window closes (the counts become yesterday's) and planned runs are due."""
    RateWindow.objects.update(start=F("start") - DAY)
    DBTaskResult.objects.update(run_after=F("run_after") - timedelta(days=1))


def planned_sync() -> DBTaskResult:
    return DBTaskResult.objects.get(
        task_path=tasks.sync_party.module_path, status=TaskResultStatus.READY
    )


@pytest.fixture
def connection(owner, make_connection):
    return make_connection(owner.organization)


def test_a_party_created_once_todays_lists_are_used_says_its_list_comes_tomorrow(owner, connection):
    spend_todays_lists(connection.klaviyo_account_id)

    with responses.RequestsMock():  # the organizer's request makes no call to Klaviyo
        party = services.party_create(membership=owner, connection=connection, data=PARTY)

    party.refresh_from_db()
    assert party.list_state == ListState.PENDING
    assert party.list_error == MESSAGE
    assert party.next_sync_at == next_midnight()
    assert planned_sync().run_after == next_midnight()


def test_another_accounts_used_lists_do_not_hold_a_party_back(owner, connection):
    spend_todays_lists("SomeOtherAccount")

    party = services.party_create(membership=owner, connection=connection, data=PARTY)

    assert party.list_error == ""
    assert planned_sync().run_after <= timezone.now()


@responses.activate
def test_the_sync_does_not_ask_for_a_list_until_the_next_days_budget_opens(owner, connection):
    party = services.party_create(membership=owner, connection=connection, data=PARTY)
    spend_todays_lists(connection.klaviyo_account_id)  # other parties took the last ones
    DBTaskResult.objects.all().delete()

    tasks.sync_party.call(party_id=party.pk)

    assert len(responses.calls) == 0  # create_list was never called
    party.refresh_from_db()
    assert party.list_state == ListState.PENDING
    assert party.list_error == MESSAGE
    assert party.list_create_started_at is None
    assert planned_sync().run_after == next_midnight()


@responses.activate
def test_the_list_is_created_once_the_next_days_budget_opens(owner, connection):
    spend_todays_lists(connection.klaviyo_account_id)
    party = services.party_create(membership=owner, connection=connection, data=PARTY)
    responses.post(
        LISTS_URL,
        status=201,
        json={
            "data": {
                "type": "list",
                "id": "L1",
                "attributes": {"name": PARTY["name"], "opt_in_process": "single_opt_in"},
            }
        },
    )
    midnight_passes()

    tasks.sync_party.call(party_id=party.pk)

    assert len(responses.calls) == 1
    party.refresh_from_db()
    assert (party.list_state, party.klaviyo_list_id, party.list_error) == (
        ListState.READY,
        "L1",
        "",
    )


def test_the_new_party_page_says_so_before_and_after_creating(login, owner, connection):
    spend_todays_lists(connection.klaviyo_account_id)
    client = login(owner)

    form = client.get(reverse("parties:party_create"))
    created = client.post(reverse("parties:party_create"), PARTY_FORM, follow=True)

    assert escape(MESSAGE) in form.text
    party = Party.objects.get()
    assert [str(m) for m in created.context["messages"]] == [
        f"Created {party.name}. {MESSAGE}. You can share the signup link already: signups "
        "are kept and sent once the list exists."
    ]
    assert escape(MESSAGE) in created.text  # the party page says why its list is not there


def test_with_several_accounts_the_page_names_the_one_whose_lists_are_used(
    login, owner, connection, make_connection
):
    make_connection(owner.organization)
    spend_todays_lists(connection.klaviyo_account_id)

    page = login(owner).get(reverse("parties:party_create"))

    assert escape(f"{connection.display_name}: {MESSAGE}") in page.text
    assert page.text.count(escape(MESSAGE)) == 1
