"""The party page's "Klaviyo flows" panel: for each metric, whether a live flow in the party's
Klaviyo account is triggered by it, as the last reading (parties.events.flows) found, in
words that say what attendees miss where none is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from parties.models import EventSender, Party, PartyMetric

# The metrics every party sends; the others show only once a flow uses them.
CORE_METRICS = (
    PartyMetric.REGISTERED,
    PartyMetric.STARTING_SOON,
    PartyMetric.DETAILS_CHANGED,
    PartyMetric.CANCELLED,
    PartyMetric.ENDED,
)

# What attendees miss while no live flow is triggered by the metric.
CONSEQUENCES: dict[str, str] = {
    PartyMetric.REGISTERED: "No live flow confirms a registration: attendees get no "
    "confirmation email.",
    PartyMetric.STARTING_SOON: "No live flow sends a reminder: attendees will not be reminded.",
    PartyMetric.DETAILS_CHANGED: "No live flow tells attendees about a change: they will not "
    "hear when the time or the place moves.",
    PartyMetric.CANCELLED: "No live flow announces a cancellation: attendees will not be told "
    "the party is off.",
    PartyMetric.ENDED: "No live flow follows up after the party: attendees get no thank-you.",
    PartyMetric.JOINED_WAITLIST: "No live flow confirms a waitlist place: people on the "
    "waitlist hear nothing.",
    PartyMetric.OFFERED_SPOT: "No live flow offers a freed spot: people on the waitlist will "
    "not learn of it.",
    PartyMetric.REGISTRATION_CANCELLED: "No live flow confirms a cancelled registration: "
    "attendees who cancel hear nothing.",
    PartyMetric.CHECKED_IN: "No live flow follows a check-in: nothing is sent at the door.",
}

# A requested reading not done after this is no longer announced as "reading now".
READING_SHOWN_FOR = timedelta(minutes=2)

KLAVIYO_FLOW_URL = "https://www.klaviyo.com/flow/{flow_id}/edit"


@dataclass(frozen=True)
class FlowLink:
    name: str
    url: str
    status: str = "live"


@dataclass(frozen=True)
class MetricFlows:
    name: str  # the metric's name in Klaviyo
    # "live" (a live flow sends), "draft" (flows exist, none live), "none" (no flow),
    # "no_metric" (the metric is not in Klaviyo yet, so no flow can use it).
    status: str
    live: list[FlowLink]
    other: list[FlowLink]
    consequence: str


@dataclass(frozen=True)
class FlowsPanel:
    rows: list[MetricFlows]
    read_at: datetime | None
    # "Read 4 minutes ago", "Not read yet".
    age: str
    # A reading was asked for and is not done yet.
    reading: bool
    error: str


def flows_panel(*, party: Party) -> FlowsPanel:
    """The panel of the party's Klaviyo account, from its last reading (no Klaviyo call)."""
    sender = EventSender.objects.filter(pk=party.connection_id).first()
    if sender is None or sender.flows_read_at is None:
        # Never read: the sweep asks within a minute, unless the last try said why it cannot.
        error = sender.flows_error if sender else ""
        return FlowsPanel(rows=[], read_at=None, age="Not read yet", reading=not error, error=error)
    account_id = party.connection.klaviyo_account_id
    rows = [
        _row(metric, sender.flows.get(metric.value), account_id)
        for metric in PartyMetric
        if metric in CORE_METRICS or _has_flows(sender.flows.get(metric.value))
    ]
    return FlowsPanel(
        rows=rows,
        read_at=sender.flows_read_at,
        age=_age(sender.flows_read_at),
        reading=_reading(sender),
        error=sender.flows_error,
    )


def _row(metric: PartyMetric, found: dict[str, Any] | None, account_id: str) -> MetricFlows:
    if found is None:
        status = "no_metric"
        live: list[FlowLink] = []
        other: list[FlowLink] = []
    else:
        live = [_link(flow, account_id) for flow in found.get("live", [])]
        other = [_link(flow, account_id) for flow in found.get("other", [])]
        status = "live" if live else "draft" if other else "none"
    return MetricFlows(
        name=str(metric.label),
        status=status,
        live=live,
        other=other,
        consequence=CONSEQUENCES[metric],
    )


def _has_flows(found: dict[str, Any] | None) -> bool:
    return bool(found and (found.get("live") or found.get("other")))


def _link(flow: dict[str, Any], account_id: str) -> FlowLink:
    return FlowLink(
        name=flow["name"],
        url=flow_url(flow["id"], account_id=account_id),
        status=flow.get("status", "live"),
    )


def flow_url(flow_id: str, *, account_id: str) -> str:
    """Where an organizer opens the flow: in Klaviyo, or with the sandbox Klaviyo, its flows
    page for the account (the sandbox has no flow editor)."""
    if settings.KLAVIYO_BASE_URL.rstrip("/") == settings.SANDBOX_URL.rstrip("/"):
        return f"{settings.SANDBOX_URL.rstrip('/')}/accounts/{account_id}/flows/"
    return KLAVIYO_FLOW_URL.format(flow_id=flow_id)


def _age(read_at: datetime) -> str:
    """How long ago, rounded down ("Read 4 minutes ago" until it is five)."""
    minutes = int((timezone.now() - read_at).total_seconds() // 60)
    if minutes < 1:
        return "Read less than a minute ago"
    if minutes < 120:
        return f"Read {minutes} minute{'s' if minutes != 1 else ''} ago"
    if minutes < 48 * 60:
        return f"Read {minutes // 60} hours ago"
    return f"Read {minutes // (24 * 60)} days ago"


def _reading(sender: EventSender) -> bool:
    """A reading was asked for since the last one, recently enough to be under way."""
    requested = sender.flows_requested_at
    if requested is None or (sender.flows_read_at and requested <= sender.flows_read_at):
        return False
    return requested > timezone.now() - READING_SHOWN_FOR
