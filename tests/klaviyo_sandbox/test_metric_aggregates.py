"""`POST /api/metric-aggregates` (query_metric_aggregates): a metric's recorded events counted
by hour, day, week or month on the query's timezone, in the spec's response shape; what the
sandbox does not compute (grouping, other filters) refused with a 400 that says so."""

from __future__ import annotations

import json

import pytest

from klaviyo_sandbox import clock, spec, testing
from klaviyo_sandbox.jobs import jobs_process_due
from klaviyo_sandbox.models import Metric
from klaviyo_sandbox.routers import DATABASE
from tests.support.sandbox_requests import api

REGISTERED = "Registered for Party"


def check(response, operation_id: str = "query_metric_aggregates") -> None:
    body = json.loads(response.content) if response.content else None
    violations = spec.validate_response_body(operation_id, response.status_code, body)
    assert violations == [], f"{operation_id} {response.status_code}: {violations}"


def send(
    client, app, time: str, *, email: str = "a@example.com", metric: str = REGISTERED, **extra
):
    body = {
        "data": {
            "type": "event",
            "attributes": {
                "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
                "properties": {"party_id": "p_42"},
                "time": time,
                **extra,
            },
        }
    }
    assert api(client, "POST", "events", app, body).status_code == 202


def metric_id(name: str = REGISTERED) -> str:
    jobs_process_due()  # the events sent so far are recorded, their metric created
    return Metric.objects.using(DATABASE).get(name=name).id


def query(metric: str, start: str, end: str, **attributes) -> dict:
    """The body the product sends, with `attributes` changed or added."""
    return {
        "data": {
            "type": "metric-aggregate",
            "attributes": {
                "metric_id": metric,
                "measurements": ["count"],
                "interval": "day",
                "filter": [f"greater-or-equal(datetime,{start})", f"less-than(datetime,{end})"],
                "timezone": "UTC",
                **attributes,
            },
        }
    }


def aggregate(client, app, body: dict, path: str = "metric-aggregates") -> dict:
    response = api(client, "POST", path, app, body)
    assert response.status_code == 200, response.content
    check(response)
    return response.json()


def refusal(client, app, body: dict) -> dict:
    response = api(client, "POST", "metric-aggregates", app, body)
    assert response.status_code == 400, response.content
    check(response)
    [error] = response.json()["errors"]
    assert error["code"] == "invalid"
    return error


@pytest.fixture
def at_once(settings) -> None:
    settings.SANDBOX_JOB_SECONDS = 0


def test_the_products_query_counts_the_events_in_its_five_minutes(client, app, at_once):
    for time in (
        "2026-07-20T09:59:59+00:00",  # before the range
        "2026-07-20T10:00:00+00:00",
        "2026-07-20T10:04:59+00:00",
        "2026-07-20T10:05:00+00:00",  # less-than: the end is out
    ):
        send(client, app, time)
    send(client, app, "2026-07-20T10:01:00+00:00", metric="Party Cancelled")
    body = query(metric_id(), "2026-07-20T10:00:00+00:00", "2026-07-20T10:05:00+00:00")

    document = aggregate(client, app, body)

    data = document["data"]
    assert (data["type"], data["attributes"]["dates"]) == (
        "metric-aggregate",
        ["2026-07-20T00:00:00+00:00"],
    )
    assert data["attributes"]["data"] == [{"dimensions": [], "measurements": {"count": [2.0]}}]
    assert sum(sum(row["measurements"]["count"]) for row in data["attributes"]["data"]) == 2
    url = "http://testserver/sandbox/klaviyo/api/metric-aggregates/"
    assert data["links"] == document["links"] == {"self": url}
    assert data["id"]


def test_count_unique_and_sum_value(client, app, at_once):
    send(client, app, "2026-07-20T10:00:00+00:00", value=10)
    send(client, app, "2026-07-20T10:00:01+00:00", value=2.5)
    send(client, app, "2026-07-20T10:00:02+00:00", email="b@example.com")  # no value: 0
    body = query(
        metric_id(),
        "2026-07-20T00:00:00",
        "2026-07-21T00:00:00",
        measurements=["sum_value", "count", "unique"],
    )

    [row] = aggregate(client, app, body)["data"]["attributes"]["data"]

    assert row["measurements"] == {"sum_value": [12.5], "count": [3.0], "unique": [2.0]}
    assert list(row["measurements"]) == ["sum_value", "count", "unique"]


@pytest.mark.parametrize(
    ("interval", "start", "end", "dates", "counts"),
    [
        (
            "hour",
            "2026-07-20T09:30:00",
            "2026-07-20T11:10:00",
            ["2026-07-20T09:00:00", "2026-07-20T10:00:00", "2026-07-20T11:00:00"],
            [1.0, 2.0, 0.0],
        ),
        (
            None,  # the default: day
            "2026-07-19T12:00:00",
            "2026-07-21T00:00:00",
            ["2026-07-19T00:00:00", "2026-07-20T00:00:00"],
            [1.0, 3.0],
        ),
        (
            "week",  # weeks start on Monday; 2026-07-15 is a Wednesday
            "2026-07-15T00:00:00",
            "2026-07-28T00:00:00",
            ["2026-07-13T00:00:00", "2026-07-20T00:00:00", "2026-07-27T00:00:00"],
            [1.0, 3.0, 1.0],
        ),
        (
            "month",
            "2026-06-15T00:00:00",
            "2026-08-02T00:00:00",
            ["2026-06-01T00:00:00", "2026-07-01T00:00:00", "2026-08-01T00:00:00"],
            [0.0, 5.0, 1.0],
        ),
    ],
)
def test_buckets_by_interval(client, app, at_once, interval, start, end, dates, counts):
    for time in (
        "2026-07-19T23:00:00",
        "2026-07-20T09:45:00",
        "2026-07-20T10:00:00",
        "2026-07-20T10:59:59",
        "2026-07-27T08:00:00",
        "2026-08-01T08:00:00",
    ):
        send(client, app, f"{time}+00:00")

    attributes = query(metric_id(), start, end, interval=interval)["data"]["attributes"]
    data = aggregate(client, app, {"data": {"type": "metric-aggregate", "attributes": attributes}})

    assert data["data"]["attributes"]["dates"] == [f"{date}+00:00" for date in dates]
    assert data["data"]["attributes"]["data"][0]["measurements"]["count"] == counts


@pytest.fixture
def around_new_york_midnight(client, app, at_once) -> str:
    for time in (
        "2026-07-20T03:59:59+00:00",  # 23:59:59 on the 19th in New York (EDT, -04:00)
        "2026-07-20T04:00:00+00:00",  # midnight on the 20th there
        "2026-07-21T03:59:59+00:00",  # the 20th's last second there
        "2026-07-21T04:00:00+00:00",  # the 21st there
    ):
        send(client, app, time)
    return metric_id()


def test_bounds_without_an_offset_are_in_the_querys_timezone(client, app, around_new_york_midnight):
    body = query(
        around_new_york_midnight,
        "2026-07-20T00:00:00",
        "2026-07-21T00:00:00",
        timezone="America/New_York",
    )

    attributes = aggregate(client, app, body)["data"]["attributes"]

    assert attributes["dates"] == ["2026-07-20T04:00:00+00:00"]
    assert attributes["data"][0]["measurements"]["count"] == [2.0]


def test_bounds_with_an_offset_are_that_instant_bucketed_on_the_timezone(
    client, app, around_new_york_midnight
):
    body = query(
        around_new_york_midnight,
        "2026-07-20T00:00:00+00:00",
        "2026-07-21T00:00:00Z",
        timezone="America/New_York",
    )

    attributes = aggregate(client, app, body)["data"]["attributes"]

    assert attributes["dates"] == ["2026-07-19T04:00:00+00:00", "2026-07-20T04:00:00+00:00"]
    assert attributes["data"][0]["measurements"]["count"] == [1.0, 1.0]


def test_without_a_timezone_bounds_and_buckets_are_utc(client, app, around_new_york_midnight):
    body = query(around_new_york_midnight, "2026-07-20T00:00:00", "2026-07-21T00:00:00")
    del body["data"]["attributes"]["timezone"]

    attributes = aggregate(client, app, body)["data"]["attributes"]

    assert attributes["dates"] == ["2026-07-20T00:00:00+00:00"]
    assert attributes["data"][0]["measurements"]["count"] == [2.0]  # 03:59:59 and 04:00:00


@pytest.mark.parametrize(
    ("interval", "end", "dates"),
    [
        # New York falls back at 02:00 EDT on 2026-11-01: the 01:00 hour happens twice.
        (
            "hour",
            "2026-11-01T03:00:00",
            [f"2026-11-01T{hour:02d}:00:00" for hour in (4, 5, 6, 7)],
        ),
        ("day", "2026-11-03T00:00:00", ["2026-11-01T04:00:00", "2026-11-02T05:00:00"]),
    ],
)
def test_buckets_follow_daylight_saving_time(client, app, at_once, interval, end, dates):
    send(client, app, "2026-07-20T10:00:00+00:00")
    body = query(
        metric_id(), "2026-11-01T00:00:00", end, interval=interval, timezone="America/New_York"
    )

    attributes = aggregate(client, app, body)["data"]["attributes"]

    assert attributes["dates"] == [f"{date}+00:00" for date in dates]


def test_only_recorded_events_count(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    send(client, app, "2026-07-20T10:00:00+00:00")
    body = query(metric_id(), "2026-07-20T00:00:00", "2026-07-21T00:00:00")
    settings.SANDBOX_JOB_SECONDS = 2.0
    send(client, app, "2026-07-20T11:00:00+00:00", email="b@example.com")

    def count() -> list[float]:
        return aggregate(client, app, body)["data"]["attributes"]["data"][0]["measurements"][
            "count"
        ]

    assert count() == [1.0]  # the second is accepted, not recorded yet
    testing.advance(2)
    assert count() == [2.0]  # the query applied its job first


def test_backfilled_events_count(client, app, at_once):
    send(client, app, "2026-07-20T10:00:00+00:00")
    send(client, app, "2026-07-20T10:00:01+00:00", backfill=True)
    body = query(metric_id(), "2026-07-20T00:00:00", "2026-07-21T00:00:00")

    attributes = aggregate(client, app, body)["data"]["attributes"]

    assert attributes["data"][0]["measurements"]["count"] == [2.0]


def test_another_accounts_metric_is_not_found(client, app, at_once):
    send(client, app, "2026-07-20T10:00:00+00:00")
    other = testing.install_app(account=testing.BARK)
    body = query(metric_id(), "2026-07-20T00:00:00", "2026-07-21T00:00:00")

    response = api(client, "POST", "metric-aggregates", other, body)

    assert response.status_code == 404
    check(response)


def test_page_size_and_sparse_fields(client, app, at_once):
    send(client, app, "2026-07-20T10:00:00+00:00")
    body = query(metric_id(), "2026-07-20T00:00:00", "2026-07-21T00:00:00", page_size=1)

    assert len(aggregate(client, app, body)["data"]["attributes"]["data"]) == 1
    # A sparse fieldset leaves out what the schema calls required, as every sparse answer.
    sparse = api(client, "POST", "metric-aggregates/?fields[metric-aggregate]=dates", app, body)
    assert sparse.json()["data"]["attributes"] == {"dates": ["2026-07-20T00:00:00+00:00"]}


RANGE = [
    "greater-or-equal(datetime,2026-07-20T00:00:00)",
    "less-than(datetime,2026-07-21T00:00:00)",
]


@pytest.mark.parametrize(
    ("change", "pointer", "detail"),
    [
        ({"filter": []}, "/data/attributes/filter", "must include a time range"),
        ({"filter": RANGE[:1]}, "/data/attributes/filter", "must include a time range"),
        ({"filter": RANGE[1:]}, "/data/attributes/filter", "must include a time range"),
        (
            {"filter": [*RANGE, 'equals($flow,"X")']},
            "/data/attributes/filter/2",
            "does not support the filter",
        ),
        (
            {"filter": [RANGE[0], "less-or-equal(datetime,2026-07-21T00:00:00)"]},
            "/data/attributes/filter/1",
            "does not support the filter",
        ),
        ({"filter": [*RANGE, RANGE[0]]}, "/data/attributes/filter/2", "given twice"),
        (
            {"filter": ["greater-or-equal(datetime,yesterday)", RANGE[1]]},
            "/data/attributes/filter/0",
            "Invalid ISO 8601",
        ),
        (
            {"filter": [RANGE[0], "less-than(datetime,2026-07-20T00:00:00)"]},
            "/data/attributes/filter",
            "at most one year",
        ),
        (
            {"filter": [RANGE[0], "less-than(datetime,2027-07-21T00:00:01)"]},  # 366 days 1 s
            "/data/attributes/filter",
            "at most one year",
        ),
        (
            {"by": ["$flow", "$message"]},
            "/data/attributes/by",
            "The sandbox does not support grouping by $flow, $message",
        ),
        ({"timezone": "Mars/Olympus_Mons"}, "/data/attributes/timezone", "Unknown timezone"),
        ({"timezone": "Europe/Kyiv"}, "/data/attributes/timezone", "Unknown timezone"),
        ({"timezone": "america/new_york"}, "/data/attributes/timezone", "Unknown timezone"),
        ({"measurements": []}, "/data/attributes/measurements", "At least one measurement"),
        ({"measurements": ["average"]}, "/data/attributes/measurements/0", ""),
        ({"interval": "minute"}, "/data/attributes/interval", ""),
        ({"return_fields": ["count"]}, "/data/attributes/return_fields", "return_fields"),
        ({"sort": "-$flow"}, "/data/attributes/sort", "does not sort by"),
        ({"page_cursor": "abc"}, "/data/attributes/page_cursor", "Invalid cursor"),
        ({"page_size": 0}, "/data/attributes/page_size", "at least 1"),
    ],
)
def test_what_the_sandbox_does_not_answer_is_a_400(client, app, at_once, change, pointer, detail):
    send(client, app, "2026-07-20T10:00:00+00:00")
    body = query(metric_id(), "2026-07-20T00:00:00", "2026-07-21T00:00:00")
    body["data"]["attributes"].update(change)

    error = refusal(client, app, body)

    assert error["source"] == {"pointer": pointer}
    assert detail in error["detail"]


def test_a_range_of_exactly_a_year_and_a_sort_by_a_measurement_are_answered(client, app, at_once):
    send(client, app, "2026-07-20T10:00:00+00:00")
    body = query(
        metric_id(), "2026-01-01T00:00:00", "2027-01-01T00:00:00", interval="month", sort="-count"
    )

    attributes = aggregate(client, app, body)["data"]["attributes"]

    assert len(attributes["dates"]) == 12
    assert sum(attributes["data"][0]["measurements"]["count"]) == 1


def test_aggregates_need_metrics_read(client, at_once):
    reader = testing.install_app(scopes=["events:read"])
    body = query("AbCdEf", "2026-07-20T00:00:00", "2026-07-21T00:00:00")

    response = api(client, "POST", "metric-aggregates", reader, body)

    assert response.status_code == 403
    check(response)
    assert "metrics:read" in response.json()["errors"][0]["detail"]


def test_aggregates_are_limited_as_the_spec_says(client, app, at_once):
    """query_metric_aggregates: 3/s, 60/m (x-klaviyo-ratelimit)."""
    # At a minute's start, so the next 20 seconds share one steady window.
    with testing.frozen_clock(clock.now().replace(second=0, microsecond=0)):
        _limited_as_the_spec_says(client, app)


def _limited_as_the_spec_says(client, app) -> None:
    send(client, app, "2026-07-20T10:00:00+00:00")
    body = query(metric_id(), "2026-07-20T00:00:00", "2026-07-21T00:00:00")
    for _ in range(3):
        assert api(client, "POST", "metric-aggregates", app, body).status_code == 200

    burst = api(client, "POST", "metric-aggregates", app, body)

    assert (burst.status_code, burst["Retry-After"]) == (429, "1")
    check(burst)
    assert burst.json()["errors"][0]["code"] == "throttled"
    for _ in range(19):  # 3 a second up to 60 in the minute
        testing.advance(1)
        for _ in range(3):
            assert api(client, "POST", "metric-aggregates", app, body).status_code == 200
    testing.advance(1)
    steady = api(client, "POST", "metric-aggregates", app, body)
    assert steady.status_code == 429
