"""`manage.py sandbox_server --port 8100`: serve only the sandbox, in a process of its own.

Then start the product with SANDBOX_URL=http://127.0.0.1:8100 so its web processes, task
workers and benchmarks all talk to this one sandbox (its state is in the sandbox database).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

SERVER_URLCONF = "klaviyo_sandbox.server_urls"


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
        call_command(
            "runserver",
            f"{options['host']}:{options['port']}",
            use_reloader=not options["noreload"],
        )
