"""Events and metrics as Klaviyo keeps them: accepted (202) at once, recorded once due, one
per metric, profile and unique_id; bulk requests capped and failing whole on a repeated key;
read back with filters and cursors; every response in the spec's shapes."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from klaviyo_sandbox import spec, testing
from klaviyo_sandbox.models import Event, Metric, Profile
from klaviyo_sandbox.routers import DATABASE
from tests.support.sandbox_requests import api


def check(response, operation_id: str) -> None:
    body = json.loads(response.content) if response.content else None
    violations = spec.validate_response_body(operation_id, response.status_code, body)
    assert violations == [], f"{operation_id} {response.status_code}: {violations}"


def event_attributes(metric: str, email: str, **extra) -> dict:
    return {
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
        "properties": extra.pop("properties", {"party_id": "p_42"}),
        **extra,
    }


def event_body(metric: str, email: str, **extra) -> dict:
    return {"data": {"type": "event", "attributes": event_attributes(metric, email, **extra)}}


def bulk_body(groups: list[tuple[str, list[dict]]]) -> dict:
    """`groups`: (email, [event attributes without profile]) per profile."""
    return {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {
                "events-bulk-create": {
                    "data": [
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {
                                    "data": {"type": "profile", "attributes": {"email": email}}
                                },
                                "events": {
                                    "data": [
                                        {"type": "event", "attributes": event} for event in events
                                    ]
                                },
                            },
                        }
                        for email, events in groups
                    ]
                }
            },
        }
    }


def bulk_event(metric: str, **extra) -> dict:
    return {
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "properties": extra.pop("properties", {"party_id": "p_42"}),
        **extra,
    }


@pytest.fixture
def two_seconds(settings) -> float:
    settings.SANDBOX_JOB_SECONDS = 2.0
    return 2.0


def recorded() -> list[tuple[str, str, str]]:
    return [
        (event.metric.name, event.profile.email or "", event.unique_id)
        for event in Event.objects.using(DATABASE).select_related("metric", "profile")
    ]


def test_an_event_is_accepted_at_once_and_recorded_once_due(client, app, two_seconds):
    response = api(
        client,
        "POST",
        "events",
        app,
        event_body(
            "Registered for Party",
            "Sarah@Example.com",
            unique_id="registered:p_42:a_1",
            time="2026-07-20T10:00:00.750+00:00",
            value=12.5,
        ),
    )

    assert (response.status_code, response.content) == (202, b"")
    check(response, "create_event")
    assert recorded() == []
    testing.advance(1.9)
    api(client, "GET", "events", app)
    assert recorded() == []
    testing.advance(0.1)
    api(client, "GET", "events", app)
    assert recorded() == [("Registered for Party", "sarah@example.com", "registered:p_42:a_1")]
    event = Event.objects.using(DATABASE).get()
    assert event.datetime.isoformat() == "2026-07-20T10:00:00+00:00"  # truncated to the second
    assert event.profile.last_event_date == event.datetime
    metric = Metric.objects.using(DATABASE).get()
    assert (metric.account_id, metric.client_id) == (app.account_id, app.installation.client_id)


def test_an_event_updates_its_profile(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    api(
        client,
        "POST",
        "profile-import",
        app,
        {"data": {"type": "profile", "attributes": {"email": "sam@example.com"}}},
    )
    body = event_body("Registered for Party", "sam@example.com")
    body["data"]["attributes"]["profile"]["data"]["attributes"]["first_name"] = "Sam"

    assert api(client, "POST", "events", app, body).status_code == 202
    api(client, "GET", "events", app)

    [profile] = Profile.objects.using(DATABASE).filter(email="sam@example.com")
    assert profile.first_name == "Sam"


def test_a_repeated_unique_id_is_recorded_once_and_a_new_one_again(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    for unique_id in ("a", "a", "b"):
        body = event_body("Offered Party Spot", "tom@example.com", unique_id=unique_id)
        assert api(client, "POST", "events", app, body).status_code == 202
    # The same unique_id for another metric or another profile is another event.
    api(client, "POST", "events", app, event_body("Cancelled", "tom@example.com", unique_id="a"))
    api(
        client,
        "POST",
        "events",
        app,
        event_body("Offered Party Spot", "x@example.com", unique_id="a"),
    )
    api(client, "GET", "events", app)

    assert sorted(recorded()) == [
        ("Cancelled", "tom@example.com", "a"),
        ("Offered Party Spot", "tom@example.com", "a"),
        ("Offered Party Spot", "tom@example.com", "b"),
        ("Offered Party Spot", "x@example.com", "a"),
    ]


def test_without_a_unique_id_one_event_per_profile_and_metric_per_second(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    api(client, "POST", "events", app, event_body("Ended", "a@example.com"))
    api(client, "POST", "events", app, event_body("Ended", "a@example.com"))
    testing.advance(1)
    api(client, "POST", "events", app, event_body("Ended", "a@example.com"))
    api(client, "GET", "events", app)

    assert len(recorded()) == 2


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (
            {"profile": {"data": {"type": "profile", "attributes": {}}}},
            "/data/attributes/profile/data/attributes",
        ),
        ({"time": "1989-12-31T00:00:00+00:00"}, "/data/attributes/time"),
        (
            {"metric": {"data": {"type": "metric", "attributes": {"name": "x" * 128}}}},
            "/data/attributes/metric/data/attributes/name",
        ),
        ({"properties": None}, "/data/attributes/properties"),
    ],
)
def test_a_bad_event_is_refused_at_once(client, app, change, pointer):
    body = event_body("Ended", "a@example.com")
    body["data"]["attributes"].update(change)

    response = api(client, "POST", "events", app, body)

    assert response.status_code == 400
    check(response, "create_event")
    assert response.json()["errors"][0]["source"]["pointer"] == pointer


def test_a_bulk_request_is_applied_once_due(client, app, two_seconds):
    body = bulk_body(
        [
            (
                "a@example.com",
                [
                    bulk_event("Starting Soon", unique_id="s:1"),
                    bulk_event("Ended", unique_id="e:1"),
                ],
            ),
            ("b@example.com", [bulk_event("Starting Soon", unique_id="s:1")]),
        ]
    )

    response = api(client, "POST", "event-bulk-create-jobs", app, body)

    assert (response.status_code, response.content) == (202, b"")
    check(response, "bulk_create_events")
    testing.advance(1)
    api(client, "GET", "events", app)
    assert recorded() == []
    testing.advance(1)
    api(client, "GET", "events", app)
    assert sorted(recorded()) == [
        ("Ended", "a@example.com", "e:1"),
        ("Starting Soon", "a@example.com", "s:1"),
        ("Starting Soon", "b@example.com", "s:1"),
    ]
    # Sent again (a retry): already recorded, nothing twice.
    assert api(client, "POST", "event-bulk-create-jobs", app, body).status_code == 202
    testing.advance(2)
    api(client, "GET", "events", app)
    assert len(recorded()) == 3


def test_a_bulk_request_with_a_repeated_unique_id_fails_whole(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    body = bulk_body(
        [
            ("a@example.com", [bulk_event("Ended", unique_id="e:1")]),
            (
                "b@example.com",
                [bulk_event("Ended", unique_id="e:1"), bulk_event("Ended", unique_id="e:1")],
            ),
        ]
    )

    response = api(client, "POST", "event-bulk-create-jobs", app, body)

    assert response.status_code == 400
    check(response, "bulk_create_events")
    assert response.json()["errors"][0]["source"]["pointer"] == (
        "/data/attributes/events-bulk-create/data/1/attributes/events/data/1/attributes/unique_id"
    )
    api(client, "GET", "events", app)
    assert recorded() == []


def test_a_bulk_request_takes_at_most_1000_events(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    events = [bulk_event("Ended", unique_id=str(n)) for n in range(1000)]

    accepted = api(
        client, "POST", "event-bulk-create-jobs", app, bulk_body([("a@example.com", events)])
    )
    testing.advance(1)
    events.append(bulk_event("Ended", unique_id="1000"))
    refused = api(
        client, "POST", "event-bulk-create-jobs", app, bulk_body([("a@example.com", events)])
    )

    assert (accepted.status_code, refused.status_code) == (202, 400)
    check(refused, "bulk_create_events")
    api(client, "GET", "events", app)
    assert len(recorded()) == 1000


def test_events_need_their_scopes(client):
    reader = testing.install_app(account=testing.ACME, scopes="events:read")

    response = api(client, "POST", "events", reader, event_body("Ended", "a@example.com"))

    assert response.status_code == 403
    assert "events:write" in response.json()["errors"][0]["detail"]


@pytest.fixture
def history(client, app, settings) -> dict[str, str]:
    """Five events: Registered for a and b, then Ended for a, b and c, a second apart."""
    settings.SANDBOX_JOB_SECONDS = 0
    sent = [
        ("Registered", "a"),
        ("Registered", "b"),
        ("Ended", "a"),
        ("Ended", "b"),
        ("Ended", "c"),
    ]
    for second, (metric, who) in enumerate(sent):
        body = event_body(metric, f"{who}@example.com", time=f"2026-07-20T10:00:0{second}+00:00")
        assert api(client, "POST", "events", app, body).status_code == 202
        testing.advance(1)
    api(client, "GET", "events", app)
    metrics = {m.name: m.id for m in Metric.objects.using(DATABASE)}
    profiles = {p.email: p.id for p in Profile.objects.using(DATABASE)}
    return {**metrics, **profiles}


def event_times(response) -> list[str]:
    assert response.status_code == 200, response.content
    check(response, "get_events")
    return [item["attributes"]["datetime"][17:19] for item in response.json()["data"]]


def test_get_events_filters(client, app, history):
    ended = history["Ended"]
    a = history["a@example.com"]

    assert event_times(api(client, "GET", "events", app)) == ["00", "01", "02", "03", "04"]
    assert event_times(api(client, "GET", f'events?filter=equals(metric_id,"{ended}")', app)) == [
        "02",
        "03",
        "04",
    ]
    assert event_times(api(client, "GET", f'events?filter=equals(profile_id,"{a}")', app)) == [
        "00",
        "02",
    ]
    assert event_times(
        api(
            client,
            "GET",
            "events?filter=and(greater-than(datetime,2026-07-20T10:00:01Z),"
            "less-than(datetime,2026-07-20T10:00:04Z))&sort=-datetime",
            app,
        )
    ) == ["03", "02"]
    refused = api(client, "GET", 'events?filter=equals(uuid,"x")', app)
    assert refused.status_code == 400
    check(refused, "get_events")


def test_get_events_pages_with_a_cursor_and_includes(client, app, history):
    seen = []
    path = "events?page[size]=2&sort=-datetime&include=metric,profile"
    while path:
        response = api(client, "GET", path, app)
        seen += event_times(response)
        body = response.json()
        assert {item["type"] for item in body["included"]} == {"metric", "profile"}
        path = body["links"].get("next", "").split("/api/", 1)[-1]

    assert seen == ["04", "03", "02", "01", "00"]


def test_get_metrics_lists_the_apps_metrics(client, app, history):
    response = api(client, "GET", 'metrics?filter=equals(integration.category,"App")', app)

    assert response.status_code == 200
    check(response, "get_metrics")
    assert sorted(item["attributes"]["name"] for item in response.json()["data"]) == [
        "Ended",
        "Registered",
    ]
    assert (
        api(client, "GET", 'metrics?filter=equals(integration.name,"Shopify")', app).json()["data"]
        == []
    )
    detail = api(client, "GET", f"metrics/{history['Ended']}", app)
    check(detail, "get_metric")
    assert detail.json()["data"]["attributes"]["integration"]["name"] == "Partyline"
    missing = api(client, "GET", "metrics/nope00", app)
    assert missing.status_code == 404
    check(missing, "get_metric")


def event_ids(client, app) -> dict[str, str]:
    """Each recorded event's `$event_id`, by its profile's email, as get_events hands it back."""
    response = api(client, "GET", "events?include=profile", app)
    check(response, "get_events")
    body = response.json()
    emails = {item["id"]: item["attributes"]["email"] for item in body["included"]}
    return {
        emails[item["relationships"]["profile"]["data"]["id"]]: item["attributes"][
            "event_properties"
        ]["$event_id"]
        for item in body["data"]
    }


def test_get_events_hands_back_the_unique_id_as_event_id(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    api(client, "POST", "events", app, event_body("Ended", "a@example.com", unique_id="ended:a"))
    # Without one, the event's time to the second, in epoch seconds, stands in.
    api(
        client,
        "POST",
        "events",
        app,
        event_body("Ended", "b@example.com", time="2026-07-20T10:00:00.900+00:00"),
    )

    assert event_ids(client, app) == {"a@example.com": "ended:a", "b@example.com": "1784541600"}


def test_a_property_named_event_id_does_not_replace_the_unique_id(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    body = event_body(
        "Ended", "a@example.com", unique_id="ended:a", properties={"$event_id": "mine"}
    )
    api(client, "POST", "events", app, body)

    assert event_ids(client, app) == {"a@example.com": "ended:a"}


def test_a_bulk_request_without_unique_ids_keeps_one_event_per_second(client, app, settings):
    """Only a unique_id sent twice fails a bulk request; two events that default to the same
    second are both accepted and the second dropped, as create_event drops it."""
    settings.SANDBOX_JOB_SECONDS = 0
    body = bulk_body([("a@example.com", [bulk_event("Ended"), bulk_event("Ended")])])

    response = api(client, "POST", "event-bulk-create-jobs", app, body)

    assert response.status_code == 202
    api(client, "GET", "events", app)
    assert len(recorded()) == 1


def test_an_event_for_an_undeliverable_address_is_accepted_and_dropped(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    testing.create_flow(name="Welcome", metric="Registered")
    single = api(client, "POST", "events", app, event_body("Ended", "Nobody@Bounce.invalid"))
    bulk = api(
        client,
        "POST",
        "event-bulk-create-jobs",
        app,
        bulk_body(
            [
                ("ghost@mail.invalid", [bulk_event("Registered", unique_id="r:1")]),
                ("sam@example.com", [bulk_event("Registered", unique_id="r:1")]),
            ]
        ),
    )

    assert (single.status_code, bulk.status_code) == (202, 202)
    api(client, "GET", "events", app)
    assert recorded() == [("Registered", "sam@example.com", "r:1")]
    # No profile, and no metric made by the dropped event alone ("Ended").
    assert list(Profile.objects.using(DATABASE).values_list("email", flat=True)) == [
        "sam@example.com"
    ]
    assert list(Metric.objects.using(DATABASE).values_list("name", flat=True)) == ["Registered"]
    assert [m["email"] for m in testing.flow_messages()] == ["sam@example.com"]


def test_an_event_naming_a_profile_with_an_undeliverable_address_is_dropped(client, app, settings):
    """By id or by another identifier: the profile's own address decides."""
    settings.SANDBOX_JOB_SECONDS = 0
    testing.suppress("nobody@bounce.invalid", reason="INVALID_EMAIL")
    profile = Profile.objects.using(DATABASE).get(email="nobody@bounce.invalid")
    profile.external_id = "attendee-9"
    profile.save(using=DATABASE)
    by_id = event_body("Ended", "x@example.com")
    by_id["data"]["attributes"]["profile"]["data"] = {
        "type": "profile",
        "id": profile.id,
        "attributes": {},
    }
    by_external_id = event_body("Ended", "x@example.com", unique_id="e:2")
    by_external_id["data"]["attributes"]["profile"]["data"]["attributes"] = {
        "external_id": "attendee-9"
    }

    for body in (by_id, by_external_id):
        assert api(client, "POST", "events", app, body).status_code == 202
    api(client, "GET", "events", app)

    assert recorded() == []


def test_a_suppressed_profiles_events_are_recorded(client, app, settings):
    settings.SANDBOX_JOB_SECONDS = 0
    testing.suppress("gone@example.com", reason="HARD_BOUNCE")

    api(client, "POST", "events", app, event_body("Ended", "gone@example.com", unique_id="e:1"))
    api(client, "GET", "events", app)

    assert recorded() == [("Ended", "gone@example.com", "e:1")]


def test_get_events_with_the_products_filter_pages_by_200(client, app, settings):
    """The product's read: one metric, a half-open time window, optionally one profile,
    oldest first, 200 a page, following `links.next` to the end."""
    settings.SANDBOX_JOB_SECONDS = 0
    events = [
        bulk_event("Ended", unique_id=f"e:{n}", time=f"2026-07-20T10:{n // 60:02d}:{n % 60:02d}Z")
        for n in range(450)
    ]
    api(client, "POST", "event-bulk-create-jobs", app, bulk_body([("a@example.com", events)]))
    api(
        client,
        "POST",
        "events",
        app,
        event_body("Ended", "b@example.com", time="2026-07-20T10:00:30Z"),
    )
    api(client, "POST", "events", app, event_body("Other", "a@example.com", unique_id="o"))
    testing.advance(1)
    api(client, "GET", "events", app)
    metric = Metric.objects.using(DATABASE).get(name="Ended").id
    profile = Profile.objects.using(DATABASE).get(email="a@example.com").id

    def read(*extra: str) -> list[list[str]]:
        terms = [
            f'equals(metric_id,"{metric}")',
            "greater-or-equal(datetime,2026-07-20T10:00:30+00:00)",
            "less-than(datetime,2026-07-20T10:07:20+00:00)",
            *extra,
        ]
        query = urlencode({"filter": f"and({','.join(terms)})", "sort": "datetime"})
        pages, path = [], f"events?{query}"
        while path:
            testing.advance(0.1)
            response = api(client, "GET", path, app)
            assert response.status_code == 200, response.content
            check(response, "get_events")
            body = response.json()
            pages.append(
                [item["attributes"]["event_properties"]["$event_id"] for item in body["data"]]
            )
            path = body["links"].get("next", "").split("/api/", 1)[-1]
        return pages

    everyone = read()
    assert [len(page) for page in everyone] == [200, 200, 11]
    flat = [unique_id for page in everyone for unique_id in page]
    assert flat[:2] == ["e:30", "1784541630"]  # the same second: both, in id order
    assert flat[-1] == "e:439"
    mine = read(f'equals(profile_id,"{profile}")')
    assert [unique_id for page in mine for unique_id in page] == [f"e:{n}" for n in range(30, 440)]


def test_an_event_time_without_an_offset_is_refused(client, app):
    """RFC 3339 date-times carry an offset: the spec's `format: date-time`."""
    body = event_body("Ended", "a@example.com", time="2026-07-20T10:00:00")

    response = api(client, "POST", "events", app, body)

    assert response.status_code == 400
    check(response, "create_event")
    assert response.json()["errors"][0]["source"]["pointer"] == "/data/attributes/time"


@pytest.mark.parametrize(
    ("path", "body", "burst"),
    [
        ("events", event_body("Ended", "a@example.com"), 350),
        (
            "event-bulk-create-jobs",
            bulk_body([("a@example.com", [bulk_event("Ended", unique_id="e")])]),
            10,
        ),
    ],
)
def test_sending_events_is_limited_as_the_spec_says(client, app, path, body, burst):
    """create_event: 350/s, 3,500/m; bulk_create_events: 10/s, 150/m (x-klaviyo-ratelimit)."""
    for _ in range(burst):
        assert api(client, "POST", path, app, body).status_code == 202

    limited = api(client, "POST", path, app, body)

    assert (limited.status_code, limited["Retry-After"]) == (429, "1")
    check(limited, "create_event" if path == "events" else "bulk_create_events")
    assert limited.json()["errors"][0]["code"] == "throttled"
