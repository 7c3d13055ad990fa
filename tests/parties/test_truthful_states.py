"""Attendee states are what Klaviyo shows, not what a 202 promised; reading them back is cheap;
a rush goes out one import and one subscribe per window; re-signups merge."""

from __future__ import annotations

import itertools
import json
import math
import time
from unittest import mock

import pytest
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from integrations.klaviyo.client import KlaviyoClient
from klaviyo_sandbox import testing
from parties import sync, tasks
from parties.models import Attendee, Party, SyncState
from parties.sync import verify
from parties.sync.config import sync_config
from tests.support.clock import let_time_pass
from tests.support.signups import signup
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

IMPORTS = ("POST", "/api/profile-bulk-import-jobs")
SUBSCRIBES = ("POST", "/api/profile-subscription-bulk-create-jobs")


@pytest.fixture(autouse=True)
def no_window(settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


@pytest.fixture
def party(sandbox_party) -> Party:
    return sandbox_party


def state_of(email: str) -> tuple[str, str]:
    attendee = Attendee.objects.get(email=email)
    return attendee.sync_state, attendee.state_reason


# --- States read back from Klaviyo -------------------------------------------------------------


def test_an_attendee_is_sent_until_klaviyo_has_run_the_jobs_then_in_the_list(party, settings):
    settings.SANDBOX_JOB_SECONDS = 2
    # Polled one second after sending, so a worker run ends while the job is still queued.
    settings.PARTY_VERIFY_INTERVAL_SECONDS = 1
    signup(party)

    run_queued_tasks()
    assert state_of("sarah@example.com") == (SyncState.SENT, "")
    assert testing.list_members(party.klaviyo_list_id) == []  # Klaviyo has not run the job

    let_time_pass(1)
    run_queued_tasks()
    assert state_of("sarah@example.com")[0] == SyncState.SENT  # polled: still processing
    assert testing.call_count("GET", "/api/profile-bulk-import-jobs/") == 1

    let_time_pass(2)
    run_queued_tasks()
    attendee = Attendee.objects.get()
    assert attendee.sync_state == SyncState.SYNCED
    assert attendee.get_sync_state_display() == "In the list"
    assert attendee.klaviyo_profile_id == testing.list_members(party.klaviyo_list_id)[0]["id"]
    assert attendee.synced_at is not None


def test_an_address_klaviyo_rejects_is_marked_rejected_with_klaviyos_words(party):
    signup(party, "nobody@bounce.invalid")
    signup(party, "sarah@example.com")

    run_queued_tasks()

    state, why = state_of("nobody@bounce.invalid")
    assert state == SyncState.FAILED
    assert "not a deliverable email address" in why
    assert state_of("sarah@example.com") == (SyncState.SYNCED, "")
    assert testing.call_count("GET", "/api/profile-bulk-import-jobs/") == 2  # job, then errors
    rejected = Attendee.objects.get(email="nobody@bounce.invalid")
    assert rejected.get_sync_state_display() == "Rejected by Klaviyo"
    # The import refused the address itself: a retry would be refused again.
    assert rejected.refused_as_sent
    assert not rejected.retry_can_help


def test_a_suppressed_address_is_not_subscribed_and_the_reason_is_shown(party):
    testing.suppress("bounced@example.com", reason="HARD_BOUNCE")
    signup(party, "bounced@example.com")

    run_queued_tasks()

    state, why = state_of("bounced@example.com")
    assert state == SyncState.SUPPRESSED
    assert "bounced" in why
    assert testing.list_members(party.klaviyo_list_id) == []


def test_a_new_signup_lifts_an_earlier_unsubscribe_as_klaviyo_does(party):
    """bulk_subscribe_profiles: "This API will remove any UNSUBSCRIBE, SPAM_REPORT or
    USER_SUPPRESSED suppressions from the provided profiles." """
    testing.suppress("back@example.com", reason="UNSUBSCRIBE")
    signup(party, "back@example.com")

    run_queued_tasks()

    assert state_of("back@example.com") == (SyncState.SYNCED, "")


def test_double_opt_in_attendee_awaits_confirmation_then_joins_the_list(
    double_opt_in_party, settings
):
    party = double_opt_in_party
    assert party.klaviyo_opt_in_process == "double_opt_in"
    signup(party)

    run_queued_tasks()
    state, why = state_of("sarah@example.com")
    assert state == SyncState.AWAITING_CONFIRMATION
    assert "confirm" in why

    testing.confirm_pending(party.klaviyo_list_id, "sarah@example.com")
    let_time_pass(settings.PARTY_CONFIRMATION_CHECK_SECONDS)
    run_queued_tasks()

    assert state_of("sarah@example.com") == (SyncState.SYNCED, "")


def test_double_opt_in_attendee_who_never_confirms_is_reported_after_the_wait(
    double_opt_in_party,
):
    signup(double_opt_in_party)
    run_queued_tasks()

    let_time_pass(sync_config().confirmation_wait.total_seconds() + 1)
    run_queued_tasks()

    state, why = state_of("sarah@example.com")
    assert state == SyncState.NOT_CONFIRMED
    assert "not used within 7 days" in why
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.READY).exists()


def test_reading_back_costs_one_read_per_hundred_attendees_and_one_status_call_per_job(party):
    for number in range(250):
        signup(party, f"guest{number}@example.com")

    run_queued_tasks()

    assert Attendee.objects.filter(sync_state=SyncState.SYNCED).count() == 250
    list_id = party.klaviyo_list_id
    assert testing.call_count("GET", f"/api/lists/{list_id}/profiles") == 3
    assert testing.call_count("GET", "/api/profile-bulk-import-jobs/") == 1
    assert testing.call_count("GET", "/api/profiles") == 0  # everyone was in the list


def test_someone_klaviyo_is_slow_to_add_is_read_at_doubling_intervals_then_sent_again(
    party, settings
):
    settings.PARTY_VERIFY_INTERVAL_SECONDS = 3
    signup(party)
    with mock.patch.object(verify, "_state_from_profile", return_value=(None, "")):
        run_queued_tasks()
        Attendee.objects.update(sync_state=SyncState.SENT)  # as if the list never showed them
        reads = []
        for _second in range(0, int(sync_config().sent_give_up.total_seconds()) + 60, 3):
            let_time_pass(3)
            run_queued_tasks()
            reads.append(testing.call_count("GET", f"/api/lists/{party.klaviyo_list_id}/profiles"))
            if Attendee.objects.get().sync_state != SyncState.SENT:
                break

    assert reads[-1] < 12  # about log2(600 / 3) reads, not one every 3 seconds
    assert Attendee.objects.get().sync_state in (SyncState.PENDING, SyncState.SYNCED)


# --- Re-signups ---------------------------------------------------------------------------------


def test_re_signup_with_blank_optional_fields_keeps_earlier_answers(party, sandbox):
    signup(party, last_name="Mason", pet_name="Rex", pet_type="dog")
    run_queued_tasks()

    again = signup(party, first_name="Sally", last_name="", pet_name="", pet_type="")
    run_queued_tasks()

    again.refresh_from_db()
    assert (again.first_name, again.last_name, again.answers) == (
        "Sally",
        "Mason",
        {"pet_name": "Rex", "pet_type": "dog"},
    )
    last_import = [
        json.loads(call.request.body)
        for call in sandbox.calls
        if "/profile-bulk-import-jobs" in call.request.url and call.request.method == "POST"
    ][-1]
    [profile] = last_import["data"]["attributes"]["profiles"]["data"]
    assert profile["attributes"]["first_name"] == "Sally"
    assert profile["attributes"]["last_name"] == "Mason"
    assert profile["attributes"]["properties"] == {"pet_name": "Rex", "pet_type": "dog"}


def test_re_signup_of_a_confirmed_attendee_with_nothing_new_is_a_no_op(party):
    signup(party, pet_name="Rex")
    run_queued_tasks()
    calls_before = len(testing.calls())

    signup(party, pet_name="Rex")

    assert state_of("sarah@example.com")[0] == SyncState.SYNCED
    # No sync planned (the events' own read-back of the first signup may be).
    assert not DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=tasks.sync_party.module_path
    ).exists()
    run_queued_tasks()
    assert len(testing.calls()) == calls_before


def test_re_signup_of_someone_who_never_reached_the_list_is_sent_again(party):
    testing.suppress("bounced@example.com", reason="HARD_BOUNCE")
    signup(party, "bounced@example.com")
    run_queued_tasks()
    assert state_of("bounced@example.com")[0] == SyncState.SUPPRESSED

    testing.unsuppress("bounced@example.com")
    signup(party, "bounced@example.com")
    run_queued_tasks()

    assert state_of("bounced@example.com")[0] == SyncState.SYNCED
    assert testing.call_count(*SUBSCRIBES) == 2


# --- The window rule ----------------------------------------------------------------------------


def test_a_sustained_rush_sends_at_most_one_pair_per_window(party, settings):
    """2,000 signups arriving over 20 s with the worker running and a 2 s window: at most one
    import and one subscribe per window. Signups also arrive while each call to Klaviyo is in
    flight, as they do in a real rush: a sync that kept claiming whatever trickled in since its
    last batch would send a pair per trickle."""
    settings.PARTY_SYNC_WINDOW_SECONDS = 2
    step, duration = 0.25, 20
    arrivals = iter(range(2000))

    def arrive(count: int) -> None:
        for number in itertools.islice(arrivals, count):
            signup(party, f"rush{number}@example.com")

    send = KlaviyoClient.bulk_import_profiles

    def import_while_signups_arrive(client, **kwargs):
        arrive(10)
        return send(client, **kwargs)

    with mock.patch.object(KlaviyoClient, "bulk_import_profiles", import_while_signups_arrive):
        started = time.monotonic()
        for _tick in range(int(duration / step)):
            arrive(20)
            run_queued_tasks()
            let_time_pass(step)
        during_rush = testing.call_count(*IMPORTS), testing.call_count(*SUBSCRIBES)
        # The product's clock moved by the steps plus the real time the test took.
        elapsed = duration + time.monotonic() - started
        arrive(2000)  # the rest arrive at once, after the 20 s
        for _ in range(5):
            let_time_pass(2)
            run_queued_tasks()

    assert Attendee.objects.filter(sync_state=SyncState.SYNCED).count() == 2000
    windows = math.ceil(elapsed / settings.PARTY_SYNC_WINDOW_SECONDS) + 1
    assert during_rush[0] <= windows
    assert during_rush[1] <= windows
    assert testing.call_count(*IMPORTS) <= windows + 1


def test_a_full_backlog_goes_out_in_full_batches_back_to_back(party, settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 2
    for number in range(2500):
        signup(party, f"queued{number}@example.com")
    let_time_pass(2)

    report = sync.party_sync(party_id=party.pk)

    assert report.batches == 3  # 1,000 + 1,000 at once, then the last 500
    assert testing.call_count(*IMPORTS) == 3
    assert Attendee.objects.filter(sync_state=SyncState.SYNCED).count() == 2500


# --- The safety net -----------------------------------------------------------------------------


def test_the_sweep_schedules_its_next_run_even_when_a_run_raises(party):
    tasks.schedule_sweep()

    with mock.patch.object(tasks, "sync_sweep", side_effect=RuntimeError("database blip")):
        run_queued_tasks()

    failed = DBTaskResult.objects.get(task_path=tasks.sweep.module_path, status="FAILED")
    assert "database blip" in failed.traceback
    waiting = DBTaskResult.objects.filter(
        task_path=tasks.sweep.module_path, status=TaskResultStatus.READY
    )
    assert waiting.count() == 1

    run_queued_tasks(include_deferred=True)  # the next run happens, and works
    assert DBTaskResult.objects.filter(
        task_path=tasks.sweep.module_path, status=TaskResultStatus.SUCCESSFUL
    ).exists()
