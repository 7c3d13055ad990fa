"""The account's lease (one sending run at a time per Klaviyo connection), its send gate (the
window rule) and run plan, built from `core.leases` and `core.outbox`, and the recovery of a
dead run's claims."""

from __future__ import annotations

from django.db.models import QuerySet

from core.leases import Lease
from core.outbox import RunPlan, SendGate
from parties.models import EventSender, EventState, PartyEvent

EVENTS_LEASE = Lease(EventSender, "lease_holder", "lease_expires_at")
EVENTS_GATE = SendGate(EventSender, "next_send_at")
EVENTS_PLAN = RunPlan(EventSender, "next_run_at")


def recover_claims(events: QuerySet[PartyEvent]) -> int:
    """Put a dead run's claims back to waiting. Some may have reached Klaviyo: sending them
    again is harmless, as Klaviyo records one event per `unique_id`."""
    return events.filter(state=EventState.SENDING).update(state=EventState.WAITING)


def events_recover(*, connection_id: int, holder: str) -> None:
    """A run died mid-way (its database connection dropped): release its lease and claims
    now, instead of waiting for the lease to lapse."""
    if EVENTS_LEASE.is_held_by(connection_id, holder=holder):
        recover_claims(PartyEvent.objects.filter(connection_id=connection_id))
        EVENTS_LEASE.release(connection_id, holder=holder)
