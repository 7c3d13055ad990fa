"""Klaviyo's rate limits, kept by the product: two workers draining many parties of one
Klaviyo account share its budget and never draw a 429."""

from __future__ import annotations

import threading
from functools import partial

import pytest
from django.db import connections
from django.utils import timezone

from accounts.models import Organization
from integrations import clients as integration_clients
from integrations.klaviyo.records import ListMember
from klaviyo_sandbox import testing
from parties import services, sync
from parties.models import Attendee, ListState, Party, SyncState
from parties.sync import run
from tests.support.pacing import LockstepClock
from tests.support.parties import PARTY
from tests.support.workers import make_worker, run_in_thread

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])

PARTIES = 25
ATTENDEES_PER_PARTY = 200


@pytest.fixture
def lockstep(sandbox, monkeypatch) -> LockstepClock:
    """The workers' Klaviyo clients pace themselves on the sandbox's frozen clock."""
    lockstep = LockstepClock()
    lockstep.hold_during_calls(sandbox)
    monkeypatch.setattr(
        run,
        "klaviyo_client",
        partial(integration_clients.klaviyo_client, budget=lockstep, sleep=lockstep.sleep),
    )
    return lockstep


def test_two_workers_drain_5000_attendees_of_one_account_without_a_429(
    lockstep, owner, sandbox_connection, settings
):
    settings.PARTY_SYNC_WINDOW_SECONDS = 0
    connection = sandbox_connection(owner.organization)
    parties = [
        services.party_create(
            membership=owner, connection=connection, data={**PARTY, "name": f"Party {n}"}
        )
        for n in range(PARTIES)
    ]
    now = timezone.now()
    Attendee.objects.bulk_create(
        Attendee(
            party=party,
            email=f"guest{n}@party{party.pk}.example.com",
            first_name="Guest",
            consented_at=now,
            marketing_consent=True,
        )
        for party in parties
        for n in range(ATTENDEES_PER_PARTY)
    )

    threads = [run_in_thread(make_worker(f"worker-{n}")) for n in range(2)]
    for thread in threads:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads)
    assert Attendee.objects.filter(sync_state=SyncState.SYNCED).count() == 5000
    assert Party.objects.filter(list_state=ListState.READY).count() == PARTIES
    # 25 lists, 25 imports and 25 import polls: more than Klaviyo takes in a second (10 of
    # each), so the workers waited for the account's windows to open, sharing them.
    assert testing.call_count("POST", "/api/lists", status=201) == PARTIES
    assert testing.call_count("POST", "/api/profile-bulk-import-jobs", status=202) == PARTIES
    assert lockstep.waits
    assert testing.call_count("POST", "/api", status=429) == 0
    assert testing.call_count("GET", "/api", status=429) == 0


class KlaviyoWhileOthersWrite:
    """A client whose every read lets another worker commit a write meanwhile, and answers
    that everyone asked about is in the list."""

    def list_members_among(self, *, list_id: str, emails: list[str]) -> list[ListMember]:
        def another_worker() -> None:
            try:
                Organization.objects.create(name="Meanwhile")
            finally:
                connections.close_all()

        thread = threading.Thread(target=another_worker)
        thread.start()
        thread.join()
        return [
            ListMember(profile_id=f"P{n}", email=e, joined_group_at=None)
            for n, e in enumerate(emails)
        ]


def test_reading_back_holds_no_read_open_across_calls_that_write(make_party, monkeypatch):
    """The budget writes before every call, and the read-back writes after each: on SQLite
    a connection still reading (a half-fetched `.iterator()`, 2,000 rows a fetch) cannot
    write once another connection has committed."""
    party = make_party()
    Attendee.objects.bulk_create(
        Attendee(
            party=party,
            email=f"guest{n}@example.com",
            first_name="Guest",
            consented_at=timezone.now(),
            marketing_consent=True,
            sync_state=SyncState.SENT,
            sent_at=timezone.now(),
        )
        for n in range(2500)
    )
    monkeypatch.setattr(run, "klaviyo_client", lambda **_: KlaviyoWhileOthersWrite())

    report = sync.party_sync(party_id=party.pk)

    assert (report.outcome, report.confirmed) == ("done", 2500)
