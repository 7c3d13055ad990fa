"""Reading back: an event is "sent" when Klaviyo accepted it (202) and "delivered" only once
Klaviyo shows it recorded (`GET /api/events`). Klaviyo silently drops events of profiles it
rejects: those never show up, and end `not_recorded` after `give_up`.

Reads are per account and metric over the time the due events happened, 200 events a page:
at most one read per 200 events. Klaviyo records a big batch over a while, so paging through
it at every look would read the early part again and again: a look first asks how many
events of the metric Klaviyo holds for that time (`count_events`, one call), and pages through
them only once the count covers what was sent, or stopped moving since the last look (Klaviyo
is done, and dropped some), or an event waited `give_up` (then it was dropped). An event not
found yet is looked at again at doubling intervals (`core.backoff.next_look_at`), so a slow
one costs a few looks, not one a second.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from core.backoff import next_look_at
from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.errors import KlaviyoError
from integrations.klaviyo.refusals import NOT_REFUSALS
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
    counts: dict[str, int] = {}
    for metric, events in due.items():
        recorded: set[str] = set()
        if metric in known.ids:
            # Klaviyo keeps an event's time to the second.
            since = min(event.occurred_at for event in events).replace(microsecond=0)
            until = max(event.occurred_at for event in events) + timedelta(seconds=1)
            metric_id = known.ids[metric]
            if not _worth_paging(
                sender, client, metric, metric_id, since, until, events, counts, report
            ):
                _looked(events, now)
                continue
            found = client.get_events(metric_id=metric_id, since=since, until=until)
            report.read_calls += max(1, -(-len(found) // 200))
            recorded = {event.unique_id for event in found}
        _record(events, recorded, now, report)
    EventSender.objects.filter(pk=sender.pk).update(recorded_counts=counts)
    sender.recorded_counts = counts


def _worth_paging(
    sender: EventSender,
    client: KlaviyoClient,
    metric: str,
    metric_id: str,
    since: datetime,
    until: datetime,
    events: list[PartyEvent],
    counts: dict[str, int],
    report: EventsReport,
) -> bool:
    """Whether Klaviyo is done recording what we look for (see the module's docstring); the
    count is kept in `counts` for the next look."""
    give_up = timezone.now() - events_config().give_up
    if any(event.sent_at and event.sent_at <= give_up for event in events):
        return True
    try:
        recorded = client.count_events(metric_id=metric_id, since=since, until=until)
    except NOT_REFUSALS:
        raise
    except KlaviyoError:
        return True  # Klaviyo will not count them: page through them instead
    report.read_calls += 1
    key = f"{metric}|{since.isoformat()}|{until.isoformat()}"
    previous = sender.recorded_counts.get(key)
    counts[key] = recorded
    sent = PartyEvent.objects.filter(
        connection_id=sender.pk,
        metric=metric,
        state__in=[EventState.SENT, EventState.DELIVERED],
        occurred_at__gte=since,
        occurred_at__lt=until,
    ).count()
    return recorded >= sent or recorded == previous


def _looked(events: list[PartyEvent], now: datetime) -> None:
    PartyEvent.objects.filter(pk__in=[e.pk for e in events], state=EventState.SENT).update(
        checks=F("checks") + 1, checked_at=now
    )


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
    _looked([event for event in missing if event.pk not in dropped], now)


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
