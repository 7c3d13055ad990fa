"""Concurrent sending runs of one Klaviyo account, in threads on PostgreSQL: the account's lease
lets one run send at a time, and a claim never takes an event another claim holds, so no
event is sent twice (counted in the write calls Klaviyo accepted, the sandbox's event jobs)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from klaviyo_sandbox import event_views
from klaviyo_sandbox.models import EventJob
from parties import services
from parties.events import events_send
from parties.events.record import party_event_record
from parties.events.send import claim_batch
from parties.models import Attendee, EventState, Party, PartyEvent, PartyMetric
from tests.support.parties import PARTY

pytestmark = [
    pytest.mark.skipif(
        db_connection.vendor != "postgresql",
        reason="concurrent runs need a database that lets writers in side by side: PostgreSQL",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "sandbox"]),
]

RUNS = 4


@pytest.fixture(autouse=True)
def no_window(settings):
    # The send gate never holds a run back: only the lease and the claim keep runs apart.
    settings.EVENTS_SEND_WINDOW_SECONDS = 0
    settings.KLAVIYO_MAX_RETRY_WAIT = 0
    # Sending is what is counted here: the read-back comes later.
    settings.PARTY_VERIFY_INTERVAL_SECONDS = 3600


def events_waiting(party: Party, owner, per_party: int) -> list[str]:
    """`per_party` registrations at `party` and at another party of its account, their events
    waiting: their unique_ids."""
    other = services.party_create(
        membership=owner, connection=party.connection, data={**PARTY, "name": "Other"}
    )
    now = timezone.now()
    for each in (party, other):
        Attendee.objects.bulk_create(
            Attendee(
                party=each,
                email=f"guest{number}-{each.pk}@example.com",
                first_name="Guest",
                consented_at=now,
                marketing_consent=True,
            )
            for number in range(per_party)
        )
        party_event_record(each, PartyMetric.REGISTERED, occurred_at=now, occurrence="rush")
    return list(PartyEvent.objects.values_list("unique_id", flat=True))


def slow_event_writes(monkeypatch, seconds: float) -> list[int]:
    """Klaviyo takes `seconds` (real ones: the sandbox's frozen clock would skip a latency
    fault) to accept each event write, so runs that overlap really overlap. Returns
    [writes in flight now, the most ever in flight at once]."""
    in_flight = [0, 0]
    lock = threading.Lock()

    def slow(create: Callable[..., EventJob]) -> Callable[..., EventJob]:
        def create_slowly(**kwargs: object) -> EventJob:
            with lock:
                in_flight[0] += 1
                in_flight[1] = max(in_flight)
            try:
                time.sleep(seconds)
                return create(**kwargs)
            finally:
                with lock:
                    in_flight[0] -= 1

        return create_slowly

    for name in ("event_create", "event_bulk_create"):
        monkeypatch.setattr(event_views, name, slow(getattr(event_views, name)))
    return in_flight


def accepted_per_unique_id() -> Counter[str]:
    """How many write calls Klaviyo accepted (202: an event job) carried each unique_id."""
    counts: Counter[str] = Counter()
    for events in EventJob.objects.using("sandbox").values_list("events", flat=True):
        counts.update(entry["unique_id"] for entry in events)
    return counts


def test_concurrent_runs_for_one_account_never_send_an_event_twice(
    sandbox_party, owner, monkeypatch
):
    unique_ids = events_waiting(sandbox_party, owner, per_party=600)
    in_flight = slow_event_writes(monkeypatch, seconds=0.3)
    connection_id = sandbox_party.connection_id
    unsent = PartyEvent.objects.filter(state__in=[EventState.WAITING, EventState.SENDING])
    barrier = threading.Barrier(RUNS)
    deadline = time.monotonic() + 60

    def runs_until_all_sent(_: int) -> Counter[str]:
        """Runs of the account's sender, as workers given its tasks at once make them."""
        outcomes: Counter[str] = Counter()
        try:
            barrier.wait()
            while unsent.exists() and time.monotonic() < deadline:
                outcomes[events_send(connection_id=connection_id).outcome] += 1
                time.sleep(0.01)
        finally:
            connections.close_all()
        return outcomes

    with ThreadPoolExecutor(max_workers=RUNS) as pool:
        outcomes = sum(pool.map(runs_until_all_sent, range(RUNS)), Counter())

    assert accepted_per_unique_id() == Counter(unique_ids)  # each sent once, none left out
    assert PartyEvent.objects.filter(state=EventState.SENT).count() == 1200
    # The lease: one run sent at a time (the others found it busy), 1,000 then 200.
    assert in_flight[1] == 1
    assert outcomes["busy"] >= 1
    assert EventJob.objects.using("sandbox").count() == 2


def test_concurrent_claims_of_one_accounts_events_skip_each_others_rows(sandbox_party, owner):
    events_waiting(sandbox_party, owner, per_party=1500)
    barrier = threading.Barrier(3)

    def claim(_: int) -> list[int]:
        try:
            barrier.wait()
            batch, _claimed_at = claim_batch(sandbox_party.connection_id)
            return [event.pk for event in batch]
        finally:
            connections["default"].close()

    with ThreadPoolExecutor(max_workers=3) as pool:
        claimed = list(pool.map(claim, range(3)))

    # Three batches of 1,000 side by side, no event in two of them.
    all_ids = [pk for ids in claimed for pk in ids]
    assert len(all_ids) == len(set(all_ids)) == 3000
    assert PartyEvent.objects.filter(state=EventState.SENDING).count() == 3000
