"""Writing events into the outbox, in the caller's transaction: the row exists exactly when
the change that causes it commits. Nothing here calls Klaviyo or enqueues a task; the caller
plans the account's event sender (`parties.tasks.events_send_request`).

A row's `unique_id` comes from the attendee, the action and its occurrence, and is unique in
the table too: writing the same event twice (a retried request, a moment fired again) writes
it once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from core.links import absolute_url
from parties.events.catalogue import (
    SAMPLE_PARTY,
    attendee_properties,
    local_iso,
    local_time_words,
    occurrence_of,
    party_properties,
    unique_id,
)
from parties.models import (
    Attendee,
    EventState,
    Party,
    PartyEvent,
    PartyMetric,
    Place,
)

# Rows written per INSERT when a whole party's attendees get an event.
WRITE_CHUNK = 1000


def registered_attendees(party: Party) -> QuerySet[Attendee]:
    """The people registered for the party: who its reminders and its end go to."""
    return Attendee.objects.filter(party=party, place=Place.REGISTERED)


def concerned_attendees(party: Party) -> QuerySet[Attendee]:
    """Everyone whose plans the party's news touches (a new time or place, its cancellation):
    the registered, and those offered a place or waiting for one. Not who cancelled."""
    return Attendee.objects.filter(party=party).exclude(place=Place.CANCELLED)


def attendee_event(
    attendee: Attendee,
    metric: PartyMetric,
    *,
    occurred_at: datetime,
    occurrence: str,
    base: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> PartyEvent:
    """An unsaved event for one attendee: the party's properties (`base`, built once per
    party), the attendee's answers, and the action's own (`extra`)."""
    return PartyEvent(
        connection_id=base["connection_id"],
        party_id=attendee.party_id,
        attendee_id=attendee.pk,
        metric=metric,
        unique_id=unique_id(metric=metric, occurrence=occurrence, attendee_id=attendee.pk),
        occurred_at=occurred_at,
        email=attendee.email,
        first_name=attendee.first_name,
        last_name=attendee.last_name,
        properties={**base["properties"], **attendee_properties(attendee), **(extra or {})},
    )


def party_base(party: Party) -> dict[str, Any]:
    return {"connection_id": party.connection_id, "properties": party_properties(party)}


def attendee_event_record(
    attendee: Attendee,
    metric: PartyMetric,
    *,
    occurrence: str,
    extra: dict[str, Any] | None = None,
    party: Party | None = None,
) -> int:
    """Write one attendee's event (a repeat of one written before changes nothing)."""
    party = party or attendee.party
    event = attendee_event(
        attendee,
        metric,
        occurred_at=timezone.now(),
        occurrence=occurrence,
        base=party_base(party),
        extra=extra,
    )
    return events_write([event])


def party_event_record(
    party: Party,
    metric: PartyMetric,
    *,
    occurred_at: datetime,
    occurrence: str,
    extra: dict[str, Any] | None = None,
    attendees: QuerySet[Attendee] | None = None,
    extra_of: Callable[[Attendee], dict[str, Any]] | None = None,
) -> int:
    """Write the event for every registered attendee of the party (or `attendees`), a chunk
    per INSERT, with `extra` and each one's own `extra_of(attendee)` (read from their row:
    the query stays one per chunk); how many were written (repeats included: they change
    nothing)."""
    base = party_base(party)
    people = registered_attendees(party) if attendees is None else attendees
    events = (
        attendee_event(
            attendee,
            metric,
            occurred_at=occurred_at,
            occurrence=occurrence,
            base=base,
            extra={**(extra or {}), **(extra_of(attendee) if extra_of else {})},
        )
        for attendee in people.order_by("pk").iterator(chunk_size=WRITE_CHUNK)
    )
    return sum(events_write(chunk) for chunk in _chunks(events, WRITE_CHUNK))


def sample_events_record(
    *, connection_id: int, email: str, first_name: str, last_name: str, party: Party | None
) -> int:
    """One sample event of each metric for an organizer (`sample: true`), so the metrics
    exist in Klaviyo before the first attendee and flows can be built and previewed."""
    now = timezone.now()
    properties = party_properties(party) if party is not None else dict(SAMPLE_PARTY)
    # A sample has no attendee, so no page of its own: its links lead to the public page.
    public_page = properties.get("party_url") or absolute_url("/")
    properties |= {
        "pet_name": "Biscuit",
        "pet_type": "dog",
        "manage_url": public_page,
        "calendar_url": properties.get("calendar_url") or public_page,
        "sample": True,
    }
    offer_ends = now + timedelta(hours=24)
    extras: dict[str, dict[str, Any]] = {
        PartyMetric.REGISTERED: {"from_waitlist": False},
        PartyMetric.JOINED_WAITLIST: {"position": 1},
        PartyMetric.OFFERED_SPOT: {
            "offer_expires_at": local_iso(offer_ends, properties.get("time_zone") or "UTC"),
            "offer_expires_at_local": local_time_words(
                offer_ends, properties.get("time_zone") or "UTC"
            ),
            "claim_window_hours": 24,
        },
        PartyMetric.REGISTRATION_CANCELLED: {"cancelled_by": "attendee"},
        PartyMetric.STARTING_SOON: {"hours_before": 24},
        PartyMetric.DETAILS_CHANGED: {
            "changed": "starts_at",
            "time_changed": True,
            "place_changed": False,
        },
        PartyMetric.ENDED: {"attended": True},
        PartyMetric.CHECKED_IN: {
            "checked_in_at": local_iso(now, properties.get("time_zone") or "UTC"),
            "checked_in_at_local": local_time_words(now, properties.get("time_zone") or "UTC"),
            "walk_in": False,
        },
    }
    events = [
        PartyEvent(
            connection_id=connection_id,
            party=party,
            metric=metric,
            unique_id=unique_id(metric=metric, occurrence=occurrence_of(now), sample=connection_id),
            occurred_at=now,
            email=email,
            first_name=first_name,
            last_name=last_name,
            properties=properties | extras.get(metric, {}),
        )
        for metric in PartyMetric
    ]
    return events_write(events)


def events_withdraw(events: QuerySet[PartyEvent], why: str) -> int:
    """Take back events not sent yet (the guard: only `waiting` ones; one being sent goes)."""
    return events.filter(state=EventState.WAITING).update(
        state=EventState.WITHDRAWN, reason=why[:500]
    )


def events_write(events: list[PartyEvent]) -> int:
    if not events:
        return 0
    # A row with the same unique_id is the same event: the database keeps the first.
    PartyEvent.objects.bulk_create(events, ignore_conflicts=True)
    return len(events)


def _chunks(items: Iterable[PartyEvent], size: int) -> Iterator[list[PartyEvent]]:
    chunk: list[PartyEvent] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
