"""Sending: claim a batch of waiting events of one Klaviyo account (every party's), send it in
one call, within the window rule.

The window rule: *while a rush lasts, an account gets at most one event write call per
coalescing window (`EVENTS_SEND_WINDOW_SECONDS`); only a full batch of 1,000 may be followed
at once by another.* A lone event goes out as one `POST /api/events` (the single create's
budget is 35 times the bulk one's), more as one bulk create job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Case, F, JSONField, QuerySet, Value, When
from django.utils import timezone

from core.outbox import claim_batch as claim_outbox_batch
from integrations.klaviyo.bodies import OutgoingEvent, bulk_event_index
from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.errors import KlaviyoError
from integrations.klaviyo.refusals import send_without_refused
from integrations.models import KlaviyoConnection
from integrations.services import connection_record_success
from parties.events.catalogue import metric_name
from parties.events.config import events_config
from parties.events.gates import EVENTS_GATE, EVENTS_LEASE
from parties.events.outcomes import EventsReport, stop_for
from parties.models import EventSender, EventState, PartyEvent, PartyMetric
from parties.sync.outcomes import KLAVIYO_STOPS, reason
from parties.waitlist import positions_now


def send_due(
    connection: KlaviyoConnection, client: KlaviyoClient, holder: str, report: EventsReport
) -> None:
    """Send what the window allows: one batch, or back-to-back batches while they are full."""
    config = events_config()
    connection_id = connection.pk
    while EVENTS_GATE.is_open(connection_id):
        EVENTS_LEASE.renew(connection_id, holder=holder, seconds=config.lease.total_seconds())
        batch, claimed_at = claim_batch(connection_id)
        batch = waitlist_positions_fill(batch, claimed_at)
        if not batch:
            return
        _send_batch(connection, client, batch, claimed_at, report)
        if len(batch) < config.batch:
            # A partial batch: what trickles in next waits for the window.
            EVENTS_GATE.close_for(connection_id, config.window.total_seconds())
            return


def claim_batch(connection_id: int) -> tuple[list[PartyEvent], datetime]:
    """Mark up to one batch of the account's *waiting* events `sending` (the state filter is
    the guard: an event sent, withdrawn or claimed by another worker is never claimed)."""
    claimed_at = timezone.now()
    ids = claim_outbox_batch(
        PartyEvent.objects.filter(connection_id=connection_id),
        size=events_config().batch,
        state_field="state",
        waiting_state=EventState.WAITING,
        claimed_state=EventState.SENDING,
        updates={"claimed_at": claimed_at, "attempts": F("attempts") + 1},
    )
    return list(PartyEvent.objects.filter(pk__in=ids).order_by("pk")), claimed_at


# How long a signup's transaction may take between joining the waitlist and committing
# (milliseconds, in practice) before a later join's position is counted.
JOIN_SETTLE = timedelta(seconds=2)


def waitlist_positions_fill(batch: list[PartyEvent], claimed_at: datetime) -> list[PartyEvent]:
    """A `Joined Party Waitlist` tells the person's place in line as it is when it goes out,
    counted among committed joins (a join cannot count the joins committing beside it, so it
    leaves `position` to be filled here). Someone no longer waiting by then (moved up, left)
    gets none: the event is withdrawn. The batch left to send."""
    joins = [
        event
        for event in batch
        if event.metric == PartyMetric.JOINED_WAITLIST and "position" not in event.properties
    ]
    if not joins:
        return batch
    # A join stamped a moment before this one may still be committing, unseen: a join is
    # counted once every join before it has had JOIN_SETTLE to commit (back to waiting
    # until then: the next run counts it).
    settled = claimed_at - JOIN_SETTLE
    unsettled = [event for event in joins if event.occurred_at > settled]
    release(unsettled, claimed_at)
    joins = [event for event in joins if event.occurred_at <= settled]
    positions = positions_now(event.attendee_id for event in joins if event.attendee_id)
    gone, told = [], []
    for event in joins:
        position = positions.get(event.attendee_id or 0)
        if position is None:
            gone.append(event)
        else:
            event.properties["position"] = position
            told.append(event)
    if told:  # one statement for the batch, still only for this run's claim
        _claimed(told, claimed_at).update(
            properties=Case(
                *(When(pk=event.pk, then=Value(event.properties, JSONField())) for event in told)
            )
        )
    _claimed(gone, claimed_at).update(
        state=EventState.WITHDRAWN, reason="They left the waitlist before this was sent."
    )
    return [event for event in batch if event not in gone and event not in unsettled]


def outgoing(event: PartyEvent) -> OutgoingEvent:
    return OutgoingEvent(
        metric=metric_name(event.metric),
        email=event.email,
        first_name=event.first_name,
        last_name=event.last_name,
        properties=event.properties,
        time=event.occurred_at,
        unique_id=event.unique_id,
    )


def _send_batch(
    connection: KlaviyoConnection,
    client: KlaviyoClient,
    batch: list[PartyEvent],
    claimed_at: datetime,
    report: EventsReport,
) -> None:
    """One call for the batch; the events Klaviyo accepted become `sent`, one it refused
    (a 4xx pointing at it) `rejected` with its reason."""

    def send(events: list[PartyEvent]) -> None:
        report.write_calls += 1
        if len(events) == 1:
            client.create_event(event=outgoing(events[0]))
        else:
            client.bulk_create_events(events=[outgoing(event) for event in events])

    def locate(pointer: str | None, events: list[PartyEvent]) -> int | None:
        return bulk_event_index(pointer, [outgoing(event) for event in events])

    def refused(events: list[PartyEvent], error: KlaviyoError, at_fault: bool) -> None:
        report.rejected += _claimed(events, claimed_at).update(
            state=EventState.REJECTED, reason=reason(error)
        )

    try:
        accepted = send_without_refused(batch, send, locate=locate, refused=refused)
    except KLAVIYO_STOPS as error:
        release(batch, claimed_at)
        raise stop_for(connection.pk, error) from None
    except BaseException:
        release(batch, claimed_at)
        raise
    now = timezone.now()
    report.sent += _claimed(accepted, claimed_at).update(
        state=EventState.SENT, sent_at=now, checks=0, checked_at=None, reason=""
    )
    EventSender.objects.filter(pk=connection.pk).update(last_sent_at=now, failures=0)
    connection_record_success(connection=connection)


def _claimed(events: list[PartyEvent], claimed_at: datetime) -> QuerySet[PartyEvent]:
    """These events, while they are still this run's claim."""
    return PartyEvent.objects.filter(
        pk__in=[event.pk for event in events], state=EventState.SENDING, claimed_at=claimed_at
    )


def release(events: list[PartyEvent], claimed_at: datetime) -> None:
    """Put a claimed batch back to waiting: the call failed, or may have (its outcome is
    unknown); the resend carries the same unique_ids, so nothing is recorded twice."""
    _claimed(events, claimed_at).update(state=EventState.WAITING)
