"""Background work for parties (Django's tasks API; `manage.py db_worker` runs it), and the
queue's scheduling rules: one planned sync per party, a sweep that always schedules the next.

Dependencies point one way: services -> tasks -> sync (the engine) and reconcile; neither
engine module enqueues anything, they report when they need to run again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_tasks import task

from core.database import DATABASE_GONE, wait_for_database
from core.leases import new_holder
from core.outbox import RunPlan
from core.periodic import schedule_next_pass
from integrations.clients import klaviyo_client
from integrations.errors import CONNECTION_FAILURES
from integrations.klaviyo.errors import KlaviyoNotFound
from integrations.models import KlaviyoConnection
from parties import reconcile
from parties.events import events_send, events_sweep
from parties.events.config import events_config
from parties.events.flows import FLOWS_READ_EVERY, flows_due, flows_read, flows_read_claim
from parties.events.gates import EVENTS_PLAN, events_recover
from parties.events.schedule import moment_fire, moments_plan
from parties.models import Attendee, Party, PartyMoment, Place
from parties.sync import party_sync, sync_sweep
from parties.sync.config import sync_config
from parties.sync.gates import party_recover
from parties.sync.outcomes import reason

logger = logging.getLogger(__name__)

# An offer's own task ends it at its deadline; one still open this long after was lost.
OFFER_GRACE = timedelta(seconds=30)
# The soonest an account's sender runs again after a run (see `send_events`).
EVENTS_FOLLOW_UP_GAP = timedelta(seconds=1)
# One planned sync per party.
SYNC_PLAN = RunPlan(Party, "next_sync_at")
# A list deletion Klaviyo could not take now is tried again this often, this many times.
LIST_DELETE_RETRY_SECONDS = 300
LIST_DELETE_ATTEMPTS = 12
# How long a task whose database connection dropped waits for the database to come back.
DATABASE_WAIT_SECONDS = 120


@task()
def sync_party(*, party_id: int) -> dict[str, object]:
    """One run of a party's sync (see parties.sync); plans the next run it asks for.

    If the database connection drops mid-run (a failover, a restart), the run waits for the
    database, releases its lease and claims so nothing waits for the lease to lapse, and
    plans the next run; the worker carries on.
    """
    holder = new_holder()
    try:
        report = party_sync(party_id=party_id, holder=holder)
    except DATABASE_GONE:
        logger.warning("Database connection lost during the sync of party %s", party_id)
        wait_for_database(timeout=DATABASE_WAIT_SECONDS)
        party_recover(party_id=party_id, holder=holder)
        party_sync_request(party_id=party_id, at=timezone.now() + sync_config().window, force=True)
        return {"outcome": "interrupted"}
    if report.next_run_at is not None:
        party_sync_request(party_id=party_id, at=report.next_run_at, force=True)
    return {
        "sent": report.sent,
        "confirmed": report.confirmed,
        "failed": report.failed,
        "outcome": report.outcome,
    }


@task()
def sweep(*, reschedule: bool = True) -> dict[str, int]:
    """The periodic safety net. The next sweep is scheduled however this one ends: an
    exception here (a database blip, a bug) must not end the schedule."""
    try:
        return sweep_now()
    finally:
        if reschedule:
            schedule_sweep(delay=settings.SYNC_SWEEP_INTERVAL_SECONDS)


@task()
def reconcile_party(*, reconciliation_id: int) -> dict[str, object]:
    """Compare a party's signups with its Klaviyo list (see parties.reconcile)."""
    result = reconcile.reconciliation_run(reconciliation_id=reconciliation_id)
    return {"status": result.status if result else "gone"}


@task()
def delete_klaviyo_list(*, connection_id: int, list_id: str, attempt: int = 1) -> str:
    """Delete a deleted party's Klaviyo list, retrying while Klaviyo cannot take it."""
    connection = KlaviyoConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return "connection gone"
    try:
        klaviyo_client(connection=connection).delete_list(list_id=list_id)
    except KlaviyoNotFound:
        return "already gone"
    except CONNECTION_FAILURES as error:
        if attempt >= LIST_DELETE_ATTEMPTS:
            logger.warning("Gave up deleting Klaviyo list %s: %s", list_id, reason(error))
            return "gave up"
        delete_klaviyo_list.using(
            run_after=timezone.now() + timedelta(seconds=LIST_DELETE_RETRY_SECONDS)
        ).enqueue(connection_id=connection_id, list_id=list_id, attempt=attempt + 1)
        return "retrying"
    return "deleted"


@task()
def send_events(*, connection_id: int) -> dict[str, object]:
    """One run of a Klaviyo account's event sender (see parties.events); plans the next run
    it asks for. A database connection lost mid-run is handled as `sync_party` does."""
    holder = new_holder()
    try:
        report = events_send(connection_id=connection_id, holder=holder)
    except DATABASE_GONE:
        logger.warning(
            "Database connection lost sending the events of connection %s", connection_id
        )
        wait_for_database(timeout=DATABASE_WAIT_SECONDS)
        events_recover(connection_id=connection_id, holder=holder)
        events_send_request(
            connection_id=connection_id, at=timezone.now() + events_config().window, force=True
        )
        return {"outcome": "interrupted"}
    if report.next_run_at is not None:
        # Never a follow-up sooner than a moment from now: work Klaviyo has not finished is
        # looked at again later, not in a loop that keeps a worker busy.
        soonest = timezone.now() + EVENTS_FOLLOW_UP_GAP
        events_send_request(
            connection_id=connection_id, at=max(report.next_run_at, soonest), force=True
        )
    return {
        "sent": report.sent,
        "delivered": report.delivered,
        "write_calls": report.write_calls,
        "outcome": report.outcome,
    }


@task()
def fire_moment(*, moment_id: int) -> dict[str, object]:
    """A party's moment has come (a reminder, the end): write its events and send them now."""
    fired = moment_fire(moment_id)
    if fired.connection_id is not None:
        events_send_request(connection_id=fired.connection_id, at=timezone.now(), force=True)
        return {"events": fired.events}
    # Early (a clock ahead of the database's): come back at its time.
    early = PartyMoment.objects.filter(
        pk=moment_id, fired_at__isnull=True, due_at__gt=timezone.now()
    ).first()
    if early is not None:
        moments_schedule([early])
    return {"events": 0}


@task()
def read_flows(*, connection_id: int) -> dict[str, object]:
    """Read which Klaviyo flows the account's metrics trigger (see parties.events.flows);
    read again when Klaviyo asks to come back later."""
    report = flows_read(connection_id)
    if report.retry_at is not None:
        read_flows.using(run_after=report.retry_at).enqueue(connection_id=connection_id)
    return {"outcome": report.outcome, "calls": report.calls}


@task()
def expire_offers(*, party_id: int) -> dict[str, int]:
    """A claim window has ended: unclaimed offers pass to the next people waiting.

    The one task that runs a service (`parties.places`, which itself plans tasks), so it is
    imported when the task runs, keeping the module dependency one way."""
    from parties import places

    with transaction.atomic():
        party = Party.objects.select_for_update().filter(pk=party_id).first()
        expired = places.offers_expire(party=party) if party is not None else 0
    return {"expired": expired}


@task()
def give_places_left(*, party_id: int) -> dict[str, int]:
    """Free places of a party with people waiting (left by a crossing the signup could not
    settle, see `places.place_new`) go to the first in line."""
    from parties import places

    return {"promoted": places.places_left_give(party_id)}


# --- Scheduling -------------------------------------------------------------------------------


def offer_expiry_schedule(*, attendee: Attendee) -> None:
    """Queue the end of the attendee's offer at its deadline."""
    if attendee.offer_expires_at is not None:
        expire_offers.using(run_after=attendee.offer_expires_at).enqueue(party_id=attendee.party_id)


def sweep_now() -> dict[str, int]:
    """Put stale claims back and enqueue every party and account whose work waits with no run
    planned, every moment a lost task left unfired, and the flows reading of every account
    with parties not read for `FLOWS_READ_EVERY`."""
    now = timezone.now()
    report = sync_sweep()
    for party_id in report.party_ids:
        party_sync_request(party_id=party_id, at=now, force=True)
    events = events_sweep()
    for connection_id in events.connection_ids:
        events_send_request(connection_id=connection_id, at=now, force=True)
    for moment_id in events.moment_ids:
        fire_moment.enqueue(moment_id=moment_id)
    # Offers whose expiry task was lost.
    lapsed_offers = (
        Attendee.objects.filter(place=Place.OFFERED, offer_expires_at__lt=now - OFFER_GRACE)
        .values_list("party_id", flat=True)
        .distinct()
    )
    for party_id in lapsed_offers:
        expire_offers.enqueue(party_id=party_id)
    # Free places with people waiting (a join and a cancellation crossed, then the process
    # that would settle it died).
    left_free = (
        Party.objects.filter(cancelled_at__isnull=True, seats_taken__lt=F("capacity"))
        .filter(attendees__place=Place.WAITLISTED)
        .values_list("pk", flat=True)
        .distinct()
    )
    for party_id in left_free:
        give_places_left.enqueue(party_id=party_id)
    for party in Party.objects.select_related("organization").filter(
        pk__in=events.unplanned_party_ids
    ):
        moments_schedule(moments_plan(party))
    flows_reads = sum(
        flows_read_request(connection_id=connection_id, gap=FLOWS_READ_EVERY)
        for connection_id in flows_due()
    )
    return {
        "reclaimed": report.reclaimed + events.reclaimed,
        "parties_enqueued": len(report.party_ids),
        "event_senders_enqueued": len(events.connection_ids),
        "moments_fired": len(events.moment_ids),
        "flows_reads_enqueued": flows_reads,
    }


def events_send_request(
    *, connection_id: int, at: datetime | None = None, force: bool = False
) -> bool:
    """Plan the account's next event sending run at `at` (default: after the window), one
    planned run per account (`EventSender.next_run_at`, a `core.outbox.RunPlan`; the row is
    made with the account's first party, see `event_sender_ensure`)."""
    run_at = at or timezone.now() + events_config().window
    if not EVENTS_PLAN.request(connection_id, at=run_at, force=force):
        return False
    send_events.using(run_after=run_at).enqueue(connection_id=connection_id)
    return True


def flows_read_request(*, connection_id: int, gap: timedelta) -> bool:
    """Queue a reading of the account's flows unless one was asked for within `gap` (the
    sweep's period, or a party page's Refresh burst); False when one was."""
    if not flows_read_claim(connection_id, gap=gap):
        return False
    read_flows.enqueue(connection_id=connection_id)
    return True


def moments_schedule(moments: list[PartyMoment]) -> None:
    """Queue each moment's firing at its time."""
    for moment in moments:
        fire_moment.using(run_after=moment.due_at).enqueue(moment_id=moment.pk)


def party_sync_request(*, party_id: int, at: datetime | None = None, force: bool = False) -> bool:
    """Plan the party's next sync run at `at` (default: after the accumulation window).

    One planned run per party (`Party.next_sync_at`, a `core.outbox.RunPlan`): without
    `force` (signups) nothing is enqueued while a run is planned; with `force` (the engine's
    own follow-ups, people retrying, reconnection, the sweep) the earliest time wins.
    """
    run_at = at or timezone.now() + sync_config().window
    if not SYNC_PLAN.request(party_id, at=run_at, force=force):
        return False
    sync_party.using(run_after=run_at).enqueue(party_id=party_id)
    return True


def schedule_sweep(*, delay: float = 0) -> bool:
    """Queue the next periodic sweep unless one is already waiting (one chain, not many)."""
    return schedule_next_pass(sweep, delay=delay)
