"""What a rush must leave behind on a capped party's waitlist."""

from __future__ import annotations

from django.db.models import F

from parties import places
from parties.events.send import JOIN_SETTLE, claim_batch, release, waitlist_positions_fill
from parties.models import Attendee, Party, PartyEvent, PartyMetric, Place


def waitlist_in_order(party: Party) -> list[Attendee]:
    """The party's waitlist, first in line first, after checking it is whole: positions 1..N
    with no gap or repeat."""
    waiting = list(
        Attendee.objects.filter(party=party, place=Place.WAITLISTED).order_by("waitlisted_at", "pk")
    )
    expected = list(range(1, len(waiting) + 1))
    assert [places.waitlist_position(attendee) for attendee in waiting] == expected
    return waiting


def told_positions(party: Party) -> dict[str, int]:
    """What the party's `Joined Party Waitlist` events waiting to go would tell, by email: the
    sender's own step (claim a batch, fill the positions), then the batch put back unsent."""
    # Time passes for the joins (JOIN_SETTLE): every one before them has had it to commit.
    PartyEvent.objects.filter(party=party, metric=PartyMetric.JOINED_WAITLIST).update(
        occurred_at=F("occurred_at") - JOIN_SETTLE
    )
    told: dict[str, int] = {}
    batches = []
    while True:
        batch, claimed_at = claim_batch(party.connection_id)
        if not batch:
            break
        batches.append((waitlist_positions_fill(batch, claimed_at), claimed_at))
        told |= {
            event.email: event.properties["position"]
            for event in batches[-1][0]
            if event.metric == PartyMetric.JOINED_WAITLIST
        }
    for batch, claimed_at in batches:
        release(batch, claimed_at)
    return told


def assert_told_where_they_are(party: Party, waiting: list[Attendee]) -> None:
    """Each person waiting has one `Joined Party Waitlist`, and it tells exactly the position
    they hold."""
    joined = PartyEvent.objects.filter(attendee__in=waiting, metric=PartyMetric.JOINED_WAITLIST)
    assert joined.count() == len(waiting)
    told = told_positions(party)
    assert [told.get(attendee.email) for attendee in waiting] == list(range(1, len(waiting) + 1))
