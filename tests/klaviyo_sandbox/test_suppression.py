"""Email marketing suppressions, and what a subscribe job does with them.

bulk_subscribe_profiles (spec 2026-07-15): "This API will remove any UNSUBSCRIBE,
SPAM_REPORT or USER_SUPPRESSED suppressions from the provided profiles." Profiles
suppressed for another reason (HARD_BOUNCE, INVALID_EMAIL) are left out.
"""

from __future__ import annotations

import json

import pytest

from klaviyo_sandbox import clock, spec, testing
from tests.support.sandbox_requests import api, subscribe_body


def email_marketing(client, app, email: str) -> dict:
    testing.advance(0.01)
    response = api(
        client,
        "GET",
        f'profiles?filter=equals(email,"{email}")&additional-fields[profile]=subscriptions',
        app,
    )
    assert spec.validate_response_body("get_profiles", 200, json.loads(response.content)) == []
    [profile] = response.json()["data"]
    return profile["attributes"]["subscriptions"]["email"]["marketing"]


def subscribe(client, app, emails: list[str], list_id: str = "AcmNws") -> None:
    response = api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body(list_id, emails),
    )
    assert response.status_code == 202


def test_a_suppressed_profile_shows_its_suppression_and_cannot_get_email_marketing(client, app):
    subscribe(client, app, ["a@example.com"])
    suppressed_at = clock.now()

    testing.suppress("a@example.com", "HARD_BOUNCE")

    marketing = email_marketing(client, app, "a@example.com")
    assert marketing["suppression"] == [
        {"reason": "HARD_BOUNCE", "timestamp": suppressed_at.isoformat()}
    ]
    assert marketing["consent"] == "SUBSCRIBED"  # a bounce does not withdraw consent
    assert marketing["can_receive_email_marketing"] is False


def test_unsuppressing_gives_back_email_marketing(client, app):
    subscribe(client, app, ["a@example.com"])
    testing.suppress("a@example.com", "USER_SUPPRESSED")

    testing.unsuppress("a@example.com")

    marketing = email_marketing(client, app, "a@example.com")
    assert marketing["suppression"] == []
    assert marketing["can_receive_email_marketing"] is True


def test_suppressing_an_unknown_address_creates_its_profile(client, app):
    testing.suppress("new@example.com", "SPAM_COMPLAINT")

    assert testing.profile("new@example.com")["suppression"] == "SPAM_COMPLAINT"


def test_an_unsubscribe_suppression_is_an_unsubscribed_consent(client, app):
    subscribe(client, app, ["a@example.com"])

    testing.suppress("a@example.com", "UNSUBSCRIBE")

    marketing = email_marketing(client, app, "a@example.com")
    assert marketing["consent"] == "UNSUBSCRIBED"
    assert marketing["suppression"][0]["reason"] == "UNSUBSCRIBE"


def test_subscribe_leaves_out_a_hard_bounce_and_lifts_an_unsubscribe(client, app):
    testing.suppress("bounced@example.com", "HARD_BOUNCE")
    testing.suppress("gone@example.com", "UNSUBSCRIBE")

    subscribe(client, app, ["bounced@example.com", "gone@example.com", "fresh@example.com"])

    members = testing.list_members("AcmNws")
    assert [(m["email"], m["consent"]) for m in members] == [
        ("gone@example.com", "SUBSCRIBED"),
        ("fresh@example.com", "SUBSCRIBED"),
    ]
    bounced = testing.profile("bounced@example.com")
    assert (bounced["consent"], bounced["suppression"], bounced["lists"]) == (
        "NEVER_SUBSCRIBED",
        "HARD_BOUNCE",
        [],
    )
    assert testing.profile("gone@example.com")["suppression"] is None


@pytest.mark.parametrize("reason", ["UNSUBSCRIBE", "SPAM_COMPLAINT", "USER_SUPPRESSED"])
def test_subscribing_lifts_the_suppressions_the_spec_names(client, app, reason):
    testing.suppress("a@example.com", reason)

    subscribe(client, app, ["a@example.com"])

    marketing = email_marketing(client, app, "a@example.com")
    assert (marketing["suppression"], marketing["consent"]) == ([], "SUBSCRIBED")
    assert marketing["can_receive_email_marketing"] is True


@pytest.mark.parametrize("reason", ["HARD_BOUNCE", "INVALID_EMAIL"])
def test_subscribing_leaves_other_suppressions_and_the_profile_untouched(client, app, reason):
    testing.suppress("a@example.com", reason)

    subscribe(client, app, ["a@example.com"])

    assert testing.list_members("AcmNws", include_pending=True) == []
    marketing = email_marketing(client, app, "a@example.com")
    assert marketing["suppression"][0]["reason"] == reason
    assert marketing["consent"] == "NEVER_SUBSCRIBED"


def test_subscribing_an_undeliverable_address_suppresses_it_as_invalid_email(client, app):
    subscribe(client, app, ["nobody@bounce.invalid", "rex@example.com"])

    assert [m["email"] for m in testing.list_members("AcmNws")] == ["rex@example.com"]
    marketing = email_marketing(client, app, "nobody@bounce.invalid")
    assert marketing["suppression"][0]["reason"] == "INVALID_EMAIL"
    assert marketing["consent"] == "NEVER_SUBSCRIBED"


def test_a_suppressed_profile_is_left_out_of_a_double_opt_in_list_too(client):
    bark = testing.install_app(account=testing.BARK)
    testing.suppress("bounced@example.com", "HARD_BOUNCE", account=testing.BARK)

    subscribe(client, bark, ["bounced@example.com"], list_id="BrkVip")

    assert testing.list_members("BrkVip", include_pending=True) == []
