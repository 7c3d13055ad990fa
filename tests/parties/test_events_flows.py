"""The "Klaviyo flows" panel: which live flows each metric triggers, read by a task against the
sandbox (never inside a request), the Refresh guard, the errors an organizer reads, and the
panel's words."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from integrations.klaviyo.config import EVENT_SCOPES
from integrations.models import ConnectionStatus, KlaviyoConnection
from klaviyo_sandbox import testing
from klaviyo_sandbox.models import FlowStatus
from parties import services, tasks
from parties.events import events_send
from parties.events.flows import FLOWS_READ_EVERY, flows_read
from parties.flows_panel import flow_url
from parties.models import EventSender, PartyMetric
from tests.support.clock import let_time_pass
from tests.support.workers import run_queued_tasks

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

FLOW_TRIGGERS = "/api/metrics/"


@pytest.fixture(autouse=True)
def quick(settings):
    settings.KLAVIYO_MAX_RETRY_WAIT = 0


@pytest.fixture
def party(sandbox_party):
    return sandbox_party


@pytest.fixture
def metrics_exist(party, owner):
    """Every Partyline metric exists in the account: the organizer's test events made them."""
    services.sample_events_request(connection=party.connection, user=owner.user, party=party)
    events_send(connection_id=party.connection_id)
    testing.clear_calls()


def sender(party) -> EventSender:
    return EventSender.objects.get(pk=party.connection_id)


def reads_queued() -> int:
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=tasks.read_flows.module_path
    ).count()


def page(client: Client, party) -> str:
    response = client.get(reverse("parties:party_detail", args=[party.pk]))
    assert response.status_code == 200
    return response.content.decode()


def refresh(client: Client, party):
    return client.post(reverse("parties:flows_refresh", args=[party.pk]))


# --- The three cases ---------------------------------------------------------------------------


def test_a_live_flow_a_draft_only_and_none_are_read_per_metric(party, metrics_exist):
    confirmation = testing.create_flow(name="Confirmation", metric="Registered for Party")
    testing.create_flow(name="Reminder", metric="Party Starting Soon", status=FlowStatus.DRAFT)
    testing.create_flow(name="Old confirmation", metric="Registered for Party", status="manual")

    report = flows_read(party.connection_id)

    assert report.outcome == "read"
    flows = sender(party).flows
    assert flows[PartyMetric.REGISTERED]["live"] == [
        {"id": confirmation.id, "name": "Confirmation"}
    ]
    assert [flow["status"] for flow in flows[PartyMetric.REGISTERED]["other"]] == ["manual"]
    assert flows[PartyMetric.STARTING_SOON]["live"] == []
    assert flows[PartyMetric.STARTING_SOON]["other"][0]["name"] == "Reminder"
    assert flows[PartyMetric.ENDED] == {
        "metric_id": sender(party).metric_ids["Party Ended"],
        "live": [],
        "other": [],
    }
    assert sender(party).flows_error == ""
    assert sender(party).flows_read_at is not None


def test_a_reading_costs_one_metrics_call_then_one_per_metric(party, metrics_exist, settings):
    # flow-triggers allows 10 calls a second: the transport waits for the next one.
    settings.KLAVIYO_MAX_RETRY_WAIT = 2
    EventSender.objects.filter(pk=party.connection_id).update(metric_ids={})

    assert flows_read(party.connection_id).calls == 1 + len(PartyMetric)
    assert testing.call_count("GET", "/api/metrics") == 1 + len(PartyMetric)
    # The metrics' ids are known from then on.
    let_time_pass(1)
    assert flows_read(party.connection_id).calls == len(PartyMetric)


def test_a_metric_not_in_klaviyo_yet_is_left_out_and_looked_for_again(party):
    testing.create_flow(name="Confirmation", metric="Registered for Party")

    report = flows_read(party.connection_id)

    assert list(sender(party).flows) == [PartyMetric.REGISTERED]
    assert report.calls == 2
    assert flows_read(party.connection_id).calls == 2  # the others may exist by now


def test_the_panel_says_which_metric_has_a_live_flow_a_draft_or_none(
    party, metrics_exist, owner, login, settings
):
    testing.create_flow(name="Confirmation", metric="Registered for Party")
    testing.create_flow(name="Reminder", metric="Party Starting Soon", status=FlowStatus.DRAFT)
    flows_read(party.connection_id)

    html = page(login(owner), party)

    assert "Read less than a minute ago." in html
    assert "Confirmation</a>" in html
    assert "Reminder</a> (draft)" in html
    assert "Draft only" in html
    assert "No live flow sends a reminder: attendees will not be reminded." in html
    assert "No live flow confirms a registration" not in html
    assert "No live flow announces a cancellation: attendees will not be told" in html
    assert "No live flow follows up after the party: attendees get no thank-you." in html
    # The later metrics show only once a flow uses them.
    assert "Joined Party Waitlist" not in html
    # The sandbox has no flow editor: the link opens its flows page for the account.
    flows_page = f"{settings.SANDBOX_URL}/accounts/{party.connection.klaviyo_account_id}/flows/"
    assert f'href="{flows_page}"' in html
    assert f'href="{reverse("parties:flows_guide")}">How to build these flows' in html


def test_a_later_metric_shows_once_a_flow_uses_it(party, metrics_exist, owner, login):
    testing.create_flow(name="Door", metric="Checked In to Party", status=FlowStatus.DRAFT)
    flows_read(party.connection_id)

    html = page(login(owner), party)

    assert "Checked In to Party" in html
    assert "Offered Party Spot" not in html


def test_the_panel_before_the_first_reading_says_it_is_reading(party, owner, login):
    html = page(login(owner), party)

    assert "Not read yet — reading now." in html
    assert testing.call_count("GET", "/api/") == 0  # the page never calls Klaviyo


def test_a_missing_metric_is_named_on_the_panel(party, owner, login):
    flows_read(party.connection_id)

    html = page(login(owner), party)

    assert "Klaviyo has no “Party Starting Soon” metric yet" in html
    assert "No live flow confirms a registration: attendees get no confirmation email." in html


def test_the_panel_says_how_old_the_reading_is(party, owner, login):
    flows_read(party.connection_id)
    let_time_pass(4 * 60)

    assert "Read 4 minutes ago." in page(login(owner), party)


def test_a_flow_links_to_klaviyo_when_not_the_sandbox(settings):
    settings.KLAVIYO_BASE_URL = "https://a.klaviyo.com"

    assert flow_url("XyZ123", account_id="ACCT") == "https://www.klaviyo.com/flow/XyZ123/edit"


# --- Errors ------------------------------------------------------------------------------------


def test_missing_scopes_are_named_and_klaviyo_is_not_called(party):
    KlaviyoConnection.objects.filter(pk=party.connection_id).update(
        scopes=[scope for scope in party.connection.scopes if scope not in EVENT_SCOPES]
    )

    report = flows_read(party.connection_id)

    assert report.outcome == "waiting"
    assert report.calls == 0
    assert testing.call_count("GET", "/api/") == 0
    assert "flows:read" in sender(party).flows_error
    assert "reconnect" in sender(party).flows_error


def test_a_connection_needing_reconnect_is_not_called(party, owner, login):
    KlaviyoConnection.objects.filter(pk=party.connection_id).update(
        status=ConnectionStatus.NEEDS_RECONNECT
    )

    flows_read(party.connection_id)

    assert testing.call_count("GET", "/api/") == 0
    html = page(login(owner), party)
    assert "The Klaviyo connection needs reconnecting: Partyline cannot read its flows" in html
    assert "reading now" not in html


def test_klaviyo_down_keeps_the_last_reading_and_says_so(party, metrics_exist, owner, login):
    testing.create_flow(name="Confirmation", metric="Registered for Party")
    flows_read(party.connection_id)
    testing.start_outage(600)
    EventSender.objects.filter(pk=party.connection_id).update(metric_ids={})

    report = flows_read(party.connection_id)

    assert report.outcome == "failed"
    assert sender(party).flows[PartyMetric.REGISTERED]["live"][0]["name"] == "Confirmation"
    assert "Klaviyo did not answer when Partyline read the flows" in sender(party).flows_error
    html = page(login(owner), party)
    assert "Klaviyo did not answer" in html
    assert "Confirmation</a>" in html


def test_rate_limited_comes_back_when_klaviyo_says(party, metrics_exist):
    testing.start_throttle_storm(60)

    tasks.read_flows.call(connection_id=party.connection_id)

    assert "Klaviyo asked Partyline to slow down" in sender(party).flows_error
    retry = DBTaskResult.objects.get(
        status=TaskResultStatus.READY, task_path=tasks.read_flows.module_path
    )
    assert retry.run_after is not None
    testing.clear_faults()
    run_queued_tasks(include_deferred=True)
    assert sender(party).flows_error == ""
    assert PartyMetric.REGISTERED in sender(party).flows


def test_a_successful_reading_clears_the_error(party, metrics_exist):
    EventSender.objects.filter(pk=party.connection_id).update(flows_error="Klaviyo was down.")

    flows_read(party.connection_id)

    assert sender(party).flows_error == ""


# --- Refresh and the schedule ------------------------------------------------------------------


def test_refresh_queues_one_reading_per_burst_and_another_after_30_seconds(party, owner, login):
    client = login(owner)

    for _ in range(3):
        response = refresh(client, party)
        assert response.status_code == 302
        assert response["Location"].endswith("#flows")

    # The guard: the second and third presses within 30 s add nothing.
    assert reads_queued() == 1
    assert sender(party).flows_requested_at is not None
    let_time_pass(31)
    refresh(client, party)
    assert reads_queued() == 2


def test_refresh_runs_the_reading_in_a_task(party, metrics_exist, owner, login):
    testing.create_flow(name="Confirmation", metric="Registered for Party")
    client = login(owner)

    refresh(client, party)

    assert testing.call_count("GET", "/api/") == 0  # not inside the request
    assert "reading now" in page(client, party)
    run_queued_tasks()
    html = page(client, party)
    assert "Confirmation</a>" in html
    assert "reading" not in html.split('id="flows"')[1].split("</section>")[0]


def test_refresh_makes_the_sender_of_an_account_without_one(make_party, owner, login):
    party = make_party(owner.organization)

    refresh(login(owner), party)

    assert reads_queued() == 1


def test_refresh_of_another_organizations_party_is_404(party, make_party, owner, login):
    other = make_party()

    assert refresh(login(owner), other).status_code == 404
    assert reads_queued() == 0


def test_refresh_needs_the_csrf_token(party, owner, login):
    client = login(owner, Client(enforce_csrf_checks=True))

    assert refresh(client, party).status_code == 403
    assert reads_queued() == 0


def test_refresh_is_post_only(party, owner, login):
    response = login(owner).get(reverse("parties:flows_refresh", args=[party.pk]))

    assert response.status_code == 405


def test_the_sweep_reads_each_account_with_parties_every_15_minutes(party, make_connection):
    EventSender.objects.create(connection=make_connection())  # no parties: never read

    assert tasks.sweep_now()["flows_reads_enqueued"] == 1
    assert tasks.sweep_now()["flows_reads_enqueued"] == 0  # the guard: one per period
    assert reads_queued() == 1
    let_time_pass(FLOWS_READ_EVERY.total_seconds() + 1)
    assert tasks.sweep_now()["flows_reads_enqueued"] == 1


def test_a_reconnect_reads_the_flows_again(party):
    services.events_resume(connection=party.connection)

    assert reads_queued() == 1


def test_the_guide_is_served(owner, login):
    response = login(owner).get(reverse("parties:flows_guide"))

    assert response.status_code == 200
    assert "Registered for Party" in response.content.decode()
