"""Real worker threads: a lone signup syncs within seconds, two workers never double-send."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from parties import tasks
from parties.models import Attendee, Party, SyncState
from parties.sync.send import claim_batch
from tests.support.signups import signup
from tests.support.waiting import wait_until
from tests.support.workers import make_worker, run_in_thread

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])


@pytest.fixture
def party(sandbox_party) -> Party:
    return sandbox_party


def test_a_lone_signup_with_a_worker_running_is_synced_within_ten_seconds(party, settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 2  # the default accumulation window
    worker = make_worker("lone", batch=False, interval=0.1)
    thread = run_in_thread(worker)
    try:
        started = time.monotonic()
        attendee = signup(party, "solo@example.com")
        wait_until(
            lambda: Attendee.objects.filter(pk=attendee.pk, sync_state=SyncState.SYNCED).exists(),
            seconds=10,
            awaiting="the lone signup to be in the list",
        )
        elapsed = time.monotonic() - started
    finally:
        worker.running = False
        thread.join(timeout=5)

    assert elapsed < 10


def emails_sent_in_import_jobs(sandbox) -> list[str]:
    emails = []
    for call in list(sandbox.calls):
        if call.request.method == "POST" and "/profile-bulk-import-jobs" in call.request.url:
            body = json.loads(call.request.body)
            profiles = body["data"]["attributes"]["profiles"]["data"]
            emails += [profile["attributes"]["email"] for profile in profiles]
    return emails


def test_two_workers_draining_one_party_never_send_an_attendee_twice(party, sandbox, settings):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    now = timezone.now()
    Attendee.objects.bulk_create(
        Attendee(
            party=party,
            email=f"rush{number}@example.com",
            first_name="Rush",
            consented_at=now,
            marketing_consent=True,
        )
        for number in range(2500)
    )
    for _ in range(4):  # several syncs queued for the same party
        tasks.sync_party.enqueue(party_id=party.pk)

    workers = [make_worker(f"worker-{n}", batch=True) for n in range(2)]
    threads = [run_in_thread(worker) for worker in workers]
    for thread in threads:
        thread.join(timeout=120)

    emails = emails_sent_in_import_jobs(sandbox)
    assert len(emails) == 2500
    assert len(set(emails)) == 2500
    assert Attendee.objects.filter(sync_state=SyncState.SYNCED).count() == 2500


@pytest.mark.skipif(
    not db_connection.features.has_select_for_update_skip_locked,
    reason="SKIP LOCKED claims are PostgreSQL's; SQLite serializes writers instead",
)
def test_concurrent_claims_skip_each_others_rows(party):
    now = timezone.now()
    Attendee.objects.bulk_create(
        Attendee(
            party=party,
            email=f"claim{number}@example.com",
            first_name="Claim",
            consented_at=now,
            marketing_consent=True,
        )
        for number in range(3000)
    )
    barrier = threading.Barrier(3)

    def claim(_: int) -> list[int]:
        try:
            barrier.wait()
            batch, _claimed_at = claim_batch(party)
            return [attendee.pk for attendee in batch]
        finally:
            connections["default"].close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        claimed = list(pool.map(claim, range(3)))

    all_ids = [pk for ids in claimed for pk in ids]
    assert len(all_ids) == len(set(all_ids)) == 3000
    assert Attendee.objects.filter(sync_state=SyncState.SYNCING).count() == 3000


def test_periodic_sweep_runs_on_the_worker(party, settings):
    settings.SYNC_SWEEP_INTERVAL_SECONDS = 3600
    Attendee.objects.create(
        party=party,
        email="lost@example.com",
        first_name="Lost",
        consented_at=timezone.now(),
        marketing_consent=True,
        sync_state=SyncState.SYNCING,
        claimed_at=timezone.now() - timedelta(hours=1),
    )
    tasks.schedule_sweep()

    worker = make_worker("sweeper", batch=True)
    run_in_thread(worker).join(timeout=30)
    run_in_thread(make_worker("after", batch=True)).join(timeout=30)

    assert Attendee.objects.get().sync_state == SyncState.SYNCED
