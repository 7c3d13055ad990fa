"""The guards that keep the pipeline single-minded, each with a test that fails without it:
the party lease, the batch claim's state filter, edits that save only what changed, and a
list created at most once per party whatever interleaves."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from klaviyo_sandbox import testing
from klaviyo_sandbox.models import KlaviyoList
from klaviyo_sandbox.routers import DATABASE as SANDBOX_DB
from parties import services, sync
from parties.models import Attendee, ListState, Party, SyncState
from parties.sync.send import claim_batch
from tests.support.parties import PARTY

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


@pytest.fixture(autouse=True)
def no_window(settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0


def test_a_sync_finding_the_party_lease_held_sends_nothing_and_comes_back(
    sandbox_party, make_attendee
):
    make_attendee(sandbox_party, email="one@example.com")
    future = timezone.now() + timedelta(minutes=1)
    Party.objects.filter(pk=sandbox_party.pk).update(
        sync_lease_holder="another-worker", sync_lease_expires_at=future
    )
    calls = len(testing.calls())

    report = sync.party_sync(party_id=sandbox_party.pk)

    assert report.outcome == "busy"
    assert report.next_run_at is not None
    assert len(testing.calls()) == calls
    assert Attendee.objects.get().sync_state == SyncState.PENDING


def test_an_expired_party_lease_is_taken_over(sandbox_party, make_attendee):
    make_attendee(sandbox_party, email="one@example.com")
    past = timezone.now() - timedelta(seconds=1)
    Party.objects.filter(pk=sandbox_party.pk).update(
        sync_lease_holder="dead-worker", sync_lease_expires_at=past
    )

    report = sync.party_sync(party_id=sandbox_party.pk)

    assert report.outcome == "done"
    assert Attendee.objects.get().sync_state == SyncState.SYNCED


def test_the_batch_claim_takes_pending_attendees_only(make_party, make_attendee):
    party = make_party()
    waiting = make_attendee(party, email="waiting@example.com")
    for state in [SyncState.SYNCING, SyncState.SENT, SyncState.SYNCED, SyncState.FAILED]:
        make_attendee(party, email=f"{state}@example.com", sync_state=state)

    batch, _claimed_at = claim_batch(party)

    assert [attendee.pk for attendee in batch] == [waiting.pk]
    assert Attendee.objects.filter(sync_state=SyncState.SENT).count() == 1


def test_an_edit_saves_only_the_fields_it_changes(make_party):
    party = make_party(list_state=ListState.PENDING, klaviyo_list_id="", klaviyo_list_name="")
    stale = Party.objects.get(pk=party.pk)  # the organizer's form loaded before the worker ran
    Party.objects.filter(pk=party.pk).update(
        klaviyo_list_id="LIST42",
        klaviyo_list_name=party.name,
        list_state=ListState.READY,
        sync_lease_holder="worker",
        sync_lease_expires_at=timezone.now() + timedelta(minutes=5),
    )

    services.party_update(party=stale, data={"city": "Cambridge"})

    party.refresh_from_db()
    assert party.city == "Cambridge"
    assert (party.klaviyo_list_id, party.list_state) == ("LIST42", ListState.READY)
    assert party.sync_lease_holder == "worker"


def test_a_create_whose_answer_was_lost_adopts_the_list_instead_of_making_another(
    owner, sandbox, sandbox_connection
):
    party = services.party_create(
        membership=owner, connection=sandbox_connection(owner.organization), data=PARTY
    )
    # The first attempt reached Klaviyo, but its answer never came back (a read timeout).
    made = testing.create_list(name=PARTY["name"])
    Party.objects.filter(pk=party.pk).update(list_create_started_at=timezone.now())

    sync.party_sync(party_id=party.pk)

    party.refresh_from_db()
    assert party.klaviyo_list_id == made.id
    assert testing.call_count("POST", "/api/lists") == 0


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)
@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_two_workers_syncing_a_new_party_at_once_create_one_list(
    owner, sandbox, sandbox_connection
):
    party = services.party_create(
        membership=owner, connection=sandbox_connection(owner.organization), data=PARTY
    )
    testing.set_latency(0.3)  # each Klaviyo call is slow, so the two runs overlap
    start = threading.Barrier(2)

    def worker() -> str:
        try:
            start.wait()
            return sync.party_sync(party_id=party.pk).outcome
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(lambda _n: worker(), range(2)))

    assert outcomes == ["busy", "done"]
    assert testing.call_count("POST", "/api/lists") == 1
    assert KlaviyoList.objects.using(SANDBOX_DB).filter(name=PARTY["name"]).count() == 1


def test_a_run_that_finds_the_lease_busy_still_leaves_a_run_planned(sandbox_party, make_attendee):
    """The run whose plan it was meets another worker's lease and ends: the spent plan must
    not stop it (or the lease holder's follow-up) from planning the next run."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from parties import tasks

    make_attendee(sandbox_party, email="late@example.com")
    spent = timezone.now() - timedelta(seconds=1)
    Party.objects.filter(pk=sandbox_party.pk).update(
        next_sync_at=spent,
        sync_lease_holder="other-worker",
        sync_lease_expires_at=timezone.now() + timedelta(seconds=30),
    )

    tasks.sync_party.call(party_id=sandbox_party.pk)

    planned = DBTaskResult.objects.filter(
        task_path=tasks.sync_party.module_path, status=TaskResultStatus.READY
    )
    assert planned.count() == 1
    assert Party.objects.get(pk=sandbox_party.pk).next_sync_at > spent


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="real concurrent writers need PostgreSQL"
)
@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_one_address_signing_up_from_six_requests_at_once_keeps_one_signup(make_party):
    """The unique (party, email) constraint settles the race of the fast INSERT; every request
    but one merges into the row the winner wrote, and nobody sees an error."""
    party = make_party()
    start = threading.Barrier(6)

    def signup(number: int) -> bool:
        try:
            start.wait()
            _, created = services.attendee_register(
                party=party,
                data={
                    "email": "Twin@Example.com",
                    "first_name": "Twin",
                    "answers": {"pet_name": f"Pet {number}"},
                },
            )
            return created
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=6) as pool:
        created = list(pool.map(signup, range(6)))

    assert created.count(True) == 1
    attendee = Attendee.objects.get(party=party)
    assert attendee.email == "twin@example.com"
    assert attendee.answers["pet_name"].startswith("Pet ")
    assert attendee.sync_state == SyncState.PENDING
