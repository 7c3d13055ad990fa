"""The sandbox's pages: banner, accounts, lists and members, installed apps, faults, call log."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client

from klaviyo_sandbox import testing
from klaviyo_sandbox.models import CallLog, Fault, Flow, Membership, Profile
from tests.support.sandbox_requests import SANDBOX, api, subscribe_body, token_post

BANNER = "Sandbox Klaviyo: nothing is sent to Klaviyo"
PENDING_BADGE = '<span class="badge badge-warn">pending confirmation</span>'


@pytest.fixture
def client(make_user) -> Client:
    """An operator: with DEBUG off, as here, the sandbox's pages need a staff login
    (tests/klaviyo_sandbox/test_access.py)."""
    client = Client()
    client.force_login(make_user(is_staff=True))
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/accounts/AcmePt/",
        "/accounts/BarkCo/",
        "/accounts/AcmePt/flows/",
        "/lists/AcmNws/",
        "/calls/",
    ],
)
def test_every_page_carries_the_banner(client, path):
    response = client.get(f"{SANDBOX}{path}")

    assert response.status_code == 200
    assert BANNER in response.content.decode()


def test_home_lists_the_seeded_accounts(client):
    page = client.get(f"{SANDBOX}/").content.decode()

    assert "Acme Pets" in page
    assert "Bark &amp; Co" in page


def test_list_page_shows_members_with_properties_and_consent(client, app):
    testing.create_list(name="Party")
    body = subscribe_body("AcmNws", ["rex@example.com"])
    api(client, "POST", "profile-subscription-bulk-create-jobs", app, body)
    api(
        client,
        "POST",
        "profile-import",
        app,
        {
            "data": {
                "type": "profile",
                "attributes": {"email": "rex@example.com", "properties": {"pet_name": "Rex"}},
            }
        },
    )

    page = client.get(f"{SANDBOX}/lists/AcmNws/").content.decode()

    assert "rex@example.com" in page
    assert "pet_name: Rex" in page
    assert "SUBSCRIBED" in page


def test_confirm_button_subscribes_a_pending_profile(client):
    app = testing.install_app(account=testing.BARK)
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("BrkVip", ["a@example.com"]),
    )
    page = client.get(f"{SANDBOX}/lists/BrkVip/").content.decode()
    assert PENDING_BADGE in page
    assert "press <strong>Confirm</strong> next to a pending person" in page
    assert 'aria-label="Confirm a@example.com, as if they clicked the confirmation email"' in page
    membership_id = Membership.objects.using("sandbox").get().pk

    response = client.post(f"{SANDBOX}/memberships/{membership_id}/confirm/")

    assert response.status_code == 302
    assert [m["consent"] for m in testing.list_members("BrkVip")] == ["SUBSCRIBED"]
    page = client.get(response["Location"]).content.decode()
    assert "a@example.com confirmed: subscribed to VIP pack." in page
    assert PENDING_BADGE not in page


def test_list_page_shows_a_job_only_once_its_time_has_passed(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 2
    api(
        client,
        "POST",
        "profile-subscription-bulk-create-jobs",
        app,
        subscribe_body("AcmNws", ["rex@example.com"]),
    )

    assert "rex@example.com" not in client.get(f"{SANDBOX}/lists/AcmNws/").content.decode()
    testing.advance(2)
    assert "rex@example.com" in client.get(f"{SANDBOX}/lists/AcmNws/").content.decode()


def test_suppress_form_suppresses_an_address(client, app):
    page = client.get(f"{SANDBOX}/accounts/AcmePt/").content.decode()
    assert "Suppress an address" in page

    response = client.post(
        f"{SANDBOX}/accounts/AcmePt/suppressions/",
        {"email": "Bounced@Example.com", "reason": "HARD_BOUNCE"},
        follow=True,
    )

    page = response.content.decode()
    assert "bounced@example.com suppressed (hard bounce)" in page
    assert "Remove the suppression of bounced@example.com" in page
    assert testing.profile("bounced@example.com")["suppression"] == "HARD_BOUNCE"


def test_suppress_form_rejects_a_malformed_address(client):
    response = client.post(
        f"{SANDBOX}/accounts/AcmePt/suppressions/",
        {"email": "not-an-email", "reason": "HARD_BOUNCE"},
        follow=True,
    )

    assert "Enter an email address and choose a reason." in response.content.decode()
    assert not Profile.objects.using("sandbox").exists()


def test_remove_button_lifts_the_suppression(client):
    testing.suppress("gone@example.com", "UNSUBSCRIBE")
    profile_id = testing.profile("gone@example.com")["id"]

    response = client.post(f"{SANDBOX}/profiles/{profile_id}/unsuppress/", follow=True)

    page = response.content.decode()
    assert "gone@example.com is no longer suppressed." in page
    assert "No profile is suppressed." in page
    assert testing.profile("gone@example.com")["suppression"] is None


def test_uninstall_button_makes_the_product_see_invalid_grant(client, app):
    page = client.get(f"{SANDBOX}/accounts/AcmePt/").content.decode()
    assert "Uninstall" in page

    client.post(f"{SANDBOX}/installations/{app.installation.pk}/uninstall/")

    response = token_post(
        client, {"grant_type": "refresh_token", "refresh_token": app.refresh_token}
    )
    assert response.json()["error"] == "invalid_grant"


def test_expire_button_makes_access_tokens_401(client, app):
    client.post(f"{SANDBOX}/installations/{app.installation.pk}/expire-access-tokens/")

    assert api(client, "GET", "accounts", app).status_code == 401


def test_faults_can_be_started_and_cleared_from_the_ui(client, app):
    client.post(f"{SANDBOX}/faults/start/", {"kind": "outage", "seconds": "30"})
    assert api(client, "GET", "lists", app).status_code == 503
    assert "Outage" in client.get(f"{SANDBOX}/").content.decode()

    client.post(f"{SANDBOX}/faults/clear/")

    assert not Fault.objects.using("sandbox").exists()
    assert api(client, "GET", "lists", app).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/faults/start/",
        "/faults/clear/",
        "/installations/1/uninstall/",
        "/memberships/1/confirm/",
        "/accounts/AcmePt/suppressions/",
        "/profiles/01ARZ3NDEKTSV4RRFFQ69G5FAV/unsuppress/",
        "/accounts/AcmePt/flows/new/",
        "/flows/AbCdEf/status/",
    ],
)
def test_every_ui_post_needs_a_csrf_token(path):
    strict = Client(enforce_csrf_checks=True)

    assert strict.post(f"{SANDBOX}{path}").status_code == 403


def test_call_log_page_lists_calls(client, app):
    api(client, "GET", "lists", app)

    page = client.get(f"{SANDBOX}/calls/").content.decode()

    assert "/api/lists" in page
    assert app.access_token not in page


def test_suppress_form_explains_an_address_the_sandbox_refuses(client):
    response = client.post(
        f"{SANDBOX}/accounts/AcmePt/suppressions/",
        {"email": "a@localhost", "reason": "HARD_BOUNCE"},
        follow=True,
    )

    assert response.status_code == 200
    assert "Invalid email address: &#x27;a@localhost&#x27;." in response.content.decode()
    assert not Profile.objects.using("sandbox").exists()


def test_an_operator_creates_a_flow_and_switches_it_live(client, app):
    page = client.get(f"{SANDBOX}/accounts/AcmePt/flows/").content.decode()
    assert "this account has none yet" in page
    metric = testing.create_flow(metric="Registered", status="draft").trigger_metric
    Flow.objects.using("sandbox").all().delete()

    response = client.post(
        f"{SANDBOX}/accounts/AcmePt/flows/new/",
        {
            "name": "Welcome",
            "trigger_metric": metric.id,
            "filter_property": "party_id",
            "filter_value": "p_42",
            "status": "draft",
        },
        follow=True,
    )

    page = response.content.decode()
    assert "Flow Welcome created (draft)." in page
    assert '<label for="id_trigger_metric">' in page
    flow = Flow.objects.using("sandbox").get()
    assert (flow.trigger_metric_id, flow.filter_property, flow.filter_value) == (
        metric.id,
        "party_id",
        "p_42",
    )
    client.post(f"{SANDBOX}/flows/{flow.pk}/status/", {"status": "live"})
    flow.refresh_from_db()
    assert flow.status == "live"
    assert (
        "Set Welcome to draft" in client.get(f"{SANDBOX}/accounts/AcmePt/flows/").content.decode()
    )


def test_the_flow_form_refuses_another_accounts_metric_and_a_value_without_a_property(client):
    bark_metric = testing.create_flow(account=testing.BARK, metric="Barked").trigger_metric
    testing.create_flow(metric="Registered")

    response = client.post(
        f"{SANDBOX}/accounts/AcmePt/flows/new/",
        {"name": "Stolen", "trigger_metric": bark_metric.id, "filter_value": "x", "status": "live"},
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Select a valid choice." in page
    assert "Name the property the value is compared with." in page
    assert Flow.objects.using("sandbox").count() == 2


def test_the_flows_page_lists_the_messages_live_flows_would_have_sent(client, app):
    testing.create_flow(name="Welcome", metric="Registered")
    testing.suppress("gone@example.com", reason="HARD_BOUNCE")
    for email in ("a@example.com", "gone@example.com"):
        body = {
            "data": {
                "type": "event",
                "attributes": {
                    "metric": {"data": {"type": "metric", "attributes": {"name": "Registered"}}},
                    "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
                    "properties": {},
                    "unique_id": f"registered:{email}",
                },
            }
        }
        assert api(client, "POST", "events", app, body).status_code == 202

    page = client.get(f"{SANDBOX}/accounts/AcmePt/flows/").content.decode()

    assert "Messages live flows would have sent" in page
    assert "a@example.com" in page
    assert "registered:a@example.com" in page  # the event, by the unique_id it was sent with
    assert page.count("would send</span>") == 1
    assert "skipped: hard bounce" in page


def test_call_log_times_are_in_utc_as_its_column_says(login, owner, app):
    # The product's pages show the organization's zone; the sandbox's log says UTC and is UTC.
    owner.organization.time_zone = "Pacific/Auckland"
    owner.organization.save()
    owner.user.is_staff = True
    owner.user.save()
    client = login(owner)
    api(client, "GET", "lists", app)
    call = CallLog.objects.latest("id")

    page = client.get(f"{SANDBOX}/calls/").content.decode()

    assert "Time (UTC)" in page
    utc = call.created_at.astimezone(datetime.UTC)
    assert f'datetime="{utc.isoformat()}">{utc:%H:%M:%S}</time>' in page
