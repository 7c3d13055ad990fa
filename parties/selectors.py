"""Reads for the parties pages."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from accounts.models import Organization
from integrations.models import ConnectionStatus
from parties.models import (
    IN_FLIGHT_STATES,
    Attendee,
    ListState,
    Party,
    Reconciliation,
    SyncState,
)

# States an organizer should look at: Klaviyo did not put these people in the list.
NEEDS_ATTENTION = (SyncState.FAILED, SyncState.SUPPRESSED, SyncState.NOT_CONFIRMED)


def _count(*states: str) -> Count:
    return Count("attendees", filter=Q(attendees__sync_state__in=states))


def parties_for(*, organization: Organization) -> QuerySet[Party]:
    return (
        Party.objects.filter(organization=organization)
        .select_related("connection")
        .annotate(
            in_flight_count=_count(*IN_FLIGHT_STATES),
            synced_count=_count(SyncState.SYNCED),
            awaiting_count=_count(SyncState.AWAITING_CONFIRMATION),
            attention_count=_count(*NEEDS_ATTENTION),
            total_count=Count("attendees"),
        )
    )


def party_counts(*, party: Party) -> dict[str, int]:
    """How many attendees are in each state, plus `total`, `in_flight` and `attention`."""
    counts = {state: 0 for state in SyncState.values}
    for row in party.attendees.order_by().values("sync_state").annotate(n=Count("pk")):
        counts[row["sync_state"]] = row["n"]
    counts["total"] = sum(counts.values())
    counts["in_flight"] = sum(counts[state] for state in IN_FLIGHT_STATES)
    counts["attention"] = sum(counts[state] for state in NEEDS_ATTENTION)
    return counts


def party_state_summary(*, counts: dict[str, int]) -> list[tuple[str, str, int]]:
    """(state, label, count) for every state, in pipeline order."""
    return [(state, label, counts[state]) for state, label in SyncState.choices]


def reconciliation_latest(*, party: Party) -> Reconciliation | None:
    return party.reconciliations.first()


def attendees_for(*, party: Party, query: str = "", state: str = "") -> QuerySet[Attendee]:
    attendees = party.attendees.order_by("-created_at", "-pk")
    if query.strip():
        attendees = attendees.filter(email__icontains=query.strip())
    if state in SyncState.values:
        attendees = attendees.filter(sync_state=state)
    return attendees


def party_pause_reason(*, party: Party) -> str:
    """Why this party's signups are not reaching Klaviyo right now ("" when they are)."""
    connection = party.connection
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        return (
            f"Syncing is paused: the Klaviyo connection {connection.display_name} needs "
            "reconnecting. Signups are kept and will be sent once it is reconnected."
        )
    if connection.status == ConnectionStatus.REVOKED:
        return (
            f"Syncing is stopped: the Klaviyo connection {connection.display_name} was "
            "disconnected. Signups are kept here; reconnect it to send them."
        )
    if party.list_state == ListState.FAILED:
        return f"The Klaviyo list could not be created: {party.list_error}"
    if party.list_state == ListState.PENDING:
        return (
            "The Klaviyo list is not created yet"
            + (f" ({party.list_error})" if party.list_error else "")
            + ". Signups are kept and will be sent once it is."
        )
    return party.sync_paused_reason
