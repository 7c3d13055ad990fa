"""The attendee pipeline against the sandbox: batched, coalesced, and nothing ever lost."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from integrations.models import ConnectionStatus, KlaviyoConnection
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import Installation
from parties import services, tasks
from parties.models import Attendee, ListState, Party, SyncState
from tests.support.connect_flow import connect_through_sandbox
from tests.support.parties import PARTY
from tests.support.signups import signup
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


@pytest.fixture(autouse=True)
def sync_without_window(settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    # Tests advance the sandbox clock instead of sleeping through Retry-After.
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


@pytest.fixture
def party(sandbox_party) -> Party:
    return sandbox_party


def states(party: Party) -> dict[str, int]:
    return {
        state: party.attendees.filter(sync_state=state).count()
        for state in SyncState.values
        if party.attendees.filter(sync_state=state).exists()
    }


def assert_no_failed_tasks() -> None:
    failed = DBTaskResult.objects.filter(status=TaskResultStatus.FAILED)
    assert not failed.exists(), [(t.task_path, t.traceback) for t in failed]


def test_party_creates_a_klaviyo_list_of_the_same_name(party):
    assert party.list_state == ListState.READY
    lists = testing.call_count("POST", "/api/lists", status=201)
    assert lists == 1
    assert party.klaviyo_list_id
    assert party.klaviyo_list_name == "Howl-o-ween"


def test_signup_to_synced_end_to_end(party):
    attendee = signup(party, pet_name="Rex", pet_type="dog")

    run_queued_tasks()

    assert_no_failed_tasks()
    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.SYNCED
    assert attendee.synced_at is not None
    [member] = testing.list_members(party.klaviyo_list_id)
    assert member["email"] == "sarah@example.com"
    assert member["properties"] == {"pet_name": "Rex", "pet_type": "dog"}
    assert member["first_name"] == "Sarah"
    assert member["consent"] == "SUBSCRIBED"


def test_signups_coalesce_into_one_scheduled_sync(party):
    for number in range(5):
        signup(party, f"guest{number}@example.com")

    assert DBTaskResult.objects.filter(task_path=tasks.sync_party.module_path).count() == 1


def test_a_batch_is_two_write_calls(party):
    for number in range(250):
        signup(party, f"guest{number}@example.com")

    run_queued_tasks()

    assert states(party) == {SyncState.SYNCED: 250}
    assert testing.call_count("POST", "/api/profile-bulk-import-jobs") == 1
    assert testing.call_count("POST", "/api/profile-subscription-bulk-create-jobs") == 1
    assert len(testing.list_members(party.klaviyo_list_id)) == 250


def test_same_email_updates_the_attendee_and_never_subscribes_twice(party):
    signup(party, "guest1@example.com", pet_name="Rex")
    run_queued_tasks()

    again = signup(party, "GUEST1@example.com", pet_name="Rexy")
    run_queued_tasks()

    assert Attendee.objects.filter(party=party).count() == 1
    again.refresh_from_db()
    assert again.sync_state == SyncState.SYNCED
    assert testing.call_count("POST", "/api/profile-subscription-bulk-create-jobs") == 1
    assert testing.call_count("POST", "/api/profile-bulk-import-jobs") == 2
    [member] = testing.list_members(party.klaviyo_list_id)
    assert member["properties"]["pet_name"] == "Rexy"


def test_outage_during_signups_keeps_everyone_pending_then_syncs_all(party):
    testing.start_outage(120)
    for number in range(20):
        signup(party, f"guest{number}@example.com")

    run_queued_tasks()

    assert states(party) == {SyncState.PENDING: 20}
    assert_no_failed_tasks()
    retry = DBTaskResult.objects.get(
        task_path=tasks.sync_party.module_path, status=TaskResultStatus.READY
    )
    assert retry.run_after > timezone.now()  # backed off, not hammering

    testing.advance(121)
    run_queued_tasks(include_deferred=True)

    assert states(party) == {SyncState.SYNCED: 20}
    assert len(testing.list_members(party.klaviyo_list_id)) == 20


def test_throttle_storm_honors_retry_after_and_loses_nothing(party):
    testing.start_throttle_storm(30)
    for number in range(10):
        signup(party, f"guest{number}@example.com")

    run_queued_tasks()

    assert states(party) == {SyncState.PENDING: 10}
    retry = DBTaskResult.objects.get(
        task_path=tasks.sync_party.module_path, status=TaskResultStatus.READY
    )
    waited = (retry.run_after - timezone.now()).total_seconds()
    assert 0 < waited <= 31  # scheduled for when Klaviyo said to come back

    testing.advance(31)
    run_queued_tasks(include_deferred=True)

    assert states(party) == {SyncState.SYNCED: 10}


def test_uninstalled_app_pauses_the_party_and_reconnecting_resumes_it(
    login, owner, party, django_capture_on_commit_callbacks
):
    testing.uninstall(Installation.objects.using("sandbox").get(uninstalled_at__isnull=True))
    KlaviyoConnection.objects.update(access_token_expires_at=timezone.now())
    for number in range(3):
        signup(party, f"guest{number}@example.com")

    run_queued_tasks()

    party.refresh_from_db()
    assert party.connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert states(party) == {SyncState.PENDING: 3}
    assert "needs reconnecting" in party.sync_paused_reason

    with django_capture_on_commit_callbacks(execute=True):  # the reconnect's commit
        connect_through_sandbox(login(owner))
    run_queued_tasks()

    party.refresh_from_db()
    assert party.connection.status == ConnectionStatus.ACTIVE
    assert states(party) == {SyncState.SYNCED: 3}
    assert party.sync_paused_reason == ""


def test_party_saved_with_pending_list_when_klaviyo_is_down(owner, sandbox, sandbox_connection):
    connection = sandbox_connection(owner.organization)
    testing.start_outage(60)

    party = services.party_create(membership=owner, connection=connection, data=PARTY)
    run_queued_tasks()

    party.refresh_from_db()
    assert party.list_state == ListState.PENDING
    assert party.list_error
    signup(party)  # signups are accepted meanwhile

    testing.advance(61)
    run_queued_tasks(include_deferred=True)

    party.refresh_from_db()
    assert party.list_state == ListState.READY
    assert states(party) == {SyncState.SYNCED: 1}


def test_renaming_a_party_renames_its_list_in_the_background(party):
    update = services.party_update(party=party, data={**PARTY, "name": "Howl-o-ween 2"})

    assert update.renaming
    assert testing.call_count("PATCH", "/api/lists") == 0  # not in the organizer's request
    run_queued_tasks()
    assert testing.call_count("PATCH", "/api/lists") == 1
    party.refresh_from_db()
    assert party.klaviyo_list_name == "Howl-o-ween 2"


def test_sweep_puts_back_claims_of_a_dead_worker_and_syncs_them(party):
    for number in range(3):
        signup(party, f"guest{number}@example.com")
    Attendee.objects.update(
        sync_state=SyncState.SYNCING, claimed_at=timezone.now() - timedelta(hours=1)
    )
    DBTaskResult.objects.all().delete()  # the task died with the worker
    Party.objects.update(next_sync_at=None)  # it had started, so nothing was planned

    report = tasks.sweep_now()
    run_queued_tasks()

    assert report["reclaimed"] == 3
    assert states(party) == {SyncState.SYNCED: 3}


def test_sweep_re_enqueues_pending_signups_whose_task_was_lost(party):
    signup(party)
    DBTaskResult.objects.all().delete()  # lost: its planned time passes and nothing runs
    long_ago = timezone.now() - timedelta(minutes=5)
    Attendee.objects.update(updated_at=long_ago)
    Party.objects.update(next_sync_at=long_ago)

    tasks.sweep_now()
    run_queued_tasks()

    assert states(party) == {SyncState.SYNCED: 1}


def test_sweep_leaves_a_planned_retry_alone(party):
    testing.start_outage(600)
    signup(party)
    run_queued_tasks()  # fails, backs off
    Attendee.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    syncs = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=tasks.sync_party.module_path
    )
    planned = syncs.count()

    report = tasks.sweep_now()

    assert report["parties_enqueued"] == 0
    assert syncs.count() == planned


def test_signups_during_a_backoff_do_not_cut_it_short(party):
    testing.start_outage(600)
    signup(party, "guest1@example.com")
    run_queued_tasks()  # fails: a retry is planned after a backoff (the sync's, the events')
    ready = DBTaskResult.objects.filter(status=TaskResultStatus.READY)
    retries = list(ready.order_by("task_path"))
    assert [task.task_path for task in retries] == [
        tasks.send_events.module_path,
        tasks.sync_party.module_path,
    ]

    for number in range(2, 12):
        signup(party, f"guest{number}@example.com")

    assert list(ready.order_by("task_path")) == retries


def test_periodic_sweep_keeps_a_single_chain(party):
    assert tasks.schedule_sweep() is True
    assert tasks.schedule_sweep() is False

    run_queued_tasks()

    waiting = DBTaskResult.objects.filter(
        task_path=tasks.sweep.module_path, status=TaskResultStatus.READY
    )
    assert waiting.count() == 1


def test_closed_party_refuses_signups(party):
    services.party_set_signups_open(party=party, is_open=False)

    with pytest.raises(services.PartyError, match="closed"):
        signup(party)
    assert not Attendee.objects.exists()


def test_reconciliation_shows_who_is_missing_on_either_side(party, owner):
    for number in range(3):
        signup(party, f"guest{number}@example.com")
    run_queued_tasks()
    Attendee.objects.filter(email="guest2@example.com").delete()
    Attendee.objects.update(klaviyo_profile_id="")
    signup(party, "guest9@example.com")  # not synced yet
    DBTaskResult.objects.all().delete()

    reads = testing.call_count("GET", f"/api/lists/{party.klaviyo_list_id}/profiles")

    reconciliation = services.reconciliation_request(party=party, user=owner.user)
    assert testing.call_count("GET", f"/api/lists/{party.klaviyo_list_id}/profiles") == reads
    run_queued_tasks()

    reconciliation.refresh_from_db()
    assert reconciliation.status == "done"
    assert reconciliation.matched == 2
    assert reconciliation.missing_in_klaviyo == 1
    assert reconciliation.only_in_klaviyo == 1
    assert reconciliation.differences == [
        {"email": "guest9@example.com", "difference": "missing_in_klaviyo", "state": "Waiting"},
        {"email": "guest2@example.com", "difference": "only_in_klaviyo", "state": ""},
    ]
    assert Attendee.objects.exclude(klaviyo_profile_id="").count() == 2


def test_deleting_a_party_can_delete_its_list(party):
    list_id = party.klaviyo_list_id

    queued = services.party_delete(party=party, delete_klaviyo_list=True)

    assert queued
    assert not Party.objects.exists()
    assert testing.call_count("DELETE", f"/api/lists/{list_id}") == 0  # not in the request
    run_queued_tasks()
    assert testing.call_count("DELETE", f"/api/lists/{list_id}") == 1


def test_failed_attendee_retry_sends_it_again(party):
    attendee = signup(party)
    run_queued_tasks()
    Attendee.objects.update(sync_state=SyncState.FAILED, state_reason="Invalid email")

    services.attendee_retry(attendee=attendee)
    run_queued_tasks()

    attendee.refresh_from_db()
    assert attendee.sync_state == SyncState.SYNCED


def test_every_body_the_client_sends_matches_the_spec(party, sandbox):
    """The contract half the sandbox cannot check by itself: what the product sends."""
    from klaviyo_sandbox import spec

    signup(party)
    run_queued_tasks()
    services.party_update(party=party, data={**PARTY, "name": "Renamed"})
    run_queued_tasks()

    checked = set()
    for call in sandbox.calls:
        request = call.request
        operation = spec.find_operation(request.method, request.url)
        if operation is None or not request.body:  # OAuth endpoints: form-encoded, no schema
            continue
        assert spec.validate_request_body(operation.operation_id, json.loads(request.body)) == []
        checked.add(operation.operation_id)
    assert {
        "create_list",
        "update_list",
        "bulk_import_profiles",
        "bulk_subscribe_profiles",
    } <= checked, checked
