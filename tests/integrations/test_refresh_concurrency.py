"""Single-flight refresh with real threads: one refresh at Klaviyo however many callers wait."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from integrations import services
from integrations.models import EventKind, KlaviyoConnection
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import Installation
from tests.integrations.conftest import connect_through_sandbox

THREADS = 50


def postgres_connection_budget() -> int | None:
    """Connections left on a shared PostgreSQL server (None when not on PostgreSQL)."""
    if connections["default"].vendor != "postgresql":
        return None
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])
def test_fifty_threads_with_an_expired_token_cause_exactly_one_refresh(login, owner, sandbox):
    # Each thread holds a product connection and, when the sandbox shares the server, a
    # sandbox one too: make sure the server can take them all.
    budget = postgres_connection_budget()
    needed = THREADS * (2 if connections["sandbox"].vendor == "postgresql" else 1) + 5
    if budget is not None and budget < needed:
        pytest.skip(f"PostgreSQL allows {budget} more connections; this test needs {needed}")
    connect_through_sandbox(login(owner))
    connection = KlaviyoConnection.objects.get()
    # The token is dead on both sides: Klaviyo rejects it and our expiry says so.
    testing.expire_access_tokens(Installation.objects.using("sandbox").get())
    KlaviyoConnection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() - timedelta(minutes=1)
    )
    token_calls_before = testing.call_count("POST", "/oauth/token")

    def call_klaviyo(_: int) -> int:
        try:
            client = services.klaviyo_client(connection=connection)
            return len(list(client.paginate("/api/lists/")))
        finally:
            for alias in connections:
                connections[alias].close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(call_klaviyo, range(THREADS)))

    assert len(results) == THREADS  # every call succeeded (an exception would have raised)
    assert testing.call_count("POST", "/oauth/token") - token_calls_before == 1
    assert testing.call_count("GET", "/api/lists", status=200) == THREADS
    connection.refresh_from_db()
    assert connection.events.filter(kind=EventKind.REFRESHED).count() == 1
    assert connection.refresh_lease_expires_at is None
