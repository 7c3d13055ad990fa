"""Metrics: created by the first event with a new name, attributed to the app that sent it;
and their events counted by hour, day, week or month (`query_metric_aggregates`)."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from klaviyo_sandbox import clock, ids
from klaviyo_sandbox.jsonapi import invalid, not_found
from klaviyo_sandbox.models import Account, Event, Metric
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


# --- Aggregates (query_metric_aggregates) ---------------------------------------------

MEASUREMENTS = ("count", "unique", "sum_value")
# The spec: "validated against a list of common timezones from the IANA Time Zone Database
# ... a few notable exceptions are `Factory`, `Europe/Kyiv` and `Pacific/Kanton`".
UNSUPPORTED_TIMEZONES = frozenset({"Factory", "Europe/Kyiv", "Pacific/Kanton"})
# Klaviyo's reference (its earlier revisions say it in words): a range spans at most a year.
MAX_RANGE = timedelta(days=366)
_RANGE_TERM = re.compile(r"^\s*(greater-or-equal|less-than)\(\s*datetime\s*,\s*([^()]*?)\s*\)\s*$")
_POINTER = "/data/attributes"


@dataclass(frozen=True)
class AggregateQuery:
    """A checked `query_metric_aggregates` body: events of `metric` in [start, end), counted
    in `interval` buckets whose boundaries fall on `timezone`'s wall clock."""

    metric: Metric
    measurements: list[str]
    interval: str
    timezone: ZoneInfo
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Aggregates:
    """Each bucket's start (a UTC instant), and one value per bucket for each measurement."""

    dates: list[datetime]
    measurements: dict[str, list[float]]


def _timezone(name: str | None) -> ZoneInfo:
    """The query's timezone (UTC when absent): an IANA name, case-sensitive, as Klaviyo takes."""
    if name is None:
        return ZoneInfo("UTC")
    unknown = invalid(f"Unknown timezone {name!r}.", pointer=f"{_POINTER}/timezone")
    if name in UNSUPPORTED_TIMEZONES:
        raise unknown
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise unknown from None


def _range(filters: list[str], timezone: ZoneInfo) -> tuple[datetime, datetime]:
    """The filter's time range. A bound without an offset is a wall-clock time in `timezone`,
    the timezone "used for processing the query" (the spec's example sends such bounds)."""
    bounds: dict[str, datetime] = {}
    for index, text in enumerate(filters):
        pointer = f"{_POINTER}/filter/{index}"
        match = _RANGE_TERM.match(text)
        if match is None:
            raise invalid(
                f"The sandbox does not support the filter {text!r}: only the time range, "
                "greater-or-equal(datetime,...) and less-than(datetime,...).",
                pointer=pointer,
            )
        operator, raw = match.groups()
        if operator in bounds:
            raise invalid(f"{operator}(datetime,...) is given twice.", pointer=pointer)
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            raise invalid(f"Invalid ISO 8601 date-time {raw!r}.", pointer=pointer) from None
        bounds[operator] = at if at.tzinfo else at.replace(tzinfo=timezone)
    if set(bounds) != {"greater-or-equal", "less-than"}:
        raise invalid(
            "The filter must include a time range: greater-or-equal(datetime,...) and "
            "less-than(datetime,...).",
            pointer=f"{_POINTER}/filter",
        )
    start, end = bounds["greater-or-equal"], bounds["less-than"]
    if not start < end <= start + MAX_RANGE:
        raise invalid(
            "The time range must end after it starts and span at most one year.",
            pointer=f"{_POINTER}/filter",
        )
    return start.astimezone(UTC), end.astimezone(UTC)


def aggregate_query_check(*, account: Account, attributes: dict[str, Any]) -> AggregateQuery:
    """The query, or Klaviyo's 400 (404 for another account's metric). What the sandbox does
    not compute (grouping, other filters, sorting by a dimension, return_fields) is refused by
    name rather than answered wrongly."""
    metric = metric_get(account=account, metric_id=attributes["metric_id"])
    measurements = attributes["measurements"]
    if not measurements:
        raise invalid("At least one measurement is required.", pointer=f"{_POINTER}/measurements")
    if attributes.get("by"):
        raise invalid(
            f"The sandbox does not support grouping by {', '.join(attributes['by'])}.",
            pointer=f"{_POINTER}/by",
        )
    if attributes.get("return_fields"):
        raise invalid(
            "The sandbox does not support return_fields.", pointer=f"{_POINTER}/return_fields"
        )
    sort = attributes.get("sort")
    if sort and sort.lstrip("-") not in MEASUREMENTS:
        # Without `by` there is one row: sorting by a measurement changes nothing.
        raise invalid(f"The sandbox does not sort by {sort!r}.", pointer=f"{_POINTER}/sort")
    if attributes.get("page_cursor"):
        # One row, one page: the sandbox never hands out a cursor.
        raise invalid("Invalid cursor provided.", pointer=f"{_POINTER}/page_cursor")
    page_size = attributes.get("page_size")
    if page_size is not None and page_size < 1:
        # Any other size holds the one row there is without `by` (Klaviyo's default: 500).
        raise invalid("page_size must be at least 1.", pointer=f"{_POINTER}/page_size")
    timezone = _timezone(attributes.get("timezone"))
    start, end = _range(attributes["filter"], timezone)
    return AggregateQuery(
        metric=metric,
        measurements=measurements,
        interval=attributes.get("interval") or "day",
        timezone=timezone,
        start=start,
        end=end,
    )


def _bucket_start(at: datetime, interval: str, timezone: ZoneInfo) -> datetime:
    """The start of the bucket holding `at`: its hour, day, week (from Monday) or month on
    the timezone's wall clock."""
    local = at.astimezone(timezone)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.date()
    if interval == "week":
        day -= timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    return datetime.combine(day, time(), tzinfo=timezone)


def _bucket_after(start: datetime, interval: str, timezone: ZoneInfo) -> datetime:
    if interval == "hour":
        # An hour later in real time, so a DST change neither skips nor repeats an hour.
        return start.astimezone(UTC) + timedelta(hours=1)
    day = start.astimezone(timezone).date()
    if interval == "day":
        day += timedelta(days=1)
    elif interval == "week":
        day += timedelta(days=7)
    else:
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return datetime.combine(day, time(), tzinfo=timezone)


def bucket_starts(query: AggregateQuery) -> list[datetime]:
    """The buckets covering [start, end), as UTC instants: the first is the whole hour, day,
    week or month the range starts in, as Klaviyo's `dates` begin."""
    starts: list[datetime] = []
    at = _bucket_start(query.start, query.interval, query.timezone)
    while at < query.end:
        starts.append(at.astimezone(UTC))
        at = _bucket_after(at, query.interval, query.timezone)
    return starts


def metric_aggregate(query: AggregateQuery) -> Aggregates:
    """Count the metric's recorded events in the range, bucket by bucket: `count` (events),
    `unique` (distinct profiles), `sum_value` (their values; none counts as 0). Klaviyo writes
    every measurement as a number with a fraction (`3.0`)."""
    dates = bucket_starts(query)
    # The metric is the caller's account's (aggregate_query_check), and so are its events.
    events = Event.objects.using(DATABASE).filter(
        metric=query.metric,
        datetime__gte=query.start,
        datetime__lt=query.end,
    )
    counts = [0] * len(dates)
    profiles: list[set[str]] = [set() for _ in dates]
    sums = [0.0] * len(dates)
    for at, profile_id, value in events.values_list("datetime", "profile_id", "value"):
        bucket = bisect_right(dates, at) - 1
        counts[bucket] += 1
        profiles[bucket].add(profile_id)
        sums[bucket] += value or 0.0
    values = {
        "count": [float(n) for n in counts],
        "unique": [float(len(seen)) for seen in profiles],
        "sum_value": sums,
    }
    return Aggregates(dates=dates, measurements={m: values[m] for m in query.measurements})
