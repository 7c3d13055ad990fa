"""Reads that see the database at one moment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def one_snapshot() -> Iterator[None]:
    """Run the enclosed reads in one transaction that sees the database as it was at its
    first read, so a page built from several queries never shows counts from before a change
    beside rows from after it. PostgreSQL's default (READ COMMITTED) gives each statement its
    own snapshot: the transaction asks for REPEATABLE READ, READ ONLY (no writes, so no
    serialization failures). SQLite's read transaction is one snapshot already. Inside a
    transaction that has run queries the isolation level cannot change any more, and the
    enclosing transaction's is what the reads get."""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
