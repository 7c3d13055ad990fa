"""Double opt-in, list members by the time they joined, and finding profiles by email."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

import pytest

from klaviyo_sandbox import clock, spec, testing
from tests.support.sandbox_requests import api, subscribe_body


def valid(response, operation_id: str) -> dict:
    body = json.loads(response.content)
    assert spec.validate_response_body(operation_id, response.status_code, body) == []
    return body


def test_a_double_opt_in_subscriber_is_pending_until_they_confirm(client, settings):
    settings.SANDBOX_JOB_SECONDS = 2
    bark = testing.install_app(account=testing.BARK)
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        bark,
        subscribe_body("BrkVip", ["a@example.com"]),
    )
    testing.advance(2)

    [pending] = testing.list_members("BrkVip", include_pending=True)
    assert (pending["status"], pending["consent"]) == ("pending", "NEVER_SUBSCRIBED")
    members = api(client, "GET", "lists/BrkVip/profiles", bark)
    assert valid(members, "get_profiles_for_list")["data"] == []
    assert testing.profile("a@example.com", account=testing.BARK)["lists"] == ["BrkVip"]

    testing.advance(1)
    testing.confirm_pending("BrkVip", "a@example.com")

    testing.advance(1)
    response = api(
        client, "GET", "lists/BrkVip/profiles?additional-fields[profile]=subscriptions", bark
    )
    [member] = valid(response, "get_profiles_for_list")["data"]
    email = member["attributes"]["subscriptions"]["email"]["marketing"]
    assert (email["consent"], email["double_optin"]) == ("SUBSCRIBED", True)
    assert email["custom_method_detail"] == "Pet Party signup"
    assert member["attributes"]["joined_group_at"] is not None


@pytest.fixture
def joined_ten_seconds_apart(client, app):
    """a@ joins AcmNws at t0, b@ at t0 + 10 s; returns t0."""
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", ["a@example.com"]),
    )
    first = clock.now()
    testing.list_members("AcmNws")  # applies the job now
    testing.advance(10)
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", ["b@example.com"]),
    )
    testing.list_members("AcmNws")
    testing.advance(1)
    return first


@pytest.mark.parametrize(
    ("operator", "offset", "expected"),
    [
        ("greater-than", 0, ["b@example.com"]),
        ("greater-or-equal", 0, ["a@example.com", "b@example.com"]),
        ("less-than", 10, ["a@example.com"]),
        ("less-or-equal", 10, ["a@example.com", "b@example.com"]),
    ],
)
def test_list_members_filter_on_joined_group_at(
    client, app, joined_ten_seconds_apart, operator, offset, expected
):
    at = (joined_ten_seconds_apart + timedelta(seconds=offset)).isoformat()

    query = quote(f"{operator}(joined_group_at,{at})")  # "+00:00" must reach the server

    response = api(client, "GET", f"lists/AcmNws/profiles?filter={query}", app)

    emails = [
        item["attributes"]["email"] for item in valid(response, "get_profiles_for_list")["data"]
    ]
    assert emails == expected


def test_joined_group_at_filters_combine_with_an_email_filter(
    client, app, joined_ten_seconds_apart
):
    at = joined_ten_seconds_apart.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    query = f'and(greater-or-equal(joined_group_at,{at}),equals(email,"a@example.com"))'

    response = api(client, "GET", f"lists/AcmNws/profiles?filter={query}", app)

    assert [item["attributes"]["email"] for item in response.json()["data"]] == ["a@example.com"]


@pytest.mark.parametrize(
    "term",
    [
        "greater-than(joined_group_at,yesterday)",
        'equals(joined_group_at,"2026-01-01T00:00:00Z")',
        "greater-than(email,2026-01-01T00:00:00Z)",
    ],
)
def test_a_bad_joined_group_at_filter_is_400_on_filter(client, app, term):
    response = api(client, "GET", f"lists/AcmNws/profiles?filter={term}", app)

    assert response.status_code == 400
    assert response.json()["errors"][0]["source"] == {"parameter": "filter"}


def test_get_profiles_finds_a_hundred_emails_with_their_subscriptions(client, app):
    emails = [f"guest{i:03d}@example.com" for i in range(100)]
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", emails),
    )
    quoted = ",".join(f'"{email}"' for email in emails)

    response = api(
        client,
        "GET",
        f"profiles?filter=any(email,[{quoted}])&additional-fields[profile]=subscriptions"
        "&page[size]=100",
        app,
    )

    data = valid(response, "get_profiles")["data"]
    assert sorted(item["attributes"]["email"] for item in data) == emails
    assert {
        item["attributes"]["subscriptions"]["email"]["marketing"]["consent"] for item in data
    } == {"SUBSCRIBED"}
