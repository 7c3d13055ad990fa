"""Data privacy deletion (`POST /api/data-privacy-deletion-jobs`, request_profile_deletion) as
Klaviyo documents it: one identifier, checked at once, 202 with no body, and the profiles it
names deleted later, with their list memberships, consent and events; scope
data-privacy:write, 3 a second and 60 a minute."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from klaviyo_sandbox import clock, spec, testing
from klaviyo_sandbox.models import Event, FlowMessage, Membership, Profile
from klaviyo_sandbox.routers import DATABASE
from tests.support.sandbox_requests import api, subscribe_body

PATH = "data-privacy-deletion-jobs"
SUBSCRIBE = "profile-subscription-bulk-create-jobs"


def deletion_body(**identifiers: str | None) -> dict:
    """The request for a profile named by `email`, `phone_number` and/or `id`."""
    profile: dict = {"type": "profile", "attributes": {}}
    for name, value in identifiers.items():
        if name == "id":
            profile["id"] = value
        else:
            profile["attributes"][name] = value
    return {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": profile}},
        }
    }


def event_body(email: str, unique_id: str) -> dict:
    return {
        "data": {
            "type": "event",
            "attributes": {
                "metric": {"data": {"type": "metric", "attributes": {"name": "Registered"}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
                "properties": {"party_id": "p_42"},
                "unique_id": unique_id,
            },
        }
    }


def check(response) -> None:
    body = json.loads(response.content) if response.content else None
    violations = spec.validate_response_body("request_profile_deletion", response.status_code, body)
    assert violations == [], violations


@pytest.fixture
def sarah(client, app) -> str:
    """A subscribed member of the Newsletter with two events, one of which a live flow sent
    a message for; and Tom, who stays."""
    testing.create_flow(metric="Registered")
    for email in ("sarah@example.com", "tom@example.com"):
        subscribe = subscribe_body("AcmNws", [email])
        assert api(client, "POST", SUBSCRIBE, app, subscribe).status_code == 202
        for number in (1, 2):
            testing.advance(1)
            body = event_body(email, f"registered:{number}")
            assert api(client, "POST", "events", app, body).status_code == 202
    testing.advance(1)
    return testing.profile("sarah@example.com")["id"]


def traces(profile_id: str) -> tuple[int, int, int, int]:
    """What the sandbox still holds of a profile: itself, its memberships, events, messages."""
    return (
        Profile.objects.using(DATABASE).filter(pk=profile_id).count(),
        Membership.objects.using(DATABASE).filter(profile_id=profile_id).count(),
        Event.objects.using(DATABASE).filter(profile_id=profile_id).count(),
        FlowMessage.objects.using(DATABASE).filter(event__profile_id=profile_id).count(),
    )


def test_it_is_accepted_at_once_and_the_profile_deleted_with_its_traces_once_due(
    client, app, sarah, settings
):
    settings.SANDBOX_JOB_SECONDS = 2
    assert traces(sarah) == (1, 1, 2, 2)
    tom = testing.profile("tom@example.com")

    response = api(client, "POST", PATH, app, deletion_body(email="Sarah@Example.com"))

    assert (response.status_code, response.content) == (202, b"")
    check(response)
    testing.advance(1.9)
    assert testing.profile("sarah@example.com") is not None  # asynchronous: not yet
    testing.advance(0.1)
    assert testing.profile("sarah@example.com") is None
    assert traces(sarah) == (0, 0, 0, 0)
    assert testing.profile("tom@example.com") == tom
    assert [m["email"] for m in testing.list_members("AcmNws")] == ["tom@example.com"]
    assert testing.deletion_requests() == [
        {"identifier": "email", "value": "sarah@example.com", "deleted": 1}
    ]


@pytest.mark.parametrize(
    "identifier",
    [{"phone_number": "+15005550006"}, {"id": "by-id"}],
    ids=["phone_number", "id"],
)
def test_a_phone_number_or_a_profile_id_names_the_profile_too(client, app, identifier):
    profile = Profile.objects.using(DATABASE).create(
        id="01KDELETEME000000000000000",
        account_id=testing.ACME,
        email="phone@example.com",
        phone_number="+15005550006",
        created=datetime(2026, 1, 1, tzinfo=UTC),
        updated=datetime(2026, 1, 1, tzinfo=UTC),
    )
    if "id" in identifier:
        identifier = {"id": profile.id}

    assert api(client, "POST", PATH, app, deletion_body(**identifier)).status_code == 202

    assert testing.profile("phone@example.com") is None


def test_an_address_without_a_profile_is_accepted_and_deletes_nothing(client, app, sarah):
    response = api(client, "POST", PATH, app, deletion_body(email="nobody@example.com"))

    assert (response.status_code, response.content) == (202, b"")
    assert testing.deletion_requests() == [
        {"identifier": "email", "value": "nobody@example.com", "deleted": 0}
    ]
    assert traces(sarah) == (1, 1, 2, 2)


def test_work_accepted_after_the_request_makes_a_new_profile(client, app, sarah, settings):
    """Jobs apply oldest first: an event sent after the deletion is recorded after it, on a
    profile of its own (why erasure cancels queued work for the person before asking)."""
    settings.SANDBOX_JOB_SECONDS = 2
    api(client, "POST", PATH, app, deletion_body(email="sarah@example.com"))
    testing.advance(1)
    api(client, "POST", "events", app, event_body("sarah@example.com", "registered:3"))
    testing.advance(2)

    again = testing.profile("sarah@example.com")

    assert again is not None
    assert again["id"] != sarah
    assert (again["consent"], again["lists"]) == ("NEVER_SUBSCRIBED", [])
    assert traces(sarah) == (0, 0, 0, 0)


def test_it_needs_the_data_privacy_write_scope(client, app, sarah):
    assert "data-privacy:write" in app.scope.split()  # the app's every scope, by default
    usual = testing.install_app(
        account=testing.BARK,
        scopes=[scope for scope in app.scope.split() if scope != "data-privacy:write"],
    )

    response = api(client, "POST", PATH, usual, deletion_body(email="sarah@example.com"))

    assert response.status_code == 403
    check(response)
    error = response.json()["errors"][0]
    assert error["code"] == "permission_denied"
    assert "data-privacy:write" in error["detail"]
    assert testing.deletion_requests() == []
    assert testing.profile("sarah@example.com") is not None


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (
            {"data": {**deletion_body(email="a@example.com")["data"], "type": "profile"}},
            "/data/type",
        ),
        (
            {"data": {"type": "data-privacy-deletion-job", "attributes": {}}},
            "/data/attributes/profile",
        ),
        (deletion_body(), "/data/attributes/profile/data"),
        (deletion_body(email=None), "/data/attributes/profile/data"),
        (deletion_body(email="a@example.com", id="01GDD"), "/data/attributes/profile/data"),
        (
            deletion_body(email="a@example.com", phone_number="+15005550006"),
            "/data/attributes/profile/data",
        ),
        (deletion_body(email="not-an-email"), "/data/attributes/profile/data/attributes/email"),
        (
            deletion_body(phone_number="5550006"),
            "/data/attributes/profile/data/attributes/phone_number",
        ),
    ],
    ids=[
        "wrong type",
        "no profile",
        "no identifier",
        "a null email",
        "email and id",
        "email and phone",
        "malformed email",
        "phone not E.164",
    ],
)
def test_a_bad_request_is_refused_at_once_with_a_pointer(client, app, body, pointer):
    response = api(client, "POST", PATH, app, body)

    assert response.status_code == 400, response.content
    check(response)
    error = response.json()["errors"][0]
    assert (error["code"], error["source"]["pointer"]) == ("invalid", pointer)
    assert testing.deletion_requests() == []


def test_two_identifiers_are_refused_naming_them(client, app):
    response = api(client, "POST", PATH, app, deletion_body(email="a@example.com", id="01GDD"))

    assert response.json()["errors"][0]["detail"] == (
        "Provide exactly one identifier: email, phone_number or id (got email, id)."
    )


def test_it_is_limited_to_3_a_second_and_60_a_minute(client, app):
    body = deletion_body(email="nobody@example.com")
    testing.advance(60 - clock.now().timestamp() % 60)  # the start of a minute's window
    for _ in range(3):
        assert api(client, "POST", PATH, app, body).status_code == 202

    burst = api(client, "POST", PATH, app, body)

    assert (burst.status_code, burst["Retry-After"]) == (429, "1")
    check(burst)
    assert burst.json()["errors"][0]["code"] == "throttled"
    for _ in range(19):  # 3 a second for 19 more seconds: 60 in the minute
        testing.advance(1)
        for _ in range(3):
            accepted = api(client, "POST", PATH, app, body)
            assert accepted.status_code == 202
    assert (accepted["RateLimit-Limit"], accepted["RateLimit-Remaining"]) == ("60", "0")
    testing.advance(1)
    steady = api(client, "POST", PATH, app, body)
    assert (steady.status_code, steady["Retry-After"]) == (429, "40")


def test_it_is_in_the_call_log_and_on_the_accounts_page(client, app, settings):
    settings.DEBUG = True  # the sandbox's pages are open in DEBUG
    testing.clear_calls()

    api(client, "POST", f"{PATH}/", app, deletion_body(email="nobody@example.com"))

    [call] = testing.calls()
    assert (call.method, call.path, call.operation, call.status, call.account_id) == (
        "POST",
        f"/api/{PATH}/",
        "request_profile_deletion",
        202,
        testing.ACME,
    )
    page = client.get(reverse("klaviyo_sandbox:account", args=[testing.ACME])).text
    assert "Deleted profiles" in page
    assert "<code>nobody@example.com</code>" in page
    assert "0 profiles deleted" in page
