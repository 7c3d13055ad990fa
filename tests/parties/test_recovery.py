"""Faults the pipeline must outlive: a worker killed mid-batch, a slow call to Klaviyo, a
database connection dropped under a worker, and a 429 storm."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from core.management.commands.db_worker import ResilientWorker
from integrations.clients import klaviyo_client
from integrations.klaviyo.client import KlaviyoClient
from klaviyo_sandbox import testing
from parties import sync, tasks
from parties.models import Attendee, Party, SyncState
from parties.sync.gates import claim_party_lease
from tests.support.clock import let_time_pass
from tests.support.signups import post_signup, signup
from tests.support.waiting import wait_until
from tests.support.workers import make_worker, run_in_thread, run_queued_tasks

IMPORTS = ("POST", "/api/profile-bulk-import-jobs")
SUBSCRIBES = ("POST", "/api/profile-subscription-bulk-create-jobs")


@pytest.fixture(autouse=True)
def no_window(settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


def subscribed_emails(sandbox) -> list[str]:
    """Every address in every subscribe job sent, in order (repeats included)."""
    emails = []
    for call in sandbox.calls:
        if call.request.method == "POST" and "subscription-bulk-create" in call.request.url:
            body = json.loads(call.request.body)
            profiles = body["data"]["attributes"]["profiles"]["data"]
            emails += [profile["attributes"]["email"] for profile in profiles]
    return emails


def backends_alive(pids: list[int]) -> bool:
    """Whether any of these PostgreSQL backends is still there."""
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids])
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_a_killed_workers_batch_is_recovered_and_what_reached_klaviyo_is_verified_not_resent(
    sandbox_party, sandbox
):
    """A worker killed with SIGKILL runs no cleanup: its claims stay `syncing` under a lease
    nobody renews. Whoever it had already subscribed is verified, the rest sent once."""
    party = sandbox_party
    reached, unsent = signup(party, "reached@example.com"), signup(party, "unsent@example.com")
    client = klaviyo_client(connection=party.connection)
    client.bulk_import_profiles(profiles=[{"email": "reached@example.com"}])
    client.subscribe_profiles(
        list_id=party.klaviyo_list_id,
        emails_with_consent=["reached@example.com"],
        custom_source="test",
    )
    claimed_at = timezone.now() - timedelta(seconds=50)
    Attendee.objects.filter(pk=reached.pk).update(
        sync_state=SyncState.SYNCING, claimed_at=claimed_at, sent_at=claimed_at
    )
    Attendee.objects.filter(pk=unsent.pk).update(
        sync_state=SyncState.SYNCING, claimed_at=claimed_at, sent_at=None
    )
    Party.objects.filter(pk=party.pk).update(
        next_sync_at=None,
        sync_lease_holder="killed-worker",
        sync_lease_expires_at=timezone.now() - timedelta(seconds=5),  # nobody renewed it
    )

    report = tasks.sweep_now()
    run_queued_tasks()

    assert report["reclaimed"] == 2
    assert set(Attendee.objects.values_list("sync_state", flat=True)) == {SyncState.SYNCED}
    assert subscribed_emails(sandbox) == ["reached@example.com", "unsent@example.com"]
    members = [m["email"] for m in testing.list_members(party.klaviyo_list_id)]
    assert sorted(members) == ["reached@example.com", "unsent@example.com"]


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_a_live_runs_claims_are_not_taken_by_the_sweep(sandbox_party):
    signup(sandbox_party, "busy@example.com")
    Attendee.objects.update(sync_state=SyncState.SYNCING, claimed_at=timezone.now())
    Party.objects.filter(pk=sandbox_party.pk).update(
        sync_lease_holder="live-worker",
        sync_lease_expires_at=timezone.now() + timedelta(seconds=30),
    )

    report = tasks.sweep_now()

    assert report["reclaimed"] == 0
    assert Attendee.objects.get().sync_state == SyncState.SYNCING


@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_a_live_worker_keeps_its_lease_through_a_call_longer_than_the_lease(
    sandbox_party, settings
):
    settings.PARTY_SYNC_LEASE_SECONDS = 0.6
    signup(sandbox_party, "slow@example.com")
    send = KlaviyoClient.bulk_import_profiles
    in_call, tried = threading.Event(), threading.Event()

    def slow_import(client, **kwargs):
        in_call.set()
        tried.wait(10)  # the call lasts until the others have tried to take the party
        return send(client, **kwargs)

    outcome: list[str] = []

    def run() -> None:
        try:
            outcome.append(sync.party_sync(party_id=sandbox_party.pk).outcome)
        finally:
            connections.close_all()

    with mock.patch.object(KlaviyoClient, "bulk_import_profiles", slow_import):
        worker = threading.Thread(target=run)
        worker.start()
        try:
            assert in_call.wait(5), "the sync never called Klaviyo"
            # What is under test: two leases run out during the call, so only the worker's
            # heartbeat can still hold the party when the others try.
            time.sleep(2 * settings.PARTY_SYNC_LEASE_SECONDS)
            taken_over = claim_party_lease(sandbox_party.pk, "another-worker")
            swept = tasks.sweep_now()["reclaimed"]
        finally:
            tried.set()
            worker.join(10)

    assert not taken_over
    assert swept == 0
    assert outcome == ["done"]
    assert testing.call_count(*IMPORTS) == 1


@pytest.mark.skipif(
    db_connection.vendor != "postgresql", reason="pg_terminate_backend is PostgreSQL's"
)
@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_a_worker_survives_its_database_connection_being_killed(sandbox_party, sandbox):
    party = sandbox_party
    for number in range(5):
        signup(party, f"guest{number}@example.com")
    send = KlaviyoClient.bulk_import_profiles
    killed = threading.Event()

    def import_then_lose_the_database(client, **kwargs):
        job_id = send(client, **kwargs)
        if not killed.is_set():
            killed.set()
            with db_connection.cursor() as cursor:  # the worker's own connection
                cursor.execute("SELECT pg_backend_pid()")
                [pid] = cursor.fetchone()
            connections.create_connection("default").cursor().execute(
                "SELECT pg_terminate_backend(%s)", [pid]
            )
        return job_id

    worker = make_worker("resilient", batch=False, interval=0.05, worker_class=ResilientWorker)

    def wait_until_synced(count: int) -> None:
        wait_until(
            lambda: Attendee.objects.filter(sync_state=SyncState.SYNCED).count() == count,
            seconds=30,
            awaiting=f"{count} attendees in the list",
        )

    with mock.patch.object(KlaviyoClient, "bulk_import_profiles", import_then_lose_the_database):
        thread = run_in_thread(worker)
        try:
            wait_until_synced(5)  # killed mid-batch: the task recovers its claims
            mid_batch_survived = thread.is_alive()

            # Killed again while the worker waits for work (a PostgreSQL restart): the
            # library's worker would die on its next claim query.
            with db_connection.cursor() as cursor:  # the test's own connection stays
                cursor.execute(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                terminated = [pid for pid, signalled in cursor.fetchall() if signalled]
            wait_until(
                lambda: not backends_alive(terminated),
                seconds=10,
                awaiting=f"the terminated connections {terminated} to be gone",
            )
            for number in range(5, 8):
                signup(party, f"guest{number}@example.com")
            wait_until_synced(8)
            idle_survived = thread.is_alive()
        finally:
            worker.running = False
            thread.join(timeout=10)

    assert killed.is_set()
    assert (mid_batch_survived, idle_survived) == (True, True)
    assert Attendee.objects.filter(sync_state=SyncState.SYNCED).count() == 8
    assert sorted(subscribed_emails(sandbox)) == [f"guest{n}@example.com" for n in range(8)]
    members = [m["email"] for m in testing.list_members(party.klaviyo_list_id)]
    assert len(members) == len(set(members)) == 8


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_no_request_is_sent_before_retry_after_passes(sandbox_party):
    testing.clear_calls()
    testing.start_throttle_storm(30)
    for number in range(10):
        signup(sandbox_party, f"storm{number}@example.com")

    run_queued_tasks()
    during = []
    for _ in range(5):
        let_time_pass(5)  # 25 s of the storm go by, the worker keeps running what is due
        run_queued_tasks()
        during.append(len(testing.calls()))

    first = testing.calls()[0]
    assert first.status == 429
    assert during == [during[0]] * 5  # not one request while Klaviyo said to wait
    let_time_pass(6)
    run_queued_tasks()
    assert Attendee.objects.filter(sync_state=SyncState.SYNCED).count() == 10


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_the_worker_waits_out_a_database_that_refuses_connections(sandbox_party, monkeypatch):
    """A PostgreSQL restart: for a while every query fails. The library's worker would exit
    on its next claim; ours waits, reconnects and runs what is queued."""
    from django.db import OperationalError
    from django_tasks_db.models import DBTaskResultQuerySet

    signup(sandbox_party, "patient@example.com")
    monkeypatch.setattr("core.management.commands.db_worker.time.sleep", lambda _s: None)
    monkeypatch.setattr("core.management.commands.db_worker.connections.close_all", lambda: None)
    claim = DBTaskResultQuerySet.get_locked
    refusals = iter(range(3))

    def get_locked_while_the_database_restarts(queryset):
        if next(refusals, None) is not None:
            raise OperationalError("connection refused: the database system is starting up")
        return claim(queryset)

    monkeypatch.setattr(DBTaskResultQuerySet, "get_locked", get_locked_while_the_database_restarts)
    worker = make_worker("patient", worker_class=ResilientWorker)

    with mock.patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
        worker.run()

    assert Attendee.objects.get().sync_state == SyncState.SYNCED


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_a_30_second_outage_in_the_middle_of_a_signup_burst_loses_and_duplicates_nothing(
    client, sandbox_party, sandbox
):
    """300 signups through the public form with the worker running; Klaviyo answers 503 for
    30 s from the 100th on. Every signup is accepted, all end in the list, none twice."""
    statuses = []
    for number in range(300):
        if number == 100:
            testing.start_outage(30)
        response = post_signup(
            client,
            sandbox_party,
            address=f"10.1.{number // 250}.{number % 250}",
            first_name="Burst",
            email=f"burst{number}@example.com",
        )
        statuses.append(response.status_code)
        if number % 25 == 24:  # the worker runs what is due while the burst goes on
            run_queued_tasks()
            let_time_pass(1)
    for _ in range(40):
        let_time_pass(1)
        run_queued_tasks()

    assert set(statuses) == {303}
    assert Attendee.objects.filter(sync_state=SyncState.SYNCED).count() == 300
    subscribed = subscribed_emails(sandbox)
    assert len(subscribed) == len(set(subscribed)) == 300
    assert any(call.status == 503 for call in testing.calls())  # the outage was met
