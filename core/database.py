"""Waiting out a database that went away (a restart, a failover, terminated connections)."""

from __future__ import annotations

import time

from django.db import InterfaceError, OperationalError
from django.db import connection as db_connection
from django.db import connections as db_connections

from core.backoff import backoff_delay

# Connection failures: the server went away or refused us; the work itself was fine.
DATABASE_GONE = (OperationalError, InterfaceError)


def wait_for_database(*, timeout: float, cap: float = 10.0) -> None:
    """Drop this thread's broken connections and wait, with backoff, until the database
    answers again; raises the last error if it does not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        db_connections.close_all()
        try:
            with db_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return
        except DATABASE_GONE:
            delay = backoff_delay(attempt, first=0.5, cap=cap)
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            attempt += 1
