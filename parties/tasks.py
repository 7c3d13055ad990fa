"""Background work for parties (Django's tasks API; `manage.py db_worker` runs it), and the
queue's scheduling rules: one planned sync per party, a sweep that always schedules the next.

Dependencies point one way: services -> tasks -> sync (the engine) and reconcile; neither
engine module enqueues anything, they report when they need to run again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from core.database import DATABASE_GONE, wait_for_database
from core.leases import new_holder
from core.periodic import schedule_next_pass
from integrations.clients import klaviyo_client
from integrations.errors import CONNECTION_FAILURES
from integrations.klaviyo.errors import KlaviyoNotFound
from integrations.models import KlaviyoConnection
from parties import reconcile
from parties.models import Party
from parties.sync import party_sync, sync_sweep
from parties.sync.config import sync_config
from parties.sync.gates import party_recover
from parties.sync.outcomes import reason

logger = logging.getLogger(__name__)

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


# --- Scheduling -------------------------------------------------------------------------------


def sweep_now() -> dict[str, int]:
    """Put stale claims back and enqueue every party whose work waits with no run planned."""
    report = sync_sweep()
    for party_id in report.party_ids:
        party_sync_request(party_id=party_id, at=timezone.now(), force=True)
    return {"reclaimed": report.reclaimed, "parties_enqueued": len(report.party_ids)}


def party_sync_request(*, party_id: int, at: datetime | None = None, force: bool = False) -> bool:
    """Plan the party's next sync run at `at` (default: after the accumulation window).

    One planned run per party (`Party.next_sync_at`): without `force` (signups) nothing is
    enqueued while a run is planned, so the first signup of a rush enqueues one task and the
    next thousands add none. With `force` (the engine's own follow-ups, people retrying,
    reconnection, the sweep) the earliest time wins. Running early is harmless: the engine's
    send gate (`Party.next_send_at`) holds back writes the window or a backoff forbids.
    """
    now = timezone.now()
    run_at = at or now + sync_config().window
    planned = Party.objects.filter(pk=party_id)
    if force:
        # A plan whose time has come is spent: its task has started, or is about to (a run
        # that found the lease busy ends without clearing it), so it must not hold back the
        # next one. Two tasks due at once cost nothing: the lease lets one through.
        replaceable = (
            Q(next_sync_at__isnull=True) | Q(next_sync_at__gt=run_at) | Q(next_sync_at__lte=now)
        )
        if not planned.filter(replaceable).update(next_sync_at=run_at):
            return False
    else:
        # A plain read first: during a rush almost every signup stops here without a write.
        if planned.filter(next_sync_at__isnull=False).exists():
            return False
        if not planned.filter(next_sync_at__isnull=True).update(next_sync_at=run_at):
            return False
    sync_party.using(run_after=run_at).enqueue(party_id=party_id)
    return True


def schedule_sweep(*, delay: float = 0) -> bool:
    """Queue the next periodic sweep unless one is already waiting (one chain, not many)."""
    return schedule_next_pass(sweep, delay=delay)
