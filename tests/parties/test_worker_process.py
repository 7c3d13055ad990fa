"""A real `manage.py db_worker` process killed with SIGKILL in the middle of a batch: the
batch is recovered once its lease lapses, and every attendee ends in the list exactly once.

The workers are separate processes talking to the test database and, over HTTP, to the
sandbox served by the live test server, as they would in production.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.utils import timezone

from klaviyo_sandbox import clock, testing
from parties import tasks
from parties.models import Attendee, Party, SyncState
from tests.support.attendees import add_attendees
from tests.support.processes import process_env, start_db_worker, worker_log
from tests.support.waiting import wait_until

LEASE_SECONDS = 3

pytestmark = [
    pytest.mark.skipif(
        db_connection.vendor != "postgresql",
        reason="worker processes beside the test need a database server: PostgreSQL",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "sandbox"]),
]


def start_worker(live_server, name: str, logs: Path) -> subprocess.Popen:
    env = process_env(
        SANDBOX_URL=f"{live_server.url}/sandbox/klaviyo",
        PARTY_SYNC_WINDOW_SECONDS="0",
        PARTY_VERIFY_INTERVAL_SECONDS="0.5",
        PARTY_SYNC_LEASE_SECONDS=str(LEASE_SECONDS),
        SANDBOX_JOB_SECONDS="0",
    )
    return start_db_worker(name, env=env, logs=logs)


def calls_in_flight(monkeypatch) -> list[int]:
    """How many calls the sandbox is answering right now: it serves the workers from the live
    server's thread, in this process, and a slow call waits in `clock.sleep`."""
    in_flight = [0]
    respond_slowly = clock.sleep

    def counted(seconds: float) -> None:
        in_flight[0] += 1
        try:
            respond_slowly(seconds)
        finally:
            in_flight[0] -= 1

    monkeypatch.setattr(clock, "sleep", counted)
    return in_flight


def test_a_worker_killed_mid_batch_is_recovered_and_everyone_is_in_the_list_once(
    live_server, owner, sandbox_connection, make_party, tmp_path, monkeypatch
):
    klaviyo_list = testing.create_list(name="Killed mid-batch")
    party = make_party(
        connection=sandbox_connection(owner.organization),
        klaviyo_list_id=klaviyo_list.id,
        klaviyo_list_name=klaviyo_list.name,
    )
    Party.objects.filter(pk=party.pk).update(klaviyo_opt_in_process="single_opt_in")
    add_attendees(party, 200, states=(SyncState.PENDING,))
    in_flight = calls_in_flight(monkeypatch)
    testing.set_latency(3)  # every call to Klaviyo takes 3 s: the kill lands mid-batch
    first = start_worker(live_server, "doomed", tmp_path)
    try:
        tasks.sync_party.enqueue(party_id=party.pk)
        wait_until(
            lambda: Attendee.objects.filter(sync_state=SyncState.SYNCING).exists() and in_flight[0],
            seconds=30,
            awaiting="the worker to claim the batch and call Klaviyo with it",
            details=worker_log(tmp_path, "doomed"),
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert Attendee.objects.filter(sync_state=SyncState.SYNCING).count() == 200

    testing.clear_faults()
    killed_at = time.monotonic()
    second = start_worker(live_server, "survivor", tmp_path)
    try:
        wait_until(
            lambda: Party.objects.filter(
                pk=party.pk, sync_lease_expires_at__lt=timezone.now()
            ).exists(),
            seconds=LEASE_SECONDS + 5,
            awaiting="the dead worker's lease to lapse",
        )
        tasks.sweep_now()  # what the periodic sweep does
        wait_until(
            lambda: Attendee.objects.filter(sync_state=SyncState.SYNCED).count() == 200,
            seconds=60,
            awaiting="all 200 attendees in the list",
            details=worker_log(tmp_path, "survivor"),
        )
        recovery_seconds = time.monotonic() - killed_at
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    assert recovery_seconds < 60
    members = [member["email"] for member in testing.list_members(party.klaviyo_list_id)]
    assert len(members) == len(set(members)) == 200
    assert testing.call_count("POST", "/api/profile-subscription-bulk-create-jobs") == 1
    assert settings.DATABASES["default"]["NAME"].startswith("test_")
