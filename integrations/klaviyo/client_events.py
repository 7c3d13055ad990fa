"""`KlaviyoClient`'s operations on events, metrics and flows: sending lifecycle events, reading
them back, and finding the flows they trigger.

A mixin, so `KlaviyoClient` keeps one face while its modules stay small: it needs only the
client's `_transport`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from integrations.klaviyo.bodies import (
    OutgoingEvent,
    bulk_create_events_body,
    create_event_body,
    metric_count_body,
)
from integrations.klaviyo.filters import all_of, compare, equals
from integrations.klaviyo.paging import paginate, segment
from integrations.klaviyo.records import (
    Event,
    Flow,
    JSONDict,
    Metric,
    MetricAggregate,
    primary_resource,
)
from integrations.klaviyo.transport import Transport


class EventOperations:
    _transport: Transport

    # Events -----------------------------------------------------------------------------------

    def create_event(self, *, event: OutgoingEvent) -> None:
        """Send one event. Klaviyo answers 202 with no body: accepted for processing, not yet
        recorded (read it back with `get_events`).

        Retried like any idempotent call: Klaviyo records only the first event of a profile,
        metric and `unique_id` and answers a repeat with 202 as well, so a replay whose first
        attempt did land changes nothing and reports the truth."""
        self._transport.request(
            "POST", "/api/events", operation="create_event", json=create_event_body(event=event)
        )

    def bulk_create_events(self, *, events: Sequence[OutgoingEvent]) -> None:
        """Send up to 1,000 events in one call (no repeated `unique_id`). Klaviyo answers 202
        with no body and no job: per-event outcomes are never reported, only read back.

        Not replayed once it may have reached Klaviyo (`idempotent=False`), unlike a profile
        import: Klaviyo deduplicates events by `unique_id`, but a bulk create repeating a
        `unique_id` "will fail and no events will be processed", so a blind replay of a batch
        that did land could come back as a rejection of events that were in fact accepted.
        The caller gets `KlaviyoUnavailable` instead (outcome unknown) and resends the same
        events, with the same unique_ids, knowing that."""
        self._transport.request(
            "POST",
            "/api/event-bulk-create-jobs",
            operation="bulk_create_events",
            json=bulk_create_events_body(events=events),
            idempotent=False,
        )

    def get_events(
        self,
        *,
        metric_id: str,
        since: datetime,
        until: datetime,
        profile_id: str | None = None,
    ) -> list[Event]:
        """The events of one metric recorded at or after `since` and before `until` (both with
        a zone), optionally of one profile only, oldest first, 200 a page."""
        terms = [
            equals("metric_id", metric_id),
            compare("greater-or-equal", "datetime", since),
            compare("less-than", "datetime", until),
        ]
        if profile_id is not None:
            terms.append(equals("profile_id", profile_id))
        resources = paginate(
            self._transport,
            "/api/events",
            operation="get_events",
            params={"filter": all_of(*terms), "sort": "datetime"},
        )
        return [Event.from_resource(resource) for resource in resources]

    def count_events(self, *, metric_id: str, since: datetime, until: datetime) -> int:
        """How many events of one metric Klaviyo has recorded that happened in [since, until)
        (`POST /api/metric-aggregates`, a read: one call however many events). Cheaper than
        paging through them to learn whether Klaviyo has finished recording a batch."""
        document = self._transport.request(
            "POST",
            "/api/metric-aggregates",
            operation="query_metric_aggregates",
            json=metric_count_body(metric_id=metric_id, since=since, until=until),
        )
        return MetricAggregate.from_resource(primary_resource(document)).total("count")

    # Metrics and flows ------------------------------------------------------------------------

    def get_metrics(
        self, *, integration_name: str | None = None, integration_category: str | None = None
    ) -> list[Metric]:
        """The account's metrics (Klaviyo pages them by 200), optionally only an integration's:
        the spec filters on nothing else (not on the name)."""
        terms = []
        if integration_name is not None:
            terms.append(equals("integration.name", integration_name))
        if integration_category is not None:
            terms.append(equals("integration.category", integration_category))
        params: JSONDict = {"filter": all_of(*terms)} if terms else {}
        resources = paginate(
            self._transport, "/api/metrics", operation="get_metrics", params=params
        )
        return [Metric.from_resource(resource) for resource in resources]

    def get_flows_triggered_by_metric(self, *, metric_id: str) -> list[Flow]:
        """Every flow the metric triggers, whatever its status (draft, manual, live) and
        archived or not: the caller picks the live ones."""
        resources = paginate(
            self._transport,
            f"/api/metrics/{segment(metric_id)}/flow-triggers",
            operation="get_flows_triggered_by_metric",
        )
        return [Flow.from_resource(resource) for resource in resources]

    def get_flow(self, *, flow_id: str) -> Flow:
        document = self._transport.request(
            "GET", f"/api/flows/{segment(flow_id)}", operation="get_flow"
        )
        return Flow.from_resource(primary_resource(document))
