"""Waking the callers that wait for a token refresh (PostgreSQL LISTEN/NOTIFY).

A waiter LISTENs on its connection's channel and the refresher NOTIFYs from the transaction
that saves the token, so waiters wake as it lands. Where there are no notifications (SQLite,
a caller inside a transaction), `listen` says so and the waiter polls instead.
"""

from __future__ import annotations

import contextlib

from django.db import DatabaseError
from django.db import connection as database


def _channel(connection_id: int) -> str:
    return f"klaviyo_token_{connection_id}"


def listen(connection_id: int) -> bool:
    """Have this thread's database connection notified of the connection's saved refreshes;
    whether it is. Not on SQLite, nor inside a transaction, where PostgreSQL would deliver
    notifications only after it ends: such a waiter polls."""
    if database.vendor != "postgresql" or database.in_atomic_block:
        return False
    with database.cursor() as cursor:
        cursor.execute(f'LISTEN "{_channel(connection_id)}"')
    return True


def unlisten(connection_id: int) -> None:
    # The database connection outlives this call (CONN_MAX_AGE): stop its notifications. A
    # connection that broke meanwhile has no subscription left, and its error is the one the
    # caller must see, not this one's.
    with contextlib.suppress(DatabaseError), database.cursor() as cursor:
        cursor.execute(f'UNLISTEN "{_channel(connection_id)}"')


def wait_for_notification(seconds: float) -> None:
    """Until a notification arrives (or had arrived during our last query) or `seconds` pass.

    Any notification wakes the waiter, which then reads the row: an old one left over from an
    earlier wait on this database connection costs one read, never a wrong token.
    """
    for _ in database.connection.notifies(timeout=seconds, stop_after=1):
        break


def notify_refreshed(connection_id: int) -> None:
    """Wake the connection's waiters; sent inside the transaction saving the new token, so
    PostgreSQL delivers it when the token is there to be read."""
    if database.vendor == "postgresql":
        with database.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [_channel(connection_id)])
