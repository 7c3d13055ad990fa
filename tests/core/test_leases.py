"""core.leases: a lease on a row is claimed once, renewed and released only by its holder,
and kept alive by a heartbeat while its holder lives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Q
from django.utils import timezone

from core.leases import Heartbeat, Lease, new_holder
from parties.models import Party
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db

LEASE = Lease(Party, "sync_lease_holder", "sync_lease_expires_at")


def expiry(party: Party):
    return Party.objects.values_list("sync_lease_expires_at", flat=True).get(pk=party.pk)


def test_a_held_lease_cannot_be_claimed_until_it_lapses(make_party):
    party = make_party()

    assert LEASE.claim(party.pk, holder="first", seconds=30)
    assert not LEASE.claim(party.pk, holder="second", seconds=30)

    Party.objects.filter(pk=party.pk).update(
        sync_lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert LEASE.claim(party.pk, holder="second", seconds=30)
    assert LEASE.is_held_by(party.pk, holder="second")


def test_a_claim_writes_its_companions_and_respects_its_condition(make_party):
    party = make_party(next_sync_at=timezone.now())

    assert not LEASE.claim(party.pk, holder="h", seconds=30, when=Q(name="another name"))
    assert LEASE.claim(party.pk, holder="h", seconds=30, also={"next_sync_at": None})
    assert Party.objects.get(pk=party.pk).next_sync_at is None


def test_only_the_holder_renews_or_releases(make_party):
    party = make_party()
    LEASE.claim(party.pk, holder="mine", seconds=30)
    before = expiry(party)

    assert not LEASE.renew(party.pk, holder="someone-else", seconds=300)
    assert not LEASE.release(party.pk, holder="someone-else")
    assert expiry(party) == before

    assert LEASE.renew(party.pk, holder="mine", seconds=300)
    assert expiry(party) > before
    assert LEASE.release(party.pk, holder="mine")
    assert expiry(party) is None
    assert LEASE.claim(party.pk, holder="next", seconds=30)


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_renews_the_lease_while_its_holder_lives(make_party):
    party = make_party()
    holder = new_holder()
    LEASE.claim(party.pk, holder=holder, seconds=0.6)
    first = expiry(party)

    with Heartbeat(LEASE, party.pk, holder=holder, seconds=0.6):
        wait_until(
            lambda: expiry(party) > first, seconds=10, awaiting="the heartbeat to renew the lease"
        )

    assert LEASE.is_held_by(party.pk, holder=holder)


def test_holders_are_unguessable_and_distinct():
    holders = {new_holder() for _ in range(100)}
    assert len(holders) == 100
    assert all(len(holder) == 32 for holder in holders)
