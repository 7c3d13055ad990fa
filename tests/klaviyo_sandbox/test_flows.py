"""Flows: built in the sandbox UI, read through the API in the spec's shapes."""

from __future__ import annotations

import pytest

from klaviyo_sandbox import flows, testing
from klaviyo_sandbox.models import Account, FlowStatus
from klaviyo_sandbox.routers import DATABASE


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
