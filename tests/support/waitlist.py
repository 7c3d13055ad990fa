"""What a rush must leave behind on a capped party's waitlist."""

from __future__ import annotations

from parties import places
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


def assert_told_where_they_are(waiting: list[Attendee]) -> None:
    """Nobody has left the line since they joined: each was told, in their one `Joined Party
    Waitlist` event, exactly the position they hold."""
    joined = PartyEvent.objects.filter(attendee__in=waiting, metric=PartyMetric.JOINED_WAITLIST)
    assert joined.count() == len(waiting)
    told = dict(joined.values_list("attendee_id", "properties__position"))
    assert [told.get(attendee.pk) for attendee in waiting] == list(range(1, len(waiting) + 1))
