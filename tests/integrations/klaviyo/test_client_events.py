"""The client's event, metric and flow operations: request bodies and query strings as the
2026-07-15 spec has them, the refusals that keep a bulk create from failing whole, and the
records each read returns."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.klaviyo.bodies import (
    MAX_BULK_EVENTS,
    OutgoingEvent,
    bulk_create_events_body,
    create_event_body,
)
from integrations.klaviyo.errors import KlaviyoUnavailable
from integrations.klaviyo.records import Event, Flow, Metric
from klaviyo_sandbox import spec
from tests.support.klaviyo_doubles import BASE

AT = datetime(2026, 7, 20, 10, tzinfo=UTC)
REGISTERED = OutgoingEvent(
    metric="Registered for Party",
    email="sarah@example.com",
    first_name="Sarah",
    last_name="Connor",
    profile_properties={"partyline_attendee": True},
    properties={"party_id": "p_42", "party_name": "Summer BBQ", "from_waitlist": False},
    time=AT,
    unique_id="registered:p_42:a_981",
)
REGISTERED_JSON = {
    "properties": {"party_id": "p_42", "party_name": "Summer BBQ", "from_waitlist": False},
    "metric": {"data": {"type": "metric", "attributes": {"name": "Registered for Party"}}},
    "time": "2026-07-20T10:00:00+00:00",
    "unique_id": "registered:p_42:a_981",
}
SARAH = {
    "type": "profile",
    "attributes": {
        "email": "sarah@example.com",
        "first_name": "Sarah",
        "last_name": "Connor",
        "properties": {"partyline_attendee": True},
    },
}
FLOW = {
    "type": "flow",
    "id": "XyZ123",
    "attributes": {
        "name": "Party confirmation",
        "status": "live",
        "archived": False,
        "created": "2026-07-01T09:00:00+00:00",
        "updated": "2026-07-02T09:00:00+00:00",
        "trigger_type": "Metric",
    },
    "links": {"self": f"{BASE}/api/flows/XyZ123/"},
}
CONFIRMATION = Flow(
    id="XyZ123",
    name="Party confirmation",
    status="live",
    trigger_type="Metric",
    archived=False,
    created=datetime(2026, 7, 1, 9, tzinfo=UTC),
    updated=datetime(2026, 7, 2, 9, tzinfo=UTC),
)


def event(number: int, **changes) -> OutgoingEvent:
    fields = {
        "metric": "Party Starting Soon",
        "email": f"guest{number}@example.com",
        "properties": {"party_id": "p_42", "hours_before": 24},
        "time": AT,
        "unique_id": f"soon:p_42:a_{number}:24",
        **changes,
    }
    return OutgoingEvent(**fields)


def sent(mocked, index: int = 0) -> dict:
    return json.loads(mocked.calls[index].request.body)


def query(mocked, index: int = 0) -> dict[str, list[str]]:
    return parse_qs(urlsplit(mocked.calls[index].request.url).query)


# --- Sending events ----------------------------------------------------------------------------


def test_create_event_posts_one_event_with_its_profile(client, mocked):
    mocked.post(f"{BASE}/api/events", status=202)

    assert client.create_event(event=REGISTERED) is None

    body = sent(mocked)
    assert body == {
        "data": {"type": "event", "attributes": {**REGISTERED_JSON, "profile": {"data": SARAH}}}
    }
    assert spec.validate_request_body("create_event", body) == []


def test_an_event_value_is_sent_only_when_given(client, mocked):
    mocked.post(f"{BASE}/api/events", status=202)

    client.create_event(event=event(1, value=12.5))

    assert sent(mocked)["data"]["attributes"]["value"] == 12.5
    assert "value" not in create_event_body(event=event(1))["data"]["attributes"]


def test_a_lost_single_event_create_is_sent_again(client, mocked, sleeps):
    # Klaviyo keeps the first event of a unique_id and answers a repeat with 202 too.
    mocked.post(f"{BASE}/api/events", status=503)
    mocked.post(f"{BASE}/api/events", status=202)

    client.create_event(event=REGISTERED)

    assert len(mocked.calls) == 2


def test_bulk_create_groups_events_per_profile_in_the_order_given(client, mocked):
    mocked.post(f"{BASE}/api/event-bulk-create-jobs", status=202)
    tom = event(2, metric="Registered for Party", unique_id="registered:p_42:a_2")

    assert client.bulk_create_events(events=[REGISTERED, event(2), tom]) is None

    body = sent(mocked)
    guest2 = {"type": "profile", "attributes": {"email": "guest2@example.com"}}
    soon = {
        "properties": {"party_id": "p_42", "hours_before": 24},
        "metric": {"data": {"type": "metric", "attributes": {"name": "Party Starting Soon"}}},
        "time": "2026-07-20T10:00:00+00:00",
        "unique_id": "soon:p_42:a_2:24",
    }
    registered = {
        **soon,
        "properties": {"party_id": "p_42", "hours_before": 24},
        "metric": {"data": {"type": "metric", "attributes": {"name": "Registered for Party"}}},
        "unique_id": "registered:p_42:a_2",
    }
    assert body == {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {
                "events-bulk-create": {
                    "data": [
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {"data": SARAH},
                                "events": {
                                    "data": [{"type": "event", "attributes": REGISTERED_JSON}]
                                },
                            },
                        },
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {"data": guest2},
                                "events": {
                                    "data": [
                                        {"type": "event", "attributes": soon},
                                        {"type": "event", "attributes": registered},
                                    ]
                                },
                            },
                        },
                    ]
                }
            },
        }
    }
    assert spec.validate_request_body("bulk_create_events", body) == []


def test_a_bulk_create_that_may_have_landed_is_not_sent_again(client, mocked):
    # A replay repeating unique_ids Klaviyo already has may fail whole: the caller decides.
    mocked.post(f"{BASE}/api/event-bulk-create-jobs", status=503)

    with pytest.raises(KlaviyoUnavailable):
        client.bulk_create_events(events=[event(1)])

    assert len(mocked.calls) == 1


def test_a_bulk_create_klaviyo_never_acted_on_is_sent_again(client, mocked):
    mocked.post(f"{BASE}/api/event-bulk-create-jobs", status=429, headers={"Retry-After": "1"})
    mocked.post(f"{BASE}/api/event-bulk-create-jobs", status=202)

    client.bulk_create_events(events=[event(1)])

    assert len(mocked.calls) == 2


def test_bulk_create_takes_1000_events():
    body = bulk_create_events_body(events=[event(n) for n in range(MAX_BULK_EVENTS)])

    groups = body["data"]["attributes"]["events-bulk-create"]["data"]
    assert sum(len(group["attributes"]["events"]["data"]) for group in groups) == 1000


def test_bulk_create_refuses_more_than_1000_events(client):
    with pytest.raises(ValueError, match="at most 1000 events, got 1001"):
        client.bulk_create_events(events=[event(n) for n in range(MAX_BULK_EVENTS + 1)])


def test_bulk_create_refuses_a_unique_id_twice(client):
    # Klaviyo would fail the whole request, every other event with it.
    twice = [event(1), event(2), event(3, unique_id="soon:p_42:a_1:24")]

    with pytest.raises(ValueError, match="'soon:p_42:a_1:24' appears twice"):
        client.bulk_create_events(events=twice)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unique_id": ""}, "unique_id"),
        ({"metric": ""}, "metric name"),
        ({"email": ""}, "email"),
        ({"time": AT.replace(tzinfo=None)}, "time zone"),
        ({"properties": {"party": {"id": "p_42"}}}, r"strings, numbers or booleans: \['party'\]"),
        ({"properties": {"guests": ["a", "b"]}}, "guests"),
    ],
)
def test_an_event_klaviyo_could_not_use_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        create_event_body(event=event(1, **changes))


def test_an_empty_bulk_create_is_refused():
    with pytest.raises(ValueError, match="at least one event"):
        bulk_create_events_body(events=[])


# --- Reading events back -----------------------------------------------------------------------


def event_resource(number: int, **attributes) -> dict:
    return {
        "type": "event",
        "id": f"E{number}",
        "attributes": {
            "timestamp": 1784541600,
            "event_properties": {"party_id": "p_42", "$event_id": f"registered:p_42:a_{number}"},
            "datetime": "2026-07-20T10:00:00+00:00",
            "uuid": f"uuid-{number}",
            **attributes,
        },
        "relationships": {
            "profile": {"data": {"type": "profile", "id": f"P{number}"}},
            "metric": {"data": {"type": "metric", "id": "M1"}},
        },
        "links": {"self": f"{BASE}/api/events/E{number}/"},
    }


def test_get_events_filters_by_metric_and_time_and_follows_the_cursor(client, mocked):
    following = f"{BASE}/api/events?page%5Bcursor%5D=abc"
    mocked.get(
        f"{BASE}/api/events", json={"data": [event_resource(1)], "links": {"next": following}}
    )
    mocked.get(following, json={"data": [event_resource(2)], "links": {"next": None}})

    events = client.get_events(metric_id="M1", since=AT, until=AT + timedelta(hours=1))

    assert query(mocked) == {
        "filter": [
            'and(equals(metric_id,"M1"),greater-or-equal(datetime,2026-07-20T10:00:00+00:00),'
            "less-than(datetime,2026-07-20T11:00:00+00:00))"
        ],
        "sort": ["datetime"],
    }
    assert mocked.calls[1].request.url == following
    assert events == [
        Event(
            id="E1",
            metric_id="M1",
            profile_id="P1",
            datetime=AT,
            unique_id="registered:p_42:a_1",
            properties={"party_id": "p_42", "$event_id": "registered:p_42:a_1"},
        ),
        Event(
            id="E2",
            metric_id="M1",
            profile_id="P2",
            datetime=AT,
            unique_id="registered:p_42:a_2",
            properties={"party_id": "p_42", "$event_id": "registered:p_42:a_2"},
        ),
    ]


def test_get_events_of_one_profile(client, mocked):
    mocked.get(f"{BASE}/api/events", json={"data": [], "links": {"next": None}})

    client.get_events(metric_id="M1", since=AT, until=AT + timedelta(days=1), profile_id="P1")

    assert query(mocked)["filter"] == [
        'and(equals(metric_id,"M1"),greater-or-equal(datetime,2026-07-20T10:00:00+00:00),'
        'less-than(datetime,2026-07-21T10:00:00+00:00),equals(profile_id,"P1"))'
    ]


def test_get_events_needs_zoned_times(client):
    with pytest.raises(ValueError, match="time zone"):
        client.get_events(metric_id="M1", since=AT.replace(tzinfo=None), until=AT)


def test_an_event_without_its_unique_id_or_relationships_reads_as_empty():
    bare = {"type": "event", "id": "E9", "attributes": {"event_properties": None}}

    assert Event.from_resource(bare) == Event(
        id="E9", metric_id="", profile_id="", datetime=None, unique_id="", properties={}
    )


# --- Metrics and flows -------------------------------------------------------------------------

METRIC = {
    "type": "metric",
    "id": "M1",
    "attributes": {
        "name": "Registered for Party",
        "created": "2026-07-20T10:00:00.000000",
        "updated": "2026-07-21T10:00:00+00:00",
        "integration": {"object": "integration", "name": "Partyline", "category": "Events"},
    },
    "links": {"self": f"{BASE}/api/metrics/M1/"},
}


def test_get_metrics_reads_every_page(client, mocked):
    following = f"{BASE}/api/metrics?page%5Bcursor%5D=next"
    mocked.get(f"{BASE}/api/metrics", json={"data": [METRIC], "links": {"next": following}})
    mocked.get(following, json={"data": [{"type": "metric", "id": "M2"}], "links": {}})

    metrics = client.get_metrics()

    assert query(mocked) == {}
    assert metrics == [
        Metric(
            id="M1",
            name="Registered for Party",
            integration_name="Partyline",
            integration_category="Events",
            created=AT,
            updated=AT + timedelta(days=1),
        ),
        Metric(
            id="M2",
            name="",
            integration_name="",
            integration_category="",
            created=None,
            updated=None,
        ),
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"integration_name": "Partyline"}, 'equals(integration.name,"Partyline")'),
        ({"integration_category": "Events"}, 'equals(integration.category,"Events")'),
        (
            {"integration_name": "Partyline", "integration_category": "Events"},
            'and(equals(integration.name,"Partyline"),equals(integration.category,"Events"))',
        ),
    ],
)
def test_get_metrics_filters_by_integration(client, mocked, filters, expected):
    mocked.get(f"{BASE}/api/metrics", json={"data": [], "links": {"next": None}})

    client.get_metrics(**filters)

    assert query(mocked) == {"filter": [expected]}


def test_flows_triggered_by_a_metric(client, mocked):
    draft = {**FLOW, "id": "D1", "attributes": {"name": "Old", "status": "draft", "archived": True}}
    mocked.get(
        f"{BASE}/api/metrics/M%2F1/flow-triggers",
        json={"data": [FLOW, draft], "links": {"self": "x"}},
    )

    flows = client.get_flows_triggered_by_metric(metric_id="M/1")

    assert flows == [
        CONFIRMATION,
        Flow(
            id="D1",
            name="Old",
            status="draft",
            trigger_type="",
            archived=True,
            created=None,
            updated=None,
        ),
    ]


def test_get_flow(client, mocked):
    mocked.get(f"{BASE}/api/flows/XyZ123", json={"data": FLOW})

    assert client.get_flow(flow_id="XyZ123") == CONFIRMATION
    assert query(mocked) == {}


def test_a_flow_without_an_id_is_unusable(client, mocked):
    mocked.get(f"{BASE}/api/flows/XyZ123", json={"data": {"type": "flow", "attributes": {}}})

    with pytest.raises(KlaviyoUnavailable):
        client.get_flow(flow_id="XyZ123")


def test_count_events_asks_one_metric_aggregate_and_sums_its_counts(client, mocked):
    # The spec's answer shape: one row per group (one without `by`), a count per date bucket.
    mocked.post(
        f"{BASE}/api/metric-aggregates",
        json={
            "data": {
                "type": "metric-aggregate",
                "id": "agg-1",
                "attributes": {
                    "dates": ["2026-07-20T00:00:00+00:00", "2026-07-21T00:00:00+00:00"],
                    "data": [{"dimensions": [], "measurements": {"count": [3.0, 4.0]}}],
                },
                "links": {"self": f"{BASE}/api/metric-aggregates/"},
            },
            "links": {"self": f"{BASE}/api/metric-aggregates/"},
        },
    )

    count = client.count_events(metric_id="M1", since=AT, until=AT + timedelta(days=2))

    assert count == 7
    attributes = sent(mocked)["data"]["attributes"]
    assert attributes["metric_id"] == "M1"
    assert attributes["measurements"] == ["count"]
    assert attributes["filter"] == [
        f"greater-or-equal(datetime,{AT.isoformat()})",
        f"less-than(datetime,{(AT + timedelta(days=2)).isoformat()})",
    ]
    assert spec.validate_request_body("query_metric_aggregates", sent(mocked)) == []


def test_a_count_klaviyo_answers_oddly_reads_as_none_recorded(client, mocked):
    mocked.post(
        f"{BASE}/api/metric-aggregates",
        json={"data": {"type": "metric-aggregate", "id": "a", "attributes": {"data": "?"}}},
    )
    assert client.count_events(metric_id="M1", since=AT, until=AT + timedelta(hours=1)) == 0
