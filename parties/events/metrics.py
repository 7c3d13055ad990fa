"""Klaviyo's ids of Partyline's metrics in an account, learnt once and kept on the account's
`EventSender`: reading events back and reading the flows they trigger both start from them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from integrations.klaviyo.client import KlaviyoClient
from parties.events.catalogue import metric_name
from parties.models import EventSender, PartyMetric

# Where a metric without a creation time sorts.
LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class MetricIds:
    # Klaviyo's id of each wanted metric that exists in the account, by stored value.
    ids: dict[str, str]
    # Read calls it took (0: every wanted metric was already known).
    calls: int


def metric_ids(sender: EventSender, client: KlaviyoClient, *, wanted: Iterable[str]) -> MetricIds:
    """Klaviyo's ids of the `wanted` metrics (by stored value), learnt once per account: the
    first event of a name creates its metric, so one not there yet is looked for again on a
    later read. Two metrics of one name (another source's): the oldest is taken."""
    wanted = list(wanted)
    known: dict[str, str] = dict(sender.metric_ids)
    calls = 0
    if any(metric_name(metric) not in known for metric in wanted):
        calls += 1
        ours = {str(metric.label) for metric in PartyMetric}
        oldest_first = sorted(client.get_metrics(), key=lambda metric: metric.created or LATEST)
        for metric in oldest_first:
            if metric.name in ours:
                known.setdefault(metric.name, metric.id)
        EventSender.objects.filter(pk=sender.pk).update(metric_ids=known)
        sender.metric_ids = known
    ids = {metric: known[metric_name(metric)] for metric in wanted if metric_name(metric) in known}
    return MetricIds(ids=ids, calls=calls)
