"""A gate on a name for the length of a transaction: many may hold it shared at once, one at a
time exclusively (PostgreSQL's transaction-level advisory locks, released at commit or
rollback).

Shared holders never wait for one another, so a rush of them costs no queue. An exclusive
request waits for the shared holders ahead of it, and later shared requests wait behind it:
PostgreSQL's lock queue is fair, so a rare exclusive holder is never starved by a stream of
shared ones (a row lock taken `FOR SHARE` could be). SQLite runs one write transaction at a
time, so there the gate is already shut and these do nothing.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections

SHARED = "SELECT pg_advisory_xact_lock_shared(%s, %s)"
EXCLUSIVE = "SELECT pg_advisory_xact_lock(%s, %s)"


def hold_shared(namespace: int, key: int, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Hold the gate (`namespace`, `key`) shared until the transaction ends."""
    _hold(SHARED, namespace, key, using)


def hold_exclusive(namespace: int, key: int, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Hold the gate alone until the transaction ends (after every shared holder before us)."""
    _hold(EXCLUSIVE, namespace, key, using)


def _hold(statement: str, namespace: int, key: int, using: str) -> None:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    if not connection.in_atomic_block:
        # Outside a transaction the lock would end with the statement: a gate held by nobody.
        raise RuntimeError("A gate is held for a transaction: call it inside atomic().")
    with connection.cursor() as cursor:
        cursor.execute(statement, [namespace, key])
