"""The pacing store: each Klaviyo account's budgets, counted in fixed windows in the
database and shared by every client of the account (integrations.budgets)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses
from django.conf import settings

from integrations.budgets import DatabaseRateBudget
from integrations.clients import klaviyo_client
from integrations.klaviyo.ratelimits import DAY, MINUTE
from integrations.models import RateWindow

pytestmark = pytest.mark.django_db

ACME, BARK = "AcmePt", "BarkCo"
# 10:00:00.1 UTC: early in its second, minute and day.
MORNING = datetime(2026, 11, 24, 10, 0, 0, 100_000, tzinfo=UTC).timestamp()
NEXT_MIDNIGHT = datetime(2026, 11, 25, tzinfo=UTC)


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock(MORNING)


@pytest.fixture
def budget(clock) -> DatabaseRateBudget:
    return DatabaseRateBudget(clock=clock)


def take(budget: DatabaseRateBudget, operation: str, count: int, account: str = ACME) -> list:
    return [budget.acquire(operation, account) for _ in range(count)]


def test_the_burst_window_takes_its_calls_then_says_when_the_next_second_opens(budget, clock):
    assert take(budget, "create_list", 10) == [0.0] * 10

    assert budget.acquire("create_list", ACME) == pytest.approx(0.9)
    clock.advance(0.9)
    assert budget.acquire("create_list", ACME) == 0.0


def test_the_steady_window_takes_its_calls_a_minute_then_says_when_the_next_opens(budget, clock):
    for _ in range(15):  # 10 a second for 15 seconds: the burst never refuses
        assert take(budget, "bulk_import_profiles", 10) == [0.0] * 10
        clock.advance(1)

    assert budget.acquire("bulk_import_profiles", ACME) == pytest.approx(MINUTE - 15.1)
    clock.advance(MINUTE - 15.1)
    assert budget.acquire("bulk_import_profiles", ACME) == 0.0


def test_the_daily_window_takes_150_lists_then_opens_at_midnight_utc(budget, clock):
    for _ in range(15):
        take(budget, "create_list", 10)
        clock.advance(1)
    assert budget.daily_window_reopens_at("create_list", ACME) == NEXT_MIDNIGHT
    clock.advance(MINUTE)  # a new minute: only the day is full

    wait = budget.acquire("create_list", ACME)

    assert clock() + wait == NEXT_MIDNIGHT.timestamp()
    clock.advance(wait)
    assert budget.acquire("create_list", ACME) == 0.0
    assert budget.daily_window_reopens_at("create_list", ACME) is None


def test_the_daily_window_is_not_reported_while_it_has_room(budget):
    take(budget, "create_list", 10)

    assert budget.daily_window_reopens_at("create_list", ACME) is None
    assert budget.daily_window_reopens_at("get_lists", ACME) is None  # no daily budget


def test_a_refused_call_is_counted_in_no_window(budget):
    take(budget, "create_list", 10)

    assert budget.acquire("create_list", ACME) > 0

    assert set(RateWindow.objects.values_list("seconds", "count")) == {
        (1, 10),
        (MINUTE, 10),
        (DAY, 10),
    }


def test_a_call_in_the_last_half_second_of_a_window_counts_in_the_next_too(budget, clock):
    clock.advance(0.7)  # 10:00:00.8: the calls may reach Klaviyo after 10:00:01
    take(budget, "create_list", 10)
    clock.advance(0.3)

    assert budget.acquire("create_list", ACME) == pytest.approx(0.9)


def test_two_budgets_share_one_accounts_windows_and_another_account_has_its_own(clock):
    first, second = DatabaseRateBudget(clock=clock), DatabaseRateBudget(clock=clock)

    assert take(first, "create_list", 5) + take(second, "create_list", 5) == [0.0] * 10

    assert first.acquire("create_list", ACME) > 0
    assert second.acquire("create_list", ACME) > 0
    assert second.acquire("create_list", BARK) == 0.0
    assert second.acquire("update_list", ACME) == 0.0  # each operation has its own budget


def test_closed_windows_are_deleted(budget, clock):
    take(budget, "get_lists", 3)
    clock.advance(DAY)

    budget.acquire("get_lists", ACME)

    assert list(RateWindow.objects.values_list("seconds", "count")) == [(1, 1), (MINUTE, 1)]


def test_an_operation_outside_the_table_is_left_to_klaviyos_429(budget):
    assert take(budget, "merge_profiles", 50) == [0.0] * 50
    assert not RateWindow.objects.exists()


@responses.activate
def test_clients_of_one_klaviyo_account_share_its_budget_across_organizations(
    make_connection, clock, budget
):
    """Two organizations connected to one Klaviyo account spend one budget (Klaviyo counts
    per account); a third account's client is not held back by theirs."""
    here = make_connection(account_id=ACME)
    there = make_connection(account_id=ACME)  # another organization, the same account
    elsewhere = make_connection(account_id=BARK)
    assert here.organization_id != there.organization_id
    url = f"{settings.KLAVIYO_BASE_URL}/api/accounts/"
    responses.get(url, json={"data": [{"type": "account", "id": ACME, "attributes": {}}]})
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    for connection in (here, there, elsewhere):
        klaviyo_client(connection=connection, budget=budget, sleep=sleep).get_account()

    # GET /api/accounts is 1 a second: only the second call to ACME waited.
    assert waits == [pytest.approx(0.9)]
    assert len(responses.calls) == 3
