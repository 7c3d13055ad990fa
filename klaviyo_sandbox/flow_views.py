"""The flows REST endpoints (`/api/flows`, `/api/flows/{id}`,
`/api/metrics/{id}/flow-triggers`): read-only, as flows are built in the sandbox UI."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpResponse

from klaviyo_sandbox.endpoint import ApiCall, api_endpoint
from klaviyo_sandbox.flows import flow_get, flows_for_account
from klaviyo_sandbox.jsonapi import (
    collection_links,
    decode_cursor,
    document_response,
    encode_cursor,
    filter_datetime,
    flow_resource,
    invalid,
    list_param,
    page_size,
    parse_filter,
)
from klaviyo_sandbox.metrics import metric_get
from klaviyo_sandbox.models import Flow

COMPARISONS = {
    "equals": "exact",
    "greater-than": "gt",
    "greater-or-equal": "gte",
    "less-than": "lt",
    "less-or-equal": "lte",
}
NAME_OPERATORS = {
    "equals": "exact",
    "contains": "contains",
    "starts-with": "startswith",
    "ends-with": "endswith",
}
# get_flows' allowed fields and operators, from the spec's `filter` description.
FLOW_FILTERS = {
    "id": {"any"},
    "name": set(NAME_OPERATORS),
    "status": {"equals"},
    "archived": {"equals"},
    "created": set(COMPARISONS),
    "updated": set(COMPARISONS),
    "trigger_type": {"equals"},
}
# Every flow's trigger type is the same, so sorting on it keeps the id order.
FLOW_SORTS = {"created", "id", "name", "status", "trigger_type", "updated"}


def _flows_filtered(queryset: QuerySet[Flow], call: ApiCall) -> QuerySet[Flow]:
    for term in parse_filter(call.request, FLOW_FILTERS):
        value = term.values[0]
        if term.field == "id":
            queryset = queryset.filter(id__in=term.values)
        elif term.field == "name":
            queryset = queryset.filter(**{f"name__{NAME_OPERATORS[term.operator]}": value})
        elif term.field in ("created", "updated"):
            lookup = f"{term.field}__{COMPARISONS[term.operator]}"
            queryset = queryset.filter(**{lookup: filter_datetime(term)})
        elif term.field == "archived":
            if value not in ("true", "false"):
                raise invalid(f"Invalid filter value {value!r} for 'archived'.", parameter="filter")
            if value == "true":
                queryset = queryset.none()  # no sandbox flow is archived
        elif term.field == "trigger_type":
            if value != Flow.trigger_type:
                queryset = queryset.none()
        else:
            queryset = queryset.filter(status=value)
    return queryset


@api_endpoint(GET="get_flows")
def flows(call: ApiCall) -> HttpResponse:
    request = call.request
    if list_param(request, "include"):
        raise invalid(
            "The sandbox's flows have no actions or tags to include.", parameter="include"
        )
    size = page_size(request, default=50, maximum=50)
    sort = request.GET.get("sort", "id")
    if sort.lstrip("-") not in FLOW_SORTS:
        raise invalid(f"Flows do not sort by {sort!r}.", parameter="sort")
    field = "id" if sort.lstrip("-") == "trigger_type" else sort.lstrip("-")
    order = [f"-{field}", "-id"] if sort.startswith("-") else [field, "id"]
    queryset = _flows_filtered(flows_for_account(account=call.account), call).order_by(*order)
    # An offset cursor: an account's flows are few and change only by hand.
    cursor = decode_cursor(request, "flow")
    if cursor is not None and not cursor.isdigit():
        raise invalid("Invalid cursor provided.", parameter="page[cursor]")
    start = int(cursor or 0)
    page = list(queryset[start : start + size + 1])
    more = len(page) > size
    fields = list_param(request, "fields[flow]")
    return document_response(
        {
            "data": [flow_resource(request, flow, fields=fields) for flow in page[:size]],
            "links": collection_links(
                request, encode_cursor("flow", start + size) if more else None
            ),
        }
    )


@api_endpoint(GET="get_flow")
def flow_detail(call: ApiCall, flow_id: str) -> HttpResponse:
    if list_param(call.request, "include"):
        raise invalid(
            "The sandbox's flows have no actions or tags to include.", parameter="include"
        )
    flow = flow_get(account=call.account, flow_id=flow_id)
    resource = flow_resource(call.request, flow, fields=list_param(call.request, "fields[flow]"))
    return document_response({"data": resource, "links": {"self": resource["links"]["self"]}})


@api_endpoint(GET="get_flows_triggered_by_metric")
def metric_flow_triggers(call: ApiCall, metric_id: str) -> HttpResponse:
    metric = metric_get(account=call.account, metric_id=metric_id)
    fields = list_param(call.request, "fields[flow]")
    found = flows_for_account(account=call.account).filter(trigger_metric=metric).order_by("id")
    return document_response(
        {
            "data": [flow_resource(call.request, flow, fields=fields) for flow in found],
            "links": collection_links(call.request, None),
        }
    )
