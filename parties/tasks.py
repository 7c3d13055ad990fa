"""Background work for parties (Django's tasks API; `manage.py db_worker` runs it)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from parties import services


@task()
def sync_party(*, party_id: int) -> dict[str, object]:
    """Drain one party's pending attendees to Klaviyo (coalesced: see party_request_sync)."""
    report = services.party_sync(party_id=party_id)
    return {"synced": report.synced, "failed": report.failed, "outcome": report.outcome}


@task()
def sweep(*, reschedule: bool = True) -> dict[str, int]:
    """The periodic safety net; re-enqueues itself so the worker runs it on a schedule."""
    report = services.sync_sweep()
    if reschedule:
        schedule_sweep(delay=settings.SYNC_SWEEP_INTERVAL_SECONDS)
    return {"reclaimed": report.reclaimed, "parties_enqueued": report.parties_enqueued}


def schedule_sweep(*, delay: float = 0) -> bool:
    """Queue the next periodic sweep unless one is already waiting (one chain, not many)."""
    waiting = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=sweep.module_path
    ).exists()
    if waiting:
        return False
    sweep.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(reschedule=True)
    return True
