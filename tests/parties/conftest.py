"""Fixtures for the parties tests that reach Klaviyo: a party whose list really exists in the
sandbox."""

from __future__ import annotations

import pytest
from django_tasks_db.models import DBTaskResult

from parties import services, sync
from parties.models import ListState, Party
from tests.support.parties import PARTY


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
def double_opt_in_party(owner, sandbox, sandbox_connection) -> Party:
    """The same, its list double opt-in as Klaviyo reports it."""
    party = services.party_create(
        membership=owner,
        connection=sandbox_connection(owner.organization),
        data={**PARTY, "name": "Confirm-a-pawty", "opt_in_process": "double_opt_in"},
    )
    sync.party_sync(party_id=party.pk)
    DBTaskResult.objects.all().delete()
    Party.objects.filter(pk=party.pk).update(next_sync_at=None)
    party.refresh_from_db()
    assert party.klaviyo_opt_in_process == "double_opt_in"
    return party
