"""Metrics: created by the first event with a new name, attributed to the app that sent it."""

from __future__ import annotations

from typing import Any

from klaviyo_sandbox import clock, ids
from klaviyo_sandbox.jsonapi import not_found
from klaviyo_sandbox.models import Account, Metric
from klaviyo_sandbox.oauth import APP_NAME
from klaviyo_sandbox.routers import DATABASE

# Klaviyo leaves `integration` untyped and does not document what an app's metrics carry;
# the sandbox names the app, so a client can filter on `integration.name` or `.category`.
INTEGRATION_CATEGORY = "App"


def metric_integration(metric: Metric) -> dict[str, Any]:
    return {
        "object": "integration",
        "id": metric.client_id,
        "key": metric.client_id,
        "name": APP_NAME,
        "category": INTEGRATION_CATEGORY,
    }


def metric_for_event(*, account: Account, name: str, client_id: str) -> Metric:
    """The app's metric of that name, created by its first event (Klaviyo: per name and
    source, so the same name from another app is another metric)."""
    now = clock.now()
    metric, _ = Metric.objects.using(DATABASE).get_or_create(
        account=account,
        name=name,
        client_id=client_id,
        defaults={"id": ids.short_id(), "created": now, "updated": now},
    )
    return metric


def metric_get(*, account: Account, metric_id: str) -> Metric:
    metric = Metric.objects.using(DATABASE).filter(account=account, id=metric_id).first()
    if metric is None:
        raise not_found(f"A metric with id {metric_id} does not exist.")
    return metric
