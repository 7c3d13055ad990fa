"""The event operations against the sandbox Klaviyo (faithful to the 2026-07-15 spec): what the
client sends is accepted, recorded once per unique_id, and read back as typed records."""

from __future__ import annotations

from datetime import timedelta

import pytest

from integrations.klaviyo.bodies import OutgoingEvent
from integrations.klaviyo.client import KlaviyoClient
from integrations.klaviyo.config import klaviyo_config
from klaviyo_sandbox import clock, testing
from tests.support.klaviyo_doubles import FakeTokenSource

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def klaviyo(sandbox) -> KlaviyoClient:
    app = testing.install_app(account=testing.ACME)
    return KlaviyoClient(token_source=FakeTokenSource(app.access_token), config=klaviyo_config())


def registered(email: str, attendee: str) -> OutgoingEvent:
    return OutgoingEvent(
        metric="Registered for Party",
        email=email,
        first_name="Sarah",
        properties={"party_id": "p_42", "party_name": "Summer BBQ"},
        time=clock.now().replace(microsecond=0),
        unique_id=f"registered:p_42:{attendee}",
    )


def test_events_sent_singly_and_in_bulk_are_read_back_once_each(klaviyo):
    since = clock.now() - timedelta(minutes=1)
    batch = [registered("sarah@example.com", "a_1"), registered("tom@example.com", "a_2")]

    klaviyo.bulk_create_events(events=batch)
    klaviyo.create_event(event=registered("ann@example.com", "a_3"))
    # A resend of an event already sent changes nothing.
    klaviyo.create_event(event=batch[0])

    metrics = [metric for metric in klaviyo.get_metrics() if metric.name == "Registered for Party"]
    assert len(metrics) == 1
    assert klaviyo.get_metrics(integration_category=metrics[0].integration_category) == metrics
    events = klaviyo.get_events(
        metric_id=metrics[0].id, since=since, until=clock.now() + timedelta(minutes=1)
    )
    assert len(events) == 3
    assert {event.metric_id for event in events} == {metrics[0].id}
    assert [event.properties["party_id"] for event in events] == ["p_42"] * 3

    mine = klaviyo.get_events(
        metric_id=metrics[0].id,
        since=since,
        until=clock.now() + timedelta(minutes=1),
        profile_id=events[0].profile_id,
    )
    assert mine == [events[0]]
