"""The events and metrics REST endpoints (`/api/events`, `/api/event-bulk-create-jobs`,
`/api/metrics`, `/api/metric-aggregates`): parse the query, call a service, answer a JSON:API
document."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import HttpResponse

from klaviyo_sandbox.endpoint import ApiCall, api_endpoint
from klaviyo_sandbox.events import event_bulk_create, event_create
from klaviyo_sandbox.jsonapi import (
    collection_links,
    decode_cursor,
    document_response,
    encode_cursor,
    event_resource,
    filter_datetime,
    invalid,
    list_param,
    metric_aggregate_resource,
    metric_resource,
    page_size,
    parse_filter,
    profile_resource,
)
from klaviyo_sandbox.metrics import (
    aggregate_query_check,
    metric_aggregate,
    metric_get,
    metric_integration,
)
from klaviyo_sandbox.models import Event, Metric
from klaviyo_sandbox.routers import DATABASE

COMPARISONS = {
    "greater-than": "gt",
    "greater-or-equal": "gte",
    "less-than": "lt",
    "less-or-equal": "lte",
}
EVENT_FILTERS = {
    "metric_id": {"equals"},
    "profile_id": {"equals"},
    "datetime": set(COMPARISONS),
    "timestamp": set(COMPARISONS),
}
EVENT_SORTS = {"datetime", "-datetime", "timestamp", "-timestamp"}
METRICS_PAGE = 200  # get_metrics takes no page[size]: Klaviyo pages by 200


def _events_filtered(queryset: QuerySet[Event], call: ApiCall) -> QuerySet[Event]:
    for term in parse_filter(call.request, EVENT_FILTERS):
        if term.operator in COMPARISONS:
            # `timestamp` is the same instant as `datetime`, in epoch seconds.
            value = term.values[0]
            at = (
                datetime.fromtimestamp(int(value), tz=filter_datetime(term).tzinfo)
                if term.field == "timestamp" and value.isdigit()
                else filter_datetime(term)
            )
            queryset = queryset.filter(**{f"datetime__{COMPARISONS[term.operator]}": at})
        else:
            queryset = queryset.filter(**{term.field: term.values[0]})
    return queryset


@api_endpoint(GET="get_events", POST="create_event")
def events(call: ApiCall) -> HttpResponse:
    request = call.request
    client_id = call.token.installation.client_id
    if request.method == "POST":
        event_create(account=call.account, client_id=client_id, data=call.body["data"])
        return document_response(None, status=202)

    size = page_size(request, default=200, maximum=1000)
    sort = request.GET.get("sort", "datetime")
    if sort not in EVENT_SORTS:
        raise invalid(f"Events do not sort by {sort!r}.", parameter="sort")
    descending = sort.startswith("-")
    include = list_param(request, "include")
    unknown = set(include) - {"metric", "profile"}
    if unknown:
        raise invalid(f"The sandbox does not include {sorted(unknown)}.", parameter="include")
    queryset = _events_filtered(Event.objects.using(DATABASE).filter(account=call.account), call)
    # Keyset pagination on (datetime, id): the cursor is the last event's pair.
    cursor = decode_cursor(request, "event")
    if cursor is not None:
        at_text, _, last_id = cursor.partition("|")
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            raise invalid("Invalid cursor provided.", parameter="page[cursor]") from None
        after = "lt" if descending else "gt"
        queryset = queryset.filter(
            Q(**{f"datetime__{after}": at}) | Q(datetime=at, **{f"id__{after}": last_id})
        )
    order = ("-datetime", "-id") if descending else ("datetime", "id")
    page = list(queryset.select_related("metric", "profile").order_by(*order)[: size + 1])
    next_cursor = None
    if len(page) > size:
        last = page[size - 1]
        next_cursor = encode_cursor("event", f"{last.datetime.isoformat()}|{last.id}")
    page = page[:size]
    document = {
        "data": [
            event_resource(request, item, fields=list_param(request, "fields[event]"))
            for item in page
        ],
        "links": collection_links(request, next_cursor),
    }
    if include:
        included: dict[tuple[str, str], dict] = {}
        for item in page:
            if "metric" in include:
                included[("metric", item.metric_id)] = metric_resource(
                    request, item.metric, integration=metric_integration(item.metric)
                )
            if "profile" in include:
                included[("profile", item.profile_id)] = profile_resource(request, item.profile)
        document["included"] = list(included.values())
    return document_response(document)


@api_endpoint(POST="bulk_create_events")
def event_bulk_create_jobs(call: ApiCall) -> HttpResponse:
    event_bulk_create(
        account=call.account,
        client_id=call.token.installation.client_id,
        data=call.body["data"],
    )
    return document_response(None, status=202)


@api_endpoint(GET="get_metrics")
def metrics(call: ApiCall) -> HttpResponse:
    request = call.request
    terms = parse_filter(
        request, {"integration.name": {"equals"}, "integration.category": {"equals"}}
    )
    found = list(Metric.objects.using(DATABASE).filter(account=call.account).order_by("id"))
    # `integration` is derived, not stored: filter the account's (few) metrics in Python.
    for term in terms:
        key = term.field.split(".", 1)[1]
        found = [m for m in found if metric_integration(m)[key] == term.values[0]]
    start = decode_cursor(request, "metric")
    if start is not None:
        found = [m for m in found if m.id > start]
    more = len(found) > METRICS_PAGE
    found = found[:METRICS_PAGE]
    fields = list_param(request, "fields[metric]")
    return document_response(
        {
            "data": [
                metric_resource(request, m, integration=metric_integration(m), fields=fields)
                for m in found
            ],
            "links": collection_links(
                request, encode_cursor("metric", found[-1].id) if more else None
            ),
        }
    )


@api_endpoint(GET="get_metric")
def metric_detail(call: ApiCall, metric_id: str) -> HttpResponse:
    metric = metric_get(account=call.account, metric_id=metric_id)
    fields = list_param(call.request, "fields[metric]")
    resource = metric_resource(
        call.request, metric, integration=metric_integration(metric), fields=fields
    )
    return document_response({"data": resource, "links": {"self": resource["links"]["self"]}})


@api_endpoint(POST="query_metric_aggregates")
def metric_aggregates(call: ApiCall) -> HttpResponse:
    """Without `by` (the only grouping the sandbox computes) the answer is one row with no
    dimensions, within any `page_size` (at least 1), on one page. The door has applied the
    due event jobs, so every event recorded by now is counted."""
    query = aggregate_query_check(account=call.account, attributes=call.body["data"]["attributes"])
    aggregates = metric_aggregate(query)
    rows = [{"dimensions": [], "measurements": aggregates.measurements}]
    resource = metric_aggregate_resource(
        call.request,
        dates=aggregates.dates,
        rows=rows,
        fields=list_param(call.request, "fields[metric-aggregate]"),
    )
    return document_response({"data": resource, "links": {"self": resource["links"]["self"]}})
