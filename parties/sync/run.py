"""One run of a party's sync: take the party's lease, bring its list in step, send what the
window allows, read back what was sent, and say when the party next needs a run."""

from __future__ import annotations

import logging

from django.utils import timezone

from core.leases import Heartbeat, new_holder
from integrations.clients import klaviyo_client
from integrations.models import ConnectionStatus
from parties.models import Attendee, ListState, Party, SyncState
from parties.sync.config import sync_config
from parties.sync.gates import PARTY_LEASE, SEND_GATE, claim_party_lease, recover_claims
from parties.sync.lists import party_list_sync
from parties.sync.outcomes import Stop, SyncReport, pause
from parties.sync.send import send_due
from parties.sync.verify import follow_and_verify, next_check_at

logger = logging.getLogger(__name__)


def party_sync(*, party_id: int, holder: str | None = None) -> SyncReport:
    """One run of a party's sync: list, send what the window allows, follow and verify.

    `holder` names this run's lease (the task passes one so it can recover the run if its
    database connection dies mid-way)."""
    report = SyncReport()
    holder = holder or new_holder()
    if not claim_party_lease(party_id, holder):
        # Come back after the running sync: rows it did not see are not stranded.
        report.outcome = "busy"
        report.run_again_at(timezone.now() + sync_config().window)
        return report
    try:
        with Heartbeat(
            PARTY_LEASE, party_id, holder=holder, seconds=sync_config().lease.total_seconds()
        ):
            # Holding the lease, any claim left on this party is a dead run's.
            recover_claims(Attendee.objects.filter(party_id=party_id))
            party = Party.objects.select_related("connection").filter(pk=party_id).first()
            if party is None:
                report.outcome = "gone"
                return report
            if party.connection.status != ConnectionStatus.ACTIVE:
                pause(party, "The Klaviyo connection needs reconnecting.")
                report.outcome = "paused"
                return report
            _run(party, holder, report)
    finally:
        PARTY_LEASE.release(party_id, holder=holder)
    logger.info(
        "Synced party %s: %s sent, %s confirmed, %s failed in %s batches (%s)",
        party_id,
        report.sent,
        report.confirmed,
        report.failed,
        report.batches,
        report.outcome,
    )
    return report


def _run(party: Party, holder: str, report: SyncReport) -> None:
    try:
        client = klaviyo_client(connection=party.connection)
        if party.list_state != ListState.READY or party.klaviyo_list_name != party.name:
            result = party_list_sync(party=party, client=client)
            if not result.ok:
                report.outcome = "list_pending"
                if result.retry_at is not None:
                    report.run_again_at(result.retry_at)
                return
            party.refresh_from_db()
        send_due(party, client, holder, report)
        follow_and_verify(party, client, report)
    except Stop as stop:
        report.outcome = stop.outcome
        if stop.retry_at is not None:
            report.run_again_at(stop.retry_at)
        return
    if report.outcome == "done":
        Party.objects.filter(pk=party.pk).update(
            sync_failures=0, sync_paused_reason="", last_synced_at=timezone.now()
        )
    _plan_next_run(party, report)


def _plan_next_run(party: Party, report: SyncReport) -> None:
    """When this party next needs a run, from what is still in flight."""
    now = timezone.now()
    # Reads wait out a read-back Klaviyo could not answer; sends never wait for reads.
    reads_from = max(report.read_back_retry_at or now, now)
    attendees = Attendee.objects.filter(party=party)
    if attendees.filter(sync_state=SyncState.PENDING).exists():
        report.run_again_at(max(SEND_GATE.opens_at(party.pk) or now, now))
    sent = attendees.filter(sync_state=SyncState.SENT).values_list(
        "sent_at", "checked_at", "import_job_id"
    )
    for sent_at, checked_at, import_job_id in sent.iterator():
        # A job still running is polled every interval; a membership read waits its turn.
        check_at = (
            now + sync_config().verify_interval
            if import_job_id
            else next_check_at(sent_at, checked_at)
        )
        report.run_again_at(max(check_at, reads_from))
    oldest_check = (
        attendees.filter(sync_state=SyncState.AWAITING_CONFIRMATION, checked_at__isnull=False)
        .order_by("checked_at")
        .values_list("checked_at", flat=True)
        .first()
    )
    if oldest_check is not None:
        report.run_again_at(max(oldest_check + sync_config().confirmation_interval, reads_from))
