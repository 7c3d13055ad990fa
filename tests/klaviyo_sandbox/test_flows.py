"""Flows: built in the sandbox UI, read through the API in the spec's shapes."""

from __future__ import annotations

import json

import pytest

from klaviyo_sandbox import flows, spec, testing
from klaviyo_sandbox.models import Account, Event, FlowStatus
from klaviyo_sandbox.routers import DATABASE
from tests.support.sandbox_requests import api


def test_a_flow_is_triggered_by_a_metric_of_its_own_account():
    flow = testing.create_flow(
        name="Welcome", metric="Registered", filter_property="party_id", filter_value="p_42"
    )

    assert (flow.account_id, flow.status, flow.trigger_type) == (
        testing.ACME,
        FlowStatus.LIVE,
        "Metric",
    )
    assert flow.trigger_metric.name == "Registered"
    assert len(flow.id) == 6
    bark = Account.objects.using(DATABASE).get(id=testing.BARK)
    with pytest.raises(ValueError, match="its own account"):
        flows.flow_create(account=bark, name="Stolen", trigger_metric=flow.trigger_metric)


def test_a_filter_value_needs_a_property_and_status_switches():
    flow = testing.create_flow(metric="Registered", filter_value="p_42", status=FlowStatus.DRAFT)
    assert (flow.filter_property, flow.filter_value) == ("", "")

    testing.advance(5)
    switched = flows.flow_set_status(flow=flow, status=FlowStatus.LIVE)

    assert switched.status == FlowStatus.LIVE
    assert switched.updated > switched.created


def check(response, operation_id: str) -> None:
    violations = spec.validate_response_body(
        operation_id, response.status_code, json.loads(response.content)
    )
    assert violations == [], f"{operation_id} {response.status_code}: {violations}"


def get(client, path: str, app: testing.InstalledApp):
    """GET, a second after the last call: get_flows bursts at 3 a second."""
    testing.advance(1)
    return api(client, "GET", path, app)


def flow_names(response, operation_id: str = "get_flows") -> list[str]:
    assert response.status_code == 200, response.content
    check(response, operation_id)
    return [item["attributes"]["name"] for item in response.json()["data"]]


@pytest.fixture
def three_flows() -> dict[str, str]:
    """Welcome (live) and Reminder (draft) on Registered, Goodbye (live) on Cancelled, and a
    flow of another account."""
    made = []
    for name, metric, extra in [
        ("Welcome", "Registered", {}),
        ("Reminder", "Registered", {"status": FlowStatus.DRAFT}),
        ("Goodbye", "Cancelled", {}),
        ("Barks", "Registered", {"account": testing.BARK}),
    ]:
        made.append(testing.create_flow(name=name, metric=metric, **extra))
        testing.advance(1)  # created a second apart
    return {flow.name: flow.id for flow in made} | {
        flow.trigger_metric.name: flow.trigger_metric_id for flow in made[:3]
    }


def test_get_flows_filters_and_sorts(client, app, three_flows):
    assert sorted(flow_names(get(client, "flows", app))) == [
        "Goodbye",
        "Reminder",
        "Welcome",
    ]
    assert flow_names(get(client, "flows?filter=equals(status,'live')&sort=name", app)) == [
        "Goodbye",
        "Welcome",
    ]
    assert flow_names(get(client, "flows?filter=equals(status,'draft')", app)) == ["Reminder"]
    metric_flows = 'flows?filter=equals(trigger_type,"Metric")&sort=-name'
    assert flow_names(get(client, metric_flows, app)) == ["Welcome", "Reminder", "Goodbye"]
    assert flow_names(get(client, "flows?filter=equals(trigger_type,'Date Based')", app)) == []
    assert flow_names(get(client, "flows?filter=starts-with(name,'Wel')", app)) == ["Welcome"]
    assert flow_names(get(client, "flows?filter=equals(archived,true)", app)) == []
    sparse = get(client, "flows?fields[flow]=status", app).json()["data"][0]
    assert list(sparse["attributes"]) == ["status"]
    refused = get(client, "flows?filter=equals(trigger_metric,'x')", app)
    assert refused.status_code == 400
    check(refused, "get_flows")


def test_get_flows_pages_with_a_cursor(client, app, three_flows):
    seen: list[str] = []
    path = "flows?page[size]=2&sort=created"
    while path:
        response = get(client, path, app)
        seen += flow_names(response)
        path = response.json()["links"].get("next", "").split("/api/", 1)[-1]

    assert seen == ["Welcome", "Reminder", "Goodbye"]
    assert get(client, "flows?page[size]=51", app).status_code == 400


def test_get_flow_and_a_metrics_flow_triggers(client, app, three_flows):
    detail = get(client, f"flows/{three_flows['Welcome']}", app)
    assert detail.status_code == 200
    check(detail, "get_flow")
    attributes = detail.json()["data"]["attributes"]
    assert (attributes["status"], attributes["trigger_type"], attributes["archived"]) == (
        "live",
        "Metric",
        False,
    )
    other = get(client, f"flows/{three_flows['Barks']}", app)
    assert other.status_code == 404
    check(other, "get_flow")

    triggers = get(client, f"metrics/{three_flows['Registered']}/flow-triggers", app)
    assert sorted(flow_names(triggers, "get_flows_triggered_by_metric")) == [
        "Reminder",
        "Welcome",
    ]
    missing = get(client, "metrics/nope00/flow-triggers", app)
    assert missing.status_code == 404


def test_flows_need_their_scopes(client):
    reader = testing.install_app(scopes="accounts:read metrics:read")
    response = get(client, "flows", reader)
    assert response.status_code == 403
    assert "flows:read" in response.json()["errors"][0]["detail"]


def test_live_flows_whose_filter_matches_record_the_message_they_would_send(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    welcome = testing.create_flow(
        name="Welcome", metric="Registered", filter_property="party_id", filter_value="p_42"
    )
    testing.create_flow(name="Any", metric="Registered")
    testing.create_flow(name="Draft", metric="Registered", status=FlowStatus.DRAFT)
    testing.create_flow(name="Vip", metric="Registered", filter_property="vip", filter_value="true")
    testing.create_flow(name="Other", metric="Cancelled")

    for email, properties in [
        ("a@example.com", {"party_id": "p_42"}),
        ("b@example.com", {"party_id": "p_7", "vip": True}),
    ]:
        body = {
            "data": {
                "type": "event",
                "attributes": {
                    "metric": {"data": {"type": "metric", "attributes": {"name": "Registered"}}},
                    "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
                    "properties": properties,
                },
            }
        }
        assert api(client, "POST", "events", app, body).status_code == 202
        testing.advance(1)
    api(client, "GET", "accounts", app)  # applies the due event jobs

    sent = sorted(
        (message.flow.name, message.email)
        for message in flows.flow_messages(account=welcome.account)
    )
    assert sent == [
        ("Any", "a@example.com"),
        ("Any", "b@example.com"),
        ("Vip", "b@example.com"),
        ("Welcome", "a@example.com"),
    ]


def registered(email: str, unique_id: str, **extra) -> dict:
    return {
        "data": {
            "type": "event",
            "attributes": {
                "metric": {"data": {"type": "metric", "attributes": {"name": "Registered"}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
                "properties": {"party_id": "p_42"},
                "unique_id": unique_id,
                **extra,
            },
        }
    }


def test_a_live_flows_message_to_a_suppressed_profile_is_skipped(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    testing.create_flow(name="Welcome", metric="Registered")
    testing.suppress("gone@example.com", reason="HARD_BOUNCE")

    for email in ("gone@example.com", "sam@example.com"):
        assert api(client, "POST", "events", app, registered(email, "r:1")).status_code == 202

    assert [(m["email"], m["skipped_for"]) for m in testing.flow_messages()] == [
        ("gone@example.com", "HARD_BOUNCE"),
        ("sam@example.com", None),
    ]


def test_a_backfilled_event_triggers_no_flow(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    testing.create_flow(name="Welcome", metric="Registered")

    api(client, "POST", "events", app, registered("old@example.com", "r:1", backfill=True))
    api(client, "POST", "events", app, registered("new@example.com", "r:1"))

    assert [m["email"] for m in testing.flow_messages()] == ["new@example.com"]
    assert Event.objects.using(DATABASE).filter(backfill=True).count() == 1
