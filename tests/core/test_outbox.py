"""core.outbox: batches are claimed once, oldest first, and the send gate paces writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.outbox import SendGate, claim_batch
from parties.models import Attendee, Party, SyncState
from tests.support.attendees import add_attendees

pytestmark = pytest.mark.django_db


def claim(party: Party, size: int) -> list[int]:
    return claim_batch(
        Attendee.objects.filter(party=party),
        size=size,
        state_field="sync_state",
        waiting_state=SyncState.PENDING,
        claimed_state=SyncState.SYNCING,
        updates={"claimed_at": timezone.now()},
    )


def test_a_batch_is_the_oldest_waiting_rows_and_never_claimed_twice(make_party):
    party = make_party()
    add_attendees(party, 5, states=(SyncState.PENDING,))
    oldest = list(Attendee.objects.filter(party=party).order_by("pk").values_list("pk", flat=True))

    first = claim(party, 3)
    second = claim(party, 3)

    assert first == oldest[:3]
    assert second == oldest[3:]
    assert claim(party, 3) == []
    assert Attendee.objects.filter(party=party, sync_state=SyncState.SYNCING).count() == 5
    assert Attendee.objects.filter(party=party, claimed_at__isnull=True).count() == 0


def test_rows_in_another_state_are_left_alone(make_party):
    party = make_party()
    add_attendees(party, 3, states=(SyncState.SENT, SyncState.SENT, SyncState.PENDING))

    assert len(claim(party, 10)) == 1
    assert Attendee.objects.filter(party=party, sync_state=SyncState.SENT).count() == 2


def test_the_gate_is_open_until_closed_and_opens_when_its_time_comes(make_party):
    party = make_party(next_send_at=None)
    gate = SendGate(Party, "next_send_at")

    assert gate.is_open(party.pk)
    reopens = gate.close_for(party.pk, 30)
    assert not gate.is_open(party.pk)
    assert gate.opens_at(party.pk) == reopens
    assert gate.is_open(party.pk, now=reopens + timedelta(seconds=1))
    gate.close_until(party.pk, None)
    assert gate.is_open(party.pk)
    assert gate.opens_at(party.pk) is None
    assert timezone.now() < reopens
