"""Flows: automations an operator builds in the sandbox UI, each triggered by one metric.

Klaviyo's API reads flows but does not create them from an event trigger; the sandbox lets
an operator make one (trigger metric, optional filter on one event property, status) so the
product's reads (`get_flows`, `get_flow`, `get_flows_triggered_by_metric`) have something
faithful to answer.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet

from klaviyo_sandbox import clock, ids
from klaviyo_sandbox.jsonapi import not_found
from klaviyo_sandbox.models import Account, Event, Flow, FlowMessage, FlowStatus, Metric
from klaviyo_sandbox.routers import DATABASE


def flows_for_account(*, account: Account) -> QuerySet[Flow]:
    return Flow.objects.using(DATABASE).filter(account=account).select_related("trigger_metric")


def flow_get(*, account: Account, flow_id: str) -> Flow:
    flow = flows_for_account(account=account).filter(id=flow_id).first()
    if flow is None:
        raise not_found(f"A flow with id {flow_id} does not exist.")
    return flow


def flow_create(
    *,
    account: Account,
    name: str,
    trigger_metric: Metric,
    status: str = FlowStatus.DRAFT,
    filter_property: str = "",
    filter_value: str = "",
) -> Flow:
    if trigger_metric.account_id != account.id:
        raise ValueError("A flow's trigger metric belongs to its own account.")
    now = clock.now()
    return Flow.objects.using(DATABASE).create(
        id=ids.short_id(),
        account=account,
        name=name,
        status=status,
        trigger_metric=trigger_metric,
        filter_property=filter_property,
        # A value without a property filters nothing: keep neither.
        filter_value=filter_value if filter_property else "",
        created=now,
        updated=now,
    )


def flow_set_status(*, flow: Flow, status: str) -> Flow:
    flow.status = status
    flow.updated = clock.now()
    flow.save(using=DATABASE, update_fields=["status", "updated"])
    return flow


def _matches(flow: Flow, properties: dict[str, Any]) -> bool:
    """No filter, or the property equals the value as text (`42`, `true` for JSON values)."""
    if not flow.filter_property:
        return True
    if flow.filter_property not in properties:
        return False
    value = properties[flow.filter_property]
    return (value if isinstance(value, str) else json.dumps(value)) == flow.filter_value


def flow_messages_record(*, event: Event) -> list[FlowMessage]:
    """What the account's live flows triggered by the event's metric would have sent; to a
    suppressed profile, skipped. A backfilled event triggers no flow (the spec: "recorded
    but does NOT trigger flows")."""
    if event.backfill:
        return []
    live = flows_for_account(account=event.account).filter(
        trigger_metric=event.metric, status=FlowStatus.LIVE
    )
    profile = event.profile
    return [
        FlowMessage.objects.using(DATABASE).create(
            flow=flow,
            event=event,
            email=profile.email or "",
            at=event.created,
            skipped_for=profile.email_suppression,
        )
        for flow in live
        if _matches(flow, event.properties)
    ]


def flow_messages(*, account: Account) -> QuerySet[FlowMessage]:
    return (
        FlowMessage.objects.using(DATABASE)
        .filter(flow__account=account)
        .select_related("flow", "event__metric")
    )
