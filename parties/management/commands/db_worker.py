"""`manage.py db_worker`: django-tasks-db's worker, made to outlive its database connection.

The library's worker exits when the database goes away: an `OperationalError` while it
claims the next task, or while it records the result of a task whose connection dropped,
escapes its loop. A PostgreSQL restart or failover would stop every busy worker until
someone restarted it. This worker drops the broken connection, waits with backoff until the
database answers, and carries on. The work an interrupted task held is recovered by the
pipeline itself (`parties.tasks.sync_party` releases its claims; a lapsed party lease and
the sweep cover a worker that died outright).

Same options as the library's command; this one takes its name because the `parties` app
comes before `django_tasks_db` in INSTALLED_APPS (still run it under a supervisor: the README
shows a systemd unit).
"""

from __future__ import annotations

import logging
import time

from django.db import InterfaceError, OperationalError, connections
from django_tasks_db.management.commands import db_worker as library
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger("django_tasks_db")

# The longest pause between two attempts to reach the database.
MAX_RECONNECT_DELAY = 30.0


class ResilientWorker(library.Worker):
    def run(self) -> None:
        delay = 0.5
        while self.running:
            try:
                super().run()
                return
            except (OperationalError, InterfaceError) as error:
                logger.warning(
                    "Worker %s lost the database (%s); reconnecting in %.1f s",
                    self.worker_id,
                    type(error).__name__,
                    delay,
                )
                connections.close_all()
                time.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)

    def run_task(self, db_task_result: DBTaskResult) -> None:
        try:
            super().run_task(db_task_result)
        except (OperationalError, InterfaceError):
            # The task ended but its result could not be written: the connection is gone.
            # The loop in `run` reconnects; the task row stays claimed, and what the task
            # was doing is recovered by the pipeline (see the module docstring).
            connections.close_all()
            raise


class Command(library.Command):
    help = library.Command.help + " (reconnecting when the database goes away)"

    def handle(self, *args: object, **options: object) -> None:
        # The library builds its Worker by name inside `handle`; swap in ours for this call.
        original = library.Worker
        library.Worker = ResilientWorker  # type: ignore[misc]
        try:
            super().handle(*args, **options)
        finally:
            library.Worker = original  # type: ignore[misc]
