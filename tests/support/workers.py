"""Task workers for tests and the benchmark: a django-tasks-db worker as `manage.py db_worker`
builds it, one running in a thread, and the queue run to completion in the test's own thread."""

from __future__ import annotations

import threading
from unittest.mock import patch

from django.db import connections
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from parties.models import EventSender, Party
from parties.tasks import fire_moment


def make_worker(
    name: str, *, batch: bool = True, interval: float = 0, worker_class: type[Worker] = Worker
) -> Worker:
    """A worker on every queue; `batch` stops it once nothing is due."""
    return worker_class(
        queue_names=["*"],
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=name,
        excluded_queue_names=[],
    )


def run_in_thread(worker: Worker) -> threading.Thread:
    """`worker` running in a daemon thread, which closes its database connections when the
    worker stops (stop it with `worker.running = False`, or let a batch worker finish)."""

    def run() -> None:
        try:
            worker.run()
        finally:
            for alias in connections:
                connections[alias].close()

    thread = threading.Thread(target=run, daemon=True, name=f"worker-{worker.worker_id}")
    thread.start()
    return thread


def run_queued_tasks(*, include_deferred: bool = False) -> int:
    """Run every task that is due (and, if asked, those scheduled for later and the parties'
    send gates, as if their time had come), as a worker would.

    Returns how many ran. Tasks the run enqueues for later stay queued unless
    `include_deferred`, in which case the loop continues until the queue is empty.
    """
    ran = 0
    for _round in range(50):
        if include_deferred:
            # Time passes: planned tasks are due, and so are parties' and accounts' send gates
            # (a backoff, Klaviyo's Retry-After, the coalescing window). Not the parties'
            # moments (a reminder days ahead): their time is the party's, not the pipeline's.
            DBTaskResult.objects.filter(status=TaskResultStatus.READY).exclude(
                task_path=fire_moment.module_path
            ).update(run_after=timezone.now())
            Party.objects.update(next_send_at=None)
            EventSender.objects.update(next_send_at=None)
        before = DBTaskResult.objects.exclude(status=TaskResultStatus.READY).count()
        # The worker closes "old" connections between tasks; inside a test transaction
        # that would close the test's own connection.
        with patch("django_tasks_db.management.commands.db_worker.close_old_connections"):
            make_worker("test-worker").run()
        ran += DBTaskResult.objects.exclude(status=TaskResultStatus.READY).count() - before
        if (
            not include_deferred
            or not DBTaskResult.objects.filter(status=TaskResultStatus.READY)
            .exclude(task_path=fire_moment.module_path)
            .exists()
        ):
            break
    return ran
