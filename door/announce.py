"""A check-in's `Checked In to Party`, written once it has stood for the grace period.

A tap on the wrong guest is undone within seconds; had its event gone at once, a Klaviyo flow
would already be welcoming someone still outside. So the event waits `grace_period()` after
the server recorded the check-in (a task planned for then, `door.tasks`), and is written only
if the check-in still stands: an undo within the grace sends nothing. A periodic pass catches
check-ins whose task was lost. One event per registration (its occurrence is the attendee's
registration count): checking someone in again after an undo never sends a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from door.models import CheckIn
from parties.events.catalogue import local_iso, local_time_words
from parties.events.record import attendee_event, events_write, party_base
from parties.models import PartyMetric

# The periodic pass picks up a check-in this long after its own task should have run.
LOST_TASK_GRACE = timedelta(seconds=30)


def grace_period() -> timedelta:
    return timedelta(seconds=settings.DOOR_CHECKIN_GRACE_SECONDS)


@dataclass(frozen=True)
class Announced:
    """What looking at a check-in did: written its event (for the account to send), found it
    not wanted, or found it too early (come back at `retry_at`)."""

    written: bool = False
    connection_id: int | None = None
    retry_at: datetime | None = None


def checkin_announce(check_in_id: int) -> Announced:
    """Write the check-in's event if it has stood for the grace period (once, whatever
    number of tasks and passes arrive)."""
    now = timezone.now()
    with transaction.atomic():
        check_in = (
            CheckIn.objects.select_for_update()
            .select_related("attendee", "party__organization")
            .filter(pk=check_in_id, announced_at__isnull=True)
            .first()
        )
        if check_in is None:
            return Announced()  # decided already, or gone with its party
        due = check_in.checked_in_at + grace_period()
        if check_in.is_standing and due > now:
            return Announced(retry_at=due)  # early: its time is not yet
        CheckIn.objects.filter(pk=check_in.pk).update(announced_at=now)
        attendee, party = check_in.attendee, check_in.party
        # An undone check-in, an erased guest or a cancelled party tells Klaviyo nothing.
        if not check_in.is_standing or attendee.erased_at is not None or party.is_cancelled:
            return Announced()
        zone = party.organization.time_zone
        event = attendee_event(
            attendee,
            PartyMetric.CHECKED_IN,
            # Klaviyo's time for it is the guest's arrival, not the end of the grace.
            occurred_at=check_in.arrived_at,
            occurrence=f"{attendee.registrations}",
            base=party_base(party),
            extra={
                "checked_in_at": local_iso(check_in.arrived_at, zone),
                "checked_in_at_local": local_time_words(check_in.arrived_at, zone),
                "walk_in": check_in.walk_in,
            },
        )
        events_write([event])
    return Announced(written=True, connection_id=party.connection_id)


def unannounced_due(*, now: datetime | None = None) -> list[int]:
    """Standing check-ins whose event was due a while ago and is still undecided: their
    task was lost (the periodic pass announces them)."""
    now = now or timezone.now()
    before = now - grace_period() - LOST_TASK_GRACE
    return list(
        CheckIn.objects.filter(
            undone_at__isnull=True, announced_at__isnull=True, checked_in_at__lt=before
        ).values_list("pk", flat=True)
    )
