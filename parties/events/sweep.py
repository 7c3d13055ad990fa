"""The events engine's safety net: nothing waits forever, whatever task was lost or worker
killed. The periodic sweep (`parties.tasks.sweep`) runs it beside the attendee sync's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from integrations.models import ConnectionStatus
from parties.events.config import events_config
from parties.events.gates import recover_claims
from parties.events.schedule import moments_due
from parties.models import (
    DEFAULT_PARTY_LENGTH,
    EventSender,
    EventState,
    Party,
    PartyEvent,
    PartyMoment,
)

# A moment's own task fires it at its time; one still unfired this long after is a lost task's.
MOMENT_GRACE = timedelta(seconds=30)


@dataclass
class EventsSweepReport:
    reclaimed: int = 0
    connection_ids: list[int] = field(default_factory=list)
    moment_ids: list[int] = field(default_factory=list)
    unplanned_party_ids: list[int] = field(default_factory=list)


def events_sweep() -> EventsSweepReport:
    """Stale claims go back to waiting; every active account with events waiting or to read
    back but no run planned (or only one long overdue) is returned for the task layer to
    enqueue, with the moments a lost task left unfired and the parties never planned."""
    report = EventsSweepReport()
    now = timezone.now()
    old = now - events_config().pending_grace
    # Claims under a lapsed lease belong to a run that died: no live worker renews it.
    lapsed = Q(connection__event_sender__lease_expires_at__isnull=True) | Q(
        connection__event_sender__lease_expires_at__lt=now
    )
    report.reclaimed = recover_claims(
        PartyEvent.objects.filter(
            pk__in=PartyEvent.objects.filter(lapsed, state=EventState.SENDING).values("pk")
        )
    )
    in_flight = PartyEvent.objects.filter(
        connection_id=OuterRef("pk"),
        state__in=[EventState.WAITING, EventState.SENT],
        created_at__lt=old,
    )
    report.connection_ids = list(
        EventSender.objects.filter(connection__status=ConnectionStatus.ACTIVE)
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lt=old))
        .filter(Exists(in_flight))
        .values_list("pk", flat=True)
    )
    # A plan long overdue is a lost task: forget it, so the new plan is not refused.
    EventSender.objects.filter(pk__in=report.connection_ids, next_run_at__lt=old).update(
        next_run_at=None
    )
    report.moment_ids = moments_due(before=now - MOMENT_GRACE)
    # Parties from before moments existed (or whose plan was lost) get theirs.
    report.unplanned_party_ids = list(
        Party.objects.filter(cancelled_at__isnull=True, starts_at__gt=now - DEFAULT_PARTY_LENGTH)
        .exclude(Exists(PartyMoment.objects.filter(party=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
    return report
