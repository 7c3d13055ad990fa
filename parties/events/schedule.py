"""The party's scheduled moments: reminders at lead times before the start, and the end.

A moment is one row per party (not one per attendee): when it comes, `moment_fire` writes the
event for every attendee registered then, in one transaction, so someone who registers after
a reminder went out gets only the later ones, and a cancelled registration gets none.
`moments_plan` runs whenever the party's time, end or lead times change: moments not yet
fired move, and a moment already fired stays fired (it is history).

Times are stored in UTC and computed in the organization's zone: "24 hours before a 6 pm
party" is 6 pm the day before on the wall clock, whatever daylight saving does in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.timezones import zone_for
from parties.attendance import with_attendance
from parties.events.catalogue import occurrence_of
from parties.events.record import party_event_record, registered_attendees
from parties.models import Attendee, Party, PartyMetric, PartyMoment

# Reminders further ahead than this make no sense (and keep a typo from planning a year).
MAX_LEAD_HOURS = 24 * 14


@dataclass(frozen=True)
class Fired:
    """What firing a moment did: the events written, and for which account."""

    events: int
    connection_id: int | None


def lead_hours(party: Party) -> list[int]:
    """The party's reminder lead times, largest first (its own, or its organization's)."""
    hours = (
        party.reminder_hours
        if party.reminder_hours is not None
        else (party.organization.reminder_hours)
    )
    return sorted({int(h) for h in hours if 0 < int(h) <= MAX_LEAD_HOURS}, reverse=True)


def reminder_due_at(starts_at: datetime, hours_before: int, zone_name: str) -> datetime:
    """When the reminder `hours_before` the start is due: whole days on the organization's
    wall clock (the same time of day), the remaining hours as elapsed time."""
    days, hours = divmod(hours_before, 24)
    local_start = timezone.localtime(starts_at, zone_for(zone_name))
    # Arithmetic on an aware datetime keeps its wall clock; the offset follows the new date.
    same_time_days_before = (local_start - timedelta(days=days)).astimezone(UTC)
    return same_time_days_before - timedelta(hours=hours)


def wanted_moments(party: Party) -> set[tuple[str, int, datetime]]:
    """(metric, hours before, due time) of every moment the party should have."""
    if party.is_cancelled:
        return set()
    zone_name = party.organization.time_zone
    wanted = {
        (PartyMetric.STARTING_SOON.value, hours, reminder_due_at(party.starts_at, hours, zone_name))
        for hours in lead_hours(party)
    }
    wanted.add((PartyMetric.ENDED.value, 0, party.ends_at_or_default))
    return wanted


def moments_plan(party: Party) -> list[PartyMoment]:
    """Bring the party's moments in line with its time, end and lead times; the moments that
    are new (the caller schedules their firing). Only moments still ahead are added: a party
    created two hours before it starts gets no day-before reminder."""
    now = timezone.now()
    wanted = wanted_moments(party)
    with transaction.atomic():
        existing = {
            (moment.metric, moment.hours_before, moment.due_at): moment
            for moment in PartyMoment.objects.select_for_update().filter(party=party)
        }
        stale = [
            moment.pk
            for key, moment in existing.items()
            if moment.fired_at is None and key not in wanted
        ]
        PartyMoment.objects.filter(pk__in=stale, fired_at__isnull=True).delete()
        new = [
            PartyMoment(party=party, metric=metric, hours_before=hours, due_at=due_at)
            for metric, hours, due_at in sorted(wanted - existing.keys(), key=lambda m: m[2])
            if due_at > now
        ]
        PartyMoment.objects.bulk_create(new)
    return new


def moment_fire(moment_id: int) -> Fired:
    """The moment has come: mark it fired (once, however many tasks arrive) and write its
    event for every attendee registered now, in the same transaction."""
    now = timezone.now()
    with transaction.atomic():
        # The guard: a moment fires once, and not before it is due.
        if not PartyMoment.objects.filter(
            pk=moment_id, fired_at__isnull=True, due_at__lte=now
        ).update(fired_at=now):
            return Fired(0, None)
        moment = PartyMoment.objects.select_related("party__organization").get(pk=moment_id)
        party = moment.party
        if party.is_cancelled:
            return Fired(0, None)
        if moment.metric == PartyMetric.STARTING_SOON:
            if now >= party.starts_at:
                return Fired(0, None)  # too late to remind anyone
            written = party_event_record(
                party,
                PartyMetric.STARTING_SOON,
                occurred_at=moment.due_at,
                occurrence=f"{moment.hours_before}h-{occurrence_of(moment.due_at)}",
                extra={"hours_before": moment.hours_before},
            )
        else:
            # `attended`: whether a check-in at the door stands for them now, read with the
            # registered attendees in the same query (one per party, not one per attendee).
            written = party_event_record(
                party,
                PartyMetric.ENDED,
                occurred_at=moment.due_at,
                occurrence=occurrence_of(moment.due_at),
                attendees=with_attendance(registered_attendees(party)),
                extra_of=_attended,
            )
    return Fired(written, party.connection_id)


def _attended(attendee: Attendee) -> dict[str, bool]:
    return {"attended": getattr(attendee, "checked_in_at", None) is not None}


def moments_due(*, before: datetime) -> list[int]:
    """Moments due before `before` and not fired: a lost task's (the sweep fires them)."""
    return list(
        PartyMoment.objects.filter(fired_at__isnull=True, due_at__lt=before).values_list(
            "pk", flat=True
        )
    )
