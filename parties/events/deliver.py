"""Reading back: an event is "sent" when Klaviyo accepted it (202) and "delivered" only once
Klaviyo shows it recorded (`GET /api/events`). Klaviyo silently drops events of profiles it
rejects: those never show up, and end `not_recorded` after `give_up`.

Reads are per account and metric over the time the due events happened, 200 events a page:
at most one read per 200 events. An event not found yet is looked at again at doubling
intervals (`core.backoff.next_look_at`), so a slow one costs a few reads, not one a second.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from core.backoff import next_look_at
from integrations.klaviyo.client import KlaviyoClient
from parties.events.config import events_config
from parties.events.metrics import metric_ids
from parties.events.outcomes import EventsReport
from parties.models import EventSender, EventState, PartyEvent

NOT_RECORDED_REASON = (
    "Klaviyo accepted this event but never recorded it: it drops the events of profiles it "
    "rejects (an address it will not accept). No flow was started for it."
)


def read_back(sender: EventSender, client: KlaviyoClient, report: EventsReport) -> None:
    """Look for the sent events whose look is due in what Klaviyo recorded."""
    now = timezone.now()
    due: dict[str, list[PartyEvent]] = defaultdict(list)
    for event in _sent(sender.connection_id, now):
        if next_look_at(event.sent_at or now, event.checked_at, interval=_interval()) <= now:
            due[event.metric].append(event)
    if not due:
        return
    known = metric_ids(sender, client, wanted=due)
    report.read_calls += known.calls
    for metric, events in due.items():
        recorded: set[str] = set()
        if metric in known.ids:
            # Klaviyo keeps an event's time to the second.
            since = min(event.occurred_at for event in events).replace(microsecond=0)
            until = max(event.occurred_at for event in events) + timedelta(seconds=1)
            found = client.get_events(metric_id=known.ids[metric], since=since, until=until)
            report.read_calls += max(1, -(-len(found) // 200))
            recorded = {event.unique_id for event in found}
        _record(events, recorded, now, report)


def _record(
    events: list[PartyEvent], recorded: set[str], now: datetime, report: EventsReport
) -> None:
    sent = PartyEvent.objects.filter(state=EventState.SENT)
    delivered = [event.pk for event in events if event.unique_id in recorded]
    report.delivered += sent.filter(pk__in=delivered).update(
        state=EventState.DELIVERED, delivered_at=now, reason=""
    )
    missing = [event for event in events if event.unique_id not in recorded]
    give_up = now - events_config().give_up
    dropped = {event.pk for event in missing if event.sent_at and event.sent_at <= give_up}
    report.not_recorded += sent.filter(pk__in=dropped).update(
        state=EventState.NOT_RECORDED, reason=NOT_RECORDED_REASON, checked_at=now
    )
    sent.filter(pk__in=[event.pk for event in missing if event.pk not in dropped]).update(
        checks=F("checks") + 1, checked_at=now
    )


def _sent(connection_id: int, now: datetime) -> Iterator[PartyEvent]:
    return (
        PartyEvent.objects.filter(
            connection_id=connection_id,
            state=EventState.SENT,
            sent_at__lte=now - _interval(),
        )
        .only("pk", "metric", "unique_id", "occurred_at", "sent_at", "checked_at", "checks")
        .order_by("pk")
        .iterator(chunk_size=2000)
    )


def _interval() -> timedelta:
    return events_config().verify_interval


def next_look(sent_at: datetime | None, checked_at: datetime | None) -> datetime:
    """When a sent event is next looked for (now, if it has no sending time)."""
    if sent_at is None:
        return timezone.now()
    return next_look_at(sent_at, checked_at, interval=_interval())
