"""Klaviyo's rate limits (per account, per endpoint, fixed windows) and injected faults.

The sandbox clock is frozen (conftest), so windows are exact and nothing sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from klaviyo_sandbox import clock, testing
from tests.support.sandbox_requests import api, list_body, token_post

START = datetime(2026, 11, 2, 10, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def at_the_start_of_a_minute():
    clock.freeze(START)


def test_burst_limit_answers_429_throttled_with_retry_after(client, app):
    assert api(client, "GET", "accounts", app).status_code == 200  # 1/s

    limited = api(client, "GET", "accounts", app)

    assert limited.status_code == 429
    assert limited["Retry-After"] == "1"
    error = limited.json()["errors"][0]
    assert error["code"] == "throttled"
    assert error["detail"] == "Request was throttled. Expected available in 1 second(s)."
    testing.advance(1)
    assert api(client, "GET", "accounts", app).status_code == 200


def test_steady_limit_answers_429_until_the_minute_ends(client, app):
    for _ in range(15):  # 15/m, one a second to stay inside the burst limit
        assert api(client, "GET", "accounts", app).status_code == 200
        testing.advance(1)

    limited = api(client, "GET", "accounts", app)

    assert limited.status_code == 429
    assert limited["Retry-After"] == "45"  # 15 s into the minute
    testing.advance(45)
    assert api(client, "GET", "accounts", app).status_code == 200


def test_ratelimit_headers_on_other_responses(client, app):
    response = api(client, "GET", "lists", app)

    assert response["RateLimit-Limit"] == "750"
    assert response["RateLimit-Remaining"] == "749"
    assert response["RateLimit-Reset"] == "60"


def test_limits_are_per_endpoint(client, app):
    api(client, "GET", "accounts", app)

    assert api(client, "GET", "lists", app).status_code == 200


def test_limits_are_per_account(client, app):
    other = testing.install_app(account=testing.BARK)
    api(client, "GET", "accounts", app)

    assert api(client, "GET", "accounts", other).status_code == 200


def test_profile_count_drops_get_list_to_the_slow_tier(client, app):
    path = "lists/AcmNws?additional-fields[list]=profile_count"
    assert api(client, "GET", path, app).status_code == 200

    assert api(client, "GET", path, app).status_code == 429
    assert api(client, "GET", "lists/AcmNws", app).status_code == 200


def test_creating_lists_is_capped_at_150_a_day(client, app):
    for index in range(150):
        if index and index % 10 == 0:
            testing.advance(1)  # burst: 10/s
        assert api(client, "POST", "lists", app, list_body(f"List {index}")).status_code == 201
    testing.advance(60)  # a fresh minute: only the daily window is full

    limited = api(client, "POST", "lists", app, list_body("One too many"))

    assert limited.status_code == 429
    seconds_to_midnight = 14 * 3600 - 74  # 10:01:14 -> 24:00:00
    assert int(limited["Retry-After"]) == seconds_to_midnight
    testing.advance(seconds_to_midnight)
    fresh = testing.install_app()  # the morning's access token (the old one has expired)
    assert api(client, "POST", "lists", fresh, list_body("Tomorrow")).status_code == 201


def test_a_throttled_call_does_not_count(client, app):
    api(client, "GET", "accounts", app)
    api(client, "GET", "accounts", app)  # 429
    testing.advance(1)

    response = api(client, "GET", "accounts", app)

    assert response.status_code == 200
    assert response["RateLimit-Remaining"] == "13"


# --- Faults ----------------------------------------------------------------------------------


def test_outage_answers_503_until_it_ends(client, app):
    testing.start_outage(30)

    response = api(client, "GET", "lists", app)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert (
        token_post(
            client, {"grant_type": "refresh_token", "refresh_token": app.refresh_token}
        ).status_code
        == 503
    )
    testing.advance(30)
    assert api(client, "GET", "lists", app).status_code == 200


def test_throttle_storm_answers_429_with_retry_after(client, app):
    testing.start_throttle_storm(10)

    response = api(client, "GET", "lists", app)

    assert response.status_code == 429
    assert response["Retry-After"] == "10"
    assert response.json()["errors"][0]["code"] == "throttled"
    testing.clear_faults()
    assert api(client, "GET", "lists", app).status_code == 200


def test_latency_delays_each_response(client, app):
    testing.set_latency(2.5)
    before = clock.now()

    assert api(client, "GET", "lists", app).status_code == 200

    assert (clock.now() - before).total_seconds() == 2.5  # the frozen clock advanced instead


def test_call_log_counts_calls_and_never_holds_a_token(client, app):
    api(client, "GET", "lists?page[size]=5", app)
    api(client, "GET", "lists/", app)
    token_post(client, {"grant_type": "refresh_token", "refresh_token": app.refresh_token})

    assert testing.call_count("GET", "/api/lists") == 2
    assert testing.call_count("POST", "/oauth/token", status=200) == 1
    for call in testing.calls():
        row = " ".join(str(value) for value in vars(call).values())
        assert app.access_token not in row
        assert app.refresh_token not in row
        assert "?" not in call.path
    assert {call.account_id for call in testing.calls()} == {"AcmePt"}
