"""One run of an account's event sender: take its lease, send what the window allows, read
back what was sent, and say when the account next needs a run."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import Min
from django.utils import timezone

from core.leases import Heartbeat, new_holder
from integrations.clients import klaviyo_client
from integrations.errors import ConnectionUnusable
from integrations.fields import SecretDecryptionError
from integrations.klaviyo.errors import KlaviyoRateLimited
from integrations.models import ConnectionStatus, KlaviyoConnection
from integrations.scopes import events_missing_scopes, events_missing_scopes_reason
from parties.events.config import events_config
from parties.events.deliver import next_look, read_back
from parties.events.gates import EVENTS_GATE, EVENTS_LEASE, recover_claims
from parties.events.outcomes import EventsReport, Stop, pause, stop_for
from parties.events.send import send_due
from parties.models import EventSender, EventState, PartyEvent
from parties.sync.outcomes import KLAVIYO_STOPS

logger = logging.getLogger(__name__)


def events_send(*, connection_id: int, holder: str | None = None) -> EventsReport:
    """One run of the account's event sender.

    `holder` names this run's lease (the task passes one so it can recover the run if its
    database connection dies mid-way)."""
    report = EventsReport()
    holder = holder or new_holder()
    config = events_config()
    if not EVENTS_LEASE.claim(
        connection_id,
        holder=holder,
        seconds=config.lease.total_seconds(),
        also={"next_run_at": None},
    ):
        # Come back after the running one: events it did not see are not stranded.
        report.outcome = "busy"
        report.run_again_at(timezone.now() + config.window)
        return report
    try:
        with Heartbeat(
            EVENTS_LEASE, connection_id, holder=holder, seconds=config.lease.total_seconds()
        ):
            # Holding the lease, any claim left on this account is a dead run's.
            recover_claims(PartyEvent.objects.filter(connection_id=connection_id))
            sender = EventSender.objects.select_related("connection").get(pk=connection_id)
            why = waiting_reason(sender.connection)
            if why:
                pause(connection_id, why)
                report.outcome = "paused"
                return report
            if sender.paused_reason:
                EventSender.objects.filter(pk=connection_id).update(paused_reason="")
            _run(sender, holder, report)
    finally:
        EVENTS_LEASE.release(connection_id, holder=holder)
    logger.info(
        "Events of connection %s: %s sent in %s calls, %s delivered, %s dropped, %s rejected (%s)",
        connection_id,
        report.sent,
        report.write_calls,
        report.delivered,
        report.not_recorded,
        report.rejected,
        report.outcome,
    )
    return report


def waiting_reason(connection: KlaviyoConnection) -> str:
    """Why the account's events cannot be sent now, for the organizer ("": they can)."""
    if connection.status != ConnectionStatus.ACTIVE:
        return "The Klaviyo connection needs reconnecting."
    missing = events_missing_scopes(connection)
    return events_missing_scopes_reason(missing) if missing else ""


def _run(sender: EventSender, holder: str, report: EventsReport) -> None:
    client = klaviyo_client(connection=sender.connection)
    try:
        send_due(sender.connection, client, holder, report)
    except Stop as stop:
        report.outcome = stop.outcome
        if stop.retry_at is not None:
            report.run_again_at(stop.retry_at)
        if stop.outcome == "paused":
            return
    try:
        read_back(sender, client, report)
    except KLAVIYO_STOPS as error:
        report.run_again_at(_reads_retry_at(sender.pk, error))
    _plan_next_run(sender.pk, report)


def _reads_retry_at(connection_id: int, error: Exception) -> datetime:
    """Klaviyo could not answer a read-back: when to read again. Reads never hold back
    sending (the send gate is left alone), but a connection that cannot be used pauses."""
    now = timezone.now()
    if isinstance(error, KlaviyoRateLimited):
        return now + timedelta(seconds=max(error.retry_after, 1))
    if isinstance(error, ConnectionUnusable | SecretDecryptionError):
        stop_for(connection_id, error)
    return now + timedelta(seconds=events_config().read_back_retry_seconds)


def _plan_next_run(connection_id: int, report: EventsReport) -> None:
    now = timezone.now()
    events = PartyEvent.objects.filter(connection_id=connection_id)
    if events.filter(state=EventState.WAITING).exists():
        report.run_again_at(max(EVENTS_GATE.opens_at(connection_id) or now, now))
    sent = events.filter(state=EventState.SENT)
    # The earliest look due: never looked at ones first (one interval after sending) ...
    first = sent.filter(checked_at__isnull=True).aggregate(Min("sent_at"))["sent_at__min"]
    if first is not None:
        report.run_again_at(next_look(first, None))
    # ... then those looked at before, at doubling intervals (the longest looked-for first
    # among a bounded number: a rough plan is enough, as a run early only reads early).
    for sent_at, checked_at in (
        sent.filter(checked_at__isnull=False)
        .order_by("checked_at")
        .values_list("sent_at", "checked_at")[:1000]
    ):
        report.run_again_at(next_look(sent_at, checked_at))
