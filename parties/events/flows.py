"""Which Klaviyo flows each of Partyline's metrics triggers, per Klaviyo account: read by a
task (`parties.tasks.read_flows`) on a schedule and when a party page asks, never inside a
request, and kept on the account's `EventSender` for the party page's "Klaviyo flows" panel.

A reading costs one `GET /api/metrics` while one of the metrics is not known yet (see
`parties.events.metrics`), then one `GET /api/metrics/{id}/flow-triggers` per metric that
exists: at most ten calls. The triggers list carries each flow's status and archived flag,
so no `GET /api/flows/{id}` (flows:read's 3/s, 60/min) is needed; the transport paces every
call within the account's budgets (flow-triggers: 10/s, 150/min), and a 429 it will not wait
out inline ends the reading with a time to come back.

`EventSender.flows` is {metric value: {"metric_id", "live": [{"id", "name"}], "other":
[{"id", "name", "status"}]}} for each metric that exists in the account; archived flows are
left out. A failed reading keeps the last good one and says why in `flows_error`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core.wording import wait_text
from integrations.clients import klaviyo_client
from integrations.errors import ConnectionUnusable
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.errors import (
    KlaviyoAuthError,
    KlaviyoError,
    KlaviyoRateLimited,
    KlaviyoUnavailable,
)
from integrations.klaviyo.records import Flow
from integrations.models import ConnectionStatus, KlaviyoConnection
from integrations.scopes import events_missing_scopes
from parties.events.metrics import metric_ids
from parties.models import EventSender, Party, PartyMetric
from parties.sync.outcomes import reason

logger = logging.getLogger(__name__)

# An account with parties has its flows read this often ...
FLOWS_READ_EVERY = timedelta(minutes=15)
# ... and a party page's Refresh is taken at most once in this long.
FLOWS_REFRESH_GAP = timedelta(seconds=30)

LIVE = "live"

NEEDS_RECONNECT = (
    "The Klaviyo connection needs reconnecting: Partyline cannot read its flows until then."
)
TOKENS_UNREADABLE = "The server cannot read its Klaviyo tokens: the operator must fix it."


@dataclass
class FlowsReport:
    # "read", "waiting" (a person must act first), "failed", "rate_limited", "gone".
    outcome: str = "read"
    calls: int = 0
    # Klaviyo asked to come back later: read again then.
    retry_at: datetime | None = None


def flows_read(connection_id: int) -> FlowsReport:
    """Read which flows the account's Partyline metrics trigger and keep it on its sender;
    on failure keep the last reading and record why, for the organizer."""
    report = FlowsReport()
    sender = EventSender.objects.select_related("connection").filter(pk=connection_id).first()
    if sender is None:
        report.outcome = "gone"
        return report
    why = _cannot_read(sender.connection)
    if why:
        _failed(connection_id, why)
        report.outcome = "waiting"
        return report
    try:
        flows = _read(sender, klaviyo_client(connection=sender.connection), report)
    except KlaviyoRateLimited as error:
        wait = max(error.retry_after, 1)
        report.outcome = "rate_limited"
        report.retry_at = timezone.now() + timedelta(seconds=wait)
        _failed(
            connection_id,
            f"Klaviyo asked Partyline to slow down; the flows are read again in {wait_text(wait)}.",
        )
    except (KlaviyoUnavailable, KlaviyoAuthError) as error:
        report.outcome = "failed"
        logger.warning("Klaviyo did not answer reading the flows of connection %s", connection_id)
        _failed(
            connection_id,
            f"Klaviyo did not answer when Partyline read the flows ({reason(error)}). They are "
            f"read again within {wait_text(FLOWS_READ_EVERY.total_seconds())}; Refresh to try "
            "sooner.",
        )
    except ConnectionUnusable:
        report.outcome = "waiting"
        _failed(connection_id, NEEDS_RECONNECT)
    except SecretDecryptionError:
        report.outcome = "waiting"
        logger.error("Cannot read the tokens of connection %s", connection_id)
        _failed(connection_id, TOKENS_UNREADABLE)
    except KlaviyoError as error:  # a refusal: a scope withdrawn, a metric gone
        report.outcome = "failed"
        _failed(connection_id, f"Klaviyo refused to show the flows: {reason(error)}")
    else:
        EventSender.objects.filter(pk=connection_id).update(
            flows=flows, flows_read_at=timezone.now(), flows_error=""
        )
    logger.info(
        "Flows of connection %s: %s in %s calls", connection_id, report.outcome, report.calls
    )
    return report


def _cannot_read(connection: KlaviyoConnection) -> str:
    """Why the account's flows cannot be read now, without calling Klaviyo ("": they can)."""
    if connection.status != ConnectionStatus.ACTIVE:
        return NEEDS_RECONNECT
    missing = events_missing_scopes(connection)
    if missing:
        return (
            f"Klaviyo has not granted Partyline {', '.join(missing)}: reconnect the Klaviyo "
            "account to let Partyline read its flows and send its events."
        )
    return ""


def _read(sender: EventSender, client: KlaviyoClient, report: FlowsReport) -> dict[str, Any]:
    """The flows each existing metric triggers, in the metrics' order."""
    known = metric_ids(sender, client, wanted=PartyMetric.values)
    report.calls += known.calls
    flows: dict[str, Any] = {}
    for metric in PartyMetric.values:
        if metric not in known.ids:
            continue  # not in Klaviyo yet: its first event creates it
        triggered = client.get_flows_triggered_by_metric(metric_id=known.ids[metric])
        report.calls += 1
        flows[metric] = _summary(known.ids[metric], triggered)
    return flows


def _summary(metric_id: str, triggered: list[Flow]) -> dict[str, Any]:
    current = sorted((flow for flow in triggered if not flow.archived), key=lambda f: f.name)
    return {
        "metric_id": metric_id,
        "live": [{"id": flow.id, "name": flow.name} for flow in current if flow.status == LIVE],
        "other": [
            {"id": flow.id, "name": flow.name, "status": flow.status}
            for flow in current
            if flow.status != LIVE
        ],
    }


def _failed(connection_id: int, why: str) -> None:
    EventSender.objects.filter(pk=connection_id).update(flows_error=why[:500])


def flows_read_claim(connection_id: int, *, gap: timedelta) -> bool:
    """Note that the account's flows are being asked for, unless they were within `gap` (the
    guard: one reading per Refresh burst, one per scheduled period). False: one is asked."""
    now = timezone.now()
    return bool(
        EventSender.objects.filter(pk=connection_id)
        .filter(Q(flows_requested_at__isnull=True) | Q(flows_requested_at__lt=now - gap))
        .update(flows_requested_at=now)
    )


def flows_due() -> list[int]:
    """Accounts with parties whose flows were last asked for over `FLOWS_READ_EVERY` ago, or
    never: the periodic sweep asks for their reading."""
    now = timezone.now()
    return list(
        EventSender.objects.filter(
            Q(flows_requested_at__isnull=True) | Q(flows_requested_at__lt=now - FLOWS_READ_EVERY)
        )
        .filter(Exists(Party.objects.filter(connection_id=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
