"""What the database server can take: tests with many threads skip, saying why, rather than
fail on a shared PostgreSQL server that has too few connections left."""

from __future__ import annotations

import pytest
from django.db import connections


def postgres_connection_budget() -> int | None:
    """Connections left on a shared PostgreSQL server (None when not on PostgreSQL)."""
    if connections["default"].vendor != "postgresql":
        return None
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity"
        )
        return cursor.fetchone()[0]


def skip_without_connections(threads: int) -> None:
    """Skip unless the server can take `threads` threads, each holding a product connection
    and, when the sandbox shares the server, a sandbox one too."""
    budget = postgres_connection_budget()
    needed = threads * (2 if connections["sandbox"].vendor == "postgresql" else 1) + 5
    if budget is not None and budget < needed:
        pytest.skip(f"PostgreSQL allows {budget} more connections; this test needs {needed}")
