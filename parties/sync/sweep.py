"""The safety net: nothing waits forever, whatever task was lost or worker killed."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from integrations.models import ConnectionStatus
from parties.models import Attendee, ListState, Party, SyncState
from parties.sync.config import sync_config
from parties.sync.gates import recover_claims


@dataclass
class SweepReport:
    reclaimed: int = 0
    party_ids: list[int] = field(default_factory=list)


def sync_sweep() -> SweepReport:
    """Make sure nothing waits forever: a lost task or a killed worker loses nothing.

    Stale `syncing` claims go back to pending; every party (with an active connection) that
    has work waiting (signups, a list, sent attendees to verify, confirmations to re-read) but
    no run planned, or only one long overdue (its task was lost), is returned for the task
    layer to enqueue. Planned retries (a backoff, Klaviyo's Retry-After) are left alone.
    """
    report = SweepReport()
    config = sync_config()
    now = timezone.now()
    # Claims under a lapsed lease belong to a run that died: no live worker renews it.
    lapsed = Q(party__sync_lease_expires_at__isnull=True) | Q(party__sync_lease_expires_at__lt=now)
    stale = Attendee.objects.filter(lapsed, sync_state=SyncState.SYNCING)
    stale_parties = set(stale.values_list("party_id", flat=True))
    report.reclaimed = recover_claims(Attendee.objects.filter(pk__in=stale.values("pk")))
    old = now - config.pending_grace
    waiting = (
        Party.objects.filter(connection__status=ConnectionStatus.ACTIVE)
        .filter(Q(next_sync_at__isnull=True) | Q(next_sync_at__lt=old))
        .filter(
            Q(pk__in=stale_parties)
            | Q(list_state=ListState.PENDING)
            | Q(
                attendees__sync_state__in=[SyncState.PENDING, SyncState.SENT],
                attendees__updated_at__lt=old,
            )
            | Q(
                attendees__sync_state=SyncState.AWAITING_CONFIRMATION,
                attendees__checked_at__lt=now - config.confirmation_interval - config.pending_grace,
            )
        )
        .distinct()
        .values_list("pk", flat=True)
    )
    report.party_ids = list(waiting)
    # A plan long overdue is a lost task: forget it, so the new plan is not refused.
    Party.objects.filter(pk__in=report.party_ids, next_sync_at__lt=old).update(next_sync_at=None)
    return report
