"""Factories for the parties pages: parties and attendees written straight to the database
(no Klaviyo call), and the sandbox for the tests that do reach Klaviyo."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from parties import services, sync
from parties.models import Attendee, ListState, Party, SyncState

_sequence = itertools.count(1)

# A party as an organizer would enter it.
PARTY = {
    "name": "Howl-o-ween",
    "starts_at": timezone.now() + timedelta(days=7),
    "address": "1 Bark Street",
    "address2": "",
    "city": "Boston",
    "state": "MA",
    "description": "Costumes encouraged.",
}


WITH_REASON = (SyncState.FAILED, SyncState.SUPPRESSED, SyncState.NOT_CONFIRMED)


def add_attendees(
    party: Party, count: int, *, states: tuple[str, ...] = (SyncState.SYNCED,)
) -> None:
    """`count` attendees bulk-inserted, their states taken in turn from `states`, each with
    what that state implies: a send time once sent, a time in the list once there, and
    Klaviyo's reason where Klaviyo gave one."""
    now = timezone.now()
    Attendee.objects.bulk_create(
        [
            Attendee(
                party=party,
                email=f"guest{number}@example.com",
                first_name="Guest",
                pet_name="Rex",
                consented_at=now,
                consent_source="test",
                sync_state=state,
                state_reason="Klaviyo's reason" if state in WITH_REASON else "",
                sent_at=None if state == SyncState.PENDING else now,
                synced_at=now if state == SyncState.SYNCED else None,
            )
            for number, state in ((n, states[n % len(states)]) for n in range(count))
        ],
        batch_size=1000,
    )


@pytest.fixture
def sandbox_party(owner, sandbox, sandbox_connection) -> Party:
    """A party created through the service, its list created by its first sync run: the list
    really exists in the sandbox."""
    party = services.party_create(
        membership=owner, connection=sandbox_connection(owner.organization), data=PARTY
    )
    sync.party_sync(party_id=party.pk)
    party.refresh_from_db()
    assert party.list_state == ListState.READY, party.list_error
    Party.objects.filter(pk=party.pk).update(next_sync_at=None)
    DBTaskResult.objects.all().delete()
    return party


@pytest.fixture
def make_attendee() -> Callable[..., Attendee]:
    def make(party: Party, email: str | None = None, **fields: object) -> Attendee:
        number = next(_sequence)
        values: dict[str, object] = {
            "first_name": "Sarah",
            "consented_at": timezone.now(),
            "consent_source": "test",
            "sync_state": SyncState.PENDING,
            **fields,
        }
        return Attendee.objects.create(
            party=party, email=email or f"guest{number}@example.com", **values
        )

    return make


def local_input(moment: datetime) -> str:
    """How a datetime-local input sends a time."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def let_time_pass(seconds: float) -> None:
    """Move time on for Klaviyo and for the product: the sandbox's clock advances, and every
    time the pipeline recorded (sends, checks, plans, send gates, queued tasks) moves that much
    into the past, so what was due in `seconds` is due now."""
    from django.db.models import F

    from klaviyo_sandbox import testing

    testing.advance(seconds)
    delta = timedelta(seconds=seconds)
    Attendee.objects.filter(sent_at__isnull=False).update(sent_at=F("sent_at") - delta)
    Attendee.objects.filter(checked_at__isnull=False).update(checked_at=F("checked_at") - delta)
    Party.objects.filter(next_send_at__isnull=False).update(next_send_at=F("next_send_at") - delta)
    Party.objects.filter(next_sync_at__isnull=False).update(next_sync_at=F("next_sync_at") - delta)
    DBTaskResult.objects.update(run_after=F("run_after") - delta)
