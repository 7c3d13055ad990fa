"""`manage.py db_worker`: django-tasks-db's worker, made to outlive its database connection.

The library's worker exits when the database goes away: an `OperationalError` while it
claims the next task, or while it records the result of a task whose connection dropped,
escapes its loop. A PostgreSQL restart or failover would stop every busy worker until
someone restarted it. This worker drops the broken connection, waits with backoff until the
database answers, and carries on. The work an interrupted task held is recovered by the
pipelines themselves (a sync releases its claims; a lapsed lease and the sweep cover a
worker that died outright).

Same options as the library's command; this one takes its name because the `core` app comes
before `django_tasks_db` in INSTALLED_APPS (still run it under a supervisor: the README shows
a systemd unit).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from django.core.management.base import CommandError
from django.db import connections
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV, run_with_reloader
from django_tasks_db.management.commands import db_worker as library
from django_tasks_db.models import DBTaskResult

from core.backoff import backoff_delay
from core.database import DATABASE_GONE

logger = logging.getLogger("django_tasks_db")

# The longest pause between two attempts to reach the database.
MAX_RECONNECT_DELAY = 30.0


class ResilientWorker(library.Worker):
    """The library's worker, run again (after a backoff) whenever its database goes away."""

    def run(self) -> None:
        attempt = 0
        while self.running:
            try:
                super().run()
                return
            except DATABASE_GONE as error:
                delay = backoff_delay(attempt, first=0.5, cap=MAX_RECONNECT_DELAY)
                logger.warning(
                    "Worker %s lost the database (%s); reconnecting in %.1f s",
                    self.worker_id,
                    type(error).__name__,
                    delay,
                )
                connections.close_all()
                time.sleep(delay)
                attempt += 1

    def run_task(self, db_task_result: DBTaskResult) -> None:
        try:
            super().run_task(db_task_result)
        except DATABASE_GONE:
            # The task ended but its result could not be written: the connection is gone.
            # The loop in `run` reconnects; the task row stays claimed, and what the task
            # was doing is recovered by the pipeline (see the module docstring).
            connections.close_all()
            raise


class Command(library.Command):
    help = library.Command.help + " (reconnecting when the database goes away)"

    def configure_logging(self, verbosity: int) -> None:
        """The levels LOGGING sets stand (a task's run is routine, its failure an error, see
        config/log_config.py): the library's would log every run at the default verbosity,
        and none of the failures at 0. `-v 2` and up shows every run."""
        if verbosity >= 2:
            super().configure_logging(verbosity)

    def handle(
        self,
        *,
        verbosity: int,
        queue_name: str,
        interval: float,
        batch: bool,
        backend_name: str,
        startup_delay: bool,
        reload: bool,
        max_tasks: int | None,
        worker_id: str,
        exclude_queues: str,
        **options: Any,
    ) -> None:
        # The library's `handle` builds its own Worker by name; this one builds ours from the
        # same options (the parser is the library's, inherited).
        self.configure_logging(verbosity)
        if reload and batch:
            logger.warning("--reload and --batch cannot be specified together: not reloading.")
            reload = False
        queue_names = queue_name.split(",")
        excluded = exclude_queues.split(",") if exclude_queues else []
        if excluded and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name=*")
        worker = ResilientWorker(
            queue_names=queue_names,
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=worker_id,
            excluded_queue_names=excluded,
        )
        if not reload:
            worker.configure_signals()
            worker.run()
            return
        if os.environ.get(DJANGO_AUTORELOAD_ENV) == "true":
            worker.configure_signals()  # only the reloader's child handles signals
        run_with_reloader(worker.run)
