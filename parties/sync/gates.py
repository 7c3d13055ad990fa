"""The party's lease (one run at a time per party) and its send gate (the window rule), built
from `core.leases` and `core.outbox`, and the recovery of a dead run's claims."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from core.leases import Lease
from core.outbox import SendGate
from parties.models import Attendee, Party, SyncState
from parties.sync.config import sync_config

# One run at a time per party; claimed with one conditional UPDATE, no lock held open.
PARTY_LEASE = Lease(Party, "sync_lease_holder", "sync_lease_expires_at")
# When the party may write to Klaviyo again: the window after a partial batch, Klaviyo's
# Retry-After, the backoff after an outage.
SEND_GATE = SendGate(Party, "next_send_at")


def claim_party_lease(party_id: int, holder: str) -> bool:
    """Take the party's lease unless a live one is held: the guard that keeps two workers
    from syncing one party at once."""
    return PARTY_LEASE.claim(
        party_id,
        holder=holder,
        seconds=sync_config().lease.total_seconds(),
        # Signups from now on plan a new run; this one takes what is there.
        also={"next_sync_at": None},
    )


def renew_party_lease(party_id: int, holder: str) -> bool:
    return PARTY_LEASE.renew(party_id, holder=holder, seconds=sync_config().lease.total_seconds())


def party_recover(*, party_id: int, holder: str) -> None:
    """A run died mid-way (its database connection dropped): release its lease and claims
    now, instead of waiting for the lease to lapse."""
    if PARTY_LEASE.is_held_by(party_id, holder=holder):
        recover_claims(Attendee.objects.filter(party_id=party_id))
        PARTY_LEASE.release(party_id, holder=holder)


def recover_claims(attendees: QuerySet[Attendee]) -> int:
    """Put a dead run's claims back. Whoever may already have reached Klaviyo's subscribe
    job (`sent_at` is set just before that call) is verified, not subscribed again (no second
    confirmation email); the others wait to be sent."""
    claimed = attendees.filter(sync_state=SyncState.SYNCING)
    now = timezone.now()
    verified = claimed.filter(sent_at__isnull=False).update(
        sync_state=SyncState.SENT, checked_at=None, updated_at=now
    )
    resent = claimed.update(sync_state=SyncState.PENDING, updated_at=now)
    return verified + resent
