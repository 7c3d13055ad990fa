"""The waitlist's order, in one place: first come, first served (when someone joined it, then
the row's id), and the positions it gives."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, OrderBy, Window
from django.db.models.functions import RowNumber

from parties.models import Attendee, Place

# The line: who joined first is first.
LINE_ORDER: tuple[OrderBy, ...] = (F("waitlisted_at").asc(), F("pk").asc())


def positions_now(attendee_ids: Iterable[int]) -> dict[int, int]:
    """Where each of these attendees stands in their party's waitlist now, as committed (1:
    first); those no longer waiting are left out. One query over the parties' waitlists."""
    ids = set(attendee_ids)
    if not ids:
        return {}
    parties = Attendee.objects.filter(pk__in=ids).values("party_id")
    ranked = (
        Attendee.objects.filter(party_id__in=parties, place=Place.WAITLISTED)
        .annotate(
            position=Window(RowNumber(), partition_by=[F("party_id")], order_by=list(LINE_ORDER))
        )
        .values_list("pk", "position")
    )
    return {pk: position for pk, position in ranked if pk in ids}
