"""Klaviyo's official Python SDK (klaviyo-api 24) parses the sandbox's events, metrics,
metric aggregates and flows answers into its typed models (served for real by `live_server`,
as in test_sdk.py)."""

from __future__ import annotations

import pytest
from openapi_client.models.get_event_response_collection_compound_document import (
    GetEventResponseCollectionCompoundDocument,
)
from openapi_client.models.get_flow_response_collection import GetFlowResponseCollection
from openapi_client.models.get_flow_response_collection_compound_document import (
    GetFlowResponseCollectionCompoundDocument,
)
from openapi_client.models.get_flow_v2_response_compound_document import (
    GetFlowV2ResponseCompoundDocument,
)
from openapi_client.models.get_metric_response_collection_compound_document import (
    GetMetricResponseCollectionCompoundDocument,
)
from openapi_client.models.post_metric_aggregate_response import PostMetricAggregateResponse

from klaviyo_sandbox import testing
from tests.support.sandbox_requests import SDK_JOB_SECONDS

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "sandbox"])


def metric(name: str) -> dict:
    return {"data": {"type": "metric", "attributes": {"name": name}}}


def test_events_and_metrics_parse_into_the_sdks_typed_models(klaviyo):
    single = {
        "data": {
            "type": "event",
            "attributes": {
                "metric": metric("Registered for Party"),
                "profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}},
                "properties": {"party_id": "p_42"},
                "time": "2026-07-20T10:00:00+00:00",
                "unique_id": "registered:p_42:a",
                "value": 10,
            },
        }
    }
    assert klaviyo.Events.create_event(single) is None
    bulk = {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {
                "events-bulk-create": {
                    "data": [
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {
                                    "data": {
                                        "type": "profile",
                                        "attributes": {"email": "b@example.com"},
                                    }
                                },
                                "events": {
                                    "data": [
                                        {
                                            "type": "event",
                                            "attributes": {
                                                "metric": metric("Party Cancelled"),
                                                "properties": {"party_id": "p_42"},
                                                "time": "2026-07-20T10:00:00+00:00",
                                            },
                                        }
                                    ]
                                },
                            },
                        }
                    ]
                }
            },
        }
    }
    assert klaviyo.Events.bulk_create_events(bulk) is None
    testing.advance(SDK_JOB_SECONDS)

    metrics = klaviyo.Metrics.get_metrics(filter='equals(integration.category,"App")')
    assert isinstance(metrics, GetMetricResponseCollectionCompoundDocument)
    ids = {item.attributes.name: item.id for item in metrics.data}
    assert set(ids) == {"Registered for Party", "Party Cancelled"}

    testing.advance(1)
    events = klaviyo.Events.get_events(
        filter=f'equals(metric_id,"{ids["Registered for Party"]}")',
        include=["metric", "profile"],
        sort="-datetime",
    )
    assert isinstance(events, GetEventResponseCollectionCompoundDocument)
    [event] = events.data
    assert event.attributes.event_properties == {
        "party_id": "p_42",
        "$event_id": "registered:p_42:a",
        "$value": 10.0,
    }
    assert event.relationships.metric.data.id == ids["Registered for Party"]
    assert len(events.included) == 2
    # Sent without a unique_id: its time to the second stands in.
    [cancelled] = klaviyo.Events.get_events(
        filter=f'equals(metric_id,"{ids["Party Cancelled"]}")'
    ).data
    assert cancelled.attributes.event_properties["$event_id"] == "1784541600"


def test_flows_parse_into_the_sdks_typed_models(klaviyo):
    welcome = testing.create_flow(name="Welcome", metric="Registered for Party")
    testing.create_flow(name="Draft", metric="Registered for Party", status="draft")

    flows = klaviyo.Flows.get_flows(filter='equals(status,"live")', sort="name")
    assert isinstance(flows, GetFlowResponseCollectionCompoundDocument)
    assert [(flow.id, flow.attributes.trigger_type) for flow in flows.data] == [
        (welcome.id, "Metric")
    ]
    testing.advance(1)  # get_flow bursts at 3 a second
    flow = klaviyo.Flows.get_flow(welcome.id)
    assert isinstance(flow, GetFlowV2ResponseCompoundDocument)
    assert flow.data.attributes.status == "live"
    triggered = klaviyo.Metrics.get_flows_triggered_by_metric(welcome.trigger_metric_id)
    assert isinstance(triggered, GetFlowResponseCollection)
    assert sorted(item.attributes.name for item in triggered.data) == ["Draft", "Welcome"]


def test_metric_aggregates_parse_into_the_sdks_typed_model(klaviyo):
    for second, email in enumerate(["a@example.com", "b@example.com", "a@example.com"]):
        event = {
            "data": {
                "type": "event",
                "attributes": {
                    "metric": metric("Registered for Party"),
                    "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
                    "properties": {"party_id": "p_42"},
                    "time": f"2026-07-20T10:00:0{second}+00:00",
                    "value": 5,
                },
            }
        }
        assert klaviyo.Events.create_event(event) is None
    testing.advance(SDK_JOB_SECONDS)
    [registered] = klaviyo.Metrics.get_metrics().data
    testing.advance(1)  # query_metric_aggregates bursts at 3 a second

    answer = klaviyo.Metrics.query_metric_aggregates(
        {
            "data": {
                "type": "metric-aggregate",
                "attributes": {
                    "metric_id": registered.id,
                    "measurements": ["count", "unique", "sum_value"],
                    "interval": "day",
                    "filter": [
                        "greater-or-equal(datetime,2026-07-20T10:00:00+00:00)",
                        "less-than(datetime,2026-07-20T10:05:00+00:00)",
                    ],
                    "timezone": "UTC",
                },
            }
        }
    )

    assert isinstance(answer, PostMetricAggregateResponse)
    assert answer.data.type == "metric-aggregate"
    assert [at.isoformat() for at in answer.data.attributes.dates] == ["2026-07-20T00:00:00+00:00"]
    [row] = answer.data.attributes.data
    assert row.dimensions == []
    assert row.measurements == {"count": [3.0], "unique": [2.0], "sum_value": [15.0]}
    assert sum(sum(row.measurements["count"]) for row in answer.data.attributes.data) == 3
