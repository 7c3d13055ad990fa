"""`manage.py sandbox_server --port 8100`: serve only the sandbox, in a process of its own.

Then start the product with SANDBOX_URL=http://127.0.0.1:8100 so its web processes, task
workers and benchmarks all talk to this one sandbox (its state is in the sandbox database).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from klaviyo_sandbox.jobs import jobs_process_due

SERVER_URLCONF = "klaviyo_sandbox.server_urls"
# How often the background thread looks for jobs whose time has come.
JOB_POLL_SECONDS = 0.2

logger = logging.getLogger(__name__)


def apply_jobs_forever() -> None:
    """Klaviyo's side of a bulk job: applied once due, whoever is looking."""
    while True:
        try:
            jobs_process_due()
        except Exception:
            logger.exception("The sandbox could not apply its due jobs; retrying")
        finally:
            connections.close_all()
        time.sleep(JOB_POLL_SECONDS)


class Command(BaseCommand):
    help = "Serve the sandbox Klaviyo alone (its database migrated first) on its own port."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8100)
        parser.add_argument("--noreload", action="store_true", help="Do not auto-reload.")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", database="sandbox", interactive=False, verbosity=0)
        # The settings are the product's; only the URLs change, so nothing but the sandbox
        # answers on this port.
        settings.ROOT_URLCONF = SERVER_URLCONF
        # runserver serves each client connection on a thread of its own and never closes
        # that thread's database connections when it ends: persistent ones (CONN_MAX_AGE)
        # would stay open, one per client connection, until PostgreSQL has none left (the
        # bench's refresh storms left dozens). Closed after each request instead.
        for database in settings.DATABASES.values():
            database["CONN_MAX_AGE"] = 0
        settings.SANDBOX_JOBS_IN_BACKGROUND = True
        threading.Thread(target=apply_jobs_forever, name="sandbox-jobs", daemon=True).start()
        call_command(
            "runserver",
            f"{options['host']}:{options['port']}",
            use_reloader=not options["noreload"],
        )
