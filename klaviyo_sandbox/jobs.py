"""Bulk jobs applied once they are due: the one loop that applies them, each job once.

Klaviyo's bulk import and subscribe jobs, its events and its profile deletions are
asynchronous: the request is checked and answered 202 at once, and the profiles (and events)
change later. The sandbox stores each job with a `ready_at` (creation + SANDBOX_JOB_SECONDS,
`clock.job_ready_at`) and applies it lazily, when someone looks after that time
(`jobs_catch_up`): no background thread, and on a test's frozen clock a job moves only when
the test advances the clock.
Served on its own (`manage.py sandbox_server`) it applies them in a background thread
instead, as Klaviyo does: a caller polling a job of a thousand profiles then reads
"processing" at once, instead of waiting in its request while the job is applied.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction

from klaviyo_sandbox import clock
from klaviyo_sandbox.bulk_import import import_job_apply
from klaviyo_sandbox.data_privacy import deletion_job_apply
from klaviyo_sandbox.events import event_job_apply
from klaviyo_sandbox.models import Account, DeletionJob, EventJob, ImportJob, SubscriptionJob
from klaviyo_sandbox.routers import DATABASE
from klaviyo_sandbox.subscriptions import subscription_job_apply

Job = ImportJob | SubscriptionJob | EventJob | DeletionJob


def jobs_catch_up(*, account: Account | None = None) -> None:
    """What a request does before it looks at profiles, lists or jobs: apply the jobs due by
    now, unless a background thread applies them (SANDBOX_JOBS_IN_BACKGROUND)."""
    if not settings.SANDBOX_JOBS_IN_BACKGROUND:
        jobs_process_due(account=account)


def jobs_process_due(*, account: Account | None = None) -> int:
    """Apply every job whose `ready_at` has passed, oldest first; returns how many it applied.

    Imports, subscriptions, events and deletions interleave by creation time (their ULIDs
    break ties, in creation order within a process). Each job is claimed with a conditional
    UPDATE (`processed_at IS NULL`) in its own transaction, so when two processes call this at
    once the second finds the job taken, or waits for the first's commit and then finds it
    taken: no job is applied twice.
    """
    now = clock.now()
    due: list[tuple[datetime, str, type[Job]]] = []
    for model in (ImportJob, SubscriptionJob, EventJob, DeletionJob):
        jobs = model.objects.using(DATABASE).filter(processed_at__isnull=True, ready_at__lte=now)
        if account is not None:
            jobs = jobs.filter(account=account)
        due += [(created_at, pk, model) for pk, created_at in jobs.values_list("pk", "created_at")]
    applied = 0
    for _, pk, model in sorted(due, key=lambda item: (item[0], item[1])):
        with transaction.atomic(using=DATABASE):
            claimed = (
                model.objects.using(DATABASE)
                .filter(pk=pk, processed_at__isnull=True)
                .update(processed_at=now)
            )
            if not claimed:
                continue
            job = model.objects.using(DATABASE).select_related("account").get(pk=pk)
            if isinstance(job, ImportJob):
                import_job_apply(job, at=now)
            elif isinstance(job, EventJob):
                event_job_apply(job, at=now)
            elif isinstance(job, DeletionJob):
                deletion_job_apply(job)
            else:
                subscription_job_apply(job, at=now)
        applied += 1
    return applied
