"""Fixtures for the parties pages: attendees written straight to the database (no Klaviyo
call), and a party whose list really exists in the sandbox for the tests that reach Klaviyo."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from parties import services, sync
from parties.models import Attendee, ListState, Party, SyncState
from tests.support.parties import PARTY

_sequence = itertools.count(1)


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
