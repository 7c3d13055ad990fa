"""How the sync treats Klaviyo's answers, with Klaviyo mocked by `responses`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from parties import services, sync, tasks
from parties.models import Attendee, ListState, Party, SyncState
from tests.support.signups import signup

API = "https://klaviyo.test/api"


@pytest.fixture(autouse=True)
def klaviyo_at_test_host(settings):
    settings.KLAVIYO_BASE_URL = "https://klaviyo.test"
    settings.KLAVIYO_MAX_RETRY_WAIT = 0
    settings.KLAVIYO_MAX_RETRIES = 0
    settings.PARTY_SYNC_WINDOW_SECONDS = 0


@pytest.fixture
def party(owner, make_connection) -> Party:
    return Party.objects.create(
        organization=owner.organization,
        connection=make_connection(owner.organization),
        name="Pawty",
        starts_at=timezone.now() + timedelta(days=3),
        address="1 Main St",
        city="Boston",
        state="MA",
        klaviyo_list_id="LIST01",
        klaviyo_list_name="Pawty",
        list_state=ListState.READY,
    )


def invalid(pointer: str, detail: str) -> dict:
    return {
        "errors": [
            {
                "id": "x",
                "status": 400,
                "code": "invalid",
                "title": "Invalid input.",
                "detail": detail,
                "source": {"pointer": pointer},
            }
        ]
    }


@pytest.mark.django_db
@responses.activate
def test_one_rejected_profile_fails_only_that_attendee(party):
    for number in range(3):
        signup(party, f"a{number}@example.com")
    responses.post(
        f"{API}/profile-bulk-import-jobs/",
        status=400,
        json=invalid("/data/attributes/profiles/data/1/attributes/email", "Invalid email address"),
    )
    responses.post(
        f"{API}/profile-bulk-import-jobs/",
        status=202,
        json={"data": {"type": "profile-bulk-import-job", "id": "JOB1", "attributes": {}}},
    )
    responses.post(f"{API}/profile-subscription-bulk-create-jobs/", status=202)

    report = sync.party_sync(party_id=party.pk)

    assert (report.sent, report.failed) == (2, 1)
    failed = Attendee.objects.get(sync_state=SyncState.FAILED)
    assert failed.email == "a1@example.com"
    assert failed.state_reason == "Invalid email address"
    retried = json.loads(responses.calls[1].request.body)["data"]["attributes"]["profiles"]
    assert [p["attributes"]["email"] for p in retried["data"]] == [
        "a0@example.com",
        "a2@example.com",
    ]
    subscribed = json.loads(responses.calls[2].request.body)["data"]["attributes"]["profiles"]
    assert len(subscribed["data"]) == 2


@pytest.mark.django_db
@responses.activate
def test_rejection_without_a_profile_pointer_fails_the_batch_with_the_reason(party):
    for number in range(2):
        signup(party, f"a{number}@example.com")
    responses.post(
        f"{API}/profile-bulk-import-jobs/", status=400, json=invalid("/data", "Malformed body")
    )

    sync.party_sync(party_id=party.pk)

    assert set(Attendee.objects.values_list("sync_state", "state_reason")) == {
        (SyncState.FAILED, "Malformed body")
    }


@pytest.mark.django_db
@responses.activate
def test_list_cap_keeps_the_party_with_a_pending_list_and_retries_later(owner, make_connection):
    responses.post(
        f"{API}/lists/",
        status=429,
        headers={"Retry-After": "3600"},
        json={"errors": [{"status": 429, "code": "throttled", "detail": "daily cap"}]},
    )
    data = {
        "name": "Capped",
        "starts_at": timezone.now() + timedelta(days=1),
        "address": "1 Main St",
        "city": "Boston",
        "state": "MA",
    }

    party = services.party_create(
        membership=owner, connection=make_connection(owner.organization), data=data
    )
    assert len(responses.calls) == 0  # the organizer's request never waits on Klaviyo
    DBTaskResult.objects.all().delete()

    tasks.sync_party.call(party_id=party.pk)

    party.refresh_from_db()
    assert party.list_state == ListState.PENDING
    assert "150 new lists a day" in party.list_error
    assert "about 60 minutes" in party.list_error
    retry = DBTaskResult.objects.get(
        task_path=tasks.sync_party.module_path, status=TaskResultStatus.READY
    )
    assert retry.run_after >= timezone.now() + timedelta(minutes=59)


@pytest.mark.django_db
@responses.activate
def test_klaviyo_refusing_the_list_marks_it_failed_with_the_reason(owner, make_connection):
    responses.post(
        f"{API}/lists/", status=400, json=invalid("/data/attributes/name", "Name is too long")
    )
    data = {
        "name": "Bad",
        "starts_at": timezone.now(),
        "address": "1 Main St",
        "city": "Boston",
        "state": "MA",
    }

    party = services.party_create(
        membership=owner, connection=make_connection(owner.organization), data=data
    )
    sync.party_sync(party_id=party.pk)

    party.refresh_from_db()
    assert party.list_state == ListState.FAILED
    assert party.list_error == "Name is too long"


@pytest.mark.django_db
def test_registering_a_signup_makes_no_http_call(party):
    """The request never waits for Klaviyo: registering makes no HTTP call at all."""
    with responses.RequestsMock() as mock:  # any HTTP call would fail the test
        attendee, created = services.attendee_register(
            party=party, data={"email": "x@example.com", "first_name": "X"}, source="test"
        )
        assert len(mock.calls) == 0
    assert created
    assert attendee.sync_state == SyncState.PENDING
