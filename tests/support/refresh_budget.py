"""The refresh budget (integrations.refresh_budget) on a clock the test controls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from integrations import refresh_budget
from integrations.budgets import DatabaseRateBudget
from integrations.models import KlaviyoConnection

# 10:00:00 UTC: a minute of Klaviyo's opens.
MINUTE_START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC).timestamp()


def refresh_budget_on(monkeypatch: pytest.MonkeyPatch, clock: Callable[[], float]) -> None:
    """Every refresh, and every count of them the admin shows, reads `clock` from now on."""
    monkeypatch.setattr(
        refresh_budget,
        "BUDGET",
        DatabaseRateBudget(limits=refresh_budget.REFRESH_LIMITS, clock=clock),
    )


def count_refreshes(connection: KlaviyoConnection, count: int) -> None:
    """`count` refreshes of the connection, as the door counts them, at the budget's now."""
    for _ in range(count):
        assert refresh_budget.refresh_acquire(connection_id=connection.pk) == 0.0
