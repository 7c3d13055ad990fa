"""Klaviyo's rate limits as data, and the client pacing itself under them.

The table in `integrations.klaviyo.ratelimits` is checked against the vendored OpenAPI spec
(`x-klaviyo-ratelimit` of each operation, revision 2026-07-15), and every call the client
makes is checked to be paced under the operation the spec says it is.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import responses

from integrations.klaviyo.bodies import OutgoingEvent
from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.errors import KlaviyoRateLimited
from integrations.klaviyo.ratelimits import DAY, MINUTE, RATE_LIMITS, SECOND, RateLimit
from klaviyo_sandbox import spec
from tests.support.klaviyo_doubles import BASE, error_document

ACCOUNT = "AcmePt"
ACCOUNTS_URL = f"{BASE}/api/accounts/"
LISTS_URL = f"{BASE}/api/lists/"
ACCOUNTS = {"data": [{"type": "account", "id": ACCOUNT, "attributes": {}}]}
LIST = {"data": {"type": "list", "id": "L1", "attributes": {"name": "Party"}}}


class ScriptedBudget:
    """A pacing store that records what it is asked and answers the waits it is given."""

    def __init__(self, *waits: float) -> None:
        self.waits = list(waits)
        self.asked: list[tuple[str, str]] = []

    def acquire(self, operation: str, account_id: str) -> float:
        self.asked.append((operation, account_id))
        return self.waits.pop(0) if self.waits else 0.0


@pytest.fixture
def budget() -> ScriptedBudget:
    return ScriptedBudget()


@pytest.fixture
def paced(tokens, config, sleeps, budget) -> KlaviyoClient:
    return KlaviyoClient(
        token_source=tokens, config=config, sleep=sleeps.append, budget=budget, account_id=ACCOUNT
    )


# --- The table is Klaviyo's --------------------------------------------------------------------


def as_spec(limit: RateLimit) -> dict[str, str]:
    stated = {"burst": f"{limit.burst}/s", "steady": f"{limit.steady}/m"}
    if limit.daily is not None:
        stated["daily"] = f"{limit.daily}/d"
    return stated


@pytest.mark.parametrize("operation", sorted(RATE_LIMITS))
def test_each_budget_is_the_x_klaviyo_ratelimit_of_its_operation_in_the_spec(operation):
    assert as_spec(RATE_LIMITS[operation]) == spec.operation(operation).rate_limits


def test_creating_a_list_has_a_daily_budget_of_150():
    assert RATE_LIMITS["create_list"] == RateLimit(burst=10, steady=150, daily=150)
    assert RATE_LIMITS["create_list"].windows == ((SECOND, 10), (MINUTE, 150), (DAY, 150))


def test_requesting_a_profile_deletion_has_a_budget_of_3_a_second_and_60_a_minute():
    assert RATE_LIMITS["request_profile_deletion"].windows == ((SECOND, 3), (MINUTE, 60))


def test_the_spec_the_table_was_checked_against_is_revision_2026_07_15():
    assert spec.revision() == "2026-07-15"


def answer_as_klaviyo(request) -> tuple[int, dict, str]:
    """A minimal document of the shape the operation answers with."""
    operation = spec.find_operation(request.method, request.url)
    assert operation is not None, f"{request.method} {request.url} is no Klaviyo operation"
    if operation.operation_id == "get_accounts":
        return 200, {}, json.dumps(ACCOUNTS)
    if request.method == "DELETE":
        return 204, {}, ""
    if request.method == "GET" and not operation.path.endswith("}"):
        return 200, {}, json.dumps({"data": [], "links": {"next": None}})
    return 200, {}, json.dumps({"data": {"type": "x", "id": "X1", "attributes": {}}})


@pytest.fixture
def klaviyo() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "PATCH", "DELETE"):
            mock.add_callback(method, re.compile(f"{re.escape(BASE)}/api/.*"), answer_as_klaviyo)
        yield mock


def every_operation(client: KlaviyoClient) -> None:
    emails = ["sarah@example.com"]
    client.get_account()
    client.create_list(name="Party")
    client.find_lists(name="Party")
    client.update_list(list_id="L1", name="Party 2")
    client.delete_list(list_id="L1")
    client.remove_profiles_from_list(list_id="L1", profile_ids=["01GDD"])
    list(client.iter_list_profiles(list_id="L1"))
    client.list_members_among(list_id="L1", emails=emails)
    client.profiles_with_consent(emails=emails)
    client.bulk_import_profiles(profiles=[{"email": emails[0]}])
    client.get_bulk_import_job(job_id="J1")
    list(client.iter_import_errors(job_id="J1"))
    client.subscribe_profiles(list_id="L1", emails_with_consent=emails, custom_source="test")
    event = OutgoingEvent(
        metric="Registered for Party",
        email=emails[0],
        properties={"party_id": "p_42"},
        time=datetime(2026, 7, 20, 10, tzinfo=UTC),
        unique_id="registered:p_42:a_1",
    )
    client.create_event(event=event)
    client.bulk_create_events(events=[event])
    client.get_events(metric_id="M1", since=event.time, until=event.time + timedelta(hours=1))
    client.get_metrics()
    client.count_events(metric_id="M1", since=event.time, until=event.time + timedelta(hours=1))
    client.get_flows_triggered_by_metric(metric_id="M1")
    client.get_flow(flow_id="F1")
    client.request_profile_deletion(email=emails[0])


def test_every_call_is_paced_under_the_operation_the_spec_says_it_is(paced, budget, klaviyo):
    every_operation(paced)

    sent = [
        spec.find_operation(call.request.method, call.request.url).operation_id
        for call in klaviyo.calls
    ]
    assert [operation for operation, _ in budget.asked] == sent
    assert {account for _, account in budget.asked} == {ACCOUNT}
    # The table holds every operation the client calls, and nothing else.
    assert set(sent) == set(RATE_LIMITS)


# --- Pacing ------------------------------------------------------------------------------------


def test_a_short_wait_is_slept_before_the_call_goes_out(tokens, config, sleeps, mocked):
    budget = ScriptedBudget(0.4, 0.0)
    client = KlaviyoClient(
        token_source=tokens, config=config, sleep=sleeps.append, budget=budget, account_id=ACCOUNT
    )
    mocked.get(ACCOUNTS_URL, json=ACCOUNTS)

    client.get_account()

    assert sleeps == [0.4]
    assert budget.asked == [("get_accounts", ACCOUNT)] * 2
    assert len(mocked.calls) == 1


def test_a_long_wait_raises_rate_limited_without_calling_klaviyo(tokens, config, sleeps, mocked):
    budget = ScriptedBudget(50_000.0)
    client = KlaviyoClient(
        token_source=tokens, config=config, sleep=sleeps.append, budget=budget, account_id=ACCOUNT
    )

    with pytest.raises(KlaviyoRateLimited) as caught:
        client.create_list(name="Party")

    assert caught.value.retry_after == 50_000.0
    assert caught.value.status is None  # nothing was sent: no HTTP status
    assert sleeps == []
    assert len(mocked.calls) == 0


def test_short_waits_add_up_to_max_retry_wait_then_the_work_is_rescheduled(
    tokens, config, sleeps, mocked
):
    budget = ScriptedBudget(20.0, 20.0)  # another worker keeps taking the slot
    client = KlaviyoClient(
        token_source=tokens, config=config, sleep=sleeps.append, budget=budget, account_id=ACCOUNT
    )

    with pytest.raises(KlaviyoRateLimited) as caught:
        client.find_lists(name="Party")

    assert sleeps == [20.0]  # 20 + 20 is more than max_retry_wait (30)
    assert caught.value.retry_after == 20.0
    assert len(mocked.calls) == 0


def test_a_429_still_waits_retry_after_and_the_retry_is_counted_too(paced, budget, sleeps, mocked):
    throttled = error_document(429, "throttled", "Request was throttled.")
    mocked.post(LISTS_URL, status=429, headers={"Retry-After": "2"}, json=throttled)
    mocked.post(LISTS_URL, status=201, json=LIST)

    paced.create_list(name="Party")

    assert sleeps == [2.0]
    assert budget.asked == [("create_list", ACCOUNT)] * 2


def test_a_client_without_an_account_is_not_paced(tokens, config, sleeps, budget, mocked):
    # The OAuth callback's one call, made before the account is known.
    client = KlaviyoClient(token_source=tokens, config=config, sleep=sleeps.append, budget=budget)
    mocked.get(ACCOUNTS_URL, json=ACCOUNTS)

    assert client.get_account().id == ACCOUNT
    assert budget.asked == []


def test_a_call_held_back_is_logged_by_path_without_its_query(caplog, tokens, config, sleeps):
    caplog.set_level(logging.INFO, logger="integrations.klaviyo.transport")
    client = KlaviyoClient(
        token_source=tokens,
        config=config,
        sleep=sleeps.append,
        budget=ScriptedBudget(3600.0),
        account_id=ACCOUNT,
    )
    with pytest.raises(KlaviyoRateLimited):
        client.profiles_with_consent(emails=["secret@example.com"])

    assert "secret@example.com" not in caplog.text
    assert urlsplit(f"{BASE}/api/profiles/").path in caplog.text
